/**
 * Accuracy only where it means something: an error between a prediction and a measured step is an
 * accuracy figure only when both describe the same (model, GPU, TP). A what-if (the steps of one
 * deployment predicted for another) has measured durations, but their difference from the prediction
 * is not an error of the fit.
 *
 * Where the measured steps ran is known from the fit file: a step's `experiment` that is one of the fit's
 * training experiments (`fit.experiments[]`) carries that experiment's model, GPU and TP. A step from an
 * experiment the fit does not name has no recorded context: its error is reported with that assumption
 * spelled out.
 */
import type { FitFile } from '../fit/fitfile.js';
import { normRef, type ContextRef } from './extrapolation.js';

/** Where a measured step ran, relative to the prediction's context. */
export type Provenance = { readonly kind: 'same' } | { readonly kind: 'other'; readonly from: string } | { readonly kind: 'unknown' };

const SAME: Provenance = Object.freeze({ kind: 'same' });
const UNKNOWN: Provenance = Object.freeze({ kind: 'unknown' });

/** 'model / GPU / TP n' as the user reads it. */
export const contextLabel = (model: string, gpu: string, tp: number): string => `${model} / ${gpu} / TP ${tp}`;

/** For each experiment id: same context as the prediction, another one (named), or not recorded in the fit. */
export function provenanceOf(fit: FitFile, ref: ContextRef): (experiment: string) => Provenance {
  const models = new Set(ref.model.map(normRef));
  const gpus = new Set(ref.gpu.map(normRef));
  const byId = new Map<string, Provenance>();
  for (const e of fit.experiments) {
    if (byId.has(e.id)) continue;
    const same = models.has(normRef(e.model)) && gpus.has(normRef(e.gpu)) && e.tp === ref.tp;
    byId.set(e.id, same ? SAME : { kind: 'other', from: contextLabel(e.model, e.gpu, e.tp) });
  }
  return (experiment) => byId.get(experiment) ?? UNKNOWN;
}

/** Error sums over measured steps of one provenance. */
export interface ErrorSums {
  n: number;
  sumApe: number;
  /** Steps whose measured duration lies inside the 95% interval. */
  covered: number;
}

export interface AccuracyStats {
  /** Measured steps of the prediction's own context. */
  readonly same: ErrorSums;
  /** Measured steps from experiments the fit does not name (context not recorded). */
  readonly unknown: ErrorSums & { experiments: Set<string> };
  /** Measured steps of other contexts (what-if): count by 'model / GPU / TP'. */
  readonly other: Map<string, number>;
}

export const newAccuracy = (): AccuracyStats => ({ same: { n: 0, sumApe: 0, covered: 0 }, unknown: { n: 0, sumApe: 0, covered: 0, experiments: new Set() }, other: new Map() });

/** Record one measured step; returns whether its error is an accuracy figure (false for another context). */
export function recordMeasured(acc: AccuracyStats, prov: Provenance, experiment: string, predictedUs: number, measuredUs: number, lo: number | null, hi: number | null): boolean {
  if (prov.kind === 'other') {
    acc.other.set(prov.from, (acc.other.get(prov.from) ?? 0) + 1);
    return false;
  }
  const s = prov.kind === 'same' ? acc.same : acc.unknown;
  if (prov.kind === 'unknown') acc.unknown.experiments.add(experiment);
  s.n++;
  s.sumApe += (Math.abs(predictedUs - measuredUs) / measuredUs) * 100;
  if (lo !== null && hi !== null && measuredUs >= lo && measuredUs <= hi) s.covered++;
  return true;
}

const mape = (s: ErrorSums, withInterval: boolean): string =>
  `MAPE ${(s.sumApe / s.n).toFixed(2)}% over ${s.n} measured steps${withInterval ? `, ${((s.covered / s.n) * 100).toFixed(1)}% inside the 95% interval` : ''}`;

/**
 * The accuracy clauses of predict's summary line (empty when no step was measured):
 *   same context       'MAPE …% over N measured steps, …% inside the 95% interval'
 *   what-if            'no accuracy: measured steps are from <model / GPU / TP>, prediction is for <…>'
 *   not recorded       'MAPE … over N measured steps of experiment(s) the fit does not name (assumed measured on <…>)'
 */
export function accuracyClauses(acc: AccuracyStats, predictedFor: string, withInterval: boolean): string[] {
  const out: string[] = [];
  if (acc.same.n > 0) out.push(mape(acc.same, withInterval));
  if (acc.other.size > 0) {
    const from = [...acc.other.entries()].map(([ctx, n]) => (acc.other.size > 1 ? `${ctx} (${n})` : ctx)).join(', ');
    out.push(`no accuracy: measured steps are from ${from}, prediction is for ${predictedFor}`);
  }
  if (acc.unknown.n > 0) {
    const ids = [...acc.unknown.experiments];
    const named = ids.length <= 3 ? ids.map((i) => `'${i}'`).join(', ') : `${ids.length} experiments`;
    out.push(`${mape(acc.unknown, withInterval)} of ${named}, which the fit file does not name: assumed measured on ${predictedFor}`);
  }
  return out;
}
