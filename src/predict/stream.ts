/**
 * Streaming prediction to CSV text: steps (from a file) or grid points in, CSV chunks out.
 * Memory is one chunk of lines at a time; the caller writes the chunks (atomically).
 */
import type { Step } from '../steps/step.js';
import type { Predictor } from './predict.js';
import type { ExtrapolationCheck } from './extrapolation.js';
import { type Grid, gridPoints, gridStep } from './grid.js';
import { predictHeader, predictionCells, gridCells, csvCell, type PredictColumns } from './csv.js';

export interface PredictStats {
  rows: number;
  /** Rows with a measured duration, and the sum of their absolute percentage errors. */
  measured: number;
  sumApe: number;
  /** Rows whose measured duration falls inside the 95% interval. */
  covered: number;
}

export const newStats = (): PredictStats => ({ rows: 0, measured: 0, sumApe: 0, covered: 0 });

const CHUNK = 1 << 16;

/** CSV for steps: header decided from the first step (duration columns when it has `duration_us`). */
export async function* predictStepsCsv(steps: AsyncIterable<Step>, pr: Predictor, stats: PredictStats, check?: ExtrapolationCheck): AsyncGenerator<string> {
  let cols: PredictColumns | null = null;
  let buf = '';
  for await (const s of steps) {
    if (!cols) {
      cols = { durations: s.durationUs !== undefined, interval: pr.hasInterval, grid: false };
      buf += predictHeader(cols) + '\n';
    }
    check?.observe(s);
    const p = pr.predict(s);
    buf += `${csvCell(s.experiment)},${s.step},${predictionCells(p, cols, s.durationUs)}\n`;
    stats.rows++;
    if (s.durationUs !== undefined) {
      stats.measured++;
      stats.sumApe += (Math.abs(p.predictedUs - s.durationUs) / s.durationUs) * 100;
      if (p.lo !== null && p.hi !== null && s.durationUs >= p.lo && s.durationUs <= p.hi) stats.covered++;
    }
    if (buf.length >= CHUNK) {
      yield buf;
      buf = '';
    }
  }
  if (!cols) buf += predictHeader({ durations: false, interval: pr.hasInterval, grid: false }) + '\n';
  if (buf) yield buf;
}

/** CSV for a grid: experiment,step,batch_size,decode_context,prefill_tokens,prefill_prior,predicted_us[,pi95…]. */
export function* predictGridCsv(grid: Grid, pr: Predictor, stats: PredictStats, check?: ExtrapolationCheck, experiment = 'grid'): Generator<string> {
  const cols: PredictColumns = { durations: false, interval: pr.hasInterval, grid: true };
  let buf = predictHeader(cols) + '\n';
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
