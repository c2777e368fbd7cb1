/**
 * Table export for table-driven simulators: predicted step time over a grid of batch shapes
 * (decode batch size × decode context × prefill tokens [× prefill prior]) for one model / GPU / TP.
 * Rows are produced by the same predictor and number formatting as `stepfit predict --grid`, so a
 * table row and the predict row of the same shape are identical strings.
 *
 * CSV columns (fixed): batch_size,decode_context,prefill_tokens,prefill_prior,predicted_us,pi95_lo_us,pi95_hi_us
 * (the interval cells are empty when the fit has no residual degrees of freedom).
 */
import type { Predictor } from '../predict/predict.js';
import type { ExtrapolationCheck } from '../predict/extrapolation.js';
import { type Grid, gridPoints, gridStep } from '../predict/grid.js';
import { GRID_COLUMNS, gridCells, predictionCells, type PredictColumns } from '../predict/csv.js';

export const TABLE_COLUMNS = [...GRID_COLUMNS, 'predicted_us', 'pi95_lo_us', 'pi95_hi_us'] as const;

/** The fixed table header (TABLE_COLUMNS); the argument is ignored (kept for callers of the old signature). */
export function tableHeader(_interval?: boolean): string {
  return TABLE_COLUMNS.join(',');
}

/** The table as CSV chunks (header first). */
export function* tableCsv(grid: Grid, pr: Predictor, check?: ExtrapolationCheck): Generator<string> {
  const cols: PredictColumns = { durations: false, interval: true, grid: true };
  let buf = tableHeader() + '\n';
  let i = 0;
  for (const pt of gridPoints(grid)) {
    const s = gridStep(pt, i++);
    check?.observe(s);
    buf += `${gridCells(pt)},${predictionCells(pr.predict(s), cols)}\n`;
    if (buf.length >= 1 << 16) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}
