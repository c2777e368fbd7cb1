/**
 * Extrapolation checks: is the (model, GPU, TP) one the fit saw, and are steps inside the ranges
 * of the training data (fit.experiments[].ranges)? Observes steps one at a time (streaming) and
 * summarises in one line.
 */
import path from 'node:path';
import type { FitFile, ExperimentRef } from '../fit/fitfile.js';
import type { Step } from '../steps/step.js';

/** Normalise a model / GPU reference for comparison: file stem, lower case ('configs/models/Llama-2-7b.json' → 'llama-2-7b'). */
export function normRef(ref: string): string {
  return path
    .basename(ref)
    .replace(/\.json$/i, '')
    .toLowerCase();
}

export interface ContextRef {
  /** Names under which the model may appear in the fit (CLI value, architecture name). */
  model: string[];
  gpu: string[];
  tp: number;
}

export interface TrainingRanges {
  prefillTokens: [number, number];
  decodeRequests: [number, number];
  maxContext: number;
}

/** Union of the ranges of the given experiments (null when none carries ranges). */
export function unionRanges(exps: readonly ExperimentRef[]): TrainingRanges | null {
  let r: TrainingRanges | null = null;
  for (const e of exps) {
    if (!e.ranges) continue;
    if (!r) {
      r = { prefillTokens: [...e.ranges.prefillTokens], decodeRequests: [...e.ranges.decodeRequests], maxContext: e.ranges.maxContext };
      continue;
    }
    r.prefillTokens = [Math.min(r.prefillTokens[0], e.ranges.prefillTokens[0]), Math.max(r.prefillTokens[1], e.ranges.prefillTokens[1])];
    r.decodeRequests = [Math.min(r.decodeRequests[0], e.ranges.decodeRequests[0]), Math.max(r.decodeRequests[1], e.ranges.decodeRequests[1])];
    r.maxContext = Math.max(r.maxContext, e.ranges.maxContext);
  }
  return r;
}

/** Largest KV context a step touches: max over decode contexts and prefill prior + tokens. */
export function stepMaxContext(s: Step): number {
  let m = 0;
  for (const c of s.decode) if (c > m) m = c;
  for (const ch of s.prefill) if (ch.prior + ch.tokens > m) m = ch.prior + ch.tokens;
  return m;
}

export class ExtrapolationCheck {
  /** Reasons the context itself is new to the fit (empty when the fit saw it). */
  readonly contextNotes: string[] = [];
  readonly ranges: TrainingRanges | null;
  private n = 0;
  private outside = 0;
  private maxPrefill = 0;
  private maxDecode = 0;
  private maxCtx = 0;
  private overPrefill = 0;
  private overDecode = 0;
  private overCtx = 0;

  constructor(fit: FitFile, ctx: ContextRef) {
    const models = new Set(ctx.model.map(normRef));
    const gpus = new Set(ctx.gpu.map(normRef));
    const exps = fit.experiments;
    const mOk = exps.some((e) => models.has(normRef(e.model)));
    const gOk = exps.some((e) => gpus.has(normRef(e.gpu)));
    const tOk = exps.some((e) => e.tp === ctx.tp);
    const uniq = (xs: string[]): string => [...new Set(xs)].join(', ');
    if (!mOk) this.contextNotes.push(`model '${ctx.model[0]}' not in the fit (fit saw: ${uniq(exps.map((e) => e.model)) || 'none recorded'})`);
    if (!gOk) this.contextNotes.push(`GPU '${ctx.gpu[0]}' not in the fit (fit saw: ${uniq(exps.map((e) => e.gpu)) || 'none recorded'})`);
    if (!tOk) this.contextNotes.push(`TP ${ctx.tp} not in the fit (fit saw: ${uniq(exps.map((e) => String(e.tp))) || 'none recorded'})`);
    else if (mOk && gOk && !exps.some((e) => models.has(normRef(e.model)) && gpus.has(normRef(e.gpu)) && e.tp === ctx.tp)) {
      this.contextNotes.push(`the combination model '${ctx.model[0]}' × GPU '${ctx.gpu[0]}' × TP ${ctx.tp} is not in the fit`);
    }
    const same = exps.filter((e) => models.has(normRef(e.model)) && gpus.has(normRef(e.gpu)) && e.tp === ctx.tp);
    this.ranges = unionRanges(same.length > 0 ? same : exps);
  }

  /** Record one step; returns true when it lies outside the training ranges. */
  observe(s: Step): boolean {
    this.n++;
    const r = this.ranges;
    let pf = 0;
    for (const ch of s.prefill) pf += ch.tokens;
    const dc = s.decode.length;
    const cx = stepMaxContext(s);
    if (pf > this.maxPrefill) this.maxPrefill = pf;
    if (dc > this.maxDecode) this.maxDecode = dc;
    if (cx > this.maxCtx) this.maxCtx = cx;
    if (!r) return false;
    let out = false;
    if (pf > r.prefillTokens[1]) {
      this.overPrefill++;
      out = true;
    }
    if (dc > r.decodeRequests[1]) {
      this.overDecode++;
      out = true;
    }
    if (cx > r.maxContext) {
      this.overCtx++;
      out = true;
    }
    if (out) this.outside++;
    return out;
  }

  get stepsOutside(): number {
    return this.outside;
  }

  /** The steps-beyond-ranges part, or null. */
  private rangePart(): string | null {
    const r = this.ranges;
    if (!r || this.outside === 0) return null;
    const why: string[] = [];
    if (this.overPrefill) why.push(`${this.overPrefill} with prefill tokens > ${r.prefillTokens[1]} (up to ${this.maxPrefill})`);
    if (this.overDecode) why.push(`${this.overDecode} with decode batch > ${r.decodeRequests[1]} (up to ${this.maxDecode})`);
    if (this.overCtx) why.push(`${this.overCtx} with context > ${r.maxContext} (up to ${this.maxCtx})`);
    return `${this.outside} of ${this.n} steps beyond the training ranges: ${why.join('; ')}`;
  }

  /** One line describing all extrapolation, or null when there is none. */
  summary(): string | null {
    const range = this.rangePart();
    const parts = range ? [...this.contextNotes, range] : [...this.contextNotes];
    if (parts.length === 0) return null;
    return `extrapolating: ${parts.join('; ')}`;
  }

  /** The (model, GPU, TP) the fit did not see — what a what-if asks for — or null. */
  contextSummary(): string | null {
    return this.contextNotes.length ? `extrapolating: ${this.contextNotes.join('; ')}` : null;
  }

  /** Steps beyond the training ranges, or null. */
  rangeSummary(): string | null {
    const range = this.rangePart();
    return range ? `extrapolating: ${range}` : null;
  }
}
