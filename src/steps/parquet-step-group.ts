/**
 * One row group of the fast step Parquet writer (parquet-step-writer.ts): the steps buffered column-wise
 * (`StepGroup`), and each column chunk written as an optional dictionary page plus one uncompressed
 * DATA_PAGE_V2, with the column statistics hyparquet-writer computes (min/max; null count, an empty list
 * counting as a null; NaN count for doubles):
 *  - experiment: the group's distinct names as a dictionary page, the rows as RLE runs of indices;
 *  - step: PLAIN INT64; duration_us: definition levels and PLAIN doubles;
 *  - LIST<INT32>: repetition and definition levels as hybrid runs from the row lengths, the values as a
 *    dictionary page plus bit-packed indices when that is smaller than PLAIN, else PLAIN.
 */
import type { ParquetWriter } from 'hyparquet-writer';
import { NO_LEVELS, writeColumnChunk, type ColumnChunk, type PageV2 } from './parquet-chunk.js';
import { bitWidth, Bytes, IntDictionary, LevelRuns, packIndices } from './parquet-step-encode.js';

type Writer = ParquetWriter['writer'];
export type { ColumnChunk } from './parquet-chunk.js';
type Stats = Record<string, unknown>;

const I32 = 2 ** 31 - 1;

/** A growable INT32 column. */
export class IntColumn {
  v = new Int32Array(1 << 14);
  n = 0;
  room(k: number): Int32Array {
    if (this.n + k > this.v.length) {
      const v = new Int32Array(Math.max(this.v.length * 2, this.n + k));
      v.set(this.v.subarray(0, this.n));
      this.v = v;
    }
    return this.v;
  }
}

/** The buffered rows of one row group, column-wise. */
export class StepGroup {
  n = 0;
  readonly exIdx: Int32Array;
  names: string[] = [];
  private index = new Map<string, number>();
  private last = '';
  private lastIdx = -1;
  readonly step: Float64Array;
  readonly dur: Float64Array;
  readonly hasDur: Uint8Array;
  readonly prefillOff: Int32Array;
  readonly decodeOff: Int32Array;
  readonly tokens = new IntColumn();
  readonly prior = new IntColumn();
  readonly prompt = new IntColumn();
  readonly decode = new IntColumn();
  constructor(readonly cap: number) {
    this.exIdx = new Int32Array(cap);
    this.step = new Float64Array(cap);
    this.dur = new Float64Array(cap);
    this.hasDur = new Uint8Array(cap);
    this.prefillOff = new Int32Array(cap + 1);
    this.decodeOff = new Int32Array(cap + 1);
  }
  experiment(name: string): number {
    if (name === this.last && this.lastIdx >= 0) return this.lastIdx;
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.names.push(name) - 1;
      this.index.set(name, i);
    }
    this.last = name;
    this.lastIdx = i;
    return i;
  }
  clear(): void {
    this.n = 0;
    this.names = [];
    this.index = new Map();
    this.lastIdx = -1;
    this.tokens.n = this.prior.n = this.prompt.n = this.decode.n = 0;
  }
}

type Page = PageV2;

const NONE = NO_LEVELS;

/** One column chunk: an optional dictionary page, then one uncompressed DATA_PAGE_V2 (with the pages' encoding statistics). */
function writeChunk(w: Writer, path: string[], type: string, page: Page, dict: { data: Uint8Array; count: number } | null, statistics: Stats): ColumnChunk {
  return writeColumnChunk(w, path, type, page, dict, statistics, true);
}

/** Scratch buffers reused by every column chunk. */
export class Scratch {
  readonly rep = new LevelRuns();
  readonly def = new LevelRuns();
  readonly data = new Bytes();
  readonly dict = new IntDictionary();
  idx = new Int32Array(1 << 14);
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Unsigned lexicographic byte order (UTF-8 byte order = code point order, as the Parquet spec orders strings). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const utf8 = new TextEncoder();

/** The experiment chunk: the group's distinct names as a dictionary page, the rows as RLE runs of indices. */
export function experimentChunk(w: Writer, g: StepGroup, sc: Scratch): ColumnChunk {
  const parts = g.names.map((s) => utf8.encode(s));
  let lo = 0;
  let hi = 0;
  for (let i = 1; i < parts.length; i++) {
    if (compareBytes(parts[i]!, parts[lo]!) < 0) lo = i;
    if (compareBytes(parts[i]!, parts[hi]!) > 0) hi = i;
  }
  const dict = new Uint8Array(parts.reduce((a, p) => a + 4 + p.length, 0));
  const view = new DataView(dict.buffer);
  for (let i = 0, o = 0; i < parts.length; i++) {
    view.setUint32(o, parts[i]!.length, true);
    dict.set(parts[i]!, o + 4);
    o += 4 + parts[i]!.length;
  }
  const width = bitWidth(parts.length - 1);
  const out = sc.data;
  out.n = 0;
  out.reserve(1);
  out.buf[out.n++] = width;
  const idx = g.exIdx;
  for (let i = 0; i < g.n; ) {
    let j = i + 1;
    while (j < g.n && idx[j] === idx[i]) j++;
    out.varint((j - i) * 2);
    out.reserve(4);
    for (let k = 0; k < (width + 7) >> 3; k++) out.buf[out.n++] = (idx[i]! >>> (8 * k)) & 0xff;
    i = j;
  }
  const page: Page = { rep: NONE, def: NONE, data: out.view(), values: g.n, nulls: 0, rows: g.n, encoding: 'RLE_DICTIONARY' };
  return writeChunk(w, ['experiment'], 'BYTE_ARRAY', page, { data: dict, count: parts.length }, { min_value: g.names[lo], max_value: g.names[hi], null_count: 0n });
}

/** The step chunk: PLAIN INT64 (two's complement words of the safe integers). */
export function stepChunk(w: Writer, g: StepGroup): ColumnChunk {
  const n = g.n;
  const words = new Int32Array(2 * n);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let r = 0; r < n; r++) {
    const x = g.step[r]!;
    const hi = Math.floor(x / 2 ** 32);
    words[2 * r] = x - hi * 2 ** 32;
    words[2 * r + 1] = hi;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const page: Page = { rep: NONE, def: NONE, data: bytesOf(words), values: n, nulls: 0, rows: n, encoding: 'PLAIN' };
  return writeChunk(w, ['step'], 'INT64', page, null, { min_value: BigInt(min), max_value: BigInt(max), null_count: 0n });
}

/** The optional duration chunk: definition levels and the measured values (PLAIN doubles). */
export function durationChunk(w: Writer, g: StepGroup, sc: Scratch): ColumnChunk {
  const n = g.n;
  const vals = new Float64Array(n);
  const def = sc.def;
  def.reset();
  let m = 0;
  let nans = 0;
  let min: number | undefined;
  let max: number | undefined;
  for (let r = 0; r < n; r++) {
    def.run(g.hasDur[r]!, 1);
    if (g.hasDur[r] === 0) continue;
    const x = g.dur[r]!;
    vals[m++] = x;
    if (Number.isNaN(x)) nans++;
    else {
      if (min === undefined || x < min) min = x;
      if (max === undefined || x > max) max = x;
    }
  }
  const page: Page = { rep: NONE, def: def.finish(), data: bytesOf(vals.subarray(0, m)), values: n, nulls: n - m, rows: n, encoding: 'PLAIN' };
  const stats = { min_value: min === 0 ? -0 : min, max_value: max === 0 ? 0 : max, null_count: BigInt(n - m), nan_count: BigInt(nans) };
  return writeChunk(w, ['duration_us'], 'DOUBLE', page, null, stats);
}

/** A LIST<INT32> chunk: levels from the row offsets, values as dictionary + bit-packed indices or PLAIN, whichever is smaller. */
export function listChunk(w: Writer, name: string, off: Int32Array, rows: number, col: IntColumn, sc: Scratch): ColumnChunk {
  const { rep, def } = sc;
  rep.reset();
  def.reset();
  let empty = 0;
  for (let r = 0; r < rows; r++) {
    const len = off[r + 1]! - off[r]!;
    rep.run(0, 1);
    if (len === 0) {
      def.run(0, 1);
      empty++;
    } else {
      rep.run(1, len - 1);
      def.run(1, len);
    }
  }
  const nv = col.n;
  const v = col.v;
  let min = I32;
  let max = 0;
  for (let i = 0; i < nv; i++) {
    const x = v[i]!;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const stats: Stats = { ...(nv > 0 ? { min_value: min === 0 ? -0 : min, max_value: max } : {}), null_count: BigInt(empty) };
  if (sc.idx.length < nv) sc.idx = new Int32Array(nv);
  const nd = nv > 0 ? sc.dict.build(v, nv, sc.idx, nv >>> 1, max) : -1;
  const width = nd > 0 ? bitWidth(nd - 1) : 0;
  const dictBytes = 4 * nd + 16 + Math.ceil(nv / 8) * width;
  const levels = { rep: rep.finish(), def: def.finish(), values: empty + nv, nulls: empty, rows };
  const path = [name, 'list', 'element'];
  if (nd > 0 && width <= 24 && dictBytes < 4 * nv) {
    sc.data.n = 0;
    packIndices(sc.idx, nv, width, sc.data);
    const dict = { data: bytesOf(sc.dict.entries.subarray(0, nd)), count: nd };
    return writeChunk(w, path, 'INT32', { ...levels, data: sc.data.view(), encoding: 'RLE_DICTIONARY' }, dict, stats);
  }
  return writeChunk(w, path, 'INT32', { ...levels, data: bytesOf(v.subarray(0, nv)), encoding: 'PLAIN' }, null, stats);
}
