/**
 * Solvers on (column-scaled) normal equations. Every solver minimises the weighted squared error
 *
 *   S(z) = c − 2·bᵀz + zᵀAz   (A = XᵀWX, b = XᵀWy, c = yᵀWy)
 *
 * in the scaled coordinates z = D·β, possibly with constraints or a penalty:
 * - `solveUnconstrained`: A·z = b (ordinary / weighted least squares);
 * - `solveBox`: lo ≤ z ≤ hi (bounded LS; NNLS is lo = 0, hi = ∞) by a primal active-set method
 *   (Lawson–Hanson generalised to two-sided bounds, as in Stark & Parker's BVLS), working on the
 *   normal equations only;
 *
 * A ridge penalty toward a prior z₀ enters any of these as A → A + λI, b → b + λ·z₀ (engine.ts).
 */
import { solveSpd, subMatrix } from './linalg.js';

export function solveUnconstrained(A: Float64Array, b: Float64Array): { z: Float64Array; method: 'cholesky' | 'svd' } {
  const r = solveSpd(A, b);
  return { z: r.x, method: r.method };
}

export type BoundState = 'free' | 'lower' | 'upper';

export interface BoxResult {
  z: Float64Array;
  state: BoundState[];
  iterations: number;
}

/** Start at a bound where there is one (fixed variables at their value), free at 0 otherwise. */
function initialPoint(lo: Float64Array, hi: Float64Array): { z: Float64Array; state: BoundState[] } {
  const p = lo.length;
  const z = new Float64Array(p);
  const state: BoundState[] = new Array<BoundState>(p);
  for (let j = 0; j < p; j++) {
    if (lo[j] === hi[j]) {
      z[j] = lo[j]!;
      state[j] = 'lower';
    } else if (Number.isFinite(lo[j]!)) {
      z[j] = lo[j]!;
      state[j] = 'lower';
    } else if (Number.isFinite(hi[j]!)) {
      z[j] = hi[j]!;
      state[j] = 'upper';
    } else {
      z[j] = 0;
      state[j] = 'free';
    }
  }
  return { z, state };
}

/** Solve for the free variables with the others fixed: A_FF·s_F = b_F − A_FB·z_B. */
function subSolve(A: Float64Array, b: Float64Array, z: Float64Array, state: readonly BoundState[]): Float64Array {
  const p = b.length;
  const F: number[] = [];
  for (let j = 0; j < p; j++) if (state[j] === 'free') F.push(j);
  const s = Float64Array.from(z);
  if (F.length === 0) return s;
  const r = new Float64Array(F.length);
  for (let a = 0; a < F.length; a++) {
    let v = b[F[a]!]!;
    for (let j = 0; j < p; j++) if (state[j] !== 'free') v -= A[F[a]! * p + j]! * z[j]!;
    r[a] = v;
  }
  const x = solveSpd(subMatrix(A, p, F), r).x;
  for (let a = 0; a < F.length; a++) s[F[a]!] = x[a]!;
  return s;
}

/** One inner step toward the subspace solution s: true when s is feasible (taken); else move to the first bound hit and fix the variables there. */
function stepToward(s: Float64Array, z: Float64Array, state: BoundState[], lo: Float64Array, hi: Float64Array): boolean {
  const p = z.length;
  let alpha = 1;
  let blocking = -1;
  for (let j = 0; j < p; j++) {
    if (state[j] !== 'free') continue;
    const bound = s[j]! < lo[j]! ? lo[j]! : s[j]! > hi[j]! ? hi[j]! : null;
    if (bound === null) continue;
    const a = (bound - z[j]!) / (s[j]! - z[j]!);
    if (a < alpha) {
      alpha = a;
      blocking = j;
    }
  }
  if (blocking < 0) {
    z.set(s);
    return true;
  }
  alpha = Math.max(0, alpha);
  for (let j = 0; j < p; j++) if (state[j] === 'free') z[j] = z[j]! + alpha * (s[j]! - z[j]!);
  // fix every free variable now at (or beyond, by rounding) a bound
  for (let j = 0; j < p; j++) {
    if (state[j] !== 'free') continue;
    if (j === blocking) {
      const low = s[j]! < lo[j]!;
      z[j] = low ? lo[j]! : hi[j]!;
      state[j] = low ? 'lower' : 'upper';
    } else if (z[j]! <= lo[j]!) {
      z[j] = lo[j]!;
      state[j] = 'lower';
    } else if (z[j]! >= hi[j]!) {
      z[j] = hi[j]!;
      state[j] = 'upper';
    }
  }
  return false;
}

/** The bound variable whose gradient most strongly asks to move inward (−1: KKT holds to `tol`). */
function toRelease(A: Float64Array, b: Float64Array, z: Float64Array, state: readonly BoundState[], lo: Float64Array, hi: Float64Array, tol: number): number {
  const p = b.length;
  let best = -1;
  let bestV = tol;
  for (let j = 0; j < p; j++) {
    if (state[j] === 'free' || lo[j] === hi[j]) continue;
    let g = -b[j]!;
    for (let k = 0; k < p; k++) g += A[j * p + k]! * z[k]!;
    const v = state[j] === 'lower' ? -g : g;
    if (v > bestV) {
      bestV = v;
      best = j;
    }
  }
  return best;
}

/**
 * Minimise ½zᵀAz − bᵀz subject to lo ≤ z ≤ hi (A symmetric positive definite, bounds may be ±∞).
 * KKT at the solution: g = Az − b has g_j = 0 for free j, g_j ≥ 0 at a lower bound, g_j ≤ 0 at an upper bound.
 */
export function solveBox(A: Float64Array, b: Float64Array, lo: Float64Array, hi: Float64Array, maxIter = 0): BoxResult {
  const p = b.length;
  for (let j = 0; j < p; j++) if (!(lo[j]! <= hi[j]!)) throw new RangeError(`solveBox: empty bounds for variable ${j}: [${lo[j]}, ${hi[j]}]`);
  const limit = maxIter > 0 ? maxIter : 10 * p * p + 100;
  const { z, state } = initialPoint(lo, hi);
  let bscale = 1;
  for (let j = 0; j < p; j++) bscale = Math.max(bscale, Math.abs(b[j]!));
  const tol = 1e-11 * bscale;
  let iterations = 0;
  let lastReleased = -1;
  for (;;) {
    // inner loop: move toward the subspace solution, fixing blocking variables at their bounds
    for (;;) {
      if (++iterations > limit) throw new Error(`bounded least squares did not converge in ${limit} iterations`);
      if (stepToward(subSolve(A, b, z, state), z, state, lo, hi)) break;
    }
    // outer: release the bound variable whose gradient most strongly asks to move inward
    const best = toRelease(A, b, z, state, lo, hi, tol);
    if (best < 0) break;
    if (best === lastReleased && iterations > limit / 2) break; // numerical stall at a degenerate vertex
    state[best] = 'free';
    lastReleased = best;
  }
  return { z, state, iterations };
}

/** S(z) = c − 2bᵀz + zᵀAz: the weighted residual sum of squares from the normal equations. */
export function quadraticRss(A: Float64Array, b: Float64Array, c: number, z: ArrayLike<number>): number {
  const p = b.length;
  let s = c;
  for (let i = 0; i < p; i++) {
    let Az = 0;
    for (let j = 0; j < p; j++) Az += A[i * p + j]! * z[j]!;
    s += z[i]! * (Az - 2 * b[i]!);
  }
  return s;
}
