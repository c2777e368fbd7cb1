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
  /** Repetition levels (count entries), or null when the column is not repeated. */
  readonly rep: Uint8Array | null;
  /** Definition levels (count entries), or null when the column has no optional/repeated node. */
  readonly def: Uint8Array | null;
  /** Numbers for numeric types (INT64 converted with Number()), strings for BYTE_ARRAY. */
  readonly values: Float64Array | Int32Array | string[];
  readonly nValues: number;
}

export interface ChunkSpec {
  readonly type: LeafType;
  readonly maxRep: number;
  readonly maxDef: number;
  readonly codec: string;
  /** Level entries in the chunk (column metadata num_values). */
  readonly count: number;
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
      out.set(src.subarray(pos, pos + len), o);
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
    if (off >= len) out.copyWithin(o, o - off, o - off + len);
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

/** A growing output of one chunk's values. */
interface Sink {
  num: Float64Array | Int32Array | null;
  str: string[] | null;
  n: number;
}

/** INT32 values land in an Int32Array (the batch columns use it as is), other numbers in a Float64Array. */
function newSink(type: LeafType, n: number): Sink {
  if (type === 'BYTE_ARRAY') return { num: null, str: new Array<string>(n), n: 0 };
  return { num: type === 'INT32' ? new Int32Array(n) : new Float64Array(n), str: null, n: 0 };
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

/** Reusable buffers of one column across row groups (levels and indices are consumed before the next chunk). */
export interface Scratch {
  rep: Uint8Array;
  def: Uint8Array;
  idx: Int32Array;
  page: Uint8Array;
}
export const newScratch = (): Scratch => ({ rep: new Uint8Array(0), def: new Uint8Array(0), idx: new Int32Array(0), page: new Uint8Array(0) });

function lookupNum(out: Float64Array | Int32Array, at: number, dict: Float64Array | Int32Array, idx: Int32Array, count: number): void {
  const nd = dict.length;
  for (let i = 0; i < count; i++) {
    const j = idx[i]!;
    if (j >= nd) throw new Error(`dictionary index ${j} out of range (${nd} entries)`);
    out[at + i] = dict[j]!;
  }
}

function lookupInt(out: Int32Array, at: number, dict: Int32Array, idx: Int32Array, count: number): void {
  const nd = dict.length;
  for (let i = 0; i < count; i++) {
    const j = idx[i]!;
    if (j >= nd) throw new Error(`dictionary index ${j} out of range (${nd} entries)`);
    out[at + i] = dict[j]!;
  }
}

function dictionaryInto(sink: Sink, dict: Float64Array | Int32Array | string[], page: Uint8Array, count: number, scratch: Scratch): void {
  const width = page[0]!;
  if (scratch.idx.length < count) scratch.idx = new Int32Array(count);
  const idx = scratch.idx;
  if (count > 0) readHybrid(page, 1, page.length, width, idx, 0, count);
  const at = sink.n;
  if (sink.num instanceof Int32Array && dict instanceof Int32Array) lookupInt(sink.num, at, dict, idx, count);
  else if (sink.num) lookupNum(sink.num, at, dict as Float64Array | Int32Array, idx, count);
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
    if (scratch.page.length < size) scratch.page = new Uint8Array(Math.max(size, scratch.page.length * 2));
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
  if (maxRep > 0) scratch.rep = grow(scratch.rep, count);
  if (maxDef > 0) scratch.def = grow(scratch.def, count);
  const rep = maxRep > 0 ? scratch.rep : null;
  const def = maxDef > 0 ? scratch.def : null;
  const sink = newSink(type, count);
  let dict: Float64Array | Int32Array | string[] | null = null;
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
      continue;
    }
    const v2 = h.data_page_header_v2;
    if (h.type !== 'DATA_PAGE_V2' || !v2) throw new Unsupported(`page type ${h.type}`);
    const n = v2.num_values;
    const nonNull = n - v2.num_nulls;
    if (levels + n > count || nonNull < 0 || (!def && nonNull !== n)) throw new Error('page value counts do not add up');
    const rl = v2.repetition_levels_byte_length;
    const dl = v2.definition_levels_byte_length;
    if (rep) readHybrid(body, 0, rl, levelWidth(maxRep), rep, levels, n);
    if (def) readHybrid(body, rl, rl + dl, levelWidth(maxDef), def, levels, n);
    const rest = body.subarray(rl + dl);
    const page = v2.is_compressed === false ? rest : decompress(codec, rest, h.uncompressed_page_size - rl - dl, scratch);
    if (v2.encoding === 'PLAIN') plainInto(sink, type, page, 0, nonNull);
    else if (v2.encoding === 'RLE_DICTIONARY' || v2.encoding === 'PLAIN_DICTIONARY') {
      if (!dict) throw new Unsupported('dictionary-encoded page without a dictionary page');
      dictionaryInto(sink, dict, page, nonNull, scratch);
    } else throw new Unsupported(`encoding ${v2.encoding}`);
    levels += n;
  }
  return { count, rep, def, values: sink.num ?? sink.str!, nValues: sink.n };
}
