/**
 * Streaming accumulation of the weighted normal equations in one pass over the rows:
 *
 *   A = XᵀWX  (p×p, flat row-major Float64Array),   b = XᵀWy,   c = yᵀWy,
 *
 * plus the row count, Σw and each column's min / max over the rows (for constant / all-zero
 * column diagnostics). Rows are summed into a small block first and the block is flushed into the
 * totals every `BLOCK` rows (pairwise-style summation: rounding error grows with n/BLOCK, not n).
 * Memory is O(p²) regardless of the number of rows.
 */

/** Rows summed into a block before it is flushed into the totals. */
export const BLOCK = 512;

export class NormalAccumulator {
  readonly p: number;
  /** XᵀWX, row-major; only the upper triangle (j ≥ i) is maintained until `symmetric()` fills the lower one. */
  readonly A: Float64Array;
  readonly b: Float64Array;
  c = 0;
  /** Rows added (with multiplicity). */
  n = 0;
  /** Σ of row weights (with multiplicity). */
  sumW = 0;
  readonly colMin: Float64Array;
  readonly colMax: Float64Array;
  private readonly bA: Float64Array;
  private readonly bb: Float64Array;
  private bc = 0;
  private bn = 0;
  private readonly trackRange: boolean;

  constructor(p: number, opts: { trackRange?: boolean } = {}) {
    this.p = p;
    this.A = new Float64Array(p * p);
    this.b = new Float64Array(p);
    this.bA = new Float64Array(p * p);
    this.bb = new Float64Array(p);
    this.colMin = new Float64Array(p).fill(Infinity);
    this.colMax = new Float64Array(p).fill(-Infinity);
    this.trackRange = opts.trackRange ?? true;
  }

  /** Add one row x (length p) with response y and weight w > 0, counted `count` times (bootstrap multiplicity). */
  add(x: Float64Array, y: number, w: number, count = 1): void {
    const p = this.p;
    const A = this.bA;
    for (let i = 0; i < p; i++) {
      const wx = w * x[i]!;
      if (wx !== 0) {
        const off = i * p;
        for (let j = i; j < p; j++) A[off + j] += wx * x[j]!;
        this.bb[i] += wx * y;
      }
      if (this.trackRange) {
        const v = x[i]!;
        if (v < this.colMin[i]!) this.colMin[i] = v;
        if (v > this.colMax[i]!) this.colMax[i] = v;
      }
    }
    this.bc += w * y * y;
    this.n += count;
    this.sumW += w;
    if (++this.bn === BLOCK) this.flush();
  }

  /**
   * `add` of the row at `c[off … off + p)` (a kept row in a row-cache chunk, read in place): the same operations
   * in the same order as `add`, so the sums are bit-identical.
   */
  addAt(c: Float64Array, off: number, y: number, w: number, count: number): void {
    const p = this.p;
    const A = this.bA;
    const bb = this.bb;
    for (let i = 0; i < p; i++) {
      const wx = w * c[off + i]!;
      if (wx !== 0) {
        const o = i * p - off;
        for (let j = off + i; j < off + p; j++) A[o + j] += wx * c[j]!;
        bb[i] += wx * y;
      }
    }
    if (this.trackRange) this.range(c, off);
    this.bc += w * y * y;
    this.n += count;
    this.sumW += w;
    if (++this.bn === BLOCK) this.flush();
  }

  /**
   * `addAt` reading only columns `nz` (ascending) of the row: exact when every other column of the row is 0 and
   * w·|x| is finite for every x — the products skipped are then ±0, and a block sum (started at +0) plus ±0 is itself.
   */
  addAtCols(c: Float64Array, off: number, nz: Int32Array, y: number, w: number, count: number): void {
    const p = this.p;
    const A = this.bA;
    const bb = this.bb;
    const m = nz.length;
    for (let a = 0; a < m; a++) {
      const i = nz[a]!;
      const wx = w * c[off + i]!;
      if (wx !== 0) {
        const o = i * p;
        for (let b = a; b < m; b++) {
          const j = nz[b]!;
          A[o + j] += wx * c[off + j]!;
        }
        bb[i] += wx * y;
      }
    }
    if (this.trackRange) this.range(c, off);
    this.bc += w * y * y;
    this.n += count;
    this.sumW += w;
    if (++this.bn === BLOCK) this.flush();
  }

  private range(c: Float64Array, off: number): void {
    for (let i = 0; i < this.p; i++) {
      const v = c[off + i]!;
      if (v < this.colMin[i]!) this.colMin[i] = v;
      if (v > this.colMax[i]!) this.colMax[i] = v;
    }
  }

  /** Move the block sums into the totals. */
  flush(): void {
    if (this.bn === 0) return;
    const pp = this.p * this.p;
    for (let k = 0; k < pp; k++) {
      this.A[k] += this.bA[k]!;
      this.bA[k] = 0;
    }
    for (let k = 0; k < this.p; k++) {
      this.b[k] += this.bb[k]!;
      this.bb[k] = 0;
    }
    this.c += this.bc;
    this.bc = 0;
    this.bn = 0;
  }

  /** The running totals after a flush (the upper triangle of A is the maintained part), e.g. to send to another thread. */
  totals(): AccumulatorTotals {
    this.flush();
    return { A: this.A, b: this.b, c: this.c, n: this.n, sumW: this.sumW };
  }

  /** An accumulator holding `t` (from `totals()` of one fed the same rows): bit-identical to that one. */
  static fromTotals(p: number, t: AccumulatorTotals, opts: { trackRange?: boolean } = {}): NormalAccumulator {
    const a = new NormalAccumulator(p, opts);
    a.A.set(t.A);
    a.b.set(t.b);
    a.c = t.c;
    a.n = t.n;
    a.sumW = t.sumW;
    return a;
  }

  /** Add another accumulator's totals into this one. */
  addFrom(o: NormalAccumulator): void {
    this.flush();
    o.flush();
    for (let k = 0; k < this.A.length; k++) this.A[k] += o.A[k]!;
    for (let k = 0; k < this.p; k++) {
      this.b[k] += o.b[k]!;
      this.colMin[k] = Math.min(this.colMin[k]!, o.colMin[k]!);
      this.colMax[k] = Math.max(this.colMax[k]!, o.colMax[k]!);
    }
    this.c += o.c;
    this.n += o.n;
    this.sumW += o.sumW;
  }

  /** The finished system: A symmetric (lower triangle filled), b, c, n. */
  system(): NormalSystem {
    this.flush();
    const p = this.p;
    const A = Float64Array.from(this.A);
    for (let i = 0; i < p; i++) for (let j = 0; j < i; j++) A[i * p + j] = A[j * p + i]!;
    return { p, A, b: Float64Array.from(this.b), c: this.c, n: this.n, sumW: this.sumW, colMin: Float64Array.from(this.colMin), colMax: Float64Array.from(this.colMax) };
  }

  /** Sum of several accumulators as a new one. */
  static sum(parts: readonly NormalAccumulator[], p: number): NormalAccumulator {
    const out = new NormalAccumulator(p);
    for (const a of parts) out.addFrom(a);
    return out;
  }
}

/** What `NormalAccumulator.totals()` returns. */
export interface AccumulatorTotals {
  readonly A: Float64Array;
  readonly b: Float64Array;
  readonly c: number;
  readonly n: number;
  readonly sumW: number;
}

/** Weighted normal equations of a data set. */
export interface NormalSystem {
  readonly p: number;
  /** XᵀWX, symmetric, row-major. */
  readonly A: Float64Array;
  /** XᵀWy */
  readonly b: Float64Array;
  /** yᵀWy */
  readonly c: number;
  /** Number of rows. */
  readonly n: number;
  readonly sumW: number;
  readonly colMin: Float64Array;
  readonly colMax: Float64Array;
}
