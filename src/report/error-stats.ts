/**
 * Accuracy metrics of predicted vs measured times in bounded memory, with the definitions of
 * `computeMetrics` (src/fit/metrics.ts): APE = 100·|p − m|/m, MAPE = mean APE, bias =
 * 100·mean((p − m)/m), RMSE = √mean((p − m)²) µs, R² = 1 − SSE/Σ(m − m̄)² (Welford, Chan's merge).
 * Sums are exact (float64); the APE quantiles come from a KLL sketch (sketch.ts): exact up to
 * SKETCH_K rows, within RANK_ERROR·n in rank beyond.
 */
import type { Metrics } from '../fit/api.js';
import { EMPTY_METRICS, ErrorMoments } from '../fit/metrics.js';
import { QuantileSketch } from './sketch.js';

export class ErrorStats extends ErrorMoments {
  readonly ape: QuantileSketch;

  constructor(seed = 1) {
    super();
    this.ape = new QuantileSketch(undefined, seed);
  }

  add(pred: number, meas: number): void {
    this.ape.add(Math.fround(this.addMoments(pred, meas)));
  }

  /** Add the rows of `p` (Chan's parallel update for the variance). */
  merge(p: ErrorStats): this {
    if (p.n === 0) return this;
    this.mergeMoments(p);
    this.ape.merge(p.ape);
    return this;
  }

  /** A new accumulator holding the union of several. */
  static union(parts: readonly ErrorStats[]): ErrorStats {
    const out = new ErrorStats();
    for (const p of parts) out.merge(p);
    return out;
  }

  result(): Metrics {
    if (this.n === 0) return { ...EMPTY_METRICS };
    const [medianApe, p90Ape, p99Ape] = this.ape.quantiles([0.5, 0.9, 0.99]) as [number, number, number];
    return this.metricsWith(medianApe, p90Ape, p99Ape);
  }
}
