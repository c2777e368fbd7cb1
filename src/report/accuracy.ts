/**
 * Accuracy tables of the report.
 * Overall metrics use the fitter's `computeMetrics` (src/fit/metrics.ts) so the report and
 * `stepfit fit/evaluate` agree; grouped tables are arquero group-by roll-ups with the same
 * definitions: APE = 100·|p − m|/m, MAPE = mean APE, median/p90/p99 APE (type-7 quantiles),
 * bias = 100·mean((p − m)/m), RMSE = √mean((p − m)²) µs.
 */
import * as aq from 'arquero';
import { computeMetrics, type Metrics } from '../fit/api.js';
import { PHASES, type ComparatorId, type ReportData } from './data.js';

const { op } = aq;

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

/** Dimensions the report groups by, with their value per row. */
export function groupDims(d: ReportData): { dim: string; label: string; values: (i: number) => string; levels: number }[] {
  const ex = d.experiments;
  const labelKeys = [...new Set(ex.flatMap((e) => Object.keys(e.groups)))].sort();
  const dims = [
    { dim: 'experiment', label: 'experiment', of: (e: number): string => ex[e]!.id },
    { dim: 'model', label: 'model', of: (e: number): string => ex[e]!.archName },
    { dim: 'gpu', label: 'GPU', of: (e: number): string => ex[e]!.gpuId },
    { dim: 'tp', label: 'TP', of: (e: number): string => String(ex[e]!.tp) },
    ...labelKeys.map((k) => ({ dim: `label:${k}`, label: k, of: (e: number): string => ex[e]!.groups[k] ?? '(none)' })),
  ];
  const out = dims.map((x) => ({ dim: x.dim, label: x.label, values: (i: number) => x.of(d.exp[i]!), levels: new Set(ex.map((_, e) => x.of(e))).size }));
  const phases = new Set(Array.from(d.phase));
  out.push({ dim: 'phase', label: 'phase mix', values: (i: number) => PHASES[d.phase[i]!]!, levels: phases.size });
  return out;
}

/** Row indices where comparator `c` has a prediction. */
export function rowsWith(d: ReportData, c: ComparatorId): number[] {
  const p = d.pred[c];
  const idx: number[] = [];
  for (let i = 0; i < d.n; i++) if (Number.isFinite(p[i]!)) idx.push(i);
  return idx;
}

/** Overall metrics of comparator `c` on the rows where it predicts (null when none). */
export function overallMetrics(d: ReportData, c: ComparatorId, rows?: readonly number[]): Metrics | null {
  const idx = rows ?? rowsWith(d, c);
  if (idx.length === 0) return null;
  const p = new Float64Array(idx.length);
  const m = new Float64Array(idx.length);
  idx.forEach((i, k) => {
    p[k] = d.pred[c][i]!;
    m[k] = d.measured[i]!;
  });
  return computeMetrics(p, m);
}

/** An arquero table of comparator `c`'s errors on its rows, with a column per grouping dimension. */
export function errorTable(d: ReportData, c: ComparatorId): aq.ColumnTable {
  const idx = rowsWith(d, c);
  const cols: Record<string, unknown[] | Float64Array> = {};
  for (const g of groupDims(d)) cols[g.dim] = idx.map((i) => g.values(i));
  const ape = new Float64Array(idx.length),
    pe = new Float64Array(idx.length),
    se = new Float64Array(idx.length);
  const pred = d.pred[c];
  idx.forEach((i, k) => {
    const err = pred[i]! - d.measured[i]!;
    pe[k] = (err / d.measured[i]!) * 100;
    ape[k] = Math.abs(pe[k]!);
    se[k] = err * err;
  });
  cols['ape'] = ape;
  cols['pe'] = pe;
  cols['se'] = se;
  return aq.table(cols);
}

/** Metrics by group value of `dim`, worst MAPE first. */
export function groupedAccuracy(t: aq.ColumnTable, dim: string): GroupRow[] {
  if (t.numRows() === 0) return [];
  const r = t
    .groupby(dim)
    .rollup({
      n: op.count(),
      mape: op.mean('ape'),
      medianApe: op.median('ape'),
      p90Ape: op.quantile('ape', 0.9),
      p99Ape: op.quantile('ape', 0.99),
      biasPct: op.mean('pe'),
      mse: op.mean('se'),
    })
    .orderby(aq.desc('mape'));
  return (r.objects() as Record<string, unknown>[]).map((o) => ({
    group: String(o[dim]),
    n: o['n'] as number,
    mape: o['mape'] as number,
    medianApe: o['medianApe'] as number,
    p90Ape: o['p90Ape'] as number,
    p99Ape: o['p99Ape'] as number,
    biasPct: o['biasPct'] as number,
    rmseUs: Math.sqrt(o['mse'] as number),
  }));
}

export interface AccuracySection {
  dim: string;
  label: string;
  rows: GroupRow[];
}

/** Grouped accuracy of the fit for every dimension with at least two levels (phase mix always). */
export function accuracyByGroup(d: ReportData, c: ComparatorId = 'fit'): AccuracySection[] {
  const t = errorTable(d, c);
  return groupDims(d)
    .filter((g) => g.levels >= 2 || g.dim === 'phase')
    .map((g) => ({ dim: g.dim, label: g.label, rows: groupedAccuracy(t, g.dim) }));
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

/** Share (%) of measured values inside the fit's 95% prediction interval (null when no interval). */
export function intervalCoverage(d: ReportData): number | null {
  if (!d.lo || !d.hi) return null;
  let k = 0;
  for (let i = 0; i < d.n; i++) if (d.measured[i]! >= d.lo[i]! && d.measured[i]! <= d.hi[i]!) k++;
  return (k / d.n) * 100;
}
