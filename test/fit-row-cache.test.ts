/** The row cache: rows replayed from memory or from its spill file are the rows added, in order, bit for bit. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BLOCK_ROWS, RowCache } from '../src/fit/row-cache.js';
import { BLOCK, NormalAccumulator } from '../src/fit/accumulate.js';
import { VariantAccumulator } from '../src/fit/variant-accumulate.js';
import type { RowKind } from '../src/fit/dataset.js';

function fill(cache: RowCache, n: number, p: number): number[][] {
  const rows: number[][] = [];
  const x = new Float64Array(p);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < p; j++) x[j] = Math.sin(r * 7 + j) * 10 ** (j - 3);
    const y = 1 + r / 3;
    cache.add(x, y, r % 5, r, (r % 3) as RowKind);
    rows.push([...x, y, r % 5, r, r % 3]);
  }
  cache.finish();
  return rows;
}

function replayed(cache: RowCache, p: number): number[][] {
  const out: number[][] = [];
  cache.replay({ row: (x, y, e, i, kind) => out.push([...x, y, e, i, kind]) }, new Float64Array(p));
  return out;
}

describe('RowCache', () => {
  it('in memory under the budget', () => {
    const c = new RowCache(4, 1 << 20, true);
    const rows = fill(c, 1000, 4);
    expect(c.ready).toBe(true);
    expect(c.spilledRows).toBe(0);
    expect(replayed(c, 4)).toEqual(rows);
    expect(replayed(c, 4)).toEqual(rows);
  });

  it('over the budget: spills to a temporary file in blocks, replays every row, removes the file on close', () => {
    const n = 2 * BLOCK_ROWS + 123;
    const c = new RowCache(5, 64 * 1024, true);
    const rows = fill(c, n, 5);
    expect(c.ready).toBe(true);
    expect(c.spilledRows).toBe(n);
    const file = (c as unknown as { file: string }).file;
    // encoded blocks (row-codec.ts): 5 x and y as Float64, experiment and index·4 + kind as Int32
    const block = (k: number) => 16 + 6 * 8 * k + 2 * ((4 * k + 7) & ~7);
    expect(fs.statSync(file).size).toBe(2 * block(BLOCK_ROWS) + block(123));
    expect(replayed(c, 5)).toEqual(rows);
    c.close();
    expect(fs.existsSync(file)).toBe(false);
    c.close();
  });

  it('rows added in bulk (addRows, uneven pieces across chunk, spill and block borders) = rows added one by one', () => {
    const n = 2 * BLOCK_ROWS + 3000;
    const one = new RowCache(5, 96 * 1024, true);
    const rows = fill(one, n, 5);
    for (const budget of [1 << 24, 96 * 1024]) {
      const bulk = new RowCache(5, budget, true);
      const flat = Float64Array.from(rows.flatMap((r) => [...r.slice(0, 6), r[6]!, r[7]! * 4 + r[8]!]));
      for (let r = 0, k = 1; r < n; r += k, k = (k * 7) % 5000 || 1) bulk.addRows(flat.subarray(r * 8, Math.min(n, r + k) * 8), Math.min(n, r + k) - r);
      bulk.finish();
      expect(bulk.spilledRows).toBe(budget < 1 << 20 ? n : 0);
      expect(replayed(bulk, 5)).toEqual(rows);
      bulk.close();
    }
    one.close();
  });

  it('over the budget without spill: the cache is dropped (every pass reads the data again)', () => {
    const c = new RowCache(5, 64 * 1024, false);
    fill(c, 5000, 5);
    expect(c.ready).toBe(false);
  });
});

describe('VariantAccumulator', () => {
  it("each variant's normal equations are bit-identical to a plain accumulator fed that variant's rows", () => {
    // wide rows: p = 5 base columns, columns 1 and 3 vary over G = 4 variants (extra columns 5..10)
    const p = 5;
    const varying = [1, 3];
    const G = 4;
    const view = (x: Float64Array, g: number, out: Float64Array): Float64Array => {
      for (let j = 0; j < p; j++) out[j] = x[j]!;
      if (g > 0) varying.forEach((c, a) => (out[c] = x[p + (g - 1) * varying.length + a]!));
      return out;
    };
    const va = new VariantAccumulator(p, varying, G, view);
    const plain = Array.from({ length: G }, () => new NormalAccumulator(p));
    const x = new Float64Array(p + (G - 1) * varying.length);
    const buf = new Float64Array(p);
    for (let r = 0; r < 3 * BLOCK + 77; r++) {
      for (let j = 0; j < x.length; j++) x[j] = (r * 13 + j * 7) % 11 === 0 ? 0 : Math.cos(r * 0.37 + j) * 10 ** ((j % 4) - 1);
      // some rows where a variant's varying values are all 0 (its pair sums are then skipped), one of them −0
      if (r % 3 === 0) x.fill(0, p + (r % (G - 1)) * varying.length, p + ((r % (G - 1)) + 1) * varying.length);
      if (r % 6 === 0) x[p + (r % (G - 1)) * varying.length] = -0;
      const y = 100 + Math.sin(r) * 30;
      const w = 1 / (y * y);
      va.add(x, y, w);
      for (let g = 0; g < G; g++) plain[g]!.add(view(x, g, buf), y, w);
    }
    for (let g = 0; g < G; g++) {
      const a = va.system(g);
      const b = plain[g]!.system();
      expect(Array.from(a.A)).toEqual(Array.from(b.A));
      expect(Array.from(a.b)).toEqual(Array.from(b.b));
      expect([a.c, a.n, a.sumW]).toEqual([b.c, b.n, b.sumW]);
      expect([Array.from(a.colMin), Array.from(a.colMax)]).toEqual([Array.from(b.colMin), Array.from(b.colMax)]);
    }
  });
});
