/**
 * The fit's fast paths give the numbers of the plain per-row paths bit for bit: the Huber IRLS passes run
 * straight over the row cache's chunks (every job kind: full, CV folds, bootstrap replicates) equal the passes
 * that re-read the data row by row; a basis' `termsBatch` equals the same columns of `rowsBatch`; and a basis
 * whose parameter shapes a term it does not declare in `affects` is still caught (on an experiment's first batch).
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { experimentFrom, fitDatasetSync, type FitDataset, type FitResult } from '../src/fit/api.js';
import type { FitInput } from '../src/fit/defaults.js';
import { BASES } from '../src/basis/registry.js';
import { servingBasis } from '../src/basis/serving.js';
import type { Basis } from '../src/basis/types.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { loadArchitecture } from '../src/model/load.js';
import { stepsToBatch, type StepBatch } from '../src/steps/batch.js';
import { readAllSteps } from '../src/steps/io.js';
import type { Step } from '../src/steps/step.js';
import { REPO_ROOT } from './support/shared.js';

let steps: Step[] = [];
const MODEL = 'llama-3.1-70b';

beforeAll(async () => {
  // the sample's steps with ±8% deterministic noise and a few 3× outliers (so that Huber re-weights and replicates differ)
  const noise = (k: number): number => (k % 97 === 5 ? 3 : 1 + 0.08 * Math.sin(k * 12.9898));
  steps = (await readAllSteps(path.join(REPO_ROOT, 'data/sample/steps.jsonl'))).map((s, k) => ({ ...s, experiment: 'x', durationUs: s.durationUs! * noise(k) }));
});

const batches = (s: readonly Step[], size: number): StepBatch[] => {
  const out: StepBatch[] = [];
  for (let k = 0; k < s.length; k += size) out.push(stepsToBatch(s.slice(k, k + size)));
  return out;
};
const ds = (src: FitDataset['experiments'][number]['steps'], tp: number, model = MODEL): FitDataset => ({ experiments: [experimentFrom({ steps: src, model, gpu: 'h100-sxm', tp, experiment: 'x' })] });
const bits = (a: ArrayLike<number>): string => Buffer.from(Float64Array.from(a).buffer).toString('hex');

const same = (a: FitResult, b: FitResult): void => {
  expect(bits(a.coefficients)).toBe(bits(b.coefficients));
  expect(a.terms).toEqual(b.terms);
  expect(a.basisParams).toEqual(b.basisParams);
  expect(a.residual).toEqual(b.residual);
  expect(a.metrics).toEqual(b.metrics);
  expect(a.diagnostics.notes).toEqual(b.diagnostics.notes);
};

describe('IRLS over the kept rows in place = IRLS re-reading the rows', () => {
  const cases: [string, number, string, FitInput][] = [
    ['default (serving, huber, knee profiled), 70B TP 2', 2, MODEL, {}],
    ['default + kfold:3 + bootstrap 10, 8B TP 1', 1, 'llama-3.1-8b', { cv: 'kfold:3', bootstrap: 10 }],
    ['seed huber, bootstrap 10, weight none, 8B TP 1', 1, 'llama-3.1-8b', { basis: 'seed', method: 'huber', weight: 'none', bootstrap: 10 }],
  ];
  for (const [name, tp, model, opts] of cases) {
    it(name, () => {
      const kept = fitDatasetSync(ds({ batches: batches(steps, 500) }, tp, model), opts);
      const reread = fitDatasetSync(ds({ batches: () => batches(steps, 500) }, tp, model), { ...opts, rowCacheBytes: 0 });
      expect(kept.options.huber?.iterations).toBeGreaterThan(2);
      if (opts.bootstrap) expect(kept.terms.some((t) => (t.se ?? 0) > 1e-6)).toBe(true);
      same(kept, reread);
    });
  }
});

describe('CompiledBasis.termsBatch', () => {
  it('equals the same columns of rowsBatch, bit for bit, on every basis', () => {
    const b = stepsToBatch(steps.slice(0, 700));
    for (const basis of Object.values(BASES)) {
      const p = basis.terms.length;
      const params = Object.fromEntries((basis.params ?? []).map((bp) => [bp.name, bp.grid[1] ?? bp.default]));
      const c = basis.compile({ arch: loadArchitecture(MODEL), gpu: loadGpu('h100-sxm'), tp: 4 }, params);
      const all = new Float64Array(b.n * p);
      c.rowsBatch(b, all);
      const subsets = [[p - 1], [...Array(p).keys()].reverse(), [...Array(p).keys()].filter((j) => j % 3 !== 1)];
      for (const terms of subsets) {
        const out = new Float64Array(b.n * terms.length);
        c.termsBatch!(b, terms, out);
        const want = Array.from({ length: b.n * terms.length }, (_, k) => all[Math.floor(k / terms.length) * p + terms[k % terms.length]!]!);
        expect(bits(out), `${basis.name} [${terms.join()}]`).toBe(bits(want));
      }
    }
  });

  it("a parameter that shapes a term it does not declare in 'affects' is an internal error (first batch checked in full)", () => {
    const knee = servingBasis.params![0]!;
    const wrong: Basis = { ...servingBasis, params: [{ ...knee, affects: ['tp_comm'] }] };
    expect(() => fitDatasetSync(ds({ batches: batches(steps, 500) }, 4), { basis: wrong })).toThrow(/parameter variants differ in term 'tp_comm_large'/);
  });
});
