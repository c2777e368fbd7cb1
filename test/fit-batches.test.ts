/**
 * The fit's columnar paths give the numbers of the row-wise path bit for bit: in-process steps given as
 * column batches (`{batches}`), Parquet files read as batches, Parquet files read by worker threads
 * (row-pool.ts), the knee profile's IRLS in worker threads — the same coefficients, metrics and profiled knee, and the same first error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentFrom, fitDataset, fitDatasetSync, type FitDataset, type FitResult } from '../src/fit/api.js';
import type { FitInput } from '../src/fit/defaults.js';
import { stepsToBatch, type StepBatch } from '../src/steps/batch.js';
import { readAllSteps } from '../src/steps/io.js';
import { writeStepsParquet } from '../src/steps/parquet.js';
import type { Step } from '../src/steps/step.js';
import { getBasis } from '../src/basis/registry.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { loadArchitecture } from '../src/model/load.js';
import { makeRng } from '../src/util/rng.js';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';

let steps: Step[] = [];
let dir = '';
let big = '';
const MODEL = 'llama-3.1-70b';

/** The sample's steps repeated (renumbered) to `n` steps: several Parquet row groups. */
function repeated(n: number): Step[] {
  return Array.from({ length: n }, (_, k) => ({ ...steps[k % steps.length]!, step: k, experiment: 'x' }));
}

/** Batches of at most `size` steps (uneven split, so batch borders fall anywhere). */
function batches(s: readonly Step[], size: number): StepBatch[] {
  const out: StepBatch[] = [];
  for (let k = 0; k < s.length; k += size) out.push(stepsToBatch(s.slice(k, k + size)));
  return out;
}

const ds = (src: FitDataset['experiments'][number]['steps'], tp = 2): FitDataset => ({ experiments: [experimentFrom({ steps: src, model: MODEL, gpu: 'h100-sxm', tp, experiment: 'x' })] });

const same = (a: FitResult, b: FitResult): void => {
  expect(Array.from(a.coefficients)).toEqual(Array.from(b.coefficients));
  expect(a.basisParams).toEqual(b.basisParams);
  expect(a.paramChoices).toEqual(b.paramChoices);
  expect(a.residual).toEqual(b.residual);
  expect(a.metrics).toEqual(b.metrics);
  expect(a.experiments).toEqual(b.experiments);
  expect(a.rows).toBe(b.rows);
};

beforeAll(async () => {
  steps = (await readAllSteps(path.join(REPO_ROOT, 'data/sample/steps.jsonl'))).map((s) => ({ ...s, experiment: 'x' }));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-fit-batches-'));
  big = path.join(dir, 'big.parquet');
  await writeStepsParquet(big, repeated(33_000)); // 3 row groups (16,384 rows each): 2 worker tasks
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('fit over column batches', () => {
  const cases: [string, FitInput][] = [
    ['default (serving, huber, knee profiled)', {}],
    ['seed nnls kfold:3', { basis: 'seed', cv: 'kfold:3' }],
    ['serving ols bootstrap 10', { basis: 'serving', method: 'ols', bootstrap: 10 }],
  ];
  for (const [name, opts] of cases) {
    it(`in-process batches = step objects: ${name}`, () => {
      const rowWise = fitDatasetSync(ds(steps), opts);
      same(fitDatasetSync(ds({ batches: batches(steps, 333) }), opts), rowWise);
      same(fitDatasetSync(ds({ batches: () => batches(steps, 700) }), { ...opts, rowCacheBytes: 0 }), rowWise);
    });
  }

  it('async batch factories and steps without a time (NaN) behave as step objects without duration_us', async () => {
    const unmeasured = steps.map((s, k) => (k % 50 === 7 ? { ...s, durationUs: undefined } : s));
    const targets = [{ experiment: 'x', request: 'r', kind: 'decode' as const, steps: [7, 57], durationUs: 30_000 }];
    const rowWise = await fitDataset({ experiments: [{ ...ds(unmeasured).experiments[0]!, targets }] }, { basis: 'seed' });
    async function* gen(): AsyncGenerator<StepBatch> {
      yield* batches(unmeasured, 512);
    }
    same(await fitDataset({ experiments: [{ ...ds({ batches: gen }).experiments[0]!, targets }] }, { basis: 'seed' }), rowWise);
    await expect(fitDataset(ds({ batches: batches(unmeasured, 512) }), { basis: 'seed' })).rejects.toThrow(
      "experiment 'x' step record 7: field 'duration_us' missing: fitting needs the measured step time",
    );
  });

  it('a Parquet file read by 1 or 4 workers gives the fit of its steps in memory, bit for bit (several row groups, knee profiled)', async () => {
    const inMemory = await fitDataset(ds(repeated(33_000)), { basis: 'serving', method: 'ols' });
    for (const workers of [1, 4]) same(await fitDataset(ds(big), { basis: 'serving', method: 'ols', workers }), inMemory);
  }, 180_000);

  it('with workers, the first bad row of the file is the one reported', async () => {
    const bad = path.join(dir, 'bad.parquet');
    const s = repeated(33_000);
    s[20_000] = { ...s[20_000]!, durationUs: undefined };
    s[32_900] = { ...s[32_900]!, durationUs: undefined }; // in the second task
    await writeStepsParquet(bad, s);
    const msg = `${bad}:20001: field 'duration_us' missing`;
    await expect(fitDataset(ds(bad), { basis: 'seed' })).rejects.toThrow(msg);
    await expect(fitDataset(ds(bad), { basis: 'seed', workers: 4 })).rejects.toThrow(msg);
  }, 180_000);

  it('stepfit fit --workers: the same fit file with 1 or 2 workers; a bad count is a usage error', async () => {
    const small = path.join(dir, 'small.parquet');
    await writeStepsParquet(small, steps);
    const args = ['fit', '--steps', small, '--model', MODEL, '--gpu', 'h100-sxm', '--tp', '2', '--basis', 'serving', '--method', 'ols', '--json'];
    const one = await runCli([...args, '--workers', '1']);
    const two = await runCli([...args, '--workers', '2']);
    expect(one.code).toBe(0);
    const body = (out: string): unknown => {
      const f = JSON.parse(out) as Record<string, unknown>;
      return { ...f, provenance: null };
    };
    expect(body(two.stdout)).toEqual(body(one.stdout));
    const bad = await runCli([...args, '--workers', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("option '--workers' expects an integer ≥ 1, got '0'");
  }, 120_000);

  it("the knee profile's Huber IRLS run by worker threads (a share of the variants each) gives the same fit, bit for bit", async () => {
    // step times from the serving basis at known coefficients with a 4 MiB knee, TP 4, 3% noise
    const c = getBasis('serving').compile({ arch: loadArchitecture(MODEL), gpu: loadGpu('h100-sxm'), tp: 4 }, { tp_comm_knee_mib: 4 });
    const coef = [1.6, 1.4, 1.8, 1.3, 1.1, 1.5, 0.8, 3, 12, 8, 9, 900];
    const rng = makeRng(3);
    const x = new Float64Array(coef.length);
    const timed = steps.map((s) => {
      c.row(s, x);
      return { ...s, durationUs: coef.reduce((a, b, j) => a + b * x[j]!, 0) * (1 + 0.03 * rng.normal()) };
    });
    const two = ds(timed, 4);
    const one = await fitDataset(two, {});
    expect(one.paramChoices[0]!.source).toBe('profile');
    same(await fitDataset(two, { workers: 3 }), one);
    // from a file with a small row cache: the rows are spilled to a temporary file, which the workers read
    const file = path.join(dir, 'knee.parquet');
    await writeStepsParquet(file, timed);
    const fromFile = await fitDataset(ds(file, 4), { rowCacheBytes: 16 * 1024 });
    same(fromFile, one);
    same(await fitDataset(ds(file, 4), { workers: 2, rowCacheBytes: 16 * 1024 }), one);
  }, 120_000);
});
