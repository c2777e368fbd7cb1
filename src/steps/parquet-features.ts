/**
 * Feature tables as Parquet (`features --out x.parquet`): experiment (STRING), step (INT64), duration_us
 * (DOUBLE µs, null = not measured), one DOUBLE column per feature; key/value metadata `stepfit.schema =
 * features/1`. Row groups of ROW_GROUP rows are written here straight from typed arrays — one DATA_PAGE_V2
 * per column chunk, PLAIN doubles and integers, uncompressed (snappy or dictionary building in JS would
 * cost more than everything else), the experiment as a dictionary page plus RLE indices, min/max/null
 * statistics — and the footer by hyparquet-writer. Trade-off: ≈ 2× the size of hyparquet-writer's
 * dictionary/snappy output for low-cardinality columns; a column chunk whose values are all the same bits
 * (num_layers, t_tp at TP 1, latency_scale, …) is one dictionary entry and one RLE run.
 */
import fs from 'node:fs';
import { ParquetWriter } from 'hyparquet-writer';
import { ByteWriter } from 'hyparquet-writer/src/bytewriter.js';
import { commitTemp, discardTemp, prepareTemp } from '../io/atomic.js';
import { InputError } from '../io/errors.js';
import type { StepBatch } from './batch.js';
import type { Step } from './step.js';
import { NO_LEVELS, writeColumnChunk } from './parquet-chunk.js';

/** The writer's schema element type (hyparquet-writer pins its own hyparquet version). */
export type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];
type RowGroup = ParquetWriter['row_groups'][number];
type ColumnChunk = RowGroup['columns'][number];
type Writer = ParquetWriter['writer'];

/** Rows per row group of a feature table. */
const GROUP = 16384;

/**
 * hyparquet-writer's byte writer onto one open file: flushes past 1 MiB with `writeSync` (its own
 * `fileWriter` reopens the file for every flush). `close()` releases the descriptor (idempotent).
 */
export class FileByteWriter extends ByteWriter {
  private fd: number | null;
  constructor(file: string) {
    super(1 << 21);
    this.fd = fs.openSync(file, 'w');
  }
  override ensure(size: number): void {
    if (this.index > 1 << 20) this.flush();
    super.ensure(size);
  }
  flush(): void {
    if (this.fd === null) throw new Error('write after close');
    const bytes = new Uint8Array(this.buffer, 0, this.index);
    for (let o = 0; o < bytes.length; ) o += fs.writeSync(this.fd, bytes, o);
    this.index = 0;
  }
  override finish(): void {
    this.flush();
    this.close();
  }
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Write a Parquet file atomically (temp file + rename, io/atomic.ts); `fill` writes the row groups. */
export async function withParquetFile<T>(target: string, schema: SchemaElement[], kv: Record<string, string>, fill: (pw: ParquetWriter) => Promise<T>): Promise<T> {
  const tmp = prepareTemp(target);
  let out: FileByteWriter | undefined;
  try {
    out = new FileByteWriter(tmp);
    const pw = new ParquetWriter({ writer: out, schema, createdBy: 'stepfit', kvMetadata: Object.entries(kv).map(([key, value]) => ({ key, value })) });
    const r = await fill(pw);
    pw.finish();
    commitTemp(tmp, target);
    return r;
  } catch (e) {
    out?.close();
    discardTemp(tmp);
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write output '${target}': ${(e as Error).message}`);
  }
}

/** A feature table being written: one step (`add`) or a whole batch (`addBatch`, features row-major) at a time. */
export interface FeatureTableWriter {
  add(s: Step, f: Float64Array): void;
  /** Rows of a batch; `f` row-major, `f[r·k + j]` = feature j of row r (k = number of feature columns). */
  addBatch(b: StepBatch, f: Float64Array): void;
}

/** Varint of an RLE/bit-packed hybrid run header. */
function varint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Values (each < 2^width) as RLE runs of the hybrid encoding. */
function rleRuns(values: ArrayLike<number>, n: number, width: number): Uint8Array {
  const out: number[] = [];
  const bytes = (width + 7) >> 3;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && values[j] === values[i]) j++;
    varint(out, (j - i) * 2);
    for (let k = 0; k < bytes; k++) out.push((values[i]! >>> (8 * k)) & 0xff);
    i = j;
  }
  return Uint8Array.from(out);
}

/** One uncompressed DATA_PAGE_V2 (and, for the experiment, its dictionary page) as a column chunk (no repetition levels). */
function writeChunk(
  w: Writer,
  path: string,
  type: 'DOUBLE' | 'INT64' | 'BYTE_ARRAY',
  page: { defs: Uint8Array; data: Uint8Array; values: number; nulls: number; rows: number; encoding: 'PLAIN' | 'RLE_DICTIONARY' },
  extra: { dict?: { data: Uint8Array; count: number }; statistics?: Record<string, unknown> },
): ColumnChunk {
  const { defs, ...rest } = page;
  return writeColumnChunk(w, [path], type, { ...rest, rep: NO_LEVELS, def: defs }, extra.dict ?? null, extra.statistics);
}

/** Min/max of the non-NaN values (±0 normalised as the Parquet spec asks), with null and NaN counts. */
function doubleStats(v: Float64Array, nulls: number, nans: number): Record<string, unknown> {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const any = min <= max;
  return { ...(any ? { min_value: min === 0 ? -0 : min, max_value: max === 0 ? 0 : max } : {}), null_count: BigInt(nulls), nan_count: BigInt(nans) };
}

const bytesOf = (a: Float64Array | BigInt64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Whether every value has the same bits as the first (constant columns: num_layers, t_tp at TP 1, …). */
function constant(v: Float64Array): boolean {
  const w = new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
  const lo = w[0];
  const hi = w[1];
  for (let i = 2; i < w.length; i += 2) if (w[i] !== lo || w[i + 1] !== hi) return false;
  return true;
}

/** The buffered columns of one row group. */
class FeatureGroup {
  readonly exIdx = new Int32Array(GROUP);
  exDict: string[] = [];
  readonly step = new Float64Array(GROUP);
  readonly dur = new Float64Array(GROUP);
  readonly cols: Float64Array[];
  m = 0;
  constructor(readonly k: number) {
    this.cols = Array.from({ length: k }, () => new Float64Array(GROUP));
  }
  experiment(name: string): number {
    const d = this.exDict;
    if (d.length > 0 && d[d.length - 1] === name) return d.length - 1;
    const i = d.indexOf(name);
    return i >= 0 ? i : d.push(name) - 1;
  }
}

/** The experiment column chunk: its distinct names as a dictionary page, the rows as RLE indices. */
function experimentChunk(w: Writer, g: FeatureGroup): ColumnChunk {
  const m = g.m;
  const enc = new TextEncoder();
  const dictParts = g.exDict.map((s) => enc.encode(s));
  const dictData = new Uint8Array(dictParts.reduce((a, p) => a + 4 + p.length, 0));
  let o = 0;
  for (const p of dictParts) {
    new DataView(dictData.buffer).setUint32(o, p.length, true);
    dictData.set(p, o + 4);
    o += 4 + p.length;
  }
  const width = Math.max(1, 32 - Math.clz32(Math.max(0, g.exDict.length - 1)));
  const idx = rleRuns(g.exIdx, m, width);
  const data = new Uint8Array(1 + idx.length);
  data[0] = width;
  data.set(idx, 1);
  const page = { defs: new Uint8Array(0), data, values: m, nulls: 0, rows: m, encoding: 'RLE_DICTIONARY' as const };
  return writeChunk(w, 'experiment', 'BYTE_ARRAY', page, { dict: { data: dictData, count: g.exDict.length } });
}

/** The step column chunk: INT64 little-endian words from the (safe-integer) doubles. */
function stepChunk(w: Writer, g: FeatureGroup): ColumnChunk {
  const m = g.m;
  const step = new BigInt64Array(m);
  const [sMin, sMax] = int64Words(g.step, m, new Uint32Array(step.buffer));
  const page = { defs: new Uint8Array(0), data: bytesOf(step), values: m, nulls: 0, rows: m, encoding: 'PLAIN' as const };
  return writeChunk(w, 'step', 'INT64', page, { statistics: { min_value: BigInt(sMin), max_value: BigInt(sMax), null_count: 0n } });
}

// Each row loop of the writer is a small function of its own (a loop inside a larger function is
// optimised on the fly and thrown away again for every row group).

/** Little-endian INT64 words of the first m (safe-integer) doubles of x into `words`; returns [min, max]. */
function int64Words(x: Float64Array, m: number, words: Uint32Array): [number, number] {
  let sMin = Number.POSITIVE_INFINITY;
  let sMax = Number.NEGATIVE_INFINITY;
  for (let r = 0; r < m; r++) {
    const v = x[r]!;
    const lo = v >>> 0; // v mod 2³² (v a safe integer); v − lo is an exact multiple of 2³²
    words[2 * r] = lo;
    words[2 * r + 1] = (v - lo) / 4294967296;
    if (v < sMin) sMin = v;
    if (v > sMax) sMax = v;
  }
  return [sMin, sMax];
}

/** The non-NaN values of dur[0, m) into dv, flagged in `defined`; returns how many. */
function definedValues(dur: Float64Array, m: number, defined: Uint8Array, dv: Float64Array): number {
  let nd = 0;
  for (let r = 0; r < m; r++) {
    const d = dur[r]!;
    if (Number.isNaN(d)) continue;
    defined[r] = 1;
    dv[nd++] = d;
  }
  return nd;
}

/** NaNs in v. */
function countNaN(v: Float64Array): number {
  let nans = 0;
  for (let r = 0; r < v.length; r++) if (Number.isNaN(v[r]!)) nans++;
  return nans;
}

/** The optional duration column chunk: definition levels (NaN = null) and the measured values. */
function durationChunk(w: Writer, g: FeatureGroup): ColumnChunk {
  const m = g.m;
  const defined = new Uint8Array(m);
  const dv = new Float64Array(m);
  const nd = definedValues(g.dur, m, defined, dv);
  const vals = dv.subarray(0, nd);
  const page = { defs: rleRuns(defined, m, 1), data: bytesOf(vals), values: m, nulls: m - nd, rows: m, encoding: 'PLAIN' as const };
  return writeChunk(w, 'duration_us', 'DOUBLE', page, { statistics: doubleStats(vals, m - nd, 0) });
}

/** A feature column chunk: PLAIN doubles, or one dictionary entry and one RLE run when all values have the same bits. */
function featureChunk(w: Writer, name: string, v: Float64Array): ColumnChunk {
  const m = v.length;
  const statistics = doubleStats(v, 0, countNaN(v));
  if (!constant(v)) return writeChunk(w, name, 'DOUBLE', { defs: new Uint8Array(0), data: bytesOf(v), values: m, nulls: 0, rows: m, encoding: 'PLAIN' }, { statistics });
  const run = rleRuns(new Uint8Array(m), m, 1);
  const data = new Uint8Array(1 + run.length);
  data[0] = 1;
  data.set(run, 1);
  const page = { defs: new Uint8Array(0), data, values: m, nulls: 0, rows: m, encoding: 'RLE_DICTIONARY' as const };
  return writeChunk(w, name, 'DOUBLE', page, { dict: { data: bytesOf(v.slice(0, 1)), count: 1 }, statistics });
}

function writeGroup(pw: ParquetWriter, names: readonly string[], g: FeatureGroup): void {
  const w = pw.writer;
  const start = w.offset;
  const columns = [experimentChunk(w, g), stepChunk(w, g), durationChunk(w, g), ...names.map((name, j) => featureChunk(w, name, g.cols[j]!.subarray(0, g.m)))];
  const size = BigInt(w.offset - start);
  pw.row_groups.push({ columns, total_byte_size: size, num_rows: BigInt(g.m), total_compressed_size: size });
  pw.num_rows += BigInt(g.m);
  w.flush?.();
}

const checkStep = (x: number, where: string): void => {
  if (!Number.isSafeInteger(x)) throw new InputError(`${where}: expected a safe integer, got ${x}`);
};

/** Write a feature table atomically as Parquet; `fill` adds the rows. Returns the number of rows. */
export async function writeFeaturesParquet(target: string, featureColumns: readonly string[], kv: Record<string, string>, fill: (w: FeatureTableWriter) => Promise<void>): Promise<number> {
  const schema: SchemaElement[] = [
    { name: 'root', num_children: 3 + featureColumns.length },
    { name: 'experiment', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    { name: 'step', type: 'INT64', repetition_type: 'REQUIRED' },
    { name: 'duration_us', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
    ...featureColumns.map((name): SchemaElement => ({ name, type: 'DOUBLE', repetition_type: 'REQUIRED' })),
  ];
  return withParquetFile(target, schema, { 'stepfit.schema': 'features/1', ...kv }, async (pw) => {
    const k = featureColumns.length;
    const g = new FeatureGroup(k);
    let n = 0;
    const flush = (): void => {
      if (g.m === 0) return;
      writeGroup(pw, featureColumns, g);
      g.m = 0;
      g.exDict = [];
    };
    await fill({
      add(s, f) {
        checkStep(s.step, `${target}: step ${s.step}`);
        const r = g.m++;
        g.exIdx[r] = g.experiment(s.experiment);
        g.step[r] = s.step;
        g.dur[r] = s.durationUs ?? Number.NaN;
        for (let j = 0; j < k; j++) g.cols[j]![r] = f[j]!;
        n++;
        if (g.m >= GROUP) flush();
      },
      addBatch(b, f) {
        for (let r0 = 0; r0 < b.n; ) {
          const take = Math.min(b.n - r0, GROUP - g.m);
          const at = g.m;
          g.exIdx.fill(g.experiment(b.experiment), at, at + take);
          for (let r = 0; r < take; r++) {
            const x = b.step[r0 + r]!;
            checkStep(x, `${target}: step ${x}`);
            g.step[at + r] = x;
          }
          g.dur.set(b.durationUs.subarray(r0, r0 + take), at);
          for (let j = 0; j < k; j++) {
            const col = g.cols[j]!;
            for (let r = 0, q = r0 * k + j; r < take; r++, q += k) col[at + r] = f[q]!;
          }
          g.m += take;
          n += take;
          r0 += take;
          if (g.m >= GROUP) flush();
        }
      },
    });
    flush();
    return n;
  });
}
