/**
 * Random variates for workloads: token-length distributions and inter-arrival times.
 * Every sampler draws from the seeded `Rng` (src/util/rng.ts) so a workload is a pure function of
 * (spec, seed).
 */
import type { Rng } from '../util/rng.js';

/** A token-length distribution (input or output length of a request). Results are integers clipped to [min, max]. */
export type LengthDist =
  | { readonly dist: 'fixed'; readonly value: number }
  | { readonly dist: 'uniform'; readonly min: number; readonly max: number }
  | { readonly dist: 'lognormal'; readonly mean: number; readonly cv: number; readonly min: number; readonly max: number }
  | { readonly dist: 'exponential'; readonly mean: number; readonly min: number; readonly max: number };

/**
 * Log-normal parameters from mean m and coefficient of variation cv:
 *   σ² = ln(1 + cv²),  μ = ln(m) − σ²/2   (so that E[X] = m and sd[X]/E[X] = cv).
 */
export function lognormalParams(mean: number, cv: number): { mu: number; sigma: number } {
  const s2 = Math.log(1 + cv * cv);
  return { mu: Math.log(mean) - s2 / 2, sigma: Math.sqrt(s2) };
}

const clip = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

/** Draw one length: fixed → value; uniform → integer in [min, max]; lognormal / exponential → round(X) clipped to [min, max]. */
export function sampleLength(d: LengthDist, rng: Rng): number {
  switch (d.dist) {
    case 'fixed':
      return d.value;
    case 'uniform':
      return rng.int(d.min, d.max);
    case 'lognormal': {
      const { mu, sigma } = lognormalParams(d.mean, d.cv);
      return clip(Math.round(Math.exp(mu + sigma * rng.normal())), d.min, d.max);
    }
    case 'exponential':
      return clip(Math.round(rng.exp(d.mean)), d.min, d.max);
  }
}

/** Mean of a length distribution before clipping (fixed: value; uniform: (min+max)/2; others: mean). */
export function lengthMean(d: LengthDist): number {
  switch (d.dist) {
    case 'fixed':
      return d.value;
    case 'uniform':
      return (d.min + d.max) / 2;
    default:
      return d.mean;
  }
}

/**
 * Gamma(k, θ) variate (Marsaglia & Tsang 2000): for k ≥ 1, d = k − 1/3, c = 1/√(9d);
 * repeat x ~ N(0,1), v = (1 + c·x)³ until v > 0 and ln U < x²/2 + d − d·v + d·ln v; return d·v·θ.
 * For k < 1: Gamma(k) = Gamma(k + 1) · U^(1/k).
 */
export function sampleGamma(shape: number, scale: number, rng: Rng): number {
  if (shape < 1) {
    const u = 1 - rng.next(); // (0, 1]
    return sampleGamma(shape + 1, scale, rng) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v * scale;
  }
}

/**
 * Inter-arrival time in seconds for an open-loop process of `rate` requests/s.
 * Poisson: Exp(mean 1/rate). Gamma (bursty): shape k = 1/cv², scale θ = 1/(rate·k), so the mean is
 * 1/rate and the coefficient of variation of the gaps is cv (cv = 1 is Poisson; cv > 1 is bursty).
 */
export function interArrivalS(kind: 'poisson' | 'gamma', rate: number, cv: number, rng: Rng): number {
  if (kind === 'poisson') return rng.exp(1 / rate);
  const k = 1 / (cv * cv);
  return sampleGamma(k, 1 / (rate * k), rng);
}
