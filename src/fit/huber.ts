/**
 * The robust estimator: Huber IRLS with Huber's proposal-2 scale, run for every job of a fit (the full
 * fit, each CV fold, each bootstrap replicate, each profile variant) at once — one data pass per iteration.
 */
import { NormalAccumulator, type NormalSystem } from './accumulate.js';
import type { RowVisitor } from './dataset.js';
import { dot, solveJob, type MethodParams, type SolveOut } from './estimators.js';
import type { Identification } from './identify.js';
import { scaleSystem } from './linalg.js';
import { quadraticRss } from './solvers.js';
import { normalCdf } from '../util/stats.js';

/** E[min(Z², k²)] for Z ~ N(0,1): (2Φ(k) − 1) − 2kφ(k) + 2k²(1 − Φ(k)) (Huber's proposal-2 consistency constant). */
export function huberKappa(k: number): number {
  const Phi = normalCdf(k);
  const phi = Math.exp((-k * k) / 2) / Math.sqrt(2 * Math.PI);
  return 2 * Phi - 1 - 2 * k * phi + 2 * k * k * (1 - Phi);
}

/** One solve of a fit: the full data, a CV fold's training rows, or a bootstrap replicate (with its state during IRLS). */
export interface Job {
  kind: 'full' | 'fold' | 'boot';
  index: number;
  /** Parameter variant of this job's design row in a wide row (parameter profiles); 0 otherwise. */
  variant: number;
  ident: Identification;
  sys: NormalSystem;
  sol: SolveOut;
  /** Huber state. */
  scale: number;
  converged: boolean;
  acc: NormalAccumulator | null;
  psi2: number;
  inliers: number;
}

export const newJob = (kind: Job['kind'], index: number, variant: number, ident: Identification, sys: NormalSystem, sol: SolveOut): Job => ({
  kind,
  index,
  variant,
  ident,
  sys,
  sol,
  scale: 0,
  converged: false,
  acc: null,
  psi2: 0,
  inliers: 0,
});

/** How the IRLS pass sees the rows: weight of a response, fold of a row (−1: none), bootstrap multiplicity, variant view. */
export interface IrlsRows {
  wOf: (y: number) => number;
  foldOf: (e: number, i: number) => number;
  mult: (e: number, i: number, b: number) => number;
  view: (x: Float64Array, variant: number) => Float64Array;
  /**
   * Optional: where `view(x, variant)` takes its values from, as column indices into x. Given, a replay of kept rows
   * runs the pass straight over the cache's chunks (`irlsChunk`) instead of one `row` call per row.
   */
  columns?: (variant: number) => Int32Array;
  /**
   * Set when every job is a 'full' one (no folds, no bootstrap multiplicities) on the rows of a wide row source
   * (`relative`: w = 1/y²): the pass may then be run by worker threads, a share of the jobs each (row-pool.ts).
   */
  parallel?: { relative: boolean };
}

/** An IRLS pass that worker threads may run instead (each job's sums are the same whoever computes them). */
export interface IrlsPass {
  readonly live: readonly Job[];
  readonly hk: number;
  readonly relative: boolean;
}

/** The IRLS pass a visitor stands for, when it may be run in parallel (see IrlsRows.parallel). */
export const irlsPassOf = (v: RowVisitor): IrlsPass | null => (v as RowVisitor & { irls?: IrlsPass }).irls ?? null;

/** Huber settings as the IRLS needs them. */
export interface HuberSettings {
  k: number;
  maxIter: number;
  tol: number;
}

/** How many times a job counts a row: 0 in its held-out CV fold or when its bootstrap replicate did not draw it, else 1 (or the draw count). */
function multiplicity(j: Job, rows: IrlsRows, fold: number, e: number, i: number): number {
  if (j.kind === 'fold') return fold === j.index ? 0 : 1;
  return j.kind === 'boot' ? rows.mult(e, i, j.index) : 1;
}

/** Re-weight one row into every live job's accumulator. */
export function irlsVisitor(live: readonly Job[], rows: IrlsRows, hk: number): RowVisitor {
  return {
    ...(rows.columns ? { chunk: irlsChunk(live, rows, hk, rows.columns) } : {}),
    row(x, y, e, i) {
      const w0 = rows.wOf(y);
      const sw = Math.sqrt(w0);
      const f = rows.foldOf(e, i);
      for (let a = 0; a < live.length; a++) {
        const j = live[a]!;
        const m = multiplicity(j, rows, f, e, i);
        if (m === 0) continue;
        const xv = rows.view(x, j.variant);
        const r = ((y - dot(xv, j.sol.beta)) * sw) / j.scale;
        const ar = Math.abs(r);
        const u = ar <= hk ? 1 : hk / ar;
        j.acc!.add(xv, y, w0 * u * m, m);
        j.psi2 += m * (ar <= hk ? r * r : hk * hk);
        if (ar <= hk) j.inliers += m;
      }
    },
  };
}

/**
 * `irlsVisitor`'s `row` over kept rows in place (RowVisitor.chunk): the same sums bit for bit, without copying each
 * row out or a call per row. A job whose view is the row's first columns reads them where they are, and only the
 * chunk's columns that are not all 0 (when β and w·|x| are finite: the products skipped are ±0, which leave a sum
 * started at +0 as it is — NormalAccumulator.addAtCols); any other view is gathered into a buffer of its own first.
 */
function irlsChunk(live: readonly Job[], rows: IrlsRows, hk: number, columns: (variant: number) => Int32Array): NonNullable<RowVisitor['chunk']> {
  const maps = live.map((j) => columns(j.variant));
  const inPlace = maps.map((m) => m.every((v, k) => v === k));
  const bufs = maps.map((m) => new Float64Array(m.length));
  const keyed = live.some((j) => j.kind !== 'full');
  return (c, n, p, shape) => {
    const s = p + 3;
    const maxAbs = shape.maxAbs;
    const nzs = live.map((j, a) => (inPlace[a] && Number.isFinite(maxAbs) && j.sol.beta.every(Number.isFinite) ? shape.nz.filter((k) => k < maps[a]!.length) : null));
    for (let r = 0; r < n; r++) {
      const off = r * s;
      const y = c[off + p]!;
      const w0 = rows.wOf(y);
      const sw = Math.sqrt(w0);
      const e = keyed ? c[off + p + 1]! : 0;
      const i = keyed ? Math.floor(c[off + p + 2]! / 4) : 0;
      const f = keyed ? rows.foldOf(e, i) : -1;
      for (let a = 0; a < live.length; a++) {
        const j = live[a]!;
        const m = multiplicity(j, rows, f, e, i);
        if (m === 0) continue;
        const beta = j.sol.beta;
        const nz = nzs[a]!;
        let d = 0;
        let xv: Float64Array | null = null;
        if (nz) {
          for (let t = 0; t < nz.length; t++) d += c[off + nz[t]!]! * beta[nz[t]!]!;
        } else if (inPlace[a]) {
          for (let k = 0; k < maps[a]!.length; k++) d += c[off + k]! * beta[k]!;
        } else {
          xv = bufs[a]!;
          const map = maps[a]!;
          for (let k = 0; k < xv.length; k++) xv[k] = c[off + map[k]!]!;
          d = dot(xv, beta);
        }
        const res = ((y - d) * sw) / j.scale;
        const ar = Math.abs(res);
        const u = ar <= hk ? 1 : hk / ar;
        const w = w0 * u * m;
        if (xv) j.acc!.add(xv, y, w, m);
        else if (nz && w * maxAbs < Infinity) j.acc!.addAtCols(c, off, nz, y, w, m);
        else j.acc!.addAt(c, off, y, w, m);
        j.psi2 += m * (ar <= hk ? res * res : hk * hk);
        if (ar <= hk) j.inliers += m;
      }
    }
  };
}

/** Re-solve one job after an IRLS pass; scale update s ← s·√(Σψ²/((n − p)κ)); convergence on the scaled step and the scale. */
function irlsUpdate(j: Job, mp: MethodParams, kappa: number, tol: number): void {
  const sys = j.acc!.system();
  const sol = solveJob(sys, j.ident.active, mp);
  const dof = Math.max(1, j.sys.n - j.ident.active.length);
  const newScale = j.scale * Math.sqrt(j.psi2 / (dof * kappa));
  const D = scaleSystem(j.sys).D;
  let dz = 0;
  let zmax = 0;
  for (const c of j.ident.active) {
    dz = Math.max(dz, Math.abs(sol.beta[c]! - j.sol.beta[c]!) * D[c]!);
    zmax = Math.max(zmax, Math.abs(sol.beta[c]!) * D[c]!);
  }
  j.converged = dz <= tol * Math.max(1, zmax) && Math.abs(newScale - j.scale) <= tol * j.scale;
  j.sol = sol;
  j.scale = newScale;
  if (j.kind === 'full') j.acc = null;
}

/**
 * Huber IRLS with Huber's proposal-2 scale, all jobs at once (one pass per iteration): each iteration
 * re-weights every job's rows by u = min(1, k/|r/s|), re-solves the bounded / penalised problem and
 * updates s ← s·√(Σψ²/((n − p)κ)). Jobs start from their least-squares solutions.
 */
export function* huberIrls(jobs: Job[], h: HuberSettings, p: number, rows: IrlsRows, mp: MethodParams): Generator<RowVisitor, { iterations: number; converged: boolean }, void> {
  const kappa = huberKappa(h.k);
  for (const j of jobs) {
    const rss = Math.max(0, quadraticRss(j.sys.A, j.sys.b, j.sys.c, j.sol.beta));
    j.scale = Math.sqrt(rss / Math.max(1, j.sys.n - j.ident.active.length)) || 1e-300;
  }
  let converged = false;
  let iterations = 0;
  for (let it = 0; it < h.maxIter; it++) {
    const live = jobs.filter((j) => !j.converged);
    if (live.length === 0) {
      converged = true;
      break;
    }
    for (const j of live) {
      j.acc = new NormalAccumulator(p, { trackRange: false });
      j.psi2 = 0;
      j.inliers = 0;
    }
    const v = irlsVisitor(live, rows, h.k);
    yield rows.parallel ? Object.assign(v, { irls: { live, hk: h.k, relative: rows.parallel.relative } satisfies IrlsPass }) : v;
    iterations = it + 1;
    for (const j of live) irlsUpdate(j, mp, kappa, h.tol);
  }
  if (!converged && jobs.every((j) => j.converged)) converged = true;
  return { iterations, converged };
}
