/**
 * Cross-check of stepfit's OLS (normal equations accumulated while streaming, Cholesky solve) against an
 * independent dense implementation, ml-regression-multivariate-linear (the design card's reference), on a
 * scaled, well-conditioned design: coefficients and standard errors agree to 1e-11 relative (measured: 1.6e-14 and 7.9e-16).
 */
import { describe, it, expect } from 'vitest';
import MLR from 'ml-regression-multivariate-linear';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { fitDatasetSync } from '../src/fit/program.js';
import type { FitDataset } from '../src/fit/dataset.js';
import { makeRng } from '../src/util/rng.js';
import { designBasis } from './support/design-basis.js';

describe('OLS cross-check against ml-regression-multivariate-linear', () => {
  it('coefficients and standard errors agree on a scaled, well-conditioned design (n = 400, p = 5)', () => {
    const rng = makeRng(42);
    const beta = [2.5, -1.25, 0.75, 3, -0.5];
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 400; i++) {
      // columns of order 1 (scaled), nearly independent: condition number of XᵀX is small
      const x = [1, rng.next() * 2 - 1, rng.next() * 2 - 1, rng.next(), rng.next() * 3 - 1.5];
      X.push(x);
      y.push(10 + x.reduce((a, v, j) => a + v * beta[j]!, 0) + (rng.next() - 0.5) * 0.4);
    }
    // stepfit: the real fitting engine through a test basis whose design row is the step's `decode` array
    const basis = designBasis(['c', 'a', 'b', 'd', 'e']);
    const ds: FitDataset = {
      experiments: [
        {
          ref: { id: 'x', model: 'm', gpu: 'g', tp: 1, groups: {} },
          arch: loadArchitecture('llama-3.1-8b'),
          gpu: loadGpu('h100-sxm'),
          steps: X.map((r, i) => ({ experiment: 'x', step: i, durationUs: y[i], prefill: [], decode: r })),
        },
      ],
    };
    const ours = fitDatasetSync(ds, { basis, method: 'ols', weight: 'none', seed: 1 });
    const ref = new MLR(
      X,
      y.map((v) => [v]),
      { intercept: false, statistics: true },
    );
    const refCoef = ref.weights.map((w) => w[0]!);
    expect(ours.terms.map((t) => t.status)).toEqual(['fitted', 'fitted', 'fitted', 'fitted', 'fitted']);
    ours.terms.forEach((t, j) => {
      expect(Math.abs(t.coef - refCoef[j]!) / Math.abs(refCoef[j]!), t.name).toBeLessThan(1e-11);
      expect(Math.abs(t.se! - ref.stdErrors[j]!) / ref.stdErrors[j]!, `se ${t.name}`).toBeLessThan(1e-11);
    });
    // and both recover the truth (intercept 10 + 2.5 on the constant column)
    expect(refCoef[0]).toBeCloseTo(12.5, 1);
    expect(refCoef[3]).toBeCloseTo(3, 1);
  });
});
