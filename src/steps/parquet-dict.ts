/**
 * Dictionary-encoded INT32 pages of the columnar Parquet reader (parquet-pages.ts): indices unpacked
 * eight at a time by straight-line code per bit width and looked up in a padded, range-checked dictionary.
 */
import { readRunHeader, run, Unsupported } from './parquet-bits.js';

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
export function dictInts(src: Uint8Array, pos: number, end: number, width: number, dict: Int32Array, out: Int32Array, at: number, count: number): number {
  if (width > 24 || dict.length !== 2 ** width) throw new Unsupported(`bit width ${width}`);
  const mask = (1 << width) - 1;
  const groups8 = groupUnpack(width);
  let acc = 0;
  let done = 0;
  while (done < count) {
    if (pos >= end) throw new Error('dictionary indices end early');
    readRunHeader(src, pos);
    const h = run.h;
    pos = run.pos;
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
export function paddedDict(d: Int32Array, width: number, cache: Map<number, Int32Array>, range: readonly [number, number] | undefined): Int32Array {
  let p = cache.get(width);
  if (!p) {
    p = new Int32Array(2 ** width).fill(-1);
    p.set(d.length > p.length ? d.subarray(0, p.length) : d);
    if (range) for (let i = 0; i < p.length; i++) if (p[i]! < range[0] || p[i]! > range[1]) p[i] = -1;
    cache.set(width, p);
  }
  return p;
}
