/**
 * Streaming prediction to CSV text: steps (from a file) or grid points in, CSV chunks out.
 * Memory is one chunk of lines at a time; the caller writes the chunks (atomically).
 */
import type { Step } from '../steps/step.js';
import type { Predictor } from './predict.js';
import type { ExtrapolationCheck } from './extrapolation.js';
import { type Grid, gridPoints, gridStep } from './grid.js';
import { predictHeader, predictionCells, gridCells, csvCell, NO_GRID_CELLS, type PredictColumns } from './csv.js';
import { newAccuracy, recordMeasured, type AccuracyStats, type Provenance } from './accuracy.js';

export interface PredictStats {
  rows: number;
  /** Rows with a measured duration (of any context). */
  measured: number;
  /** Error sums split by where the measured steps ran (accuracy.ts): only same-context errors are accuracy. */
  accuracy: AccuracyStats;
}

export const newStats = (): PredictStats => ({ rows: 0, measured: 0, accuracy: newAccuracy() });

const UNKNOWN: Provenance = Object.freeze({ kind: 'unknown' });

const CHUNK = 1 << 16;

/** Every row fills every column group (empty cells where a value does not apply): one fixed header. */
const ALL_CELLS: PredictColumns = Object.freeze({ durations: true, interval: true, grid: true });

/**
 * CSV for steps, header PREDICT_COLUMNS (csv.ts). `provenance` says where each step's experiment ran
 * (accuracy.ts `provenanceOf`; default: not recorded): a measured step of another model/GPU/TP keeps its
 * duration_us but gets no error_pct, and its difference is not counted as accuracy.
 */
export async function* predictStepsCsv(
  steps: AsyncIterable<Step>,
  pr: Predictor,
  stats: PredictStats,
  check?: ExtrapolationCheck,
  provenance: (experiment: string) => Provenance = () => UNKNOWN,
): AsyncGenerator<string> {
  const cols = ALL_CELLS;
  let buf = predictHeader() + '\n';
  for await (const s of steps) {
    check?.observe(s);
    const p = pr.predict(s);
    let isError = true;
    stats.rows++;
    if (s.durationUs !== undefined) {
      stats.measured++;
      isError = recordMeasured(stats.accuracy, provenance(s.experiment), s.experiment, p.predictedUs, s.durationUs, p.lo, p.hi);
    }
    buf += `${csvCell(s.experiment)},${s.step}${NO_GRID_CELLS},${predictionCells(p, cols, s.durationUs, isError)}\n`;
    if (buf.length >= CHUNK) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

/** CSV for a grid, header PREDICT_COLUMNS (csv.ts): duration_us and error_pct are empty on grid rows. */
export function* predictGridCsv(grid: Grid, pr: Predictor, stats: PredictStats, check?: ExtrapolationCheck, experiment = 'grid'): Generator<string> {
  const cols = ALL_CELLS;
  let buf = predictHeader() + '\n';
  let i = 0;
  const exp = csvCell(experiment);
  for (const pt of gridPoints(grid)) {
    const s = gridStep(pt, i, experiment);
    check?.observe(s);
    buf += `${exp},${i},${gridCells(pt)},${predictionCells(pr.predict(s), cols)}\n`;
    i++;
    stats.rows++;
    if (buf.length >= CHUNK) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}
