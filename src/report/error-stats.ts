/**
 * Accuracy metrics of predicted vs measured times in bounded memory, with the definitions of
 * `computeMetrics` (src/fit/metrics.ts): APE = 100·|p − m|/m, MAPE = mean APE, bias =
 * 100·mean((p − m)/m), RMSE = √mean((p − m)²) µs, R² = 1 − SSE/Σ(m − m̄)² (Welford, Chan's merge).
 * Sums are exact (float64); the APE quantiles come from a KLL sketch (sketch.ts): exact up to
 * SKETCH_K rows, within RANK_ERROR·n in rank beyond.
 */
import type { Metrics } from '../fit/api.js';
import { QuantileSketch } from './sketch.js';

export class ErrorStats {
  n = 0;
  sumApe = 0;
  sumPe = 0;
  sse = 0;
  meanY = 0;
  m2Y = 0;
  readonly ape: QuantileSketch;

  constructor(seed = 1) {
    this.ape = new QuantileSketch(undefined, seed);
  }

  add(pred: number, meas: number): void {
    const err = pred - meas;
    const pe = err / meas;
    const ape = Math.abs(pe) * 100;
    this.ape.add(Math.fround(ape));
    this.n++;
    this.sumApe += ape;
    this.sumPe += pe;
    this.sse += err * err;
    const d = meas - this.meanY;
    this.meanY += d / this.n;
    this.m2Y += d * (meas - this.meanY);
  }

  /** Add the rows of `p` (Chan's parallel update for the variance). */
  merge(p: ErrorStats): this {
    if (p.n === 0) return this;
    const n = this.n + p.n;
    const delta = p.meanY - this.meanY;
    this.m2Y += p.m2Y + (delta * delta * this.n * p.n) / n;
    this.meanY += (delta * p.n) / n;
    this.n = n;
    this.sumApe += p.sumApe;
    this.sumPe += p.sumPe;
    this.sse += p.sse;
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
    const n = this.n;
    if (n === 0) return { n: 0, mape: NaN, medianApe: NaN, p90Ape: NaN, p99Ape: NaN, rmseUs: NaN, r2: null, biasPct: NaN };
    const [medianApe, p90Ape, p99Ape] = this.ape.quantiles([0.5, 0.9, 0.99]) as [number, number, number];
    return {
      n,
      mape: this.sumApe / n,
      medianApe,
      p90Ape,
      p99Ape,
      rmseUs: Math.sqrt(this.sse / n),
      r2: n >= 2 && this.m2Y > 0 ? 1 - this.sse / this.m2Y : null,
      biasPct: (100 * this.sumPe) / n,
    };
  }
}
