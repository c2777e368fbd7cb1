/**
 * The estimators on accumulated normal equations. Least squares (OLS), non-negative / bounded least
 * squares, ridge toward a prior and every combination reduce to one inner problem — box bounds and a
 * ridge penalty on the column-scaled system — solved by `solveJob`; Huber's IRLS (huber.ts) calls it once
 * per iteration. `methodParams` builds that inner problem from the resolved options, once per fit.
 */
import type { NormalSystem } from './accumulate.js';
import { invertSpd, scaleSystem, solveSpd, subMatrix } from './linalg.js';
import type { ResolvedOptions } from './options.js';
import { quadraticRss, solveBox } from './solvers.js';

/** The inner problem every method reduces to: box bounds (±∞ = none) and a ridge penalty (λ = 0: none). */
export interface MethodParams {
  lo: Float64Array;
  hi: Float64Array;
  hasBounds: boolean;
  lambda: number;
  prior: Float64Array;
}

/** The inner problem of a method: NNLS bounds every term at 0; bounded / ridge / huber take the given bounds and penalty. */
export function methodParams(ro: ResolvedOptions, names: readonly string[]): MethodParams {
  return {
    lo: Float64Array.from(names, (nm) => (ro.method === 'nnls' ? 0 : (ro.bounds?.[nm]?.[0] ?? -Infinity))),
    hi: Float64Array.from(names, (nm) => (ro.method === 'nnls' ? Infinity : (ro.bounds?.[nm]?.[1] ?? Infinity))),
    hasBounds: ro.method === 'nnls' || ro.bounds !== undefined,
    lambda: ro.ridge?.lambda ?? 0,
    prior: Float64Array.from(names, (nm) => ro.ridge?.prior[nm] ?? 0),
  };
}

export interface SolveOut {
  beta: Float64Array;
  /** Indices of the terms that are free (fitted and not at a bound). */
  free: number[];
  atBound: number[];
  /** Unscaled (XᵀWX)⁻¹-type factor for the covariance (p×p), σ² not applied. */
  covFactor: Float64Array | null;
  /** Effective number of parameters (|free|, or tr(H) for ridge). */
  pEff: number;
  svd: boolean;
}

/**
 * Solve one job's system on its active terms, in scaled coordinates z = D·β:
 * minimise ½zᵀ(A + λI)z − (b + λz₀)ᵀz subject to lo ≤ z ≤ hi (each part optional).
 * Covariance factor (σ² not applied) on the free terms F: (A_FF)⁻¹, or with a penalty the
 * sandwich M⁻¹·A_FF·M⁻¹ with M = A_FF + λI; effective parameters |F| or tr(A_FF·M⁻¹).
 */
export function solveJob(sys: NormalSystem, active: readonly number[], mp: MethodParams): SolveOut {
  const p = sys.p;
  const s = scaleSystem(sys);
  const beta = new Float64Array(p);
  const k = active.length;
  const Aa = subMatrix(s.As, p, active);
  const Da = Float64Array.from(active, (j) => s.D[j]!);
  const M = Float64Array.from(Aa);
  const r = Float64Array.from(active, (j) => s.bs[j]!);
  if (mp.lambda > 0) {
    for (let a = 0; a < k; a++) {
      M[a * k + a] += mp.lambda;
      r[a] += mp.lambda * mp.prior[active[a]!]! * Da[a]!;
    }
  }
  let z: Float64Array;
  let freeLocal: number[] = active.map((_, a) => a);
  let svd = false;
  if (mp.hasBounds) {
    const lo = Float64Array.from(active, (j, a) => mp.lo[j]! * Da[a]!);
    const hi = Float64Array.from(active, (j, a) => mp.hi[j]! * Da[a]!);
    const res = solveBox(M, r, lo, hi);
    z = res.z;
    freeLocal = freeLocal.filter((a) => res.state[a] === 'free');
  } else {
    const res = solveSpd(M, r);
    z = res.x;
    svd = res.method === 'svd';
  }
  for (let a = 0; a < k; a++) beta[active[a]!] = z[a]! / Da[a]!;
  const { covFactor, pEff } = covarianceFactor(Aa, M, k, Da, active, freeLocal, mp.lambda, p);
  const free = freeLocal.map((a) => active[a]!);
  const atBound = active.filter((j) => !free.includes(j));
  return { beta, free, atBound, covFactor, pEff, svd };
}

/** (A_FF)⁻¹, or the ridge sandwich M⁻¹A_FF M⁻¹, unscaled back to β coordinates (p×p, zero outside F). */
function covarianceFactor(
  Aa: Float64Array,
  M: Float64Array,
  k: number,
  Da: Float64Array,
  active: readonly number[],
  F: readonly number[],
  lambda: number,
  p: number,
): { covFactor: Float64Array; pEff: number } {
  const covFactor = new Float64Array(p * p);
  const f = F.length;
  let pEff = f;
  if (f > 0) {
    const Minv = invertSpd(subMatrix(M, k, F), f);
    let C = Minv;
    if (lambda > 0) {
      const AMinv = mul(subMatrix(Aa, k, F), Minv, f);
      C = mul(Minv, AMinv, f);
      pEff = 0;
      for (let a = 0; a < f; a++) pEff += AMinv[a * f + a]!;
    }
    for (let a = 0; a < f; a++) {
      for (let b = 0; b < f; b++) covFactor[active[F[a]!]! * p + active[F[b]!]!] = C[a * f + b]! / (Da[F[a]!]! * Da[F[b]!]!);
    }
  }
  return { covFactor, pEff };
}

/** Under bounds, equivalent parameterisations of a collinear set are not equivalent fits: identify() scores the candidates with this. */
export function boundedScorer(sys: NormalSystem, mp: MethodParams): ((act: readonly number[]) => number) | undefined {
  return mp.hasBounds ? (act) => quadraticRss(sys.A, sys.b, sys.c, solveJob(sys, act, mp).beta) : undefined;
}

/** k×k row-major product A·B. */
export function mul(A: Float64Array, B: Float64Array, k: number): Float64Array {
  const C = new Float64Array(k * k);
  for (let i = 0; i < k; i++)
    for (let l = 0; l < k; l++) {
      const a = A[i * k + l]!;
      if (a === 0) continue;
      for (let j = 0; j < k; j++) C[i * k + j] += a * B[l * k + j]!;
    }
  return C;
}

export const dot = (x: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let j = 0; j < x.length; j++) s += x[j]! * b[j]!;
  return s;
};

/** xᵀ·C·x for a row-major p×p matrix C. */
export function quadFormP(x: Float64Array, C: Float64Array, p: number): number {
  let s = 0;
  for (let a = 0; a < p; a++) {
    const xa = x[a]!;
    if (xa === 0) continue;
    let t = 0;
    for (let b = 0; b < p; b++) t += C[a * p + b]! * x[b]!;
    s += xa * t;
  }
  return s;
}
