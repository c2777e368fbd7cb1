/**
 * Step records in columns (structure of arrays): the shape big inputs travel in between the Parquet
 * reader, the feature evaluator and the fitter, without one JS object per step.
 *
 * Invariants of a `StepBatch` (checked by `checkBatch`, relied on everywhere else):
 *  - every row belongs to `experiment`;
 *  - `step` and `durationUs` have `n` entries; `durationUs[r]` is NaN when step r was not measured;
 *  - `prefillOffsets` and `decodeOffsets` have n + 1 entries, start at 0 and never decrease; the prefill
 *    chunks of row r are indices prefillOffsets[r] … prefillOffsets[r + 1] − 1 of the three prefill
 *    columns (tokens > 0, prior ≥ 0, prompt ≥ prior + tokens), its decode contexts likewise;
 *  - `firstRow` is the 1-based row (Parquet) or line (JSONL) number of row 0 in its file, for messages.
 */
import type { PrefillChunk, Step } from './step.js';

export interface StepBatch {
  readonly experiment: string;
  readonly n: number;
  readonly step: Float64Array;
  /** µs; NaN = not measured. */
  readonly durationUs: Float64Array;
  readonly prefillOffsets: Int32Array;
  readonly prefillTokens: Int32Array;
  readonly prefillPrior: Int32Array;
  readonly prefillPrompt: Int32Array;
  readonly decodeOffsets: Int32Array;
  readonly decodeContext: Int32Array;
  readonly firstRow: number;
}

/** Step r of a batch as a plain step record (equal to what the row-wise readers yield). */
export function batchStep(b: StepBatch, r: number): Step {
  const p0 = b.prefillOffsets[r]!;
  const p1 = b.prefillOffsets[r + 1]!;
  const prefill: PrefillChunk[] = new Array(p1 - p0);
  for (let i = p0; i < p1; i++) prefill[i - p0] = { tokens: b.prefillTokens[i]!, prior: b.prefillPrior[i]!, prompt: b.prefillPrompt[i]! };
  const d0 = b.decodeOffsets[r]!;
  const d1 = b.decodeOffsets[r + 1]!;
  const decode: number[] = new Array(d1 - d0);
  for (let i = d0; i < d1; i++) decode[i - d0] = b.decodeContext[i]!;
  const d = b.durationUs[r]!;
  return { experiment: b.experiment, step: b.step[r]!, durationUs: Number.isNaN(d) ? undefined : d, prefill, decode };
}

/** All steps of a batch, in order. */
export function* batchSteps(b: StepBatch): Generator<Step> {
  for (let r = 0; r < b.n; r++) yield batchStep(b, r);
}

/**
 * Steps (all of one experiment, already validated) → one batch. Throws when the steps mix experiments:
 * callers split at experiment changes.
 */
export function stepsToBatch(steps: readonly Step[], firstRow = 1): StepBatch {
  const n = steps.length;
  const experiment = n > 0 ? steps[0]!.experiment : '';
  let np = 0;
  let nd = 0;
  for (const s of steps) {
    if (s.experiment !== experiment) throw new Error(`stepsToBatch: steps of experiments '${experiment}' and '${s.experiment}' in one batch`);
    np += s.prefill.length;
    nd += s.decode.length;
  }
  const b = {
    experiment,
    n,
    step: new Float64Array(n),
    durationUs: new Float64Array(n),
    prefillOffsets: new Int32Array(n + 1),
    prefillTokens: new Int32Array(np),
    prefillPrior: new Int32Array(np),
    prefillPrompt: new Int32Array(np),
    decodeOffsets: new Int32Array(n + 1),
    decodeContext: new Int32Array(nd),
    firstRow,
  };
  let p = 0;
  let d = 0;
  for (let r = 0; r < n; r++) {
    const s = steps[r]!;
    b.step[r] = s.step;
    b.durationUs[r] = s.durationUs ?? Number.NaN;
    for (const c of s.prefill) {
      b.prefillTokens[p] = c.tokens;
      b.prefillPrior[p] = c.prior;
      b.prefillPrompt[p] = c.prompt;
      p++;
    }
    for (const x of s.decode) b.decodeContext[d++] = x;
    b.prefillOffsets[r + 1] = p;
    b.decodeOffsets[r + 1] = d;
  }
  return b;
}

/** The invariants above; returns the first violation as a sentence, or null. */
export function checkBatch(b: StepBatch): string | null {
  if (b.step.length !== b.n || b.durationUs.length !== b.n) return 'step/durationUs columns are not n long';
  if (b.prefillOffsets.length !== b.n + 1 || b.decodeOffsets.length !== b.n + 1) return 'offset columns are not n + 1 long';
  if (b.prefillOffsets[0] !== 0 || b.decodeOffsets[0] !== 0) return 'offsets do not start at 0';
  for (let r = 0; r < b.n; r++) {
    if (b.prefillOffsets[r + 1]! < b.prefillOffsets[r]! || b.decodeOffsets[r + 1]! < b.decodeOffsets[r]!) return `row ${r}: offsets decrease`;
  }
  const np = b.prefillOffsets[b.n]!;
  if (b.prefillTokens.length < np || b.prefillPrior.length < np || b.prefillPrompt.length < np) return 'prefill columns shorter than the offsets say';
  if (b.decodeContext.length < b.decodeOffsets[b.n]!) return 'decode column shorter than the offsets say';
  for (let i = 0; i < np; i++) {
    if (!(b.prefillTokens[i]! > 0) || b.prefillPrior[i]! < 0 || b.prefillPrompt[i]! < b.prefillPrior[i]! + b.prefillTokens[i]!)
      return `prefill chunk ${i}: expected tokens > 0, prior ≥ 0, prompt ≥ prior + tokens`;
  }
  return null;
}
