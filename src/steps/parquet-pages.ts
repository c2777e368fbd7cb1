/**
 * A narrow, fast Parquet column-chunk decoder for the shapes step files use: one column chunk → flat
 * typed arrays (values, repetition and definition levels), without building one JS value per row.
 *
 * Handled: DATA_PAGE_V2 pages (what hyparquet-writer and Polars write) and dictionary pages; PLAIN values
 * of INT32 / INT64 / FLOAT / DOUBLE / BYTE_ARRAY, RLE_DICTIONARY / PLAIN_DICTIONARY indices; RLE/bit-packed
 * hybrid levels; UNCOMPRESSED or SNAPPY codec. Anything else (DATA_PAGE v1 as pyarrow writes by default,
 * other codecs, DELTA encodings, > 24-bit dictionary indices) throws `Unsupported`, and the caller reads
 * the row group with hyparquet's general reader instead — never a different result, only a slower one.
 * Page headers are parsed by hyparquet (`parquetHeader`, thrift compact protocol).
 */
import { parquetHeader } from 'hyparquet/src/column.js';

/** The fast decoder does not handle this file or page; read it with the general reader. */
export class Unsupported extends Error {}

/** Physical types the decoder reads. */
export type LeafType = 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY';

/** One decoded column chunk. `values` holds only the defined (non-null) values, in order. */
export interface DecodedChunk {
  /** Number of level entries (= rows for a flat column). */
  readonly count: number;
  /** Definition levels of a flat optional column (count entries), else null. */
  readonly def: Uint8Array | null;
  /** Numbers for numeric types (INT64 converted with Number()), strings for BYTE_ARRAY. */
  readonly values: Float64Array | Int32Array | string[];
  readonly nValues: number;
  /** All values were checked against `spec.range` while decoding (dictionary pages only) and are in it. */
  readonly inRange: boolean;
  /** For a LIST column (maxRep 1): its row offsets (`def` is then null). */
  readonly list: ListState | null;
}

export interface ChunkSpec {
  readonly type: LeafType;
  readonly maxRep: number;
  readonly maxDef: number;
  readonly codec: string;
  /** Level entries in the chunk (column metadata num_values). */
  readonly count: number;
  /** INT32 values outside [lo, hi] are refused: with it, a dictionary-encoded chunk is checked as it decodes (`inRange`). */
  readonly range?: readonly [number, number];
  /** Rows of the row group, and the definition level of an empty list (LIST columns). */
  readonly rows: number;
  readonly emptyDef: number;
}

const utf8 = new TextDecoder();

/** Snappy decompression into `out` (exactly out.length bytes). Literals and long copies move with native copies. */
export function snappyInto(src: Uint8Array, out: Uint8Array): void {
  let pos = 0;
  while (pos < src.length && src[pos]! >= 128) pos++;
  pos++;
  let o = 0;
  const n = src.length;
  while (pos < n) {
    const c = src[pos++]!;
    const kind = c & 3;
    if (kind === 0) {
      let len = (c >>> 2) + 1;
      if (len > 60) {
        const k = len - 60;
        len = 0;
        for (let i = 0; i < k; i++) len += src[pos + i]! * 2 ** (8 * i);
        len += 1;
        pos += k;
      }
      if (pos + len > n || o + len > out.length) throw new Error('corrupt snappy data (literal past the end)');
      if (len > 32) out.set(src.subarray(pos, pos + len), o);
      else for (let i = 0; i < len; i++) out[o + i] = src[pos + i]!;
      pos += len;
      o += len;
      continue;
    }
    let len: number;
    let off: number;
    if (kind === 1) {
      len = ((c >>> 2) & 7) + 4;
      off = ((c >>> 5) << 8) | src[pos++]!;
    } else if (kind === 2) {
      len = (c >>> 2) + 1;
      off = src[pos]! | (src[pos + 1]! << 8);
      pos += 2;
    } else {
      len = (c >>> 2) + 1;
      off = (src[pos]! | (src[pos + 1]! << 8) | (src[pos + 2]! << 16)) + src[pos + 3]! * 2 ** 24;
      pos += 4;
    }
    if (off === 0 || off > o || o + len > out.length) throw new Error('corrupt snappy data (bad copy)');
    if (off >= len && len > 32) out.copyWithin(o, o - off, o - off + len);
    else for (let i = 0; i < len; i++) out[o + i] = out[o - off + i]!;
    o += len;
  }
  if (o !== out.length) throw new Error(`corrupt snappy data (${o} bytes, expected ${out.length})`);
}

/** Values k of a bit-packed run (width ≤ 24, k < count) through a 32-bit window; `src` must hold the whole run. */
function unpack(src: Uint8Array, pos: number, width: number, mask: number, out: Uint8Array | Int32Array, at: number, take: number): void {
  if (width === 1) {
    let k = 0;
    for (; k + 8 <= take; k += 8) {
      const v = src[pos + (k >>> 3)]!;
      const o = at + k;
      out[o] = v & 1;
      out[o + 1] = (v >>> 1) & 1;
      out[o + 2] = (v >>> 2) & 1;
      out[o + 3] = (v >>> 3) & 1;
      out[o + 4] = (v >>> 4) & 1;
      out[o + 5] = (v >>> 5) & 1;
      out[o + 6] = (v >>> 6) & 1;
      out[o + 7] = (v >>> 7) & 1;
    }
    for (; k < take; k++) out[at + k] = (src[pos + (k >>> 3)]! >>> (k & 7)) & 1;
    return;
  }
  const last = src.length - 4;
  for (let k = 0, bit = 0; k < take; k++, bit += width) {
    const b = pos + (bit >>> 3);
    const word = b <= last ? src[b]! | (src[b + 1]! << 8) | (src[b + 2]! << 16) | (src[b + 3]! << 24) : tail(src, b);
    out[at + k] = (word >>> (bit & 7)) & mask;
  }
}

const tail = (src: Uint8Array, b: number): number => (src[b] ?? 0) | ((src[b + 1] ?? 0) << 8) | ((src[b + 2] ?? 0) << 16) | ((src[b + 3] ?? 0) << 24);

/**
 * RLE / bit-packed hybrid values of `width` bits from src[pos, end) into out[at, at + count).
 * Returns the position after the last run read.
 */
export function readHybrid(src: Uint8Array, pos: number, end: number, width: number, out: Uint8Array | Int32Array, at: number, count: number): number {
  if (width > 24) throw new Unsupported(`bit width ${width}`);
  const mask = width === 0 ? 0 : (1 << width) - 1;
  const bytesW = (width + 7) >> 3;
  let done = 0;
  while (done < count) {
    if (pos >= end) throw new Error('level/index data ends early');
    let h = 0;
    let shift = 0;
    let b: number;
    do {
      b = src[pos++]!;
      h += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    if (h % 2 === 1) {
      const groups = (h - 1) / 2;
      const take = Math.min(groups * 8, count - done);
      const stop = pos + groups * width;
      if (pos + Math.ceil((take * width) / 8) > end) throw new Error('bit-packed run past the end of the page');
      unpack(src, pos, width, mask, out, at + done, take);
      done += take;
      pos = stop;
    } else {
      const run = Math.min(h / 2, count - done);
      let v = 0;
      for (let i = 0; i < bytesW; i++) v |= src[pos++]! << (8 * i);
      out.fill(v, at + done, at + done + run);
      done += run;
    }
  }
  return pos;
}

/** Row offsets of a LIST column (maxRep 1), built page by page from its levels without a level array. */
export interface ListState {
  /** off[r] = index of the first value of row r; rows + 1 entries once complete. */
  readonly off: Int32Array;
  rows: number;
  values: number;
  /** A null list or null element, or more rows than expected: the general reader must take this chunk. */
  bad: boolean;
}

/** The value of a hybrid stream that is one RLE run covering all n entries, else -1. */
function uniformRun(src: Uint8Array, pos: number, end: number, width: number, n: number): number {
  let h = 0;
  let shift = 0;
  let b: number;
  do {
    if (pos >= end) return -1;
    b = src[pos++]!;
    h += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  if (h % 2 === 1 || h / 2 < n) return -1;
  let v = 0;
  for (let i = 0; i < (width + 7) >> 3; i++) v |= src[pos++]! << (8 * i);
  return v;
}

/**
 * One page's repetition levels (width 1, src[pos, end)) walked run by run into row offsets. `def` holds the
 * page's definition levels, or is null when they are all `full` (every entry carries a value).
 */
function listLevels(src: Uint8Array, pos: number, end: number, n: number, def: Uint8Array | null, full: number, empty: number, st: ListState): void {
  const off = st.off;
  const cap = off.length - 1;
  let r = st.rows;
  let v = st.values;
  let i = 0;
  while (i < n) {
    if (pos >= end) throw new Error('repetition levels end early');
    let h = 0;
    let shift = 0;
    let b: number;
    do {
      b = src[pos++]!;
      h += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    if (h % 2 === 1) {
      const groups = (h - 1) / 2;
      const take = Math.min(groups * 8, n - i);
      if (pos + Math.ceil(take / 8) > end) throw new Error('bit-packed run past the end of the page');
      for (let k = 0; k < take; ) {
        const byte = src[pos + (k >>> 3)]!;
        if (def === null && byte === 0xff && k + 8 <= take) {
          v += 8;
          k += 8;
          continue;
        }
        const lim = Math.min((k & ~7) + 8, take);
        for (; k < lim; k++) {
          const start = ((byte >>> (k & 7)) & 1) === 0;
          if (start) {
            if (r >= cap) return void (st.bad = true);
            off[r++] = v;
          }
          const d = def === null ? full : def[i + k]!;
          if (d === full) v++;
          else if (d !== empty || !start) return void (st.bad = true);
        }
      }
      i += take;
      pos += groups;
    } else {
      const c = Math.min(h / 2, n - i);
      const x = src[pos++]!;
      if (x > 1) return void (st.bad = true);
      for (let k = 0; k < c; k++) {
        if (x === 0) {
          if (r >= cap) return void (st.bad = true);
          off[r++] = v;
        } else if (def === null) {
          v += c - k;
          break;
        }
        const d = def === null ? full : def[i + k]!;
        if (d === full) v++;
        else if (d !== empty || x !== 0) return void (st.bad = true);
      }
      i += c;
    }
  }
  st.rows = r;
  st.values = v;
}

/** A growing output of one chunk's values. */
interface Sink {
  /** Still true when every value so far came from a range-checked dictionary and none was out of range. */
  inRange: boolean;
  num: Float64Array | Int32Array | null;
  str: string[] | null;
  n: number;
}

/** INT32 values land in an Int32Array (the batch columns use it as is), other numbers in a Float64Array. */
function newSink(type: LeafType, n: number): Sink {
  if (type === 'BYTE_ARRAY') return { inRange: false, num: null, str: new Array<string>(n), n: 0 };
  return { inRange: true, num: type === 'INT32' ? new Int32Array(n) : new Float64Array(n), str: null, n: 0 };
}

function plainInto(sink: Sink, type: LeafType, page: Uint8Array, pos: number, count: number): void {
  if (type === 'BYTE_ARRAY') {
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    for (let i = 0; i < count; i++) {
      if (pos + 4 > page.length) throw new Error('BYTE_ARRAY value past the end of the page');
      const len = view.getUint32(pos, true);
      pos += 4;
      if (pos + len > page.length) throw new Error('BYTE_ARRAY value past the end of the page');
      sink.str![sink.n++] = utf8.decode(page.subarray(pos, pos + len));
      pos += len;
    }
    return;
  }
  const w = type === 'INT32' || type === 'FLOAT' ? 4 : 8;
  if (pos + count * w > page.length) throw new Error('values past the end of the page');
  const aligned = (page.byteOffset + pos) % w === 0;
  const bytes = aligned ? page.subarray(pos, pos + count * w) : page.slice(pos, pos + count * w);
  const out = sink.num!;
  const at = sink.n;
  if (type === 'INT32') out.set(new Int32Array(bytes.buffer, bytes.byteOffset, count), at);
  else if (type === 'FLOAT') out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count), at);
  else if (type === 'DOUBLE') out.set(new Float64Array(bytes.buffer, bytes.byteOffset, count), at);
  else {
    const v = new BigInt64Array(bytes.buffer, bytes.byteOffset, count);
    for (let i = 0; i < count; i++) out[at + i] = Number(v[i]!);
  }
  sink.n += count;
}

/** Reusable buffers of one column across row groups (everything in them is consumed before the next chunk). */
export interface Scratch {
  /** The column chunk's bytes as read from the file. */
  chunk: Uint8Array;
  def: Uint8Array;
  idx: Int32Array;
  page: Uint8Array;
}
export const newScratch = (): Scratch => ({ chunk: new Uint8Array(0), def: new Uint8Array(0), idx: new Int32Array(0), page: new Uint8Array(0) });

function lookupNum(out: Float64Array | Int32Array, at: number, dict: Float64Array | Int32Array, idx: Int32Array, count: number): void {
  const nd = dict.length;
  for (let i = 0; i < count; i++) {
    const j = idx[i]!;
    if (j >= nd) throw new Error(`dictionary index ${j} out of range (${nd} entries)`);
    out[at + i] = dict[j]!;
  }
}

type GroupUnpack = (src: Uint8Array, p: number, dict: Int32Array, out: Int32Array, o: number, groups: number) => number;
const unpackers = new Map<number, GroupUnpack | null>();

/**
 * Straight-line code for whole groups of 8 indices of one bit width (8 values in `width` bytes, constant
 * shifts), looked up in the dictionary; returns the OR of the values written. Only numbers are written
 * into the source. Null where code generation is not allowed.
 */
function groupUnpack(width: number): GroupUnpack | null {
  let f = unpackers.get(width);
  if (f !== undefined) return f;
  const lines: string[] = [];
  for (let i = 0; i < width; i++) lines.push(`const b${i} = src[p + ${i}];`);
  for (let k = 0; k < 8; k++) {
    const bit = k * width;
    const parts: string[] = [];
    for (let i = bit >> 3; i <= (bit + width - 1) >> 3; i++) {
      const d = (i - (bit >> 3)) * 8 - (bit & 7);
      parts.push(d === 0 ? `b${i}` : d < 0 ? `(b${i} >>> ${-d})` : `(b${i} << ${d})`);
    }
    lines.push(`v = dict[(${parts.join(' | ')}) & ${(1 << width) - 1}]; out[o + ${k}] = v; acc |= v;`);
  }
  try {
    f = new Function(
      'src',
      'p',
      'dict',
      'out',
      'o',
      'groups',
      `let acc = 0; let v = 0;\nfor (let g = 0; g < groups; g++, p += ${width}, o += 8) {\n${lines.join('\n')}\n}\nreturn acc;`,
    ) as GroupUnpack;
  } catch {
    f = null;
  }
  unpackers.set(width, f);
  return f;
}

/**
 * Dictionary indices (hybrid stream of `width` bits, from src[pos]) of an INT32 column looked up straight
 * into `out`; returns the OR of the values written (negative when one is -1). `dict` is padded to 2^width
 * entries with -1, and entries outside the column's valid range are -1 too (paddedDict), so a negative
 * result means an index out of range or a value the rules refuse: the row group goes to the general reader.
 * Reads up to 3 bytes past a run (bytes past the end of `src` read as 0 and are masked off anyway).
 */
function dictInts(src: Uint8Array, pos: number, end: number, width: number, dict: Int32Array, out: Int32Array, at: number, count: number): number {
  if (width > 24 || dict.length !== 2 ** width) throw new Unsupported(`bit width ${width}`);
  const mask = (1 << width) - 1;
  const groups8 = groupUnpack(width);
  let acc = 0;
  let done = 0;
  while (done < count) {
    if (pos >= end) throw new Error('dictionary indices end early');
    let h = 0;
    let shift = 0;
    let b: number;
    do {
      b = src[pos++]!;
      h += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    if (h % 2 === 1) {
      const groups = (h - 1) / 2;
      const take = Math.min(groups * 8, count - done);
      if (pos + Math.ceil((take * width) / 8) > end) throw new Error('bit-packed run past the end of the page');
      let o = at + done;
      let k = 0;
      if (groups8) {
        const full = take >>> 3;
        acc |= groups8(src, pos, dict, out, o, full);
        o += full * 8;
        k = full * 8;
      }
      for (let bit = pos * 8 + k * width; k < take; k++, bit += width) {
        const q = bit >>> 3;
        const v = dict[((src[q]! | (src[q + 1]! << 8) | (src[q + 2]! << 16) | (src[q + 3]! << 24)) >>> (bit & 7)) & mask]!;
        out[o++] = v;
        acc |= v;
      }
      done += take;
      pos += groups * width;
    } else {
      const run = Math.min(h / 2, count - done);
      let j = 0;
      for (let i = 0; i < (width + 7) >> 3; i++) j |= src[pos++]! << (8 * i);
      const v = dict[j & mask]!;
      out.fill(v, at + done, at + done + run);
      if (run > 0) acc |= v;
      done += run;
    }
  }
  return acc;
}

/** An INT32 dictionary padded with -1 to 2^width entries (cached per width). */
function paddedDict(d: Int32Array, width: number, cache: Map<number, Int32Array>, range: readonly [number, number] | undefined): Int32Array {
  let p = cache.get(width);
  if (!p) {
    p = new Int32Array(2 ** width).fill(-1);
    p.set(d.length > p.length ? d.subarray(0, p.length) : d);
    if (range) for (let i = 0; i < p.length; i++) if (p[i]! < range[0] || p[i]! > range[1]) p[i] = -1;
    cache.set(width, p);
  }
  return p;
}

function dictionaryInto(
  sink: Sink,
  dict: Float64Array | Int32Array | string[],
  page: Uint8Array,
  count: number,
  scratch: Scratch,
  padded: Map<number, Int32Array>,
  range: readonly [number, number] | undefined,
): void {
  const width = page[0]!;
  if (sink.num instanceof Int32Array && dict instanceof Int32Array && width <= 24) {
    const src = page.buffer === scratch.page.buffer && page.byteOffset === scratch.page.byteOffset ? scratch.page : page;
    if (count > 0 && dictInts(src, 1, page.length, width, paddedDict(dict, width, padded, range), sink.num, sink.n, count) < 0) sink.inRange = false;
    sink.n += count;
    return;
  }
  sink.inRange = false;
  if (scratch.idx.length < count) scratch.idx = new Int32Array(count);
  const idx = scratch.idx;
  if (count > 0) readHybrid(page, 1, page.length, width, idx, 0, count);
  const at = sink.n;
  if (sink.num) lookupNum(sink.num, at, dict as Float64Array | Int32Array, idx, count);
  else {
    const out = sink.str!;
    const d = dict as string[];
    const nd = d.length;
    for (let i = 0; i < count; i++) {
      const j = idx[i]!;
      if (j >= nd) throw new Error(`dictionary index ${j} out of range (${nd} entries)`);
      out[at + i] = d[j]!;
    }
  }
  sink.n += count;
}

/** The page's bytes uncompressed; a SNAPPY page lands in the scratch buffer (valid until the next page). */
function decompress(codec: string, body: Uint8Array, size: number, scratch: Scratch | null): Uint8Array {
  if (codec === 'UNCOMPRESSED') {
    if (body.length !== size) throw new Error(`page of ${body.length} bytes, header says ${size}`);
    return body;
  }
  if (codec !== 'SNAPPY') throw new Unsupported(`codec ${codec}`);
  let out: Uint8Array;
  if (scratch) {
    if (scratch.page.length < size + 8) scratch.page = new Uint8Array(Math.max(size + 8, scratch.page.length * 2));
    out = scratch.page.subarray(0, size);
  } else out = new Uint8Array(size);
  if (size > 0) snappyInto(body, out);
  return out;
}

const levelWidth = (max: number): number => 32 - Math.clz32(max);
const grow = (a: Uint8Array, n: number): Uint8Array => (a.length >= n ? a : new Uint8Array(n));

/**
 * Decode one column chunk (its bytes, from the dictionary page or first data page to its end). The levels
 * it returns live in `scratch` (valid until the next call with it); the values are a fresh array.
 * Throws `Unsupported` for shapes this decoder leaves to hyparquet, Error for corrupt data.
 */
export function decodeChunk(bytes: Uint8Array, spec: ChunkSpec, scratch: Scratch = newScratch()): DecodedChunk {
  const { type, maxRep, maxDef, codec, count } = spec;
  if (maxRep > 1) throw new Unsupported('nested lists');
  const list: ListState | null = maxRep === 1 ? { off: new Int32Array(spec.rows + 1), rows: 0, values: 0, bad: false } : null;
  if (maxDef > 0) scratch.def = grow(scratch.def, count);
  const def = maxDef > 0 && !list ? scratch.def : null;
  const sink = newSink(type, count);
  let dict: Float64Array | Int32Array | string[] | null = null;
  const padded = new Map<number, Int32Array>();
  let levels = 0;
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  while (levels < count) {
    if (reader.offset >= bytes.length) throw new Error(`column chunk ends after ${levels} of ${count} values`);
    const h = parquetHeader(reader);
    const body = bytes.subarray(reader.offset, reader.offset + h.compressed_page_size);
    if (body.length !== h.compressed_page_size) throw new Error('page past the end of the column chunk');
    reader.offset += h.compressed_page_size;
    if (h.type === 'DICTIONARY_PAGE') {
      const nd = h.dictionary_page_header?.num_values ?? 0;
      const d = newSink(type, nd);
      plainInto(d, type, decompress(codec, body, h.uncompressed_page_size, null), 0, nd);
      dict = d.num ?? d.str!;
      padded.clear();
      continue;
    }
    const v2 = h.data_page_header_v2;
    if (h.type !== 'DATA_PAGE_V2' || !v2) throw new Unsupported(`page type ${h.type}`);
    const n = v2.num_values;
    const nonNull = n - v2.num_nulls;
    if (levels + n > count || nonNull < 0 || (maxDef === 0 && nonNull !== n)) throw new Error('page value counts do not add up');
    const rl = v2.repetition_levels_byte_length;
    const dl = v2.definition_levels_byte_length;
    if (list) {
      let pageDef: Uint8Array | null = null;
      if (uniformRun(body, rl, rl + dl, levelWidth(maxDef), n) !== maxDef) readHybrid(body, rl, rl + dl, levelWidth(maxDef), (pageDef = scratch.def), 0, n);
      listLevels(body, 0, rl, n, pageDef, maxDef, spec.emptyDef, list);
    } else if (def) readHybrid(body, rl, rl + dl, levelWidth(maxDef), def, levels, n);
    const rest = body.subarray(rl + dl);
    const page = v2.is_compressed === false ? rest : decompress(codec, rest, h.uncompressed_page_size - rl - dl, scratch);
    if (v2.encoding === 'PLAIN') {
      plainInto(sink, type, page, 0, nonNull);
      sink.inRange = false;
    } else if (v2.encoding === 'RLE_DICTIONARY' || v2.encoding === 'PLAIN_DICTIONARY') {
      if (!dict) throw new Unsupported('dictionary-encoded page without a dictionary page');
      dictionaryInto(sink, dict, page, nonNull, scratch, padded, spec.range);
    } else throw new Unsupported(`encoding ${v2.encoding}`);
    levels += n;
  }
  if (list && !list.bad) list.off[list.rows] = list.values;
  return { count, def, values: sink.num ?? sink.str!, nValues: sink.n, list, inRange: spec.range !== undefined && sink.inRange };
}
