/**
 * A streaming quantile sketch (KLL: Karnin, Lang, Liberty, "Optimal Quantile Approximation in
 * Streams", FOCS 2016) so that report quantiles take bounded memory however many rows there are.
 *
 * - Level h holds items of weight 2^h. Level h's capacity is ⌈k·c^(H−1−h)⌉ + 1 (c = 2/3, H levels):
 *   the top level holds about k items, lower levels geometrically fewer; the whole sketch holds at
 *   most ≈ k/(1 − c) = 3k numbers (24·k bytes) whatever the count.
 * - When the sketch is full, the lowest full level is sorted and every other item (from a random
 *   offset 0/1) moves up one level with twice the weight. The offsets come from a seeded generator,
 *   so the same input gives the same sketch.
 * - While nothing has been compacted (n ≤ k), it holds every value: quantiles are then exact
 *   (type 7, like `sortedQuantile` in fit/metrics.ts).
 * - Accuracy: with k = 2048 the rank of a returned quantile is within RANK_ERROR·n of q·n
 *   (checked on several distributions in test/report-sketch.test.ts; the KLL bound is
 *   O(1/k)·√log(1/δ) with probability 1 − δ).
 */

/** Default k (top-level capacity); ≈ 48 KiB per sketch at most. */
export const SKETCH_K = 2048;
/** Normalized rank error the tests hold sketch quantiles to with the default k (0.5% of n). */
export const RANK_ERROR = 0.005;
const C = 2 / 3;

export class QuantileSketch {
  private levels: Float64Array[] = [];
  private sizes: number[] = [];
  private count = 0;
  private held = 0;
  private cap = 0;
  private rng: number;
  private compacted = false;
  private lo = Infinity;
  private hi = -Infinity;

  constructor(
    readonly k = SKETCH_K,
    seed = 1,
  ) {
    this.rng = seed >>> 0 || 1;
    this.grow();
  }

  /** Values added (with their weights, after merges). */
  get n(): number {
    return this.count;
  }

  /** Numbers held (bounded by ≈ 3k + the number of levels, whatever n). */
  get size(): number {
    return this.held;
  }

  /** Whether the sketch still holds every value (quantiles are exact). */
  get exact(): boolean {
    return !this.compacted;
  }

  private capacity(h: number): number {
    return Math.ceil(this.k * C ** (this.levels.length - 1 - h)) + 1;
  }

  private grow(): void {
    this.levels.push(new Float64Array(8));
    this.sizes.push(0);
    let cap = 0;
    for (let h = 0; h < this.levels.length; h++) cap += this.capacity(h);
    this.cap = cap;
  }

  private push(h: number, x: number): void {
    let a = this.levels[h]!;
    const s = this.sizes[h]!;
    if (s === a.length) {
      const g = new Float64Array(a.length * 2);
      g.set(a);
      this.levels[h] = a = g;
    }
    a[s] = x;
    this.sizes[h] = s + 1;
  }

  /** One random bit (xorshift32). */
  private bit(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    return this.rng & 1;
  }

  add(x: number): void {
    if (x < this.lo) this.lo = x;
    if (x > this.hi) this.hi = x;
    this.push(0, x);
    this.count++;
    this.held++;
    if (this.held >= this.cap) this.compress();
  }

  /** Compact full levels, lowest first, until the sketch fits its capacity again. */
  private compress(): void {
    for (let h = 0; h < this.levels.length; h++) {
      if (this.sizes[h]! < this.capacity(h)) continue;
      if (h + 1 === this.levels.length) this.grow();
      this.compactLevel(h);
      if (this.held < this.cap) break;
    }
  }

  /** Sort level h and promote every other item (random offset) to level h + 1; an odd item stays. */
  private compactLevel(h: number): void {
    const size = this.sizes[h]!;
    const a = this.levels[h]!.subarray(0, size).sort();
    const even = size - (size % 2);
    const keep = size % 2 ? a[size - 1]! : NaN;
    for (let i = this.bit(); i < even; i += 2) this.push(h + 1, a[i]!);
    this.sizes[h] = 0;
    if (size % 2) this.push(h, keep);
    this.held -= even / 2;
    this.compacted = true;
  }

  /** Add every value of `other` (the union's sketch; `other` is unchanged). */
  merge(other: QuantileSketch): void {
    while (this.levels.length < other.levels.length) this.grow();
    for (let h = 0; h < other.levels.length; h++) {
      const a = other.levels[h]!;
      for (let i = 0; i < other.sizes[h]!; i++) this.push(h, a[i]!);
      this.held += other.sizes[h]!;
    }
    this.count += other.count;
    this.compacted ||= other.compacted;
    this.lo = Math.min(this.lo, other.lo);
    this.hi = Math.max(this.hi, other.hi);
    while (this.held >= this.cap) {
      const before = this.held;
      this.compress();
      if (this.held === before) break;
    }
  }

  /** The held items, ascending, with their weights. */
  private weighted(): { v: Float64Array; w: Float64Array } {
    const pairs: [number, number][] = [];
    for (let h = 0; h < this.levels.length; h++) {
      const a = this.levels[h]!;
      for (let i = 0; i < this.sizes[h]!; i++) pairs.push([a[i]!, 2 ** h]);
    }
    pairs.sort((x, y) => x[0] - y[0]);
    return { v: Float64Array.from(pairs, (p) => p[0]), w: Float64Array.from(pairs, (p) => p[1]) };
  }

  /** Quantiles at each q in [0, 1] (NaN when empty): exact type 7 while exact, else the item at weighted rank q·n (the exact min / max at 0 / 1). */
  quantiles(qs: readonly number[]): number[] {
    if (this.count === 0) return qs.map(() => NaN);
    const { v, w } = this.weighted();
    if (!this.compacted) {
      return qs.map((q) => {
        const hh = (v.length - 1) * q;
        const lo = Math.floor(hh);
        const hi = Math.min(v.length - 1, lo + 1);
        return v[lo]! + (hh - lo) * (v[hi]! - v[lo]!);
      });
    }
    const total = this.count;
    return qs.map((q) => {
      if (q <= 0) return this.lo;
      if (q >= 1) return this.hi;
      const target = q * total;
      let cum = 0;
      for (let i = 0; i < v.length; i++) {
        cum += w[i]!;
        if (cum >= target) return v[i]!;
      }
      return v[v.length - 1]!;
    });
  }

  quantile(q: number): number {
    return this.quantiles([q])[0]!;
  }
}
