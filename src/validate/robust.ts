/**
 * Huber IRLS whose every re-weighted solve is a bounded least-squares problem with a tiny ridge toward
 * the basis priors, built from the fitting engine's own pieces (NormalAccumulator, scaleSystem,
 * solveBox, huberKappa) and with the engine's Huber semantics: relative weights w = 1/y², start from
 * the bounded fit, scale σ₀ = √(RSS/(n−p)), Huber weights u = min(1, k/|r/σ|), proposal-2 scale update
 * σ ← σ·√(Σψ²/((n−p)·κ(k))), stop when coefficients (column-scaled) and σ move less than tol.
 *
 * Each solve minimises, in column-scaled coordinates z = D·β (diag of the scaled XᵀWX = 1),
 *   ½zᵀ(A + λI)z − (b + λz₀)ᵀz   subject to  D·lo ≤ z ≤ D·hi,   z₀ = D·prior,
 * so a direction the data do not identify (e.g. weight / ring hops / constant with only two TPs)
 * stays at its physical prior instead of being decided by which collinear term is dropped; with
 * λ = 1e-6 identified directions are unaffected (results are flat for λ from 1e-8 to 1e-3, see
 * reports/validation.md).
 *
 * The engine's `--method huber` solves each step without bounds or ridge; the validation default
 * needs both, so until the engine offers that combination this module runs it. `fitDatasetSync` is
 * used instead as soon as it accepts `bounds` with `method: 'huber'` (run.ts `engineSupportsBoundedHuber`).
 */
import { NormalAccumulator, type NormalSystem } from '../fit/accumulate.js';
import { scaleSystem } from '../fit/linalg.js';
import { solveBox, quadraticRss } from '../fit/solvers.js';
import { huberKappa } from '../fit/engine.js';
import { InputError } from '../io/errors.js';

export interface BoundedHuberOptions {
  /** Huber threshold in robust-scale units (default 1.345). */
  k?: number;
  /** IRLS iteration cap (default 500). */
  maxIter?: number;
  tol?: number;
  /** Ridge λ toward `prior` on the column-scaled system (default 1e-6). */
  lambda?: number;
}

export interface BoundedHuberResult {
  beta: Float64Array;
  iterations: number;
  converged: boolean;
  scale: number;
}

/** min ½zᵀ(A+λI)z − (b+λz₀)ᵀz on the box, in the column-scaling of `D` (β in original units). */
function solveBounded(sys: NormalSystem, D: Float64Array, lo: Float64Array, hi: Float64Array, lambda: number, prior: Float64Array): Float64Array {
  const p = sys.p;
  const A = new Float64Array(p * p);
  const b = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    b[i] = sys.b[i]! / D[i]! + lambda * prior[i]! * D[i]!;
    for (let j = 0; j < p; j++) A[i * p + j] = sys.A[i * p + j]! / (D[i]! * D[j]!) + (i === j ? lambda : 0);
  }
  const r = solveBox(A, b, Float64Array.from(lo, (v, j) => v * D[j]!), Float64Array.from(hi, (v, j) => v * D[j]!));
  return Float64Array.from(r.z, (z, j) => z / D[j]!);
}

const dot = (x: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let j = 0; j < x.length; j++) s += x[j]! * b[j]!;
  return s;
};

/** Fit rows (x, y) with relative weights by Huber IRLS under bounds lo ≤ β ≤ hi, ridge λ toward `prior`. */
export function boundedHuberFit(X: readonly Float64Array[], y: readonly number[], prior: Float64Array, lo: Float64Array, hi: Float64Array, opts: BoundedHuberOptions = {}): BoundedHuberResult {
  const p = prior.length;
  const n = y.length;
  const k = opts.k ?? 1.345;
  const maxIter = opts.maxIter ?? 500;
  const tol = opts.tol ?? 1e-7;
  if (n <= p) throw new InputError(`too few rows: ${n} rows for ${p} terms`);
  const w0 = y.map((v) => 1 / (v * v));
  const acc0 = new NormalAccumulator(p);
  for (let i = 0; i < n; i++) acc0.add(X[i]!, y[i]!, w0[i]!);
  const sys0 = acc0.system();
  const lambda = opts.lambda ?? 1e-6;
  const D = scaleSystem(sys0).D;
  const dof = Math.max(1, n - p);
  let beta = solveBounded(sys0, D, lo, hi, lambda, prior);
  let scale = Math.sqrt(Math.max(0, quadraticRss(sys0.A, sys0.b, sys0.c, beta)) / dof) || 1e-300;
  const kappa = huberKappa(k);
  let iterations = 0;
  let converged = false;
  for (let it = 0; it < maxIter; it++) {
    const acc = new NormalAccumulator(p, { trackRange: false });
    let psi2 = 0;
    for (let i = 0; i < n; i++) {
      const r = (y[i]! - dot(X[i]!, beta)) * Math.sqrt(w0[i]!) / scale;
      const ar = Math.abs(r);
      acc.add(X[i]!, y[i]!, w0[i]! * (ar <= k ? 1 : k / ar));
      psi2 += ar <= k ? r * r : k * k;
    }
    const next = solveBounded(acc.system(), D, lo, hi, lambda, prior);
    const nextScale = scale * Math.sqrt(psi2 / (dof * kappa));
    let dz = 0;
    let zmax = 0;
    for (let c = 0; c < p; c++) {
      dz = Math.max(dz, Math.abs(next[c]! - beta[c]!) * D[c]!);
      zmax = Math.max(zmax, Math.abs(next[c]!) * D[c]!);
    }
    iterations = it + 1;
    const done = dz <= tol * Math.max(1, zmax) && Math.abs(nextScale - scale) <= tol * scale;
    beta = next;
    scale = nextScale;
    if (done) { converged = true; break; }
  }
  return { beta, iterations, converged, scale };
}
