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
import { listLevels, readHybrid, snappyInto, uniformRun, Unsupported, type ListState } from './parquet-bits.js';
import { dictInts, paddedDict } from './parquet-dict.js';

export { Unsupported } from './parquet-bits.js';

/** Physical types the decoder reads. */
export type LeafType = 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY';

/** One decoded column chunk. `values` holds only the defined (non-null) values, in order. */
export interface DecodedChunk {
  /** Number of level entries (= rows for a flat column). */
  readonly count: number;
  /** Definition levels of a flat optional column (count entries), else null. */
  readonly def: Uint8Array | null;
  /** Numbers for numeric types (INT64 converted with Number()); for BYTE_ARRAY, each value's index in `names`. */
  readonly values: Float64Array | Int32Array;
  /** BYTE_ARRAY: the distinct strings of the chunk (UTF-8 decoded), indexed by `values`; else null. */
  readonly names: string[] | null;
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

/** A growing output of one chunk's values. */
interface Sink {
  /** Still true when every value so far came from a range-checked dictionary and none was out of range. */
  inRange: boolean;
  /** Numbers, or (BYTE_ARRAY) indices into `names`. */
  num: Float64Array | Int32Array;
  /** BYTE_ARRAY: distinct strings in order of first appearance, and their indices. */
  names: string[] | null;
  ids: Map<string, number> | null;
  n: number;
}

/** INT32 values land in an Int32Array (the batch columns use it as is), other numbers in a Float64Array; strings as indices of distinct names (no string per row). */
function newSink(type: LeafType, n: number, scratch?: Scratch): Sink {
  const ints = type === 'INT32' || type === 'BYTE_ARRAY';
  let num: Int32Array | Float64Array;
  if (scratch?.reuse) {
    let v = scratch.values;
    if (!(ints ? v instanceof Int32Array : v instanceof Float64Array) || v!.length < n) {
      const size = Math.max(n, 2 * (v?.length ?? 0));
      v = scratch.values = ints ? new Int32Array(size) : new Float64Array(size);
    }
    num = v!.subarray(0, n);
  } else num = ints ? new Int32Array(n) : new Float64Array(n);
  if (type === 'BYTE_ARRAY') return { inRange: false, num, names: [], ids: new Map(), n: 0 };
  return { inRange: true, num, names: null, ids: null, n: 0 };
}

/** The index of a string in the sink's distinct names (added when new). */
function intern(sink: Sink, name: string): number {
  let id = sink.ids!.get(name);
  if (id === undefined) {
    id = sink.names!.push(name) - 1;
    sink.ids!.set(name, id);
  }
  return id;
}

function plainInto(sink: Sink, type: LeafType, page: Uint8Array, pos: number, count: number): void {
  if (type === 'BYTE_ARRAY') {
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    for (let i = 0; i < count; i++) {
      if (pos + 4 > page.length) throw new Error('BYTE_ARRAY value past the end of the page');
      const len = view.getUint32(pos, true);
      pos += 4;
      if (pos + len > page.length) throw new Error('BYTE_ARRAY value past the end of the page');
      sink.num[sink.n++] = intern(sink, utf8.decode(page.subarray(pos, pos + len)));
      pos += len;
    }
    return;
  }
  const w = type === 'INT32' || type === 'FLOAT' ? 4 : 8;
  if (pos + count * w > page.length) throw new Error('values past the end of the page');
  const aligned = (page.byteOffset + pos) % w === 0;
  const bytes = aligned ? page.subarray(pos, pos + count * w) : page.slice(pos, pos + count * w);
  const out = sink.num;
  const at = sink.n;
  if (type === 'INT32') out.set(new Int32Array(bytes.buffer, bytes.byteOffset, count), at);
  else if (type === 'FLOAT') out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count), at);
  else if (type === 'DOUBLE') out.set(new Float64Array(bytes.buffer, bytes.byteOffset, count), at);
  else {
    // INT64 from its two 32-bit halves: hi·2³² is exact and the one rounding of the sum is Number(bigint)'s
    const w = new Int32Array(bytes.buffer, bytes.byteOffset, count * 2);
    for (let i = 0; i < count; i++) out[at + i] = w[2 * i + 1]! * 4294967296 + (w[2 * i]! >>> 0);
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
  /**
   * When true, the chunk's values and list offsets are written into `values` / `off` (grown as needed)
   * instead of fresh arrays: they are then valid only until the next chunk decoded with this scratch.
   */
  reuse: boolean;
  values: Int32Array | Float64Array | null;
  off: Int32Array;
}
export const newScratch = (reuse = false): Scratch => ({
  chunk: new Uint8Array(0),
  def: new Uint8Array(0),
  idx: new Int32Array(0),
  page: new Uint8Array(0),
  reuse,
  values: null,
  off: new Int32Array(0),
});

/** Row offsets of a LIST chunk of `rows` rows: fresh, or the scratch's (zeroed) when it reuses its arrays. */
function listOffsetsArray(rows: number, scratch: Scratch): Int32Array {
  if (!scratch.reuse) return new Int32Array(rows + 1);
  if (scratch.off.length < rows + 1) scratch.off = new Int32Array(Math.max(rows + 1, 2 * scratch.off.length));
  const off = scratch.off.subarray(0, rows + 1);
  off.fill(0);
  return off;
}

function lookupNum(out: Float64Array | Int32Array, at: number, dict: Float64Array | Int32Array, idx: Int32Array, count: number): void {
  const nd = dict.length;
  for (let i = 0; i < count; i++) {
    const j = idx[i]!;
    if (j >= nd) throw new Error(`dictionary index ${j} out of range (${nd} entries)`);
    out[at + i] = dict[j]!;
  }
}

function dictionaryInto(
  sink: Sink,
  dict: Float64Array | Int32Array,
  page: Uint8Array,
  count: number,
  scratch: Scratch,
  padded: Map<number, Int32Array>,
  range: readonly [number, number] | undefined,
): void {
  const width = page[0]!;
  if (sink.names === null && sink.num instanceof Int32Array && dict instanceof Int32Array && width <= 24) {
    const src = page.buffer === scratch.page.buffer && page.byteOffset === scratch.page.byteOffset ? scratch.page : page;
    if (count > 0 && dictInts(src, 1, page.length, width, paddedDict(dict, width, padded, range), sink.num, sink.n, count) < 0) sink.inRange = false;
    sink.n += count;
    return;
  }
  sink.inRange = false;
  if (scratch.idx.length < count) scratch.idx = new Int32Array(count);
  const idx = scratch.idx;
  if (count > 0) readHybrid(page, 1, page.length, width, idx, 0, count);
  lookupNum(sink.num, sink.n, dict, idx, count);
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
  const list: ListState | null = maxRep === 1 ? { off: listOffsetsArray(spec.rows, scratch), rows: 0, values: 0, bad: false } : null;
  if (maxDef > 0) scratch.def = grow(scratch.def, count);
  const def = maxDef > 0 && !list ? scratch.def : null;
  const sink = newSink(type, count, scratch);
  // a BYTE_ARRAY dictionary holds each entry's index in the sink's names
  let dict: Float64Array | Int32Array | null = null;
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
      const d: Sink = type === 'BYTE_ARRAY' ? { ...sink, num: new Int32Array(nd), n: 0 } : newSink(type, nd);
      plainInto(d, type, decompress(codec, body, h.uncompressed_page_size, null), 0, nd);
      dict = d.num;
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
  return { count, def, values: sink.num, names: sink.names, nValues: sink.n, list, inRange: spec.range !== undefined && sink.inRange };
}
