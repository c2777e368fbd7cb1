import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { batchStep, batchSteps, checkBatch, stepsToBatch } from '../src/steps/batch.js';
import { readAllSteps } from '../src/steps/io.js';
import { parquetRowGroupCount, readStepBatchesParquet, StepParquetWriter, writeStepsParquet } from '../src/steps/parquet.js';
import type { Step } from '../src/steps/step.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'step-batch-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const steps: Step[] = [
  { experiment: 'a', step: 0, durationUs: 10.5, prefill: [{ tokens: 5, prior: 0, prompt: 5 }], decode: [] },
  { experiment: 'a', step: 1, durationUs: undefined, prefill: [], decode: [7, 9] },
  {
    experiment: 'a',
    step: 2,
    durationUs: 3,
    prefill: [
      { tokens: 4, prior: 2, prompt: 100 },
      { tokens: 1, prior: 0, prompt: 1 },
    ],
    decode: [1],
  },
];

describe('StepBatch (steps/batch.ts)', () => {
  it('round-trips steps through columns, with NaN for unmeasured', () => {
    const b = stepsToBatch(steps, 7);
    expect(checkBatch(b)).toBeNull();
    expect(b.firstRow).toBe(7);
    expect(Array.from(b.prefillOffsets)).toEqual([0, 1, 1, 3]);
    expect(Array.from(b.decodeOffsets)).toEqual([0, 0, 2, 3]);
    expect(Number.isNaN(b.durationUs[1]!)).toBe(true);
    expect([...batchSteps(b)]).toEqual(steps);
    expect(batchStep(b, 2).prefill[0]!.prompt).toBe(100);
  });
  it('refuses mixed experiments and reports broken invariants', () => {
    expect(() => stepsToBatch([...steps, { ...steps[0]!, experiment: 'b' }])).toThrow(/experiments 'a' and 'b'/);
    const b = stepsToBatch(steps);
    const bad = { ...b, prefillOffsets: Int32Array.from([0, 2, 1, 3]) };
    expect(checkBatch(bad)).toMatch(/offsets decrease/);
    const badChunk = { ...b, prefillPrompt: Int32Array.from([5, 3, 1]) };
    expect(checkBatch(badChunk)).toMatch(/prefill chunk 1/);
  });
  it('reads a Parquet step file as batches equal to the row reader, split by experiment and by row group', async () => {
    const src = await readAllSteps('data/sample/steps.jsonl');
    const many = Array.from({ length: 20000 }, (_, i) => ({ ...src[i % src.length]!, step: i }));
    const mixed = [...many, ...src.slice(0, 100).map((s) => ({ ...s, experiment: 'other' }))];
    const file = path.join(dir, 's.parquet');
    await writeStepsParquet(file, mixed);
    const small = path.join(dir, 'small-groups.parquet');
    const w = new StepParquetWriter(small, 700);
    w.add(mixed.slice(0, 3000));
    w.commit();
    const got: Step[] = [];
    let rowsSeen = 0;
    for await (const b of readStepBatchesParquet(file)) {
      expect(checkBatch(b)).toBeNull();
      expect(b.firstRow).toBe(rowsSeen + 1);
      rowsSeen += b.n;
      got.push(...batchSteps(b));
    }
    expect(got).toEqual(mixed);
    const groups = await parquetRowGroupCount(small);
    expect(groups).toBe(5);
    const parts: Step[] = [];
    for (let g = 0; g < groups; g++) for await (const b of readStepBatchesParquet(small, { rowGroups: [g, g + 1] })) parts.push(...batchSteps(b));
    expect(parts).toEqual(mixed.slice(0, 3000));
  });
});
