/**
 * The fast step Parquet writer (steps/parquet-step-writer.ts) against the generic writer it replaced
 * (hyparquet-writer's ParquetWriter on the same schema, rebuilt here as it was): on random steps with the
 * edge cases and on the vendored data, both files decode to the same rows through hyparquet's general
 * reader and through the columnar reader (which must take every row group of the new files on its fast
 * path), with the same schema, metadata and column statistics; the hybrid encoders against hyparquet's
 * decoder.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import { ParquetWriter } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { readAllSteps, writeSteps } from '../src/steps/io.js';
import { rowGroupPaths } from '../src/steps/parquet-batch.js';
import { FileByteWriter } from '../src/steps/parquet-features.js';
import { readParquetRows, readStepsParquetRows, StepParquetWriter, writeStepsParquet } from '../src/steps/parquet.js';
import { Bytes, IntDictionary, LevelRuns, packIndices } from '../src/steps/parquet-step-encode.js';
import { STEP_KV, STEP_SCHEMA } from '../src/steps/parquet-step-writer.js';
import { MAX_DURATION_US, MAX_TOKENS, MIN_DURATION_US, stepToJson, type Step } from '../src/steps/step.js';
import { makeRng, type Rng } from '../src/util/rng.js';
import { REPO_ROOT } from './support/shared.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pqw-'));

/** The generic writer as it was before the fast one: hyparquet-writer's shredding of the same columns. */
function writeGeneric(file: string, steps: readonly Step[], rowGroup: number): void {
  const out = new FileByteWriter(file);
  const pw = new ParquetWriter({ writer: out, schema: STEP_SCHEMA, createdBy: 'stepfit', kvMetadata: STEP_KV });
  for (let i = 0; i < steps.length; i += rowGroup) {
    const b = steps.slice(i, i + rowGroup);
    pw.write({
      columnData: [
        { name: 'experiment', data: b.map((s) => s.experiment) },
        { name: 'step', data: b.map((s) => BigInt(s.step)) },
        { name: 'duration_us', data: b.map((s) => s.durationUs ?? null) },
        { name: 'prefill_tokens', data: b.map((s) => s.prefill.map((c) => c.tokens)) },
        { name: 'prefill_prior', data: b.map((s) => s.prefill.map((c) => c.prior)) },
        { name: 'prefill_prompt', data: b.map((s) => s.prefill.map((c) => c.prompt)) },
        { name: 'decode', data: b.map((s) => [...s.decode]) },
      ],
      rowGroupSize: b.length,
    });
  }
  pw.finish();
}

function writeFast(file: string, steps: readonly Step[], rowGroup: number): void {
  const w = new StepParquetWriter(file, rowGroup);
  w.add(steps);
  w.commit();
}

async function stepsOf(file: string): Promise<Step[]> {
  const out: Step[] = [];
  for await (const { step } of readStepsParquetRows(file)) out.push(step);
  return out;
}

async function metaOf(file: string) {
  return parquetMetadataAsync(await asyncBufferFromFile(file));
}

/**
 * Write `steps` with both writers; both files must decode to `steps` (fast reader, every new row group on the
 * fast path) and to the same general-reader rows, schema, metadata and statistics. Returns the new file.
 */
async function sameAsGeneric(steps: readonly Step[], rowGroup: number): Promise<string> {
  const d = tmp();
  const fast = path.join(d, 'fast.parquet');
  const generic = path.join(d, 'generic.parquet');
  writeFast(fast, steps, rowGroup);
  writeGeneric(generic, steps, rowGroup);
  const before = { ...rowGroupPaths };
  const got = await stepsOf(fast);
  expect(rowGroupPaths.general).toBe(before.general);
  expect(rowGroupPaths.fast - before.fast).toBe(Math.ceil(steps.length / rowGroup));
  expect(got).toEqual(steps);
  expect(await stepsOf(generic)).toEqual(got);
  expect(await readParquetRows(fast)).toEqual(await readParquetRows(generic));
  const [mf, mg] = [await metaOf(fast), await metaOf(generic)];
  expect(mf.schema).toEqual(mg.schema);
  expect(mf.key_value_metadata).toEqual(mg.key_value_metadata);
  expect(mf.created_by).toBe(mg.created_by);
  expect(mf.num_rows).toBe(mg.num_rows);
  expect(mf.row_groups.length).toBe(mg.row_groups.length);
  mf.row_groups.forEach((g, i) => {
    const h = mg.row_groups[i]!;
    expect(g.num_rows).toBe(h.num_rows);
    g.columns.forEach((c, j) => {
      const e = h.columns[j]!.meta_data!;
      expect(c.meta_data!.path_in_schema).toEqual(e.path_in_schema);
      expect(c.meta_data!.type).toBe(e.type);
      expect(c.meta_data!.num_values).toBe(e.num_values);
      expect(c.meta_data!.statistics, `${e.path_in_schema.join('.')} of row group ${i}`).toEqual(e.statistics);
    });
  });
  return fast;
}

const NAMES = ['', 'a', 'llama-3.1-8b-h100', 'ütf-8 ✓', '日本語', 'emoji 🚀', 'x,"q"\n', 'Z', 'ab', 'a\u0000b'];

/** Valid steps (validateStep's rules) with the edge cases: empty lists, unmeasured, extreme values, many names. */
function randomSteps(rng: Rng, n: number, opts: { names: number; maxCtx: number; decodeLen: number }): Step[] {
  const out: Step[] = [];
  for (let i = 0; i < n; i++) {
    const k = rng.next();
    const nPrefill = k < 0.3 ? 0 : rng.int(1, 4);
    const prefill = Array.from({ length: nPrefill }, () => {
      const tokens = rng.next() < 0.05 ? MAX_TOKENS : rng.int(1, 4096);
      const prior = rng.next() < 0.5 ? 0 : rng.int(0, Math.min(opts.maxCtx, MAX_TOKENS - tokens));
      const prompt = rng.next() < 0.5 ? prior + tokens : Math.min(MAX_TOKENS, prior + tokens + rng.int(0, 1000));
      return { tokens, prior, prompt };
    });
    const nDecode = nPrefill > 0 && rng.next() < 0.3 ? 0 : rng.int(nPrefill > 0 ? 0 : 1, opts.decodeLen);
    const decode = Array.from({ length: nDecode }, () => (rng.next() < 0.02 ? (rng.next() < 0.5 ? 0 : MAX_TOKENS) : rng.int(0, opts.maxCtx)));
    const r = rng.next();
    const durationUs = r < 0.2 ? undefined : r < 0.25 ? MIN_DURATION_US : r < 0.3 ? MAX_DURATION_US : rng.next() * 1e5 + 1;
    const step = rng.next() < 0.05 ? Number.MAX_SAFE_INTEGER - rng.int(0, 10) : rng.next() < 0.05 ? 0 : rng.int(0, 2 ** 40);
    const experiment = NAMES[Math.min(NAMES.length - 1, Math.floor(rng.next() * opts.names))]!;
    out.push({ experiment, step, durationUs, prefill, decode });
  }
  return out;
}

describe('fast step Parquet writer = the generic writer', () => {
  it('random steps: empty lists, unmeasured rows, extreme values, unicode names, partial last row group', async () => {
    const rng = makeRng(17);
    const files = [
      await sameAsGeneric(randomSteps(rng, 3000, { names: NAMES.length, maxCtx: 40_000, decodeLen: 40 }), 1000),
      await sameAsGeneric(randomSteps(rng, 257, { names: 1, maxCtx: 300, decodeLen: 5 }), 16),
      // many distinct large values: PLAIN lists after an abandoned hashed dictionary (values ≥ 2^21)
      await sameAsGeneric(randomSteps(rng, 500, { names: 3, maxCtx: MAX_TOKENS, decodeLen: 30 }), 200),
    ];
    // a few large values repeated: the hashed dictionary
    const big = [2 ** 30, 2 ** 30 - 1, 3_000_000, 2 ** 21];
    files.push(
      await sameAsGeneric(
        randomSteps(rng, 300, { names: 2, maxCtx: 50, decodeLen: 9 }).map((s, i) => ({ ...s, decode: s.decode.map((_, k) => big[(i + k) % 4]!) })),
        64,
      ),
    );
    const encodings = new Set<string>();
    for (const f of files) for (const g of (await metaOf(f)).row_groups) for (const c of g.columns) encodings.add(`${c.meta_data!.path_in_schema[0]} ${c.meta_data!.encodings.join('+')}`);
    expect([...encodings].sort()).toEqual(expect.arrayContaining(['decode PLAIN', 'decode PLAIN+RLE_DICTIONARY', 'prefill_prior PLAIN+RLE_DICTIONARY', 'prefill_tokens PLAIN']));
  }, 60_000);

  it('tiny files: one step, one row per group, all measured / none measured, only prefill or only decode', async () => {
    const one: Step[] = [{ experiment: 'e', step: 3, durationUs: 12.5, prefill: [], decode: [7] }];
    await sameAsGeneric(one, 16384);
    const rng = makeRng(3);
    const steps = randomSteps(rng, 40, { names: 2, maxCtx: 100, decodeLen: 3 });
    await sameAsGeneric(steps, 1);
    await sameAsGeneric(
      steps.map((s) => ({ ...s, durationUs: undefined })),
      7,
    );
    await sameAsGeneric(
      steps.map((s, i) => ({ ...s, durationUs: i + 1, decode: [], prefill: [{ tokens: 1 + i, prior: 0, prompt: 1 + i }] })),
      40,
    );
    await sameAsGeneric(
      steps.map((s) => ({ ...s, prefill: [], decode: [5, 5, 5, 5] })),
      13,
    );
  }, 60_000);

  it('the vendored data (measured H200 steps, the sample) in one and in several row groups', async () => {
    const files = [
      ...fs
        .readdirSync(path.join(REPO_ROOT, 'data', 'measured'))
        .filter((f) => f.endsWith('.steps.jsonl.gz'))
        .map((f) => path.join('measured', f)),
      path.join('sample', 'steps.jsonl'),
    ];
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const f of files) {
      const steps = await readAllSteps(path.join(REPO_ROOT, 'data', f));
      await sameAsGeneric(steps, 16384);
      await sameAsGeneric(steps, 100);
    }
  }, 60_000);

  it('no steps: a file with no row group, read as empty by both readers', async () => {
    const d = tmp();
    const f = path.join(d, 'empty.parquet');
    expect(await writeStepsParquet(f, [])).toBe(0);
    expect(await stepsOf(f)).toEqual([]);
    expect(await readParquetRows(f)).toEqual([]);
    await sameAsGeneric([], 16384);
  });

  it('JSONL → Parquet → JSONL is byte-identical on the sample; the file is pinned by its hash', async () => {
    const d = tmp();
    const pq = path.join(d, 's.parquet');
    const text = fs.readFileSync(path.join(REPO_ROOT, 'data', 'sample', 'steps.jsonl'), 'utf8');
    const steps = await readAllSteps(path.join(REPO_ROOT, 'data', 'sample', 'steps.jsonl'));
    await writeSteps(pq, steps);
    expect((await readAllSteps(pq)).map((s) => stepToJson(s) + '\n').join('')).toBe(text);
    // Same steps → same bytes (a change here is a change of the file format: check it with both readers first).
    expect(crypto.createHash('sha256').update(fs.readFileSync(pq)).digest('hex').slice(0, 16)).toBe('4a1e13c5a26ed77f');
  });

  it('values the schema cannot hold: the generic writer’s messages, no file left behind', async () => {
    const d = tmp();
    const f = path.join(d, 'bad.parquet');
    const ok: Step = { experiment: 'e', step: 1, prefill: [{ tokens: 5, prior: 0, prompt: 5 }], decode: [3] };
    const cases: [Step, string][] = [
      [{ ...ok, decode: [3, 2 ** 31] }, `${f}: step 1 of 'e': token count 2147483648 does not fit Parquet INT32 (max 2147483647)`],
      [{ ...ok, decode: [1.5] }, `${f}: step 1 of 'e': token count 1.5 does not fit Parquet INT32 (max 2147483647)`],
      [{ ...ok, prefill: [{ tokens: 5, prior: -1, prompt: 2 ** 32 }], decode: [-3] }, `${f}: step 1 of 'e': token count -1 does not fit Parquet INT32 (max 2147483647)`],
      [
        {
          ...ok,
          prefill: [
            { tokens: 5, prior: 0, prompt: 5 },
            { tokens: Number.NaN, prior: -1, prompt: 5 },
          ],
        },
        `${f}: step 1 of 'e': token count NaN does not fit Parquet INT32 (max 2147483647)`,
      ],
      [{ ...ok, step: 2 ** 53 }, `${f}: step 9007199254740992 of 'e': expected a safe integer, got 9007199254740992`],
    ];
    for (const [bad, message] of cases) {
      await expect(writeStepsParquet(f, [ok, ok, bad, ok])).rejects.toThrow(message);
      expect(fs.readdirSync(d)).toEqual([]);
    }
  });
});

/** Decode a hybrid stream of `n` values with hyparquet's reader. */
function hybridValues(bytes: Uint8Array, width: number, n: number): number[] {
  const out = new Array<number>(n).fill(-1);
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  readRleBitPackedHybrid(reader, width, out, bytes.length);
  return out;
}

describe('hybrid encoders', () => {
  it('level runs decode to the levels (short and long runs, every alignment)', () => {
    const rng = makeRng(5);
    const lv = new LevelRuns();
    for (let t = 0; t < 300; t++) {
      lv.reset();
      const want: number[] = [];
      const runs = rng.int(1, 60);
      for (let r = 0; r < runs; r++) {
        const v = rng.int(0, 1);
        const c = rng.next() < 0.5 ? rng.int(0, 9) : rng.int(10, 70);
        lv.run(v, c);
        for (let k = 0; k < c; k++) want.push(v);
      }
      const bytes = lv.finish().slice();
      expect(hybridValues(bytes, 1, want.length)).toEqual(want);
    }
  });

  it('bit-packed indices decode to the indices for every width 1…24', () => {
    const rng = makeRng(9);
    const out = new Bytes();
    for (let width = 1; width <= 24; width++) {
      for (const n of [1, 7, 8, 9, 31, 32, 33, 1000]) {
        const idx = Int32Array.from({ length: n }, () => Math.floor(rng.next() * 2 ** width));
        out.n = 0;
        packIndices(idx, n, width, out);
        const page = out.view();
        expect(page[0]).toBe(width);
        expect(hybridValues(page.subarray(1), width, n)).toEqual([...idx]);
      }
    }
  });

  it('the dictionary gives first-seen entries (table and hashed paths, reuse after an abandoned build)', () => {
    const rng = makeRng(11);
    const dict = new IntDictionary();
    for (const max of [10, 5000, 2 ** 21 + 5, 2 ** 31 - 1]) {
      for (const n of [1, 100, 20_000]) {
        const v = Int32Array.from({ length: n }, () => (rng.next() < 0.5 ? rng.int(0, Math.min(max, 50)) : rng.int(0, max)));
        v[0] = max;
        const idx = new Int32Array(n);
        const nd = dict.build(v, n, idx, n, max);
        const entries = [...dict.entries.subarray(0, nd)];
        expect(entries).toEqual([...new Set(v)]);
        for (let i = 0; i < n; i++) expect(entries[idx[i]!]).toBe(v[i]);
        if (nd > 1) expect(dict.build(v, n, idx, nd - 1, max)).toBe(-1);
      }
    }
  });
});
