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

/**
 * The columns of every `predict` CSV, in order, whatever the input (steps or grid) and the fit: a cell that
 * does not apply is empty — the grid columns on step rows, duration_us / error_pct without a measured
 * duration (and on grid rows), the interval bounds when the fit has no residual degrees of freedom.
 */
export const PREDICT_COLUMNS = ['experiment', 'step', ...GRID_COLUMNS, 'predicted_us', 'duration_us', 'error_pct', 'pi95_lo_us', 'pi95_hi_us'] as const;

/** Which optional cells a row fills (the header never changes: PREDICT_COLUMNS). */
export interface PredictColumns {
  durations: boolean;
  interval: boolean;
  grid: boolean;
}

/** The fixed `predict` header (PREDICT_COLUMNS); the argument is ignored (kept for callers of the old signature). */
export function predictHeader(_c?: PredictColumns): string {
  return PREDICT_COLUMNS.join(',');
}

/** The four empty grid cells of a step row, each with its leading comma. */
export const NO_GRID_CELLS = ',,,,';

/** Grid columns of a point, in GRID_COLUMNS order. */
export function gridCells(p: GridPoint): string {
  return `${p.batch},${p.context},${p.prefill},${p.prior}`;
}

/**
 * Prediction cells: predicted_us[,duration_us,error_pct][,pi95_lo_us,pi95_hi_us], each optional group when
 * its flag in `c` is set; a missing value is an empty cell. `predict` sets both flags on every row (fixed
 * header); `export --to table` leaves out the duration group. `withError` false: the duration without an
 * error_pct (a measured step of another model/GPU/TP: predict/accuracy.ts).
 */
export function predictionCells(pr: Prediction, c: PredictColumns, durationUs?: number, withError = true): string {
  let s = fmtUs(pr.predictedUs);
  if (c.durations) {
    if (durationUs === undefined) s += ',,';
    else s += `,${fmtUs(durationUs)},${withError ? fmtPct(((pr.predictedUs - durationUs) / durationUs) * 100) : ''}`;
  }
  if (c.interval) s += pr.lo === null || pr.hi === null ? ',,' : `,${fmtUs(pr.lo)},${fmtUs(pr.hi)}`;
  return s;
}
