/**
 * A step view over one row of a `StepBatch` (steps/batch.ts), for evaluators that run per-step formulas
 * over column batches: one mutable object moved from row to row instead of a step record per row. Its
 * `decode` is a view of the batch column; the sums the bases need over the decode contexts are computed
 * once per row and shared by every term (`decodeContextSum`, `decodeKvTokens`): integer sums, so they
 * equal the per-step loops bit for bit whatever the order.
 */
import type { StepBatch } from './batch.js';
import type { PrefillChunk, Step } from './step.js';

const NO_CHUNKS: readonly PrefillChunk[] = Object.freeze([]);

export class BatchRow implements Step {
  experiment = '';
  step = 0;
  durationUs: number | undefined = undefined;
  prefill: readonly PrefillChunk[] = NO_CHUNKS;
  decode: readonly number[] = [];
  private ctx: Int32Array = new Int32Array(0);
  private sum = -1;
  private kvWindow = -1;
  private kv = 0;

  /** Point the view at row r of batch b (the previous row's values are gone). */
  moveTo(b: StepBatch, r: number): this {
    this.experiment = b.experiment;
    this.step = b.step[r]!;
    const d = b.durationUs[r]!;
    this.durationUs = Number.isNaN(d) ? undefined : d;
    const p0 = b.prefillOffsets[r]!;
    const p1 = b.prefillOffsets[r + 1]!;
    if (p1 === p0) this.prefill = NO_CHUNKS;
    else {
      const pf: PrefillChunk[] = new Array(p1 - p0);
      for (let i = p0; i < p1; i++) pf[i - p0] = { tokens: b.prefillTokens[i]!, prior: b.prefillPrior[i]!, prompt: b.prefillPrompt[i]! };
      this.prefill = pf;
    }
    this.ctx = b.decodeContext.subarray(b.decodeOffsets[r]!, b.decodeOffsets[r + 1]!);
    this.decode = this.ctx as unknown as readonly number[];
    this.sum = -1;
    this.kvWindow = -1;
    return this;
  }

  /** Σ decode contexts of this row (computed on first use). */
  contextSum(): number {
    if (this.sum < 0) {
      const c = this.ctx;
      let t = 0;
      for (let i = 0; i < c.length; i++) t += c[i]!;
      this.sum = t;
    }
    return this.sum;
  }

  /** Σ (min(c, window) + 1) over the decode contexts (window 0: no window), computed once per row and window. */
  kvTokens(window: number): number {
    if (window !== this.kvWindow) {
      const c = this.ctx;
      let t = 0;
      if (window > 0) for (let i = 0; i < c.length; i++) t += Math.min(c[i]!, window) + 1;
      else for (let i = 0; i < c.length; i++) t += c[i]! + 1;
      this.kvWindow = window;
      this.kv = t;
    }
    return this.kv;
  }
}

/** Σ of the decode contexts of a step: Σ_j c_j. */
export function decodeContextSum(s: Step): number {
  if (s instanceof BatchRow) return s.contextSum();
  let t = 0;
  for (const x of s.decode) t += x;
  return t;
}

/** KV tokens touched by the decode requests: Σ_j (min(c_j, W) + 1), W = sliding window (0: none). */
export function decodeKvTokens(s: Step, window: number): number {
  if (s instanceof BatchRow) return s.kvTokens(window);
  let t = 0;
  for (const x of s.decode) t += (window > 0 ? Math.min(x, window) : x) + 1;
  return t;
}

/**
 * Per-row sums of a whole column batch, each computed once per batch on first use and shared by every term
 * (and every compiled basis) that evaluates the batch column-wise (`sumsOf`). Integer sums held as doubles,
 * so each equals its per-step counterpart (the loops over `s.prefill` / `s.decode`) bit for bit.
 */
export class BatchSums {
  readonly n: number;
  private pCount: Int32Array | null = null;
  private dCount: Int32Array | null = null;
  private pTokens: Float64Array | null = null;
  private all: Float64Array | null = null;
  private ctxSum: Float64Array | null = null;
  private fin: Int32Array | null = null;
  private req: Float64Array | null = null;
  private readonly kv = new Map<number, Float64Array>();

  constructor(readonly b: StepBatch) {
    this.n = b.n;
  }

  /** Prefill chunks per row (s.prefill.length). */
  prefillCount(): Int32Array {
    return (this.pCount ??= diffs(this.b.prefillOffsets, this.n));
  }

  /** Decode requests per row (s.decode.length). */
  decodeCount(): Int32Array {
    return (this.dCount ??= diffs(this.b.decodeOffsets, this.n));
  }

  /** Σ prefill chunk tokens per row. */
  prefillTokens(): Float64Array {
    return (this.pTokens ??= rowSums(this.b.prefillOffsets, this.b.prefillTokens, this.n));
  }

  /** Tokens of the step per row: Σ prefill chunk tokens + decode requests. */
  tokens(): Float64Array {
    return (this.all ??= addCounts(this.prefillTokens(), this.decodeCount(), this.n));
  }

  /** Requests per row: prefill chunks + decode requests. */
  requests(): Float64Array {
    return (this.req ??= addCounts(Float64Array.from(this.prefillCount()), this.decodeCount(), this.n));
  }

  /** Prefill chunks per row that complete their prompt (prior + tokens ≥ prompt). */
  finishing(): Int32Array {
    return (this.fin ??= finishingCounts(this.b, this.n));
  }

  /** Σ decode contexts per row (`decodeContextSum`). */
  contextSum(): Float64Array {
    return (this.ctxSum ??= rowSums(this.b.decodeOffsets, this.b.decodeContext, this.n));
  }

  /** Σ (min(c, window) + 1) over the decode contexts per row (`decodeKvTokens`; window 0: none). */
  kvTokens(window: number): Float64Array {
    let out = this.kv.get(window);
    if (out === undefined) {
      out = window > 0 ? windowedKv(this.b, this.n, window) : addCounts(this.contextSum(), this.decodeCount(), this.n);
      this.kv.set(window, out);
    }
    return out;
  }
}

// The row loops are plain functions of their own (not inside the lazily filling methods), so that each
// is optimised once rather than on the fly for every batch.

/** Σ v[off[r] … off[r + 1]) per row. */
function rowSums(off: Int32Array, v: Int32Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) out[r] = intSum(v, off[r]!, off[r + 1]!);
  return out;
}

/** a[r] + b[r] per row. */
function addCounts(a: Float64Array, b: Int32Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) out[r] = a[r]! + b[r]!;
  return out;
}

function finishingCounts(b: StepBatch, n: number): Int32Array {
  const { prefillOffsets: off, prefillTokens: t, prefillPrior: pr, prefillPrompt: pm } = b;
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let k = 0;
    for (let i = off[r]!, e = off[r + 1]!; i < e; i++) if (pr[i]! + t[i]! >= pm[i]!) k++;
    out[r] = k;
  }
  return out;
}

function windowedKv(b: StepBatch, n: number, window: number): Float64Array {
  const { decodeOffsets: off, decodeContext: c } = b;
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let i = off[r]!, e = off[r + 1]!; i < e; i++) s += Math.min(c[i]!, window) + 1;
    out[r] = s;
  }
  return out;
}

/** Σ c[i0 … i1) in four interleaved partial sums: integers, so exact and equal to the plain loop's sum in any order. */
function intSum(c: Int32Array, i0: number, i1: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    s0 += c[i]!;
    s1 += c[i + 1]!;
    s2 += c[i + 2]!;
    s3 += c[i + 3]!;
  }
  for (; i < i1; i++) s0 += c[i]!;
  return s0 + s1 + s2 + s3;
}

function diffs(off: Int32Array, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) out[r] = off[r + 1]! - off[r]!;
  return out;
}

let lastBatch: StepBatch | null = null;
let lastSums: BatchSums | null = null;

/** The `BatchSums` of a batch, shared by every evaluator that runs over the same batch object next (batches are immutable). */
export function sumsOf(b: StepBatch): BatchSums {
  if (b !== lastBatch || lastSums === null) {
    lastBatch = b;
    lastSums = new BatchSums(b);
  }
  return lastSums;
}
