/**
 * Uncertainty of the coefficients: residual scale σ, covariance, standard errors and 95% intervals —
 * analytic (σ²·(XᵀWX)⁻¹ on the free terms, or the ridge sandwich), Huber's H1 sandwich, or from
 * Poisson-bootstrap replicates (percentile intervals).
 */
import type { NormalSystem } from './accumulate.js';
import { solveJob, type MethodParams } from './estimators.js';
import type { Job } from './huber.js';
import { quantileSorted } from './residuals.js';
import { tQuantile } from '../util/stats.js';

/** What the metrics pass measured on the full fit's residuals. */
export interface ResidualSums {
  /** Σ w·r² (weighted residual sum of squares). */
  rss: number;
  /** Huber: Σ ψ(r/s)² and the number of inliers (|r/s| ≤ k). */
  psi2: number;
  inliers: number;
}

export interface Uncertainty {
  sigma: number;
  dof: number;
  covariance: Float64Array | null;
  se: (number | null)[];
  ci: [number | null, number | null][];
}

/** Huber (1981) H1 covariance: K²·[Σψ²/(n−p)]/m² · s²·(XᵀW₀X)⁻¹, m = fraction of inliers, K = 1 + (p/n)·m(1−m)/m². */
function huberCovariance(full: Job, fullSys: NormalSystem, mp: MethodParams, sums: ResidualSums, n: number): Float64Array | null {
  const sigma = full.scale;
  const m = sums.inliers / n;
  const pf = full.sol.free.length;
  const base = solveJob(fullSys, full.ident.active, mp).covFactor!;
  if (!(m > 0)) return null;
  const Kc = 1 + ((pf / n) * (m * (1 - m))) / (m * m);
  const f = ((Kc * Kc * (sums.psi2 / Math.max(1, n - pf))) / (m * m)) * sigma * sigma;
  return base.map((v) => v * f);
}

/** Poisson-bootstrap covariance of the replicates (zero outside the active terms), standard errors and percentile intervals. */
function bootstrapUncertainty(boots: readonly Job[], active: readonly number[], p: number, out: Uncertainty): void {
  const B = boots.length;
  const reps = boots.map((b) => b.sol.beta);
  const cov = new Float64Array(p * p);
  const mean = new Float64Array(p);
  for (const r of reps) for (let j = 0; j < p; j++) mean[j] += r[j]! / B;
  for (const r of reps) for (let a = 0; a < p; a++) for (let c = 0; c < p; c++) cov[a * p + c] += ((r[a]! - mean[a]!) * (r[c]! - mean[c]!)) / (B - 1);
  for (const j of active) {
    out.se[j] = Math.sqrt(cov[j * p + j]!);
    const sorted = Float64Array.from(reps, (r) => r[j]!).sort();
    out.ci[j] = [quantileSorted(sorted, 0.025), quantileSorted(sorted, 0.975)];
  }
  for (let a = 0; a < p; a++) for (let c = 0; c < p; c++) if (!active.includes(a) || !active.includes(c)) cov[a * p + c] = 0;
  out.covariance = cov;
}

/** σ, covariance, standard errors and 95% intervals of the full fit. */
export function uncertainty(huber: boolean, full: Job, fullSys: NormalSystem, mp: MethodParams, boots: readonly Job[], sums: ResidualSums): Uncertainty {
  const p = fullSys.p;
  const n = fullSys.n;
  const sol = full.sol;
  const dof = Math.max(1, n - sol.pEff);
  const out: Uncertainty = { sigma: 0, dof, covariance: null, se: new Array<number | null>(p).fill(null), ci: Array.from({ length: p }, () => [null, null]) };
  if (huber) {
    out.sigma = full.scale;
    out.covariance = huberCovariance(full, fullSys, mp, sums, n);
  } else {
    out.sigma = Math.sqrt(sums.rss / dof);
    out.covariance = sol.covFactor ? sol.covFactor.map((v) => v * out.sigma * out.sigma) : null;
  }
  if (boots.length > 0) {
    bootstrapUncertainty(boots, full.ident.active, p, out);
    return out;
  }
  const tq = tQuantile(0.975, dof);
  const cov = out.covariance;
  if (cov) {
    for (const j of sol.free) {
      const v = cov[j * p + j]!;
      if (v >= 0 && Number.isFinite(v)) {
        const se = Math.sqrt(v);
        out.se[j] = se;
        out.ci[j] = [sol.beta[j]! - tq * se, sol.beta[j]! + tq * se];
      }
    }
  }
  return out;
}
