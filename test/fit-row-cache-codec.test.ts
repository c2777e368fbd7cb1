/** The row cache's block encoding (row-codec.ts): decoding gives back every value bit for bit, in memory and through the spill file. */
import { describe, expect, it } from 'vitest';
import { decodeRows, encodedShape, encodeRows } from '../src/fit/row-codec.js';
import { BLOCK_ROWS, RowCache } from '../src/fit/row-cache.js';
import type { RowKind } from '../src/fit/dataset.js';
import { makeRng } from '../src/util/rng.js';

const bits = (a: Float64Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** A NaN with a payload (not the canonical one). */
function nanWithPayload(lo: number): number {
  const u = new Uint32Array([lo, 0x7ff80000 | 0x1234]);
  return new Float64Array(u.buffer)[0]!;
}

/** n rows of stride s; column kinds vary: constants (incl. −0, NaN), ±0 mixed, integers, Float32-exact, denormals, general. */
function block(n: number, s: number, seed: number): Float64Array {
  const rng = makeRng(seed);
  const c = new Float64Array(n * s);
  const specials = [0, -0, Number.NaN, nanWithPayload(7), Infinity, -Infinity, 5e-324, 2 ** -1074 * 3, 1e-45, Math.fround(1e-45), 2 ** 31, -(2 ** 31), 2 ** 24 + 1];
  for (let j = 0; j < s; j++) {
    const mode = j % 9;
    const k = rng.int(0, specials.length - 1);
    for (let r = 0; r < n; r++) {
      let v: number;
      if (mode === 0)
        v = specials[k]!; // constant, possibly −0 or a NaN payload
      else if (mode === 1)
        v = rng.int(-5, 5) === 0 ? -0 : rng.int(-1000, 1000); // integers and −0
      else if (mode === 2)
        v = Math.fround(rng.normal() * 1e3); // Float32-exact
      else if (mode === 3) v = rng.normal();
      else if (mode === 4) v = specials[rng.int(0, specials.length - 1)]!;
      else if (mode === 5)
        v = r === n - 1 ? -0 : 0; // 0 except one −0: not constant
      else if (mode === 6)
        v = r === n - 1 ? nanWithPayload(r) : Number.NaN; // NaN payloads differ
      else if (mode === 7) v = rng.int(0, 2 ** 30) * 4 + rng.int(0, 2);
      else v = Math.fround(rng.normal()) + (r === 0 ? 2 ** -30 : 0); // Float32 but for one row
      c[r * s + j] = v;
    }
  }
  return c;
}

describe('row block encoding', () => {
  it('decodes every value bit for bit (constants, −0, NaN payloads, denormals, Int32, Float32-exact and not)', () => {
    for (const [n, s, seed] of [
      [1, 5, 1],
      [2, 9, 2],
      [7, 18, 3],
      [1000, 27, 4],
      [BLOCK_ROWS, 13, 5],
    ] as const) {
      const c = block(n, s, seed);
      const enc = encodeRows(c, n, s);
      expect(encodedShape(enc)).toEqual({ n, s });
      const out = new Float64Array(n * s + 3).fill(99);
      expect(decodeRows(enc, out)).toBe(n);
      expect(bits(out.subarray(0, n * s))).toBe(bits(c));
      expect(Array.from(out.subarray(n * s))).toEqual([99, 99, 99]);
    }
  });

  it('is compact: constant columns once, Int32/Float32 columns in 4 bytes a row', () => {
    const n = 1000;
    const c = new Float64Array(n * 4);
    for (let r = 0; r < n; r++) c.set([1.5, r, Math.fround(r / 7), r / 7], r * 4);
    const enc = encodeRows(c, n, 4);
    expect(enc.length).toBe(8 + 8 + 8 + 4 * n + 4 * n + 8 * n);
    const out = new Float64Array(n * 4);
    decodeRows(enc, out);
    expect(bits(out)).toBe(bits(c));
  });

  it('encodes into the bytes alloc gives, a block within a larger buffer, and 0 rows', () => {
    const c = block(50, 6, 9);
    const enc = encodeRows(c.subarray(6 * 10, 6 * 30), 20, 6, (b) => new Uint8Array(new SharedArrayBuffer(b + 16), 8, b));
    expect(enc.buffer).toBeInstanceOf(SharedArrayBuffer);
    const out = new Float64Array(20 * 6);
    decodeRows(enc, out);
    expect(bits(out)).toBe(bits(c.subarray(60, 180)));
    expect(decodeRows(encodeRows(c, 0, 6), new Float64Array(0))).toBe(0);
  });

  it('a spilled cache replays special values bit for bit', () => {
    const p = 6;
    const s = p + 3;
    const n = 2 * BLOCK_ROWS + 77;
    const src = block(n, s, 11);
    const cache = new RowCache(p, 32 * 1024, true);
    const x = new Float64Array(p);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < p; j++) x[j] = src[r * s + j]!;
      const r4 = r * 4 + (r % 3);
      src[r * s + p + 1] = r % 4;
      src[r * s + p + 2] = r4;
      cache.add(x, src[r * s + p]!, r % 4, r, (r % 3) as RowKind);
    }
    cache.finish();
    expect(cache.spilledRows).toBe(n);
    const got = new Float64Array(n * s);
    let at = 0;
    cache.replay(
      {
        row: () => {
          throw new Error('chunk expected');
        },
        chunk: (c, k) => {
          got.set(c.subarray(0, k * s), at);
          at += k * s;
        },
      },
      x,
    );
    expect(at).toBe(n * s);
    expect(bits(got)).toBe(bits(src));
    cache.close();
  });
});
