/**
 * What the page shows of a fit file: where it was trained (model, GPU, TP of each experiment) and
 * its held-out error (the fit's cross-validation metrics), beside the in-sample error. Browser-safe
 * (types only from the fit module).
 */
import type { FitFile } from '../fit/fitfile.js';

export interface FitSummary {
  readonly name: string;
  readonly basis: string;
  readonly method: string;
  readonly experiments: readonly { id: string; model: string; gpu: string; tp: number; rows: number }[];
  /** In-sample MAPE over the training rows, %. */
  readonly trainMapePct: number;
  /** Held-out (cross-validation) error: null when the fit file carries none. */
  readonly heldOut: null | { scheme: string; n: number; mapePct: number; medianApePct: number; p90ApePct: number };
}

export function fitSummary(f: FitFile, name: string): FitSummary {
  const cv = f.metrics.cv;
  return {
    name,
    basis: `${f.basis} v${f.basisVersion}`,
    method: f.method.name,
    experiments: f.experiments.map((e) => ({ id: e.id, model: e.model, gpu: e.gpu, tp: e.tp, rows: e.rows })),
    trainMapePct: f.metrics.train.overall.mape,
    heldOut: cv ? { scheme: cv.scheme, n: cv.overall.n, mapePct: cv.overall.mape, medianApePct: cv.overall.medianApe, p90ApePct: cv.overall.p90Ape } : null,
  };
}
