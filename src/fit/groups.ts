/**
 * Metrics per group: rows are kept in cells (experiment × row kind); a group's metrics are those of
 * the union of its cells. Dimensions: experiment, model, gpu, tp, every label key of the
 * experiments' `groups`, and `row` (step / prefill / decode target) when targets are present.
 */
import { MetricsAccumulator } from './metrics.js';
import type { Metrics } from './fitfile.js';
import { ROW_KINDS, type FitDataset, type RowKind } from './dataset.js';

export const GROUP_FIELDS = ['experiment', 'model', 'gpu', 'tp'] as const;

/** Group value of an experiment for a field (experiment / model / gpu / tp / a label); undefined when it has no such label. */
export function groupValue(ds: FitDataset, e: number, field: string): string | undefined {
  const r = ds.experiments[e]!.ref;
  switch (field) {
    case 'experiment':
      return r.id;
    case 'model':
      return r.model;
    case 'gpu':
      return r.gpu;
    case 'tp':
      return String(r.tp);
    default:
      return r.groups[field];
  }
}

/** Distinct group values in a stable order (numeric for tp). */
export const sortValues = (field: string, vals: string[]): string[] => (field === 'tp' ? vals.sort((a, b) => Number(a) - Number(b)) : vals.sort());

/** Metric cells of a data set: one accumulator per (experiment, row kind), created on first use. */
export class MetricCells {
  readonly cells: (MetricsAccumulator | null)[];
  constructor(readonly ds: FitDataset) {
    this.cells = new Array(ds.experiments.length * 3).fill(null);
  }
  add(e: number, kind: RowKind, pred: number, meas: number): void {
    const c = e * 3 + kind;
    (this.cells[c] ?? (this.cells[c] = new MetricsAccumulator(1024))).add(pred, meas);
  }
  get n(): number {
    let n = 0;
    for (const c of this.cells) n += c?.n ?? 0;
    return n;
  }

  /** Overall metrics and metrics by group (identical cell sets are computed once). */
  grouped(): { overall: Metrics; byGroup: Record<string, Record<string, Metrics>> } {
    const { ds, cells } = this;
    const cache = new Map<string, Metrics>();
    const metricsOf = (ids: number[]): Metrics | null => {
      const present = ids.filter((c) => cells[c] && cells[c]!.n > 0);
      if (present.length === 0) return null;
      const key = present.join(',');
      let m = cache.get(key);
      if (!m) {
        m = present.length === 1 ? cells[present[0]!]!.result() : MetricsAccumulator.merge(present.map((c) => cells[c]!)).result();
        cache.set(key, m);
      }
      return m;
    };
    const labelKeys = [...new Set(ds.experiments.flatMap((x) => Object.keys(x.ref.groups)))].sort();
    const dims: string[] = [...GROUP_FIELDS, ...labelKeys.filter((k) => !(GROUP_FIELDS as readonly string[]).includes(k) && k !== 'row')];
    const allIds = cells.map((_, c) => c);
    const byGroup: Record<string, Record<string, Metrics>> = {};
    for (const dim of dims) {
      const valOf = (e: number): string => groupValue(ds, e, dim) ?? '(none)';
      const vals = sortValues(dim, [...new Set(ds.experiments.map((_, e) => valOf(e)))]);
      const rec: Record<string, Metrics> = {};
      for (const v of vals) {
        const m = metricsOf(allIds.filter((c) => valOf(Math.floor(c / 3)) === v));
        if (m) rec[v] = m;
      }
      byGroup[dim] = rec;
    }
    if (cells.some((c, i) => i % 3 !== 0 && c !== null && c.n > 0)) {
      const rec: Record<string, Metrics> = {};
      ROW_KINDS.forEach((kname, kind) => {
        const m = metricsOf(allIds.filter((c) => c % 3 === kind));
        if (m) rec[kname] = m;
      });
      byGroup['row'] = rec;
    }
    const overall = metricsOf(allIds);
    if (!overall) throw new Error('MetricCells.grouped: no rows');
    return { overall, byGroup };
  }
}
