/**
 * Fit file + context → per-step predictions with 95% prediction intervals.
 *
 * Interval (β̂ fitted coefficients, x the basis row of the step, C = Cov(β̂) = (XᵀWX)⁻¹·σ² from the fit
 * file, σ the residual standard deviation on the fitting scale, t = t_{0.975, dof}):
 *   absolute scale (unweighted fit):  ŷ ± t·√(xᵀCx + σ²)
 *   relative scale (relative weights, y = μ·(1 + ε), sd(ε) = σ):  ŷ ± t·√(xᵀCx + (σ·ŷ)²)
 * Without a covariance in the file the parameter part xᵀCx is left out (noise-only interval).
 *
 * σ and dof are those of the fit's step rows (`residual.byKind.step`) when the file has them: the pooled
 * σ also covers request-level target rows (sums over many steps, with much smaller relative residuals),
 * which would make step intervals too narrow. Older files (or fits without step rows) use the pooled σ.
 */
import type { Step } from '../steps/step.js';
import type { BasisContext } from '../basis/types.js';
import { fittedModel } from './model.js';
import type { LoadedFit } from './load.js';
import { tQuantile, quadForm } from '../util/stats.js';
import type { FitFile } from '../fit/fitfile.js';

export interface Prediction {
  predictedUs: number;
  /** 95% prediction interval bounds in µs; null when the fit carries no usable residual dof. */
  lo: number | null;
  hi: number | null;
}

/** The residual scale behind step intervals: the step rows' own, or the pooled one (older files / no step rows). */
export interface StepNoise {
  sigma: number;
  dof: number;
  scale: 'absolute' | 'relative';
  source: 'step rows' | 'all rows';
}

/** Pick the residual scale for step predictions (see the module comment). */
export function stepNoise(residual: FitFile['residual']): StepNoise {
  const k = residual.byKind?.step;
  if (k && k.n > 0 && Number.isFinite(k.sigma) && k.sigma >= 0) {
    return { sigma: k.sigma, dof: k.dof ?? Math.max(1, k.n - 1), scale: residual.scale, source: 'step rows' };
  }
  return { sigma: residual.sigma, dof: residual.dof, scale: residual.scale, source: 'all rows' };
}

/** Half-width of the 95% prediction interval (µs). Formula in the module comment. */
export function intervalHalfWidth(predictedUs: number, paramVar: number, sigma: number, scale: 'absolute' | 'relative', t: number): number {
  const noise = scale === 'relative' ? sigma * predictedUs : sigma;
  return t * Math.sqrt(Math.max(0, paramVar) + noise * noise);
}

export interface Predictor {
  readonly name: string;
  readonly terms: readonly string[];
  readonly coefs: Float64Array;
  /** Whether intervals are produced (residual dof > 0). */
  readonly hasInterval: boolean;
  /** Whether the interval includes parameter uncertainty (covariance present). */
  readonly hasCovariance: boolean;
  /** The residual scale the intervals use. */
  readonly noise: StepNoise;
  predict(step: Step): Prediction;
  /** Per-term contribution coef·regressor (µs) into `out` (term order); returns their sum. */
  contributions(step: Step, out: Float64Array): number;
}

/** Build a predictor for one (model, GPU, TP) context. */
export function makePredictor(loaded: LoadedFit, ctx: BasisContext): Predictor {
  const { fit } = loaded;
  const model = fittedModel(fit, ctx);
  const p = model.coefs.length;
  const cov = fit.covariance ? Float64Array.from(fit.covariance) : null;
  const noise = stepNoise(fit.residual);
  const dof = noise.dof;
  const hasInterval = dof > 0 && Number.isFinite(noise.sigma);
  const t = hasInterval ? tQuantile(0.975, dof) : NaN;
  const row = new Float64Array(p);
  const coefs = model.coefs;
  return {
    name: model.name,
    terms: fit.terms.map((x) => x.name),
    coefs,
    hasInterval,
    hasCovariance: cov !== null,
    noise,
    predict(step: Step): Prediction {
      model.row(step, row);
      let y = 0;
      for (let i = 0; i < p; i++) y += coefs[i]! * row[i]!;
      if (!hasInterval) return { predictedUs: y, lo: null, hi: null };
      const pv = cov ? quadForm(row, cov, p) : 0;
      const h = intervalHalfWidth(y, pv, noise.sigma, noise.scale, t);
      return { predictedUs: y, lo: y - h, hi: y + h };
    },
    contributions(step: Step, out: Float64Array): number {
      model.row(step, row);
      let y = 0;
      for (let i = 0; i < p; i++) {
        out[i] = coefs[i]! * row[i]!;
        y += out[i]!;
      }
      return y;
    },
  };
}

/** Signed percentage error (predicted − measured)/measured · 100. */
export function errorPct(predictedUs: number, measuredUs: number): number {
  return ((predictedUs - measuredUs) / measuredUs) * 100;
}
