/**
 * Normal equations of every parameter variant of a wide row (profile.ts) in one accumulation: variant 0's
 * full system, and for each other variant only the entries that involve its varying columns — every other
 * entry is the same sum of the same products in the same order, so it is taken from variant 0. Each
 * variant's system is bit-identical to a `NormalAccumulator` fed that variant's rows (same products
 * (w·x_i)·x_j, same block flushes), at a fraction of the cost: p(p+1)/2 + (G − 1)·|varying|·p products
 * per row instead of G·p(p+1)/2.
 */
import { BLOCK, NormalAccumulator, type NormalSystem } from './accumulate.js';

/** Largest |x| of a row (Infinity when some x is not finite). */
function maxAbs(x: Float64Array): number {
  let m = 0;
  for (let j = 0; j < x.length; j++) {
    const a = Math.abs(x[j]!);
    if (!(a <= m)) m = Number.isFinite(a) ? a : Infinity;
  }
  return m;
}

export class VariantAccumulator {
  private readonly base: NormalAccumulator;
  /** Upper-triangle entries (i ≤ j) touching a varying column, as flat indices i·p + j. */
  private readonly pairs: Int32Array;
  private readonly pi: Int32Array;
  private readonly pj: Int32Array;
  /** Per variant g ≥ 1: totals and block sums of the pair entries, of b on the varying columns, and their ranges. */
  private readonly pA: Float64Array[];
  private readonly pBA: Float64Array[];
  private readonly vb: Float64Array[];
  private readonly vBB: Float64Array[];
  private readonly vMin: Float64Array[];
  private readonly vMax: Float64Array[];
  private bn = 0;
  private readonly xg: Float64Array;
  private readonly gi: Int32Array[];
  private readonly gj: Int32Array[];
  /** Per variant: the wide-row column of each varying column's value. */
  private readonly vAt: Int32Array[];
  /** Variant 0's row is the wide row's first p values (read in place: NormalAccumulator.addAt). */
  private readonly baseInPlace: boolean;

  constructor(
    private readonly p: number,
    private readonly varying: readonly number[],
    private readonly G: number,
    /** Variant g's design row from a wide row (RowSource.variantRow). */
    private readonly view: (x: Float64Array, g: number, out: Float64Array) => Float64Array,
  ) {
    this.base = new NormalAccumulator(p);
    const pairs: number[] = [];
    for (let i = 0; i < p; i++) for (let j = i; j < p; j++) if (varying.includes(i) || varying.includes(j)) pairs.push(i * p + j);
    this.pairs = Int32Array.from(pairs);
    this.pi = Int32Array.from(pairs, (k) => Math.floor(k / p));
    this.pj = Int32Array.from(pairs, (k) => k % p);
    const per = (len: number, fill = 0): Float64Array[] => Array.from({ length: G }, () => new Float64Array(len).fill(fill));
    this.pA = per(pairs.length);
    this.pBA = per(pairs.length);
    this.vb = per(varying.length);
    this.vBB = per(varying.length);
    this.vMin = per(varying.length, Infinity);
    this.vMax = per(varying.length, -Infinity);
    this.xg = new Float64Array(p);
    // where each variant's view takes column c from: the view of a wide row whose values are their own indices
    const probe = Float64Array.from({ length: p + (G - 1) * varying.length }, (_, i) => i);
    const from = Array.from({ length: G }, (_, g) => Float64Array.from(view(probe, g, new Float64Array(p))));
    this.gi = from.map((f) => Int32Array.from(this.pi, (c) => f[c]!));
    this.gj = from.map((f) => Int32Array.from(this.pj, (c) => f[c]!));
    this.vAt = from.map((f) => Int32Array.from(varying, (c) => f[c]!));
    this.baseInPlace = from[0]!.every((c, j) => c === j);
  }

  /**
   * One wide row with response y and weight w. Variant g's values are read where they are in the wide row
   * (`gi`/`gj`: the wide-row columns of each pair's two entries). When all of variant g's varying values in the
   * row are 0 (and every w·x is finite), its pair products are all ±0 and adding them leaves the block sums as they
   * are (a sum that starts at +0 never becomes −0), so they are skipped: the sums are the same bit for bit.
   */
  add(x: Float64Array, y: number, w: number): void {
    if (this.baseInPlace) this.base.addAt(x, 0, y, w, 1);
    else this.base.add(this.view(x, 0, this.xg), y, w);
    const np = this.pairs.length;
    const k = this.varying.length;
    let safe = -1; // is every w·x finite (then a skipped product is ±0, not NaN)? decided on the first all-zero variant
    for (let g = 1; g < this.G; g++) {
      const vAt = this.vAt[g]!;
      const bb = this.vBB[g]!;
      const mn = this.vMin[g]!;
      const mx = this.vMax[g]!;
      let zero = true;
      for (let a = 0; a < k; a++) {
        const v = x[vAt[a]!]!;
        if (v !== 0) zero = false;
        const wx = w * v;
        if (wx !== 0) bb[a] += wx * y;
        if (v < mn[a]!) mn[a] = v;
        if (v > mx[a]!) mx[a] = v;
      }
      if (zero) {
        if (safe < 0) safe = w * maxAbs(x) < Infinity ? 1 : 0;
        if (safe === 1) continue;
      }
      const bA = this.pBA[g]!;
      const gi = this.gi[g]!;
      const gj = this.gj[g]!;
      for (let a = 0; a < np; a++) {
        const wx = w * x[gi[a]!]!;
        if (wx !== 0) bA[a] += wx * x[gj[a]!]!;
      }
    }
    if (++this.bn === BLOCK) this.flush();
  }

  private flush(): void {
    if (this.bn === 0) return;
    for (let g = 1; g < this.G; g++) {
      const A = this.pA[g]!;
      const bA = this.pBA[g]!;
      for (let a = 0; a < A.length; a++) {
        A[a] += bA[a]!;
        bA[a] = 0;
      }
      const b = this.vb[g]!;
      const bb = this.vBB[g]!;
      for (let a = 0; a < b.length; a++) {
        b[a] += bb[a]!;
        bb[a] = 0;
      }
    }
    this.bn = 0;
  }

  /** Variant g's finished system (A symmetric). */
  system(g: number): NormalSystem {
    this.flush();
    const s = this.base.system();
    if (g === 0) return s;
    const p = this.p;
    const A = s.A;
    const b = s.b;
    const colMin = s.colMin;
    const colMax = s.colMax;
    const pA = this.pA[g]!;
    this.pairs.forEach((k, a) => {
      A[k] = pA[a]!;
      A[this.pj[a]! * p + this.pi[a]!] = pA[a]!;
    });
    this.varying.forEach((c, a) => {
      b[c] = this.vb[g]![a]!;
      colMin[c] = this.vMin[g]![a]!;
      colMax[c] = this.vMax[g]![a]!;
    });
    return s;
  }
}
