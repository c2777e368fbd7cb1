/**
 * Accuracy tables of the report, from the streamed error statistics (error-stats.ts) with the
 * definitions of the fitter's `computeMetrics` (src/fit/metrics.ts), so the report and
 * `stepfit fit/evaluate` agree: APE = 100·|p − m|/m, MAPE = mean APE, median/p90/p99 APE,
 * bias = 100·mean((p − m)/m), RMSE = √mean((p − m)²) µs. Means are exact; the APE quantiles are
 * exact up to SKETCH_K rows and within RANK_ERROR·n in rank beyond (sketch.ts).
 */
import type { Metrics } from '../fit/api.js';
import { ErrorStats } from './error-stats.js';
import { COMPARATORS, type ComparatorId, type ReportData } from './data.js';

export interface GroupRow {
  group: string;
  n: number;
  mape: number;
  medianApe: number;
  p90Ape: number;
  p99Ape: number;
  biasPct: number;
  rmseUs: number;
}

const bitOf = (c: ComparatorId): number => 1 << COMPARATORS.indexOf(c);

/** Comparator c's error statistics over the rows of every mask that `keep` accepts. */
function unionOver(d: ReportData, c: ComparatorId, keep: (mask: number) => boolean): ErrorStats {
  const i = COMPARATORS.indexOf(c);
  return ErrorStats.union([...d.errors].filter(([mask]) => keep(mask)).map(([, s]) => s[i]!));
}

/** Comparator c's error statistics on the rows where it predicts. */
export function statsOf(d: ReportData, c: ComparatorId): ErrorStats {
  const bit = bitOf(c);
  return unionOver(d, c, (mask) => (mask & bit) !== 0);
}

/** Overall metrics of comparator `c` on the rows where it predicts (null when none). */
export function overallMetrics(d: ReportData, c: ComparatorId): Metrics | null {
  const s = statsOf(d, c);
  return s.n === 0 ? null : s.result();
}

/** The mask of comparators with any prediction: the comparison uses the rows where all of them predict. */
export function usedMask(d: ReportData): number {
  let mask = 0;
  for (const c of d.comparators) if (c.rows > 0) mask |= bitOf(c.id);
  return mask;
}

/** Comparator c's error statistics on the rows where every comparator with any prediction predicts. */
export function commonStats(d: ReportData, c: ComparatorId): ErrorStats {
  const used = usedMask(d);
  return unionOver(d, c, (mask) => (mask & used) === used);
}

function groupRow(group: string, s: ErrorStats): GroupRow {
  const m = s.result();
  return { group, n: m.n, mape: m.mape, medianApe: m.medianApe, p90Ape: m.p90Ape, p99Ape: m.p99Ape, biasPct: m.biasPct, rmseUs: m.rmseUs };
}

export interface AccuracySection {
  dim: string;
  label: string;
  rows: GroupRow[];
}

/** Grouped accuracy of the fit (groups with rows, worst MAPE first) for every dimension with at least two values (phase mix always). */
export function accuracyByGroup(d: ReportData): AccuracySection[] {
  return d.groups
    .filter((g) => g.levels.length >= 2 || g.dim === 'phase')
    .map((g) => ({
      dim: g.dim,
      label: g.label,
      rows: g.levels
        .map((level, k) => ({ level, s: g.stats[k]! }))
        .filter((x) => x.s.n > 0)
        .map((x) => groupRow(x.level, x.s))
        .sort((a, b) => b.mape - a.mape),
    }));
}

export interface Worst {
  label: string;
  group: string;
  mape: number;
  n: number;
}

/**
 * Where the fit is worst: per dimension with ≥ 2 levels, the group with the highest MAPE among
 * groups holding at least max(20 rows, 1% of rows) (smaller groups are too noisy to headline).
 */
export function worstGroups(sections: AccuracySection[], total: number): Worst[] {
  const minRows = Math.min(total, Math.max(20, Math.ceil(total * 0.01)));
  const out: Worst[] = [];
  for (const s of sections) {
    if (s.rows.length < 2) continue;
    const w = s.rows.filter((r) => r.n >= minRows).sort((a, b) => b.mape - a.mape)[0];
    // the same rows under another name (e.g. the only experiment of a model) are listed once
    if (w && !out.some((o) => o.n === w.n && o.mape === w.mape)) out.push({ label: s.label, group: w.group, mape: w.mape, n: w.n });
  }
  return out.sort((a, b) => b.mape - a.mape);
}

/** Share (%) of measured values inside the fit's 95% prediction interval (null unless every row has an interval). */
export function intervalCoverage(d: ReportData): number | null {
  if (d.coverage.rows !== d.n || d.n === 0) return null;
  return (d.coverage.inside / d.n) * 100;
}
