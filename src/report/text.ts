/** Plain-text sentences of the report (shared by the HTML and Markdown writers). */
import type { ReportModel } from './model.js';
import { pct, spct, int, us } from './format.js';
import { stepNoise } from '../predict/predict.js';

export function headlineSentence(m: ReportModel): string {
  const h = m.headline;
  const ex = m.experiments.length;
  return `On ${int(m.n)} steps from ${ex} experiment${ex === 1 ? '' : 's'}, the ${m.basis} fit predicts step time with MAPE ${pct(h.mape)} (median ${pct(h.medianApe)}, p90 ${pct(h.p90Ape)}, p99 ${pct(h.p99Ape)}), bias ${spct(h.biasPct)}.`;
}

export function coverageSentence(m: ReportModel): string | null {
  if (m.coveragePct === null) return null;
  const c = m.coveragePct;
  const judge =
    c >= 90 && c <= 99 ? 'close to the nominal 95%' : c < 90 ? 'below the nominal 95%: the intervals are too narrow for these rows' : 'above the nominal 95%: the intervals are wide for these rows';
  const nz = stepNoise(m.residual);
  const sig = nz.scale === 'relative' ? `${pct(nz.sigma * 100)} of the step time` : us(nz.sigma);
  const from =
    nz.source === 'step rows'
      ? `residual σ of the fit's step rows, ${sig}`
      : m.residual.byKind
        ? `pooled residual σ of all training rows, ${sig}: the fit had no step rows`
        : `pooled residual σ of all training rows, ${sig}: this fit file predates per-row-kind residuals, refit for step-level intervals`;
  return `${pct(c)} of measured step times fall inside the fit's 95% prediction interval (${judge}; interval from the ${from}).`;
}

export function worstLines(m: ReportModel, k = 3): string[] {
  return m.worst.slice(0, k).map((w) => `${w.label} ${w.group}: MAPE ${pct(w.mape)} (${int(w.n)} steps)`);
}

export function comparisonSentence(m: ReportModel): string {
  const parts: string[] = [];
  for (const r of m.comparison.slice(1)) {
    if (r.metrics) parts.push(`${r.comparator.label} ${pct(r.metrics.mape)}`);
    else parts.push(`${r.comparator.label} not available`);
  }
  const fit = m.comparison[0]!.metrics;
  return `Same ${int(m.commonRows)} rows, MAPE: ${m.basis} fit ${pct(fit?.mape)}; ${parts.join('; ')}.`;
}

export function sampleSentence(m: ReportModel): string {
  return `${m.sample.kind}: ${m.sample.detail}.`;
}

/** Identifiability lines of the fit file: its notes (what was done and why); the raw findings only when there are no notes. */
export function fitIdentLines(notes: readonly string[], problems: readonly { kind: string; detail: string }[]): string[] {
  if (notes.length > 0) return [...notes];
  return problems.map((p) => `${p.kind}: ${p.detail}`);
}

/** The fit file's cross-validated accuracy (held-out by construction), when it has one. */
export function cvSentence(m: ReportModel): string | null {
  const cv = m.fileMetrics.cv;
  if (!cv) return null;
  return `Cross-validated in the fit file (${cv.scheme}, held-out rows): MAPE ${pct(cv.overall.mape)}, p90 ${pct(cv.overall.p90Ape)}.`;
}
