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
