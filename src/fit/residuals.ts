/**
 * Diagnostics of the residuals: the per-kind residual scale (step rows, prefill and decode request targets)
 * that prediction intervals use, accumulated in one streaming pass.
 */
import type { KindResidual } from './fitfile.js';
import { ROW_KINDS, type RowKind } from './dataset.js';
import { hashUniform, tQuantile } from '../util/stats.js';

/** Rows of one kind kept exactly for the median; beyond this a seeded reservoir sample of this size. */
export const KIND_RESERVOIR = 65_536;

/**
 * Residual scale of one row kind, accumulated in one streaming pass (see fitfile.ts `KindResidual`), from
 * the residuals ε on the scale the prediction interval uses (absolute: ε = y − ŷ; relative, y = ŷ·(1 + ε):
 * ε = (y − ŷ)/ŷ — not the fitting weight's (y − ŷ)/y, which for an under-prediction makes ŷ ± t·σ·ŷ
 * narrower than the residual it came from):
 *   n_k, Σ_k ε², Σ_k h_ii (leverages), and |ε| of every row while n_k ≤ KIND_RESERVOIR, then a
 *   uniform reservoir sample of that size (Algorithm R; the slot of the m-th row is ⌊u·m⌋ with u a
 *   hash of (seed, experiment, row), so results are reproducible and independent of pass timing).
 *   q95:  σ = q₀.₉₅(|ε|) / t₀.₉₇₅,dof · √(n/dof)             (what the fitter writes, every method)
 *   rms:  σ = √(Σε² / dof)                                   (for comparison)
 *   mad:  σ = 1.4826·median|ε| · √(n/dof)                   (for comparison)
 *   dof = n − Σh (≥ 1).
 * q95 is the scale whose t-interval t·σ just covers 95% of the kind's training residuals: for normal
 * errors all three estimate the same σ, but with heavier tails than normal (the reason for a Huber fit)
 * 1.4826·MAD is too small (held-out coverage 88% on data/sample), and with a few huge relative errors
 * (a poor fit predicting ŷ ≪ y) the RMS is far too large, while q95 stays at 95%. Quantiles are of |ε|
 * about zero, so a systematic bias of the kind widens its interval instead of being ignored.
 */
export class KindScaleAccumulator {
  n = 0;
  ssq = 0;
  lev = 0;
  private sample: Float64Array = new Float64Array(64);
  private kept = 0;
  constructor(
    private readonly seed: number,
    private readonly cap = KIND_RESERVOIR,
  ) {}

  /** One row: its residual ε (see above), its leverage h, and its (experiment, row) for the reservoir hash. */
  add(scaledResidual: number, leverage: number, e: number, i: number): void {
    this.n++;
    this.ssq += scaledResidual * scaledResidual;
    this.lev += leverage;
    const a = Math.abs(scaledResidual);
    if (this.kept < this.cap) {
      if (this.kept === this.sample.length) {
        const g = new Float64Array(Math.min(this.cap, this.sample.length * 4));
        g.set(this.sample);
        this.sample = g;
      }
      this.sample[this.kept++] = a;
      return;
    }
    const slot = Math.floor(hashUniform(this.seed, e, i, 0x5ca1e) * this.n);
    if (slot < this.cap) this.sample[slot] = a;
  }

  /** Residual degrees of freedom of the kind: n − Σh, at least 1. */
  dof(): number {
    return Math.max(1, this.n - this.lev);
  }

  /** Quantile q of |ε| over the kept rows (type 7; exact while n ≤ cap). */
  quantileAbs(q: number): number {
    if (this.kept === 0) return NaN;
    return quantileSorted(this.sample.slice(0, this.kept).sort(), q);
  }

  result(estimator: 'rms' | 'q95' | 'mad'): KindResidual {
    const dof = this.dof();
    const infl = Math.sqrt(this.n / dof);
    const sigma = estimator === 'rms' ? Math.sqrt(this.ssq / dof) : estimator === 'q95' ? (this.quantileAbs(0.95) / tQuantile(0.975, dof)) * infl : 1.4826 * this.quantileAbs(0.5) * infl;
    return { sigma, n: this.n, dof, estimator };
  }
}

/** The per-kind residual scales of the kinds that have rows. */
export function kindResiduals(accs: readonly KindScaleAccumulator[], estimator: 'rms' | 'q95' | 'mad'): Partial<Record<(typeof ROW_KINDS)[number], KindResidual>> {
  const out: Partial<Record<(typeof ROW_KINDS)[number], KindResidual>> = {};
  accs.forEach((a, k) => {
    if (a.n > 0) out[ROW_KINDS[k as RowKind]] = a.result(estimator);
  });
  return out;
}

export function quantileSorted(s: Float64Array, q: number): number {
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (h - lo) * (s[hi]! - s[lo]!);
}
