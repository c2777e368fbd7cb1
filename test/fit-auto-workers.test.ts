import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { autoWorkers } from '../src/fit/row-pool.js';
import type { FitDataset } from '../src/fit/api.js';
import { StepParquetWriter } from '../src/steps/parquet.js';
import type { Step } from '../src/steps/step.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auto-workers-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** A Parquet step file with `groups` row groups of one step each. */
function file(groups: number): string {
  const f = path.join(dir, `g${groups}.parquet`);
  const w = new StepParquetWriter(f, 1);
  const steps: Step[] = Array.from({ length: groups }, (_, i) => ({ experiment: 'e', step: i, durationUs: 100, prefill: [], decode: [10] }));
  w.add(steps);
  w.commit();
  return f;
}
const ds = (steps: string): FitDataset => ({ experiments: [{ steps } as FitDataset['experiments'][number]] });

describe('fit --workers auto (fit/row-pool.ts autoWorkers)', () => {
  it('starts workers only for ≥ 64 Parquet row groups on ≥ 4 cores, at most 8', async () => {
    const big = ds(file(64));
    const small = ds(file(63));
    const cores = vi.spyOn(os, 'availableParallelism');
    cores.mockReturnValue(16);
    expect(await autoWorkers(big)).toBe(8);
    expect(await autoWorkers(small)).toBe(1);
    cores.mockReturnValue(6);
    expect(await autoWorkers(big)).toBe(6);
    cores.mockReturnValue(2);
    expect(await autoWorkers(big)).toBe(1);
  });
});
