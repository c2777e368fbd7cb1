/**
 * Columnar steps (issue 17): the batch evaluator equals the per-step one bit for bit on every basis, the
 * columnar Parquet reader takes the files stepfit and other writers produce (dictionary or plain, snappy or
 * uncompressed, required or optional lists, INT32 or INT64) with the same steps as the general reader,
 * and leaves rows it must not judge (nulls, bad values) to that reader, with the same messages.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ParquetWriter } from 'hyparquet-writer';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BASES } from '../src/basis/registry.js';
import { defineBasis } from '../src/basis/define.js';
import { BatchRow, decodeContextSum } from '../src/steps/batch-row.js';
import type { BasisContext } from '../src/basis/types.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { loadArchitecture } from '../src/model/load.js';
import { batchSteps, checkBatch, stepsToBatch, type StepBatch } from '../src/steps/batch.js';
import { readAllSteps } from '../src/steps/io.js';
import { readStepBatchesParquet, readStepsParquetRows, StepParquetWriter } from '../src/steps/parquet.js';
import { readStepBatches, rowGroupPaths } from '../src/steps/parquet-batch.js';
import { FileByteWriter, type SchemaElement } from '../src/steps/parquet-features.js';
import { openParquet, stepColumnsOf, stepRowsOfRange } from '../src/steps/parquet-rows.js';
import type { Step } from '../src/steps/step.js';
import { makeRng } from '../src/util/rng.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pq-columnar-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Varied steps: empty phases, prior context, prompts beyond the chunk, long and windowed contexts. */
function variedSteps(n: number, seed: number): Step[] {
  const rng = makeRng(seed);
  const out: Step[] = [];
  for (let i = 0; i < n; i++) {
    const prefill = Array.from({ length: rng.int(0, 3) }, () => {
      const tokens = rng.int(1, 4096);
      const prior = rng.next() < 0.5 ? 0 : rng.int(1, 60000);
      return { tokens, prior, prompt: prior + tokens + (rng.next() < 0.3 ? rng.int(1, 2000) : 0) };
    });
    const decode = Array.from({ length: prefill.length === 0 ? rng.int(1, 200) : rng.int(0, 200) }, () => rng.int(0, 130000));
    out.push({ experiment: 'v', step: i, durationUs: rng.next() < 0.1 ? undefined : 1 + rng.next() * 1e5, prefill, decode });
  }
  return out;
}

function contexts(): BasisContext[] {
  const out: BasisContext[] = [];
  for (const m of ['llama-3.1-8b', 'llama-3.1-70b', 'mixtral-8x7b', 'deepseek-v2-lite', 'mistral-7b', 'bloom-176b']) {
    const arch = loadArchitecture(m);
    for (const g of ['h100-sxm', 'a100-sxm-80gb', 'b200']) for (const tp of [1, 2, 8]) if (arch.numHeads % tp === 0) out.push({ arch, gpu: loadGpu(g), tp });
  }
  return out;
}

describe('columnar basis evaluation', () => {
  it('rowsBatch/featuresBatch equal row/features bit for bit on every basis, context and knee', () => {
    const steps = variedSteps(600, 17);
    const batches = [stepsToBatch(steps.slice(0, 1)), stepsToBatch(steps.slice(1, 250)), stepsToBatch(steps.slice(250))];
    let compared = 0;
    for (const basis of Object.values(BASES)) {
      const params = basis.name === 'serving' ? [undefined, { tp_comm_knee_mib: 16 }] : [undefined];
      for (const ctx of contexts()) {
        for (const p of params) {
          const c = basis.compile(ctx, p);
          for (const [kind, width, one, many] of [
            ['row', basis.terms.length, c.row, c.rowsBatch],
            ['features', basis.featureColumns.length, c.features, c.featuresBatch],
          ] as const) {
            const one1 = new Float64Array(width);
            for (const b of batches) {
              const out = new Float64Array(b.n * width).fill(Number.NaN);
              many(b, out);
              for (let r = 0; r < b.n; r++) {
                one(steps[b.step[r]!]!, one1);
                for (let j = 0; j < width; j++) {
                  if (!Object.is(out[r * width + j], one1[j])) throw new Error(`${basis.name} ${kind} ${ctx.arch.name} tp${ctx.tp} row ${r} col ${j}: ${out[r * width + j]} vs ${one1[j]}`);
                }
              }
              compared += b.n * width;
            }
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(100_000);
  });

  it('the built-in bases evaluate batches column-wise (no row view), and a term without a batch form falls back row by row', () => {
    const steps = variedSteps(300, 5);
    const b = stepsToBatch(steps);
    const ctx = contexts()[0]!;
    const moveTo = vi.spyOn(BatchRow.prototype, 'moveTo');
    try {
      for (const basis of Object.values(BASES)) {
        const c = basis.compile(ctx);
        c.rowsBatch(b, new Float64Array(b.n * basis.terms.length));
        c.featuresBatch(b, new Float64Array(b.n * basis.featureColumns.length));
      }
      expect(moveTo).not.toHaveBeenCalled();
      const mixed = defineBasis<{ w: number }>({
        name: 'mixed',
        version: 1,
        description: '',
        consts: () => ({ w: 2 }),
        terms: [
          { name: 'decodes', unit: 'count', prior: 0, meaning: '', compute: (k, s) => k.w * decodeContextSum(s) },
          { name: 'requests', unit: 'count', prior: 0, meaning: '', compute: (_k, s) => s.decode.length, batch: (_k, x, out, o, st) => x.decodeCount().forEach((d, r) => (out[o + r * st] = d)) },
          { name: 'constant', unit: 'count', prior: 0, meaning: '', compute: () => 1, perStep: false },
        ],
      });
      const m = mixed.compile(ctx);
      const out = new Float64Array(b.n * 3).fill(Number.NaN);
      m.rowsBatch(b, out);
      expect(moveTo).toHaveBeenCalledTimes(b.n);
      const one = new Float64Array(3);
      steps.forEach((s, r) => {
        m.row(s, one);
        expect([...out.subarray(r * 3, r * 3 + 3)]).toEqual([...one]);
      });
    } finally {
      moveTo.mockRestore();
    }
  });
});

/** Steps as a Parquet file in a foreign layout: optional lists of optional INT64 (as pandas/pyarrow write), no prompt column. */
function writeForeign(file: string, steps: readonly Step[], opts: { codec: 'UNCOMPRESSED' | 'SNAPPY'; plain: boolean; rowGroup: number; patch?: (cols: Record<string, unknown[]>) => void }): void {
  const list = (name: string): SchemaElement[] => [
    { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', type: 'INT64', repetition_type: 'OPTIONAL' },
  ];
  const schema: SchemaElement[] = [
    { name: 'root', num_children: 6 },
    { name: 'experiment', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'step', type: 'INT64', repetition_type: 'OPTIONAL' },
    { name: 'duration_us', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
    ...list('prefill_tokens'),
    ...list('prefill_prior'),
    ...list('decode'),
  ];
  const cols: Record<string, unknown[]> = {
    experiment: steps.map((s) => s.experiment),
    step: steps.map((s) => BigInt(s.step)),
    duration_us: steps.map((s) => s.durationUs ?? null),
    prefill_tokens: steps.map((s) => s.prefill.map((c) => BigInt(c.tokens))),
    prefill_prior: steps.map((s) => s.prefill.map((c) => BigInt(c.prior))),
    decode: steps.map((s) => s.decode.map((x) => BigInt(x))),
  };
  opts.patch?.(cols);
  const out = new FileByteWriter(file);
  const pw = new ParquetWriter({ writer: out, schema, codec: opts.codec });
  const encoding = opts.plain ? ('PLAIN' as const) : undefined;
  pw.write({ columnData: Object.entries(cols).map(([name, data]) => ({ name, data, encoding })), rowGroupSize: opts.rowGroup });
  pw.finish();
}

async function viaBatches(file: string, onBad?: (m: string) => void): Promise<{ steps: Step[]; batches: StepBatch[] }> {
  const batches: StepBatch[] = [];
  for await (const b of readStepBatchesParquet(file, onBad ? { onBad } : {})) {
    expect(checkBatch(b)).toBeNull();
    batches.push(b);
  }
  return { steps: batches.flatMap((b) => [...batchSteps(b)]), batches };
}

async function viaGeneralReader(file: string, onBad?: (m: string) => void): Promise<Step[]> {
  const pq = await openParquet(file);
  const out: Step[] = [];
  for await (const { step } of stepRowsOfRange(file, pq, stepColumnsOf(file, pq.meta), 0, Number(pq.meta.num_rows), onBad)) out.push(step);
  return out;
}

describe('columnar Parquet step reader', () => {
  const steps = variedSteps(1400, 5).map((s) => ({ ...s, prefill: s.prefill.map((c) => ({ ...c, prompt: c.prior + c.tokens })) }));
  for (const codec of ['UNCOMPRESSED', 'SNAPPY'] as const) {
    for (const plain of [false, true]) {
      it(`reads foreign layouts on the fast path (${codec}, ${plain ? 'PLAIN' : 'dictionary'}, optional INT64 lists)`, async () => {
        const file = path.join(dir, `foreign-${codec}-${plain}.parquet`);
        writeForeign(file, steps, { codec, plain, rowGroup: 300 });
        const before = { ...rowGroupPaths };
        const { steps: got } = await viaBatches(file);
        expect(rowGroupPaths.fast - before.fast).toBe(5);
        expect(rowGroupPaths.general).toBe(before.general);
        expect(got).toEqual(steps);
        expect(await viaGeneralReader(file)).toEqual(steps);
      });
    }
  }

  it('a null element or a null list goes to the general reader: same message, same skips', async () => {
    const file = path.join(dir, 'nulls.parquet');
    writeForeign(file, steps.slice(0, 1000), {
      codec: 'SNAPPY',
      plain: false,
      rowGroup: 400,
      patch: (cols) => {
        (cols['decode']![450] as unknown[])[0] = null;
        cols['prefill_prior']![900] = null;
      },
    });
    const before = { ...rowGroupPaths };
    await expect(viaBatches(file)).rejects.toThrow(/nulls\.parquet: row 451: field 'decode\[0\]': expected a non-negative integer context length, got null/);
    await expect(viaGeneralReader(file)).rejects.toThrow(/nulls\.parquet: row 451: field 'decode\[0\]'/);
    const bad: string[] = [];
    const { steps: got, batches } = await viaBatches(file, (m) => bad.push(m));
    expect(bad).toEqual([expect.stringMatching(/row 451: field 'decode\[0\]'/)]);
    expect(rowGroupPaths.general - before.general).toBeGreaterThanOrEqual(2);
    const expected = await viaGeneralReader(file, () => {});
    expect(got).toEqual(expected);
    // a null prior list means prior 0 (as a missing field in JSON): row 901 is read, not skipped
    expect(got.find((s) => s.step === 900)!.prefill.every((c) => c.prior === 0)).toBe(true);
    for (const b of batches) for (let r = 0; r < b.n; r++) expect(b.step[r]).toBe(b.firstRow + r - 1);
  });

  it('bad values are judged by validateStep: the messages and skipped rows of the general reader', async () => {
    const file = path.join(dir, 'bad.parquet');
    const bad = variedSteps(2000, 9);
    bad[3] = { ...bad[3]!, durationUs: -2 };
    bad[1500] = { ...bad[1500]!, decode: [2 ** 30 + 1] };
    const w = new StepParquetWriter(file, 1000);
    w.add(bad);
    w.commit();
    await expect(viaBatches(file)).rejects.toThrow(/bad\.parquet: row 4: field 'duration_us': expected a positive finite number \(µs\), got -2/);
    const msgs: string[] = [];
    const rows: number[] = [];
    for await (const { step, row } of readStepsParquetRows(file, (m) => msgs.push(m))) {
      expect(step.step).toBe(row - 1);
      rows.push(row);
    }
    expect(msgs.map((m) => m.replace(/^.*bad\.parquet: /, ''))).toEqual([
      "row 4: field 'duration_us': expected a positive finite number (µs), got -2",
      "row 1501: field 'decode[0]': expected a non-negative integer context length, got 1073741825",
    ]);
    expect(rows.length).toBe(1998);
  });

  it('stepfit files: JSONL → Parquet → batches gives the JSONL steps, on the fast path', async () => {
    const src = await readAllSteps('data/sample/steps.jsonl');
    const file = path.join(dir, 'sample.parquet');
    const w = new StepParquetWriter(file, 333);
    w.add(src);
    w.commit();
    const before = rowGroupPaths.fast;
    expect((await viaBatches(file)).steps).toEqual(src);
    expect(rowGroupPaths.fast - before).toBe(Math.ceil(src.length / 333));
  });

  it('reuse: batches in buffers reused from row group to row group give the same steps, each read before the next', async () => {
    const src = await readAllSteps('data/sample/steps.jsonl');
    const file = path.join(dir, 'sample-reuse.parquet');
    const w = new StepParquetWriter(file, 97);
    w.add(src);
    w.commit();
    const steps: Step[] = [];
    let prev: StepBatch | null = null;
    let shared = 0;
    for await (const b of readStepBatches(file, { reuse: true })) {
      expect(checkBatch(b)).toBeNull();
      steps.push(...batchSteps(b));
      if (prev && b.decodeContext.buffer === prev.decodeContext.buffer) shared++;
      prev = b;
    }
    expect(steps).toEqual(src);
    expect(shared).toBeGreaterThan(0);
  });
});
