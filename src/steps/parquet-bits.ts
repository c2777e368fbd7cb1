/**
 * Bit-level pieces of the columnar Parquet reader (parquet-pages.ts): Snappy decompression, the RLE /
 * bit-packed hybrid encoding of levels and indices, and LIST row offsets walked straight from the
 * repetition-level runs.
 */

/** The fast decoder does not handle this file or page; read it with the general reader. */
export class Unsupported extends Error {}

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

/** The last run header read by `readRunHeader`: its value and the position after it. */
export const run = { h: 0, pos: 0 };

/**
 * The ULEB128 header of an RLE / bit-packed hybrid run at src[pos] into `run` (h odd: (h − 1)/2 bit-packed
 * groups of 8 values; h even: an RLE run of h/2 values). Bytes past the end of `src` read as 0; callers
 * check `run.pos` against their end.
 */
export function readRunHeader(src: Uint8Array, pos: number): void {
  let h = 0;
  let shift = 0;
  let b: number;
  do {
    b = src[pos++]!;
    h += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  run.h = h;
  run.pos = pos;
}

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
    readRunHeader(src, pos);
    const h = run.h;
    pos = run.pos;
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
export function uniformRun(src: Uint8Array, pos: number, end: number, width: number, n: number): number {
  readRunHeader(src, pos);
  if (run.pos > end) return -1;
  const h = run.h;
  pos = run.pos;
  if (h % 2 === 1 || h / 2 < n) return -1;
  let v = 0;
  for (let i = 0; i < (width + 7) >> 3; i++) v |= src[pos++]! << (8 * i);
  return v;
}

/**
 * One page's repetition levels (width 1, src[pos, end)) walked run by run into row offsets. `def` holds the
 * page's definition levels, or is null when they are all `full` (every entry carries a value). Eight
 * entries that all carry a value (one bit-packed byte) are taken at once: their row starts are the byte's
 * zero bits; a run of continuations (RLE 1s) only checks that its entries carry values.
 */
export function listLevels(src: Uint8Array, pos: number, end: number, n: number, def: Uint8Array | null, full: number, empty: number, st: ListState): void {
  const off = st.off;
  const cap = off.length - 1;
  let r = st.rows;
  let v = st.values;
  let i = 0;
  while (i < n) {
    if (pos >= end) throw new Error('repetition levels end early');
    readRunHeader(src, pos);
    const h = run.h;
    pos = run.pos;
    if (h % 2 === 1) {
      const groups = (h - 1) / 2;
      const take = Math.min(groups * 8, n - i);
      if (pos + Math.ceil(take / 8) > end) throw new Error('bit-packed run past the end of the page');
      for (let k = 0; k < take; ) {
        const byte = src[pos + (k >>> 3)]!;
        if (k + 8 <= take && (def === null || allFull(def, i + k, full))) {
          let z = ~byte & 0xff;
          if (z !== 0) {
            if (r + popcount8(z) > cap) return void (st.bad = true);
            for (; z !== 0; z &= z - 1) off[r++] = v + 31 - Math.clz32(z & -z);
          }
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
      if (x === 1) {
        // continuations: each entry must carry a value
        if (def !== null && !allFullN(def, i, c, full)) return void (st.bad = true);
        v += c;
        i += c;
        continue;
      }
      for (let k = 0; k < c; k++) {
        if (r >= cap) return void (st.bad = true);
        off[r++] = v;
        const d = def === null ? full : def[i + k]!;
        if (d === full) v++;
        else if (d !== empty) return void (st.bad = true);
      }
      i += c;
    }
  }
  st.rows = r;
  st.values = v;
}

/** Whether def[at … at + 8) all equal `full`. */
const allFull = (def: Uint8Array, at: number, full: number): boolean =>
  def[at] === full && def[at + 1] === full && def[at + 2] === full && def[at + 3] === full && def[at + 4] === full && def[at + 5] === full && def[at + 6] === full && def[at + 7] === full;

function allFullN(def: Uint8Array, at: number, count: number, full: number): boolean {
  for (let k = at, e = at + count; k < e; k++) if (def[k] !== full) return false;
  return true;
}

/** Set bits of a byte. */
function popcount8(x: number): number {
  x = x - ((x >>> 1) & 0x55);
  x = (x & 0x33) + ((x >>> 2) & 0x33);
  return (x + (x >>> 4)) & 0x0f;
}
