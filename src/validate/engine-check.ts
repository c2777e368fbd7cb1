/**
 * Fit vs engine check: evaluate a fitted model (src/predict/model.ts `fittedModel`) and the engine
 * on a grid of batch shapes (pure decode: batch × context; pure prefill: chunk tokens × prior
 * context; mixed: one 512-token chunk + decodes) and flag
 * - disagreement: |fit − engine| / engine > threshold (%);
 * - extrapolation: grid points beyond the fit's training ranges (fit file `experiments[].ranges`:
 *   prefill tokens per step, decode requests per step, max context), using the experiments of the
 *   same model/GPU/TP when the fit has them, else all experiments.
 */
import path from 'node:path';
import type { FitFile } from '../fit/fitfile.js';
import type { BasisContext } from '../basis/types.js';
import type { Step } from '../steps/step.js';
import { fittedModel } from '../predict/model.js';
import { compileEngine, type EngineOptions } from '../analytic/context.js';
import { engineStepBreakdown } from '../analytic/step.js';

export interface CheckPoint {
  readonly kind: 'decode' | 'prefill' | 'mixed';
  /** Requests in the step, new tokens in the step, the largest context touched. */
  readonly batch: number;
  readonly tokens: number;
  readonly context: number;
  readonly fitUs: number;
  readonly engineUs: number;
  /** (fit − engine)/engine, %. */
  readonly diffPct: number;
  readonly flagged: boolean;
  /** Which training ranges the point exceeds ('prefill tokens', 'decode batch', 'context'). */
  readonly extrapolated: string[];
}

export interface CheckResult {
  readonly engine: string;
  readonly points: CheckPoint[];
  readonly flagged: number;
  readonly extrapolated: number;
  readonly medianAbsDiffPct: number;
  readonly warnings: string[];
}

const norm = (s: string): string =>
  path
    .basename(s)
    .replace(/\.json$/i, '')
    .toLowerCase();

/** The grid of steps the check evaluates. */
export function checkGrid(): { kind: CheckPoint['kind']; step: Step }[] {
  const out: { kind: CheckPoint['kind']; step: Step }[] = [];
  let i = 0;
  for (const b of [1, 8, 32, 128]) for (const c of [256, 2048, 8192]) out.push({ kind: 'decode', step: { experiment: 'check', step: i++, prefill: [], decode: new Array<number>(b).fill(c) } });
  for (const t of [128, 512, 2048, 8192])
    for (const p of [0, 2048]) out.push({ kind: 'prefill', step: { experiment: 'check', step: i++, prefill: [{ tokens: t, prior: p, prompt: p + t }], decode: [] } });
  for (const b of [8, 64]) out.push({ kind: 'mixed', step: { experiment: 'check', step: i++, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: new Array<number>(b).fill(2048) } });
  return out;
}

export function checkFit(fit: FitFile, ctx: BasisContext, opts: EngineOptions, o: { thresholdPct: number }): CheckResult {
  const fm = fittedModel(fit, ctx);
  const e = compileEngine(ctx, opts);
  const warnings: string[] = [];
  const same = fit.experiments.filter((x) => (norm(x.model) === norm(ctx.arch.name) || norm(x.model) === norm(ctx.arch.source)) && norm(x.gpu) === norm(ctx.gpu.id) && x.tp === ctx.tp);
  if (same.length === 0)
    warnings.push(
      `the fit has no experiment with model '${ctx.arch.name}', GPU '${ctx.gpu.id}', TP ${ctx.tp}: the whole comparison is an extrapolation of the fit (fit saw: ${fit.experiments.map((x) => `${norm(x.model)}/${norm(x.gpu)}/TP${x.tp}`).join(', ') || 'none recorded'})`,
    );
  const exps = (same.length ? same : fit.experiments).filter((x) => x.ranges);
  if (exps.length === 0) warnings.push('the fit file records no training ranges (experiments[].ranges): extrapolation cannot be checked');
  const pf: [number, number] = [Infinity, -Infinity];
  const dc: [number, number] = [Infinity, -Infinity];
  let ctxMax = -Infinity;
  for (const x of exps) {
    pf[0] = Math.min(pf[0], x.ranges!.prefillTokens[0]);
    pf[1] = Math.max(pf[1], x.ranges!.prefillTokens[1]);
    dc[0] = Math.min(dc[0], x.ranges!.decodeRequests[0]);
    dc[1] = Math.max(dc[1], x.ranges!.decodeRequests[1]);
    ctxMax = Math.max(ctxMax, x.ranges!.maxContext);
  }
  const points: CheckPoint[] = [];
  for (const { kind, step } of checkGrid()) {
    const fitUs = fm.predictUs(step);
    const engineUs = engineStepBreakdown(step, e).us;
    const diffPct = ((fitUs - engineUs) / engineUs) * 100;
    const tokens = step.prefill.reduce((s, c) => s + c.tokens, 0);
    const context = Math.max(0, ...step.decode, ...step.prefill.map((c) => c.prior + c.tokens));
    const ext: string[] = [];
    if (exps.length) {
      if (tokens > 0 && (tokens > pf[1] || tokens < pf[0])) ext.push('prefill tokens');
      if (step.decode.length > 0 && (step.decode.length > dc[1] || step.decode.length < dc[0])) ext.push('decode batch');
      if (context > ctxMax) ext.push('context');
    }
    points.push({
      kind,
      batch: step.prefill.length + step.decode.length,
      tokens: tokens + step.decode.length,
      context,
      fitUs,
      engineUs,
      diffPct,
      flagged: Math.abs(diffPct) > o.thresholdPct,
      extrapolated: ext,
    });
  }
  const abs = points.map((p) => Math.abs(p.diffPct)).sort((a, b) => a - b);
  return {
    engine: `${e.gpu.id} TP${e.tp}, ${e.tables.calibrated.length ? `calibrated (${e.tables.origin})` : 'default curves'}`,
    points,
    flagged: points.filter((p) => p.flagged).length,
    extrapolated: points.filter((p) => p.extrapolated.length > 0).length,
    medianAbsDiffPct: abs[Math.floor(abs.length / 2)] ?? 0,
    warnings,
  };
}
