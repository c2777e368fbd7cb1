/**
 * Dense linear algebra on small symmetric systems (p = number of basis terms, ≤ ~30) using
 * ml-matrix decompositions: column scaling, Cholesky solve with an SVD fallback, inverse,
 * symmetric eigen-decomposition (for rank / condition number / collinear directions).
 */
import { Matrix, CholeskyDecomposition, SingularValueDecomposition, EigenvalueDecomposition } from 'ml-matrix';
import type { NormalSystem } from './accumulate.js';

/**
 * Column-scaled normal equations: with D = diag(√A_jj) (1 for an all-zero column),
 * A_s = D⁻¹·A·D⁻¹ (unit diagonal), b_s = D⁻¹·b; the solution z of A_s·z = b_s gives β = D⁻¹·z.
 * Scaling makes the condition number that of the column-normalised design and the tolerances unit-free.
 */
export interface ScaledSystem {
  readonly p: number;
  readonly D: Float64Array;
  readonly As: Float64Array;
  readonly bs: Float64Array;
  readonly c: number;
  readonly n: number;
}

export function scaleSystem(sys: NormalSystem): ScaledSystem {
  const p = sys.p;
  const D = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    const a = sys.A[j * p + j]!;
    D[j] = a > 0 ? Math.sqrt(a) : 1;
  }
  const As = new Float64Array(p * p);
  const bs = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    bs[i] = sys.b[i]! / D[i]!;
    for (let j = 0; j < p; j++) As[i * p + j] = sys.A[i * p + j]! / (D[i]! * D[j]!);
  }
  return { p, D, As, bs, c: sys.c, n: sys.n };
}

/** The k×k sub-matrix of a p×p row-major matrix on index set `idx`. */
export function subMatrix(M: Float64Array, p: number, idx: readonly number[]): Float64Array {
  const k = idx.length;
  const out = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) out[a * k + b] = M[idx[a]! * p + idx[b]!]!;
  return out;
}

/** k×k row-major → ml-matrix, symmetrised ((M + Mᵀ)/2: the decompositions require exact symmetry). */
const toMatrix = (M: Float64Array, k: number): Matrix => {
  const m = new Matrix(k, k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) m.set(i, j, i === j ? M[i * k + j]! : (M[i * k + j]! + M[j * k + i]!) / 2);
  return m;
};

/** Solve M·x = r for symmetric positive (semi)definite M: Cholesky, falling back to an SVD least-squares solve. */
export function solveSpd(M: Float64Array, r: Float64Array): { x: Float64Array; method: 'cholesky' | 'svd' } {
  const k = r.length;
  if (k === 0) return { x: new Float64Array(0), method: 'cholesky' };
  const m = toMatrix(M, k);
  const rhs = Matrix.columnVector(Array.from(r));
  const chol = new CholeskyDecomposition(m);
  if (chol.isPositiveDefinite()) {
    const x = chol.solve(rhs).getColumn(0);
    if (x.every(Number.isFinite)) return { x: Float64Array.from(x), method: 'cholesky' };
  }
  const svd = new SingularValueDecomposition(m, { autoTranspose: true });
  return { x: Float64Array.from(svd.solve(rhs).getColumn(0)), method: 'svd' };
}

/** Inverse of a symmetric positive definite matrix (Cholesky; SVD pseudo-inverse fallback). */
export function invertSpd(M: Float64Array, k: number): Float64Array {
  if (k === 0) return new Float64Array(0);
  const m = toMatrix(M, k);
  const chol = new CholeskyDecomposition(m);
  let inv: Matrix;
  if (chol.isPositiveDefinite()) inv = chol.solve(Matrix.eye(k, k));
  else inv = new SingularValueDecomposition(m, { autoTranspose: true }).inverse();
  const out = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) out[i * k + j] = (inv.get(i, j) + inv.get(j, i)) / 2;
  return out;
}

/** Symmetric eigen-decomposition: eigenvalues ascending, eigenvectors as columns (vectors[j] = j-th eigenvector). */
export function symEigen(M: Float64Array, k: number): { values: number[]; vectors: number[][] } {
  if (k === 0) return { values: [], vectors: [] };
  const e = new EigenvalueDecomposition(toMatrix(M, k), { assumeSymmetric: true });
  const vals = e.realEigenvalues;
  const V = e.eigenvectorMatrix;
  const order = vals.map((_, i) => i).sort((a, b) => vals[a]! - vals[b]!);
  return { values: order.map((i) => vals[i]!), vectors: order.map((i) => V.getColumn(i)) };
}

/** Matrix–vector product of a k×k row-major matrix. */
export function matVec(M: Float64Array, v: ArrayLike<number>, k: number): Float64Array {
  const out = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += M[i * k + j]! * v[j]!;
    out[i] = s;
  }
  return out;
}
