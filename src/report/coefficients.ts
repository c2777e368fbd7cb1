/**
 * Coefficients with their physical reading (TermInfo.meaning).
 * - time terms (unit 'us', a dimensionless multiplier β on a roofline time): the work runs at
 *   1/β of the peak the basis assumes, printed as a percentage; its 95% interval is
 *   [1/β_hi, 1/β_lo] when β_lo > 0;
 * - count terms (unit 'count'): β is µs per unit (per layer, per request, per step).
 */
import type { FitFile } from '../fit/fitfile.js';
import type { Basis } from '../basis/types.js';

export interface CoefRow {
  name: string;
  unit: 'us' | 'count';
  coef: number;
  se: number | null;
  ci95: [number | null, number | null];
  status: string;
  meaning: string;
  /** One-line reading with numbers, e.g. "runs at 78% of peak (95% CI 74–83%)". */
  reading: string;
  /** Mean contribution to the predicted step time over the report rows, µs (null without data). */
  meanContributionUs: number | null;
  /** That as a share of the mean predicted step time, %. */
  sharePct: number | null;
}

const pct = (x: number): string => `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}%`;
const num = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));

/** Efficiency 1/β as a percentage of peak (formula in the module comment); null when β ≤ 0. */
export function efficiencyPct(beta: number): number | null {
  return beta > 0 ? 100 / beta : null;
}

/** The reading of one term. */
export function termReading(unit: 'us' | 'count', coef: number, ci: [number | null, number | null], status: string): string {
  if (status === 'dropped') return 'not identifiable in the training data: fixed at 0';
  if (status.startsWith('merged:')) return `not separately identifiable: merged into '${status.slice(7)}' (reported as 0)`;
  if (unit === 'count') {
    const ciTxt = ci[0] !== null && ci[1] !== null ? ` (95% CI ${num(ci[0])} to ${num(ci[1])})` : '';
    return `${num(coef)} µs${ciTxt}${coef < 0 ? " — negative: not physical, absorbs other terms' error" : ''}`;
  }
  const eff = efficiencyPct(coef);
  if (eff === null) return `β = ${num(coef)} ≤ 0: this work is predicted to cost nothing or less — not physical (collinear with another term, or the basis overstates it)`;
  let ciTxt = '';
  if (ci[0] !== null && ci[1] !== null && ci[0] > 0) ciTxt = ` (95% CI ${pct(100 / ci[1])}–${pct(100 / ci[0])})`;
  else if (ci[0] !== null && ci[0] <= 0) ciTxt = ' (95% CI reaches β ≤ 0: efficiency not bounded by the data)';
  const note = eff > 100 ? ' — above peak: the basis overstates this work or it overlaps with other terms' : '';
  return `runs at ${pct(eff)} of peak (1/β, β = ${num(coef)})${ciTxt}${note}`;
}

export function coefficientRows(fit: FitFile, basis: Basis, contrib?: { sum: Float64Array; count: number[] }): CoefRow[] {
  const n = contrib ? contrib.count.reduce((a, b) => a + b, 0) : 0;
  const totalMean = contrib && n > 0 ? Array.from(contrib.sum).reduce((a, b) => a + b, 0) / n : null;
  return fit.terms.map((t, j) => {
    const info = basis.terms[j]!;
    const mean = contrib && n > 0 ? contrib.sum[j]! / n : null;
    return {
      name: t.name,
      unit: info.unit,
      coef: t.coef,
      se: t.se,
      ci95: t.ci95,
      status: t.status,
      meaning: info.meaning,
      reading: termReading(info.unit, t.coef, t.ci95, t.status),
      meanContributionUs: mean,
      sharePct: mean !== null && totalMean ? (mean / totalMean) * 100 : null,
    };
  });
}
