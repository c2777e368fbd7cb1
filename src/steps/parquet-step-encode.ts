/**
 * Encoders of the fast step Parquet writer (parquet-step-writer.ts): a growable byte buffer, the RLE /
 * bit-packed hybrid encoding of 1-bit repetition and definition levels built from runs (a LIST column's
 * levels come straight from its row lengths, never one entry at a time), bit-packed dictionary indices,
 * and a dictionary of INT32 values (open addressing on typed arrays, entries in first-seen order).
 */

/** A growable byte buffer; `view()` is valid until the next write. */
export class Bytes {
  buf = new Uint8Array(1 << 12);
  n = 0;
  reserve(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  /** ULEB128 (the hybrid run headers); v < 2^53. */
  varint(v: number): void {
    this.reserve(8);
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

/** A run at least this long is written as one RLE run; shorter runs are bit-packed. */
const RLE_MIN = 16;

/**
 * The RLE / bit-packed hybrid encoding of a stream of 0/1 levels given as runs (`run(v, count)`, adjacent
 * runs of the same value merge). Long runs become RLE runs; short ones are bit-packed in groups of 8,
 * a bit-packed run being completed to a multiple of 8 from the long run that follows it; the last group
 * is padded with zeros (readers stop at the page's value count).
 */
export class LevelRuns {
  private readonly out = new Bytes();
  private readonly packed = new Bytes();
  /** Values in the pending bit-packed run. */
  private p = 0;
  /** The pending run (merged until the value changes). */
  private pv = 0;
  private pc = 0;

  run(v: number, count: number): void {
    if (count === 0) return;
    if (v === this.pv) {
      this.pc += count;
      return;
    }
    this.commit();
    this.pv = v;
    this.pc = count;
  }

  /** The encoded stream (valid until `reset`). */
  finish(): Uint8Array {
    this.commit();
    this.flushPacked();
    return this.out.view();
  }

  reset(): void {
    this.out.n = 0;
    this.packed.n = 0;
    this.p = 0;
    this.pv = 0;
    this.pc = 0;
  }

  private commit(): void {
    let c = this.pc;
    const v = this.pv;
    if (c === 0) return;
    this.pc = 0;
    if (c < RLE_MIN) {
      this.bits(v, c);
      return;
    }
    const fill = (8 - (this.p & 7)) & 7;
    if (fill > 0) {
      this.bits(v, fill);
      c -= fill;
    }
    this.flushPacked();
    this.out.varint(c * 2);
    this.out.reserve(1);
    this.out.buf[this.out.n++] = v;
  }

  private bits(v: number, c: number): void {
    const pk = this.packed;
    pk.reserve((c >> 3) + 2);
    const b = pk.buf;
    let p = this.p;
    for (let k = 0; k < c; k++, p++) {
      const i = p >>> 3;
      if ((p & 7) === 0) b[i] = 0;
      if (v) b[i]! |= 1 << (p & 7);
    }
    this.p = p;
    pk.n = (p + 7) >>> 3;
  }

  private flushPacked(): void {
    if (this.p === 0) return;
    const groups = (this.p + 7) >>> 3;
    this.out.varint(groups * 2 + 1);
    const out = this.out;
    out.reserve(groups);
    const src = this.packed.buf;
    // Mostly one or two bytes (a row's short run before a long one): copied without a subarray view.
    if (groups <= 16) for (let k = 0; k < groups; k++) out.buf[out.n + k] = src[k]!;
    else out.buf.set(src.subarray(0, groups), out.n);
    out.n += groups;
    this.p = 0;
    this.packed.n = 0;
  }
}

/** Bit width of the values 0 … max (at least 1). */
export const bitWidth = (max: number): number => Math.max(1, 32 - Math.clz32(max));

let words = new Uint32Array(1 << 12);

/**
 * idx[0, n) (each < 2^width, width ≤ 24) as one bit-packed hybrid run appended to `out`, preceded by the
 * bit-width byte of a dictionary-encoded data page. Packed 32 bits at a time (little-endian words, as
 * everything this writer copies out of typed arrays); the last group is padded with zeros.
 */
export function packIndices(idx: Int32Array, n: number, width: number, out: Bytes): void {
  const groups = Math.ceil(n / 8);
  out.reserve(1);
  out.buf[out.n++] = width;
  out.varint(groups * 2 + 1);
  const size = groups * width;
  const nw = (size + 3) >>> 2;
  if (words.length < nw) words = new Uint32Array(Math.max(nw, words.length * 2));
  const wd = words;
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < n; i++) {
    const x = idx[i]!;
    acc |= x << bits;
    bits += width;
    if (bits >= 32) {
      wd[o++] = acc;
      bits -= 32;
      acc = bits > 0 ? x >>> (width - bits) : 0;
    }
  }
  if (bits > 0) wd[o++] = acc;
  wd.fill(0, o, nw);
  out.reserve(size);
  out.buf.set(new Uint8Array(wd.buffer, 0, size), out.n);
  out.n += size;
}

/** Values below this are looked up in a table indexed by value (4 bytes per possible value), larger ones hashed. */
const DENSE = 1 << 21;

/**
 * A dictionary of non-negative INT32 values: `build` gives each value the index of its first occurrence's
 * entry. Values below DENSE are looked up in a table indexed by the value itself, others in a hash table
 * (open addressing); both tables are typed arrays reused from chunk to chunk, reset entry by entry.
 */
export class IntDictionary {
  private dense = new Int32Array(0);
  private keys = new Int32Array(1 << 12).fill(-1);
  private slots = new Int32Array(1 << 12);
  private shift = 20;
  private hashed = false;
  /** The entries, in first-seen order (first `size` of them). */
  entries = new Int32Array(1 << 11);
  size = 0;

  /**
   * idx[i] = entry of v[i] for i < n (values in 0 … max); returns the number of entries, or -1 (dictionary
   * abandoned) as soon as it would exceed `limit`.
   */
  build(v: Int32Array, n: number, idx: Int32Array, limit: number, max: number): number {
    this.clear();
    if (max >= DENSE) return this.buildHashed(v, n, idx, limit);
    if (this.dense.length <= max) this.dense = new Int32Array(Math.min(DENSE, Math.max(max + 1, this.dense.length * 2))).fill(-1);
    const t = this.dense;
    let entries: Int32Array = this.entries;
    let size = 0;
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      let k = t[x]!;
      if (k < 0) {
        if (size >= limit) {
          this.size = size;
          return -1;
        }
        if (size === entries.length) entries = this.moreEntries(size);
        k = size;
        t[x] = size;
        entries[size++] = x;
      }
      idx[i] = k;
    }
    this.size = size;
    return size;
  }

  private moreEntries(size: number): Int32Array {
    const e = new Int32Array(size * 2);
    e.set(this.entries.subarray(0, size));
    this.entries = e;
    return e;
  }

  private buildHashed(v: Int32Array, n: number, idx: Int32Array, limit: number): number {
    this.hashed = true;
    let keys = this.keys;
    let slots = this.slots;
    let mask = keys.length - 1;
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      let h = Math.imul(x, 0x9e3779b1) >>> this.shift;
      let k = keys[h]!;
      while (k !== x && k !== -1) {
        h = (h + 1) & mask;
        k = keys[h]!;
      }
      if (k === -1) {
        if (this.size >= limit) return -1;
        keys[h] = x;
        slots[h] = this.size;
        this.add(x);
        if (this.size * 2 > keys.length) {
          this.grow();
          keys = this.keys;
          slots = this.slots;
          mask = keys.length - 1;
          h = this.find(x);
        }
      }
      idx[i] = slots[h]!;
    }
    return this.size;
  }

  private add(x: number): void {
    if (this.size === this.entries.length) {
      const e = new Int32Array(this.entries.length * 2);
      e.set(this.entries);
      this.entries = e;
    }
    this.entries[this.size++] = x;
  }

  private find(x: number): number {
    const mask = this.keys.length - 1;
    let h = Math.imul(x, 0x9e3779b1) >>> this.shift;
    while (this.keys[h] !== x) h = (h + 1) & mask;
    return h;
  }

  /** Double the hash table and re-insert the entries. */
  private grow(): void {
    const size = this.keys.length * 2;
    this.keys = new Int32Array(size).fill(-1);
    this.slots = new Int32Array(size);
    this.shift--;
    const mask = size - 1;
    for (let j = 0; j < this.size; j++) {
      const x = this.entries[j]!;
      let h = Math.imul(x, 0x9e3779b1) >>> this.shift;
      while (this.keys[h] !== -1) h = (h + 1) & mask;
      this.keys[h] = x;
      this.slots[h] = j;
    }
  }

  /** Empty the table last used (only the slots in use are reset). */
  private clear(): void {
    const e = this.entries;
    if (this.hashed) for (let j = 0; j < this.size; j++) this.keys[this.find(e[j]!)] = -1;
    else for (let j = 0; j < this.size; j++) this.dense[e[j]!] = -1;
    this.size = 0;
    this.hashed = false;
  }
}
