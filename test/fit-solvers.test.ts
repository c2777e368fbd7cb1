/**
 * Every fit method against an independent dense solve (QR of the weighted design, brute-force
 * active-set enumeration, ml-fcnnls), on generated data through the full engine.
 */
import { describe, it, expect } from 'vitest';
import { Matrix, QrDecomposition, inverse } from 'ml-matrix';
import { fcnnlsVector } from 'ml-fcnnls';
import type { Step } from '../src/steps/step.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { fitDatasetSync } from '../src/fit/program.js';
import type { FitOptions } from '../src/fit/options.js';
import type { FitDataset } from '../src/fit/dataset.js';
import { solveBox } from '../src/fit/solvers.js';
import { huberKappa } from '../src/fit/huber.js';
import { makeRng } from '../src/util/rng.js';
import type { Basis } from '../src/basis/types.js';
import { designBasis } from './support/design-basis.js';

const arch = loadArchitecture('llama-3.1-8b');
const gpu = loadGpu('h100-sxm');
function designData(X: number[][], y: number[]): FitDataset {
  const steps: Step[] = X.map((r, i) => ({ experiment: 'd', step: i, durationUs: y[i]!, prefill: [], decode: r }));
  return { experiments: [{ ref: { id: 'd', model: 'm', gpu: 'g', tp: 1, groups: {} }, arch, gpu, steps }] };
}
function gen(seed: number, n: number, beta: number[], noise: (rng: ReturnType<typeof makeRng>, mu: number) => number) {
  const rng = makeRng(seed);
  const X: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = [1, rng.next() * 10, rng.next() * rng.next() * 100, 5 + rng.normal()];
    const mu = x.reduce((s, v, j) => s + v * beta[j]!, 0);
    X.push(x);
    y.push(noise(rng, mu));
  }
  return { X, y };
}
const NAMES = ['c', 'a', 'b', 'd'];
const basis = designBasis(NAMES);
const fit = (X: number[][], y: number[], o: Partial<FitOptions>) => fitDatasetSync(designData(X, y), { basis, method: 'ols', weight: 'none', seed: 1, ...o });

/** Dense weighted LS by QR of √W·X. */
function denseWls(X: number[][], y: number[], w: number[]): number[] {
  const A = new Matrix(X.map((r, i) => r.map((v) => v * Math.sqrt(w[i]!))));
  return new QrDecomposition(A).solve(Matrix.columnVector(y.map((v, i) => v * Math.sqrt(w[i]!)))).getColumn(0);
}
const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));

/** Reference box-constrained LS by enumerating which variables sit at which bound (3^p), dense QR per case. */
function bruteBox(X: number[][], y: number[], w: number[], lo: number[], hi: number[]): number[] {
  const p = X[0]!.length;
  let best: number[] | null = null;
  let bestS = Infinity;
  const states = 3 ** p;
  for (let code = 0; code < states; code++) {
    const st: number[] = [];
    let c = code;
    for (let j = 0; j < p; j++) {
      st.push(c % 3);
      c = Math.floor(c / 3);
    }
    if (st.some((s, j) => (s === 1 && !Number.isFinite(lo[j]!)) || (s === 2 && !Number.isFinite(hi[j]!)))) continue;
    const fixed = st.map((s, j) => (s === 1 ? lo[j]! : s === 2 ? hi[j]! : NaN));
    const free = st.map((s, j) => (s === 0 ? j : -1)).filter((j) => j >= 0);
    const yr = y.map((v, i) => v - X[i]!.reduce((a, xv, j) => a + (st[j] !== 0 ? xv * fixed[j]! : 0), 0));
    const beta = fixed.slice();
    if (free.length > 0) {
      const sol = denseWls(
        X.map((r) => free.map((j) => r[j]!)),
        yr,
        w,
      );
      free.forEach((j, a) => {
        beta[j] = sol[a]!;
      });
    }
    if (beta.some((b, j) => b < lo[j]! - 1e-9 || b > hi[j]! + 1e-9)) continue;
    const S = y.reduce((a, v, i) => {
      const r = v - X[i]!.reduce((s, xv, j) => s + xv * beta[j]!, 0);
      return a + w[i]! * r * r;
    }, 0);
    if (S < bestS) {
      bestS = S;
      best = beta;
    }
  }
  return best!;
}

describe('OLS / weighted LS equal a dense QR solve', () => {
  it('unweighted and relative weights; standard errors equal σ²(XᵀWX)⁻¹', () => {
    const { X, y } = gen(3, 400, [200, 15, 2, -4], (rng, mu) => mu * (1 + 0.05 * rng.normal()));
    for (const weight of ['none', 'relative'] as const) {
      const w = y.map((v) => (weight === 'relative' ? 1 / (v * v) : 1));
      const ref = denseWls(X, y, w);
      const r = fit(X, y, { weight, method: 'ols' });
      r.terms.forEach((t, j) => expect(relErr(t.coef, ref[j]!), `${weight} ${t.name}`).toBeLessThan(1e-8));
      // σ² and SEs by the textbook formulas
      const res = y.map((v, i) => v - X[i]!.reduce((s, xv, j) => s + xv * ref[j]!, 0));
      const s2 = res.reduce((a, r2, i) => a + w[i]! * r2 * r2, 0) / (y.length - 4);
      const XtWX = new Matrix(4, 4);
      X.forEach((row, i) => {
        for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) XtWX.set(a, b, XtWX.get(a, b) + w[i]! * row[a]! * row[b]!);
      });
      const inv = inverse(XtWX);
      expect(relErr(r.residual.sigma, Math.sqrt(s2))).toBeLessThan(1e-8);
      r.terms.forEach((t, j) => expect(relErr(t.se!, Math.sqrt(s2 * inv.get(j, j))), `se ${t.name}`).toBeLessThan(1e-6));
      expect(r.residual.dof).toBe(396);
      expect(r.residual.scale).toBe(weight === 'relative' ? 'relative' : 'absolute');
    }
  });
});

describe('NNLS', () => {
  it('active-set solver equals brute-force enumeration and ml-fcnnls on hand-built cases', () => {
    const cases: { X: number[][]; y: number[] }[] = [
      {
        X: [
          [1, 0],
          [0, 1],
          [1, 1],
        ],
        y: [2, -1, 1],
      },
      {
        X: [
          [1, 2, 0],
          [0, 1, 1],
          [1, 0, 1],
          [2, 1, 1],
        ],
        y: [1, -3, 2, 0.5],
      },
      {
        X: [
          [1, 1, 1],
          [1, 2, 4],
          [1, 3, 9],
          [1, 4, 16],
          [1, 5, 25],
        ],
        y: [5, 3, 2, 2, 3],
      },
      {
        X: [
          [3, 1, 0, 2],
          [1, 0, 1, 1],
          [0, 2, 1, 3],
          [1, 1, 1, 1],
          [2, 0, 3, 1],
        ],
        y: [-1, 2, -2, 0.5, 4],
      },
    ];
    for (const { X, y } of cases) {
      const p = X[0]!.length;
      const w = y.map(() => 1);
      const ref = bruteBox(X, y, w, new Array(p).fill(0), new Array(p).fill(Infinity));
      const A = new Float64Array(p * p);
      const b = new Float64Array(p);
      X.forEach((r, i) => {
        for (let a = 0; a < p; a++) {
          b[a] += r[a]! * y[i]!;
          for (let c = 0; c < p; c++) A[a * p + c] += r[a]! * r[c]!;
        }
      });
      const z = solveBox(A, b, new Float64Array(p), new Float64Array(p).fill(Infinity)).z;
      const fc = fcnnlsVector(X, y).K.getColumn(0);
      for (let j = 0; j < p; j++) {
        expect(z[j]!).toBeCloseTo(ref[j]!, 9);
        expect(fc[j]!).toBeCloseTo(ref[j]!, 6);
      }
    }
  });
  it('box solver equals enumeration on random problems with two-sided bounds (KKT holds)', () => {
    const rng = makeRng(11);
    for (let t = 0; t < 40; t++) {
      const p = 2 + (t % 4);
      const X = Array.from({ length: 12 }, () => Array.from({ length: p }, () => rng.normal()));
      const y = X.map(() => 3 * rng.normal());
      const w = y.map(() => 0.5 + rng.next());
      const lo = Array.from({ length: p }, () => (rng.next() < 0.3 ? -Infinity : -0.5 + rng.next() * 0.4));
      const hi = lo.map((l) => (rng.next() < 0.3 ? Infinity : (Number.isFinite(l) ? l : -0.5) + 0.2 + rng.next()));
      const ref = bruteBox(X, y, w, lo, hi);
      const A = new Float64Array(p * p);
      const b = new Float64Array(p);
      X.forEach((r, i) => {
        for (let a = 0; a < p; a++) {
          b[a] += w[i]! * r[a]! * y[i]!;
          for (let c = 0; c < p; c++) A[a * p + c] += w[i]! * r[a]! * r[c]!;
        }
      });
      const res = solveBox(A, b, Float64Array.from(lo), Float64Array.from(hi));
      for (let j = 0; j < p; j++) expect(res.z[j]!, `case ${t} var ${j}`).toBeCloseTo(ref[j]!, 8);
    }
  });
  it('engine nnls on data whose OLS solution has a negative term equals dense NNLS (ml-fcnnls on √W·X)', () => {
    const { X, y } = gen(5, 300, [300, 12, 0.02, -3], (rng, mu) => mu + 4 * rng.normal());
    const ols = fit(X, y, { method: 'ols' });
    expect(ols.terms[3]!.coef).toBeLessThan(0);
    const r = fit(X, y, { method: 'nnls' });
    const ref = bruteBox(
      X,
      y,
      y.map(() => 1),
      [0, 0, 0, 0],
      [Infinity, Infinity, Infinity, Infinity],
    );
    const fc = fcnnlsVector(X, y).K.getColumn(0);
    r.terms.forEach((t, j) => {
      expect(t.coef).toBeCloseTo(ref[j]!, 6);
      expect(relErr(t.coef, fc[j]!) < 1e-5 || Math.abs(t.coef - fc[j]!) < 1e-6).toBe(true);
    });
    expect(r.terms[3]!.status).toBe('at-bound');
    expect(r.terms[3]!.se).toBeNull();
    expect(r.diagnostics.notes.join(' ')).toMatch(/'d' is at zero/);
  });
  it('engine bounded LS (relative weights) equals the enumeration reference; terms at bounds are marked', () => {
    const { X, y } = gen(8, 300, [200, 15, 2, -4], (rng, mu) => mu * (1 + 0.05 * rng.normal()));
    const w = y.map((v) => 1 / (v * v));
    const bounds: Record<string, [number | null, number | null]> = { c: [0, 150], a: [16, null], d: [-1, 1] };
    const r = fit(X, y, { method: 'bounded', weight: 'relative', bounds });
    const ref = bruteBox(X, y, w, [0, 16, -Infinity, -1], [150, Infinity, Infinity, 1]);
    r.terms.forEach((t, j) => expect(t.coef, t.name).toBeCloseTo(ref[j]!, 6));
    expect(r.terms.find((t) => t.name === 'c')!.status).toBe('at-bound');
  });
});

describe('ridge toward a prior', () => {
  it('equals the dense augmented QR solve [√W·X; √λ·D] for the column-scaled penalty', () => {
    const { X, y } = gen(4, 200, [200, 15, 2, -4], (rng, mu) => mu + 5 * rng.normal());
    const prior = [100, 10, 1, 0];
    const lambda = 0.01;
    const r = fit(X, y, { method: 'ridge', ridge: { lambda, prior } });
    // D_j = ‖x_j‖ (unweighted); penalty λ·Σ D_j²(β_j − prior_j)²
    const D = [0, 1, 2, 3].map((j) => Math.sqrt(X.reduce((s, row) => s + row[j]! ** 2, 0)));
    const Xa = [...X, ...D.map((d, j) => D.map((_, k) => (k === j ? Math.sqrt(lambda) * d : 0)))];
    const ya = [...y, ...D.map((d, j) => Math.sqrt(lambda) * d * prior[j]!)];
    const ref = denseWls(
      Xa,
      ya,
      ya.map(() => 1),
    );
    r.terms.forEach((t, j) => expect(relErr(t.coef, ref[j]!), t.name).toBeLessThan(1e-8));
  });
  it('λ → ∞ returns the prior; λ → 0 returns OLS', () => {
    const { X, y } = gen(6, 200, [200, 15, 2, -4], (rng, mu) => mu + 5 * rng.normal());
    const prior = { c: 123, a: 1, b: -2, d: 0.5 };
    const big = fit(X, y, { method: 'ridge', ridge: { lambda: 1e13, prior } });
    big.terms.forEach((t) => expect(t.coef).toBeCloseTo(prior[t.name as keyof typeof prior], 5));
    const small = fit(X, y, { method: 'ridge', ridge: { lambda: 1e-12, prior } });
    const ols = fit(X, y, { method: 'ols' });
    small.terms.forEach((t, j) => expect(relErr(t.coef, ols.terms[j]!.coef)).toBeLessThan(1e-6));
  });
  it('default prior is the basis TermInfo.prior (seed basis: multipliers 1, counts 0)', () => {
    const ds = designData(
      [
        [1, 2],
        [1, 3],
        [1, 5],
        [2, 1],
      ],
      [10, 12, 15, 9],
    );
    const b: Basis = {
      ...designBasis(['m', 'k']),
      terms: [
        { name: 'm', unit: 'us', prior: 1, meaning: '' },
        { name: 'k', unit: 'count', prior: 0, meaning: '' },
      ],
    };
    const r = fitDatasetSync(ds, { basis: b, method: 'ridge', weight: 'none', seed: 1, ridge: { lambda: 1e14 } });
    expect(r.terms[0]!.coef).toBeCloseTo(1, 6);
    expect(r.terms[1]!.coef).toBeCloseTo(0, 6);
  });
});

describe('combinations: bounds with a ridge penalty, bounds inside Huber IRLS', () => {
  it('bounded + ridge equals the enumeration reference on the augmented data [√W·X; √λ·D]', () => {
    const { X, y } = gen(12, 200, [200, 15, 2, -4], (rng, mu) => mu + 5 * rng.normal());
    const prior = [100, 10, 1, 0];
    const lambda = 0.05;
    const r = fit(X, y, { method: 'bounded', bounds: { a: [null, 14], d: [-1, null] }, ridge: { lambda, prior } });
    const D = [0, 1, 2, 3].map((j) => Math.sqrt(X.reduce((s, row) => s + row[j]! ** 2, 0)));
    const Xa = [...X, ...D.map((d, j) => D.map((_, k) => (k === j ? Math.sqrt(lambda) * d : 0)))];
    const ya = [...y, ...D.map((d, j) => Math.sqrt(lambda) * d * prior[j]!)];
    const ref = bruteBox(
      Xa,
      ya,
      ya.map(() => 1),
      [-Infinity, -Infinity, -Infinity, -1],
      [Infinity, 14, Infinity, Infinity],
    );
    r.terms.forEach((t, j) => expect(t.coef, t.name).toBeCloseTo(ref[j]!, 6));
    expect(r.terms[1]!.status).toBe('at-bound');
    expect(r.diagnostics.notes.join('\n')).toMatch(/ridge λ = 0.05/);
  });
  it('huber + bounds: the bounded weighted solve with the final Huber weights reproduces β (enumeration)', () => {
    const { X, y } = gen(13, 300, [200, 15, 2, -4], (rng, mu) => mu + 5 * rng.normal() + (rng.next() < 0.05 ? 200 : 0));
    const r = fit(X, y, { method: 'huber', bounds: { a: [null, 14.5] } });
    const beta = r.terms.map((t) => t.coef);
    const u = y.map((v, i) => {
      const e = Math.abs(v - X[i]!.reduce((a, xv, j) => a + xv * beta[j]!, 0)) / r.residual.sigma;
      return Math.min(1, 1.345 / e);
    });
    const ref = bruteBox(X, y, u, [-Infinity, -Infinity, -Infinity, -Infinity], [Infinity, 14.5, Infinity, Infinity]);
    r.terms.forEach((t, j) => expect(relErr(t.coef, ref[j]!) < 1e-5 || Math.abs(t.coef - ref[j]!) < 1e-6, t.name).toBe(true));
    expect(r.terms[1]!.coef).toBeCloseTo(14.5, 9);
  });
  it('ols and nnls refuse bounds / ridge options with a clear message', () => {
    const { X, y } = gen(14, 50, [200, 15, 2, -4], (rng, mu) => mu + rng.normal());
    expect(() => fit(X, y, { method: 'nnls', bounds: { a: [0, 1] } })).toThrow(/already bounds every term at 0/);
    expect(() => fit(X, y, { method: 'ols', ridge: { lambda: 1 } })).toThrow(/apply to --method ridge, bounded or huber/);
  });
});

describe('Huber IRLS', () => {
  it('solves the Huber estimating equations Σψ(r_i/s)·x_i = 0 with Huber proposal-2 scale, checked densely', () => {
    const { X, y } = gen(9, 400, [200, 15, 2, -4], (rng, mu) => mu + 5 * rng.normal() + (rng.next() < 0.05 ? 300 : 0));
    const r = fit(X, y, { method: 'huber', huber: { k: 1.345 } });
    const beta = r.terms.map((t) => t.coef);
    const s = r.residual.sigma;
    const k = 1.345;
    const e = y.map((v, i) => (v - X[i]!.reduce((a, xv, j) => a + xv * beta[j]!, 0)) / s);
    const psi = e.map((v) => Math.max(-k, Math.min(k, v)));
    for (let j = 0; j < 4; j++) {
      const g = X.reduce((a, row, i) => a + psi[i]! * row[j]!, 0);
      const scale = X.reduce((a, row) => a + Math.abs(row[j]!), 0);
      expect(Math.abs(g) / scale, `estimating equation ${j}`).toBeLessThan(1e-5);
    }
    const lhs = psi.reduce((a, v) => a + v * v, 0);
    expect(lhs / ((400 - 4) * huberKappa(k))).toBeCloseTo(1, 4);
    // fixed point: a dense QR weighted solve with the final Huber weights u_i = min(1, k/|e_i|) returns the same β
    const u = e.map((v) => Math.min(1, k / Math.abs(v)));
    const ref = denseWls(X, y, u);
    r.terms.forEach((t, j) => expect(relErr(t.coef, ref[j]!), t.name).toBeLessThan(1e-5));
  });
  it('relative weights: the fixed point uses w = u_i / y_i² (dense QR)', () => {
    const { X, y } = gen(10, 400, [200, 15, 2, -4], (rng, mu) => mu * (1 + 0.04 * rng.normal()) * (rng.next() < 0.05 ? 1.8 : 1));
    const r = fit(X, y, { method: 'huber', weight: 'relative' });
    const beta = r.terms.map((t) => t.coef);
    const e = y.map((v, i) => (v - X[i]!.reduce((a, xv, j) => a + xv * beta[j]!, 0)) / v / r.residual.sigma);
    const w = e.map((v, i) => Math.min(1, 1.345 / Math.abs(v)) / (y[i]! * y[i]!));
    const ref = denseWls(X, y, w);
    r.terms.forEach((t, j) => expect(relErr(t.coef, ref[j]!), t.name).toBeLessThan(1e-5));
  });
});
