/** CSV formatting of predictions, shared by `predict` and `export --to table` so their numbers agree exactly. */
import type { Prediction } from './predict.js';
import type { GridPoint } from './grid.js';

/** µs with 3 decimals (ns resolution); -0 printed as 0. */
export function fmtUs(x: number): string {
  const s = x.toFixed(3);
  return s === '-0.000' ? '0.000' : s;
}

/** Percent with 3 decimals. */
export function fmtPct(x: number): string {
  const s = x.toFixed(3);
  return s === '-0.000' ? '0.000' : s;
}

/** RFC 4180 cell: quoted when it holds a comma, quote or newline. */
export function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const GRID_COLUMNS = ['batch_size', 'decode_context', 'prefill_tokens', 'prefill_prior'] as const;

export interface PredictColumns {
  durations: boolean;
  interval: boolean;
  grid: boolean;
}

export function predictHeader(c: PredictColumns): string {
  const cols = ['experiment', 'step'];
  if (c.grid) cols.push(...GRID_COLUMNS);
  cols.push('predicted_us');
  if (c.durations) cols.push('duration_us', 'error_pct');
  if (c.interval) cols.push('pi95_lo_us', 'pi95_hi_us');
  return cols.join(',');
}

/** Grid columns of a point, in GRID_COLUMNS order. */
export function gridCells(p: GridPoint): string {
  return `${p.batch},${p.context},${p.prefill},${p.prior}`;
}

/** Prediction cells: predicted_us[,duration_us,error_pct][,pi95_lo_us,pi95_hi_us]. Missing duration → empty cells. */
export function predictionCells(pr: Prediction, c: PredictColumns, durationUs?: number): string {
  let s = fmtUs(pr.predictedUs);
  if (c.durations) {
    s += durationUs === undefined ? ',,' : `,${fmtUs(durationUs)},${fmtPct(((pr.predictedUs - durationUs) / durationUs) * 100)}`;
  }
  if (c.interval) s += pr.lo === null || pr.hi === null ? ',,' : `,${fmtUs(pr.lo)},${fmtUs(pr.hi)}`;
  return s;
}
