/**
 * The fitting engine: passes over the design rows of a data set (see dataset.ts `RowSource`),
 * normal-equation solves for every "job" (the full fit, each cross-validation fold, each bootstrap
 * replicate), identifiability resolution, uncertainty and metrics.
 *
 * Passes:
 *   1. accumulate XᵀWX, XᵀWy, yᵀWy per CV fold (the full system and each fold's training system
 *      are sums of these) and per Poisson-bootstrap replicate; W = row weights (1, or 1/y² for
 *      relative-error weighting);
 *   2…. (Huber only) IRLS: one pass per iteration re-weights every job's rows at once;
 *   last. predictions: training metrics, held-out (CV) metrics, residual sum of squares.
 *
 * The plan is a generator that yields one `RowVisitor` per pass, so the same code runs
 * synchronously over in-memory data and asynchronously over streamed files.
 */
import { withFitDefaults, type FitInput } from './defaults.js';
import { resolveBasisParams, type Basis, type BasisParam } from '../basis/types.js';
import { num } from './format.js';
import { getBasis } from '../basis/registry.js';
import { InputError } from '../io/errors.js';
import { NormalAccumulator, type NormalSystem } from './accumulate.js';
import { scaleSystem, subMatrix, invertSpd, solveSpd } from './linalg.js';
import { solveBox, quadraticRss } from './solvers.js';
import { identify, type Identification, type IdentProblem } from './identify.js';
import { MetricsAccumulator } from './metrics.js';
import { hash32, hashUniform, poisson1, tQuantile, normalCdf } from '../util/stats.js';
import { RowSource, ROW_KINDS, type FitDataset, type RowVisitor, type RowKind } from './dataset.js';
import { MetricCells, GROUP_FIELDS, groupValue, sortValues } from './groups.js';
import type { ExperimentRef, KindResidual, Metrics, TermFit } from './fitfile.js';

export type FitMethod = 'ols' | 'nnls' | 'bounded' | 'ridge' | 'huber';
export const FIT_METHODS: readonly FitMethod[] = ['ols', 'nnls', 'bounded', 'ridge', 'huber'];
export type FitWeight = 'none' | 'relative';

export interface FitOptions {
  basis: string | Basis;
  method: FitMethod;
  /** 'relative': w = 1/y² (minimise squared relative error); 'none': w = 1. */
  weight: FitWeight;
  /** Per-term bounds [lo, hi] (null = unbounded): required for 'bounded', also accepted by 'ridge' and 'huber'. */
  bounds?: Readonly<Record<string, readonly [number | null, number | null]>>;
  /**
   * Ridge toward a prior: λ on the column-scaled problem (each diagonal of D⁻¹XᵀWXD⁻¹ is 1; default 1e-3);
   * prior default = basis TermInfo.prior. Used by 'ridge'; also accepted by 'bounded' and 'huber'.
   */
  ridge?: { lambda: number; prior?: Readonly<Record<string, number>> | readonly number[] };
  /** Huber IRLS: threshold k in robust-scale units (default 1.345), iteration cap, relative tolerance. */
  huber?: { k?: number; maxIter?: number; tol?: number };
  /** 'kfold:K' or 'group:<experiment|model|gpu|tp|label>'. */
  cv?: string | null;
  seed: number;
  /** Number of Poisson-bootstrap replicates for standard errors / intervals (0 = analytic). */
  bootstrap?: number;
  /** Unidentifiable terms: 'resolve' (drop / merge, recorded) or 'fail'. Ridge always keeps every term. */
  collinear?: 'resolve' | 'fail';
  /**
   * Memory budget (bytes) for keeping design rows between passes instead of re-reading the data;
   * default 256 MiB for Huber (many passes), 0 otherwise (two passes: stream both).
   */
  rowCacheBytes?: number;
  /**
   * Basis parameters (`Basis.params`) fixed to these values; every other parameter with a grid is
   * fitted on the training rows by profile likelihood (fallback: its default when not identifiable).
   */
  basisParams?: Readonly<Record<string, number>>;
}

/** Options after validation and defaults, as recorded in the fit file. */
export interface ResolvedOptions {
  method: FitMethod;
  weight: FitWeight;
  seed: number;
  cv: string | null;
  bootstrap: number;
  collinear: 'resolve' | 'fail';
  bounds?: Record<string, [number | null, number | null]>;
  ridge?: { lambda: number; prior: Record<string, number> };
  huber?: { k: number; maxIter: number; tol: number; iterations?: number; converged?: boolean };
}

export interface CvResult {
  scheme: string;
  seed?: number;
  overall: Metrics;
  folds: { fold: string; metrics: Metrics; trainRows: number; dropped: string[] }[];
  byGroup: Record<string, Record<string, Metrics>>;
}

export interface FitDiagnostics {
  rank: number;
  conditionNumber: number | null;
  activeConditionNumber: number | null;
  terms: number;
  notes: string[];
  dropped: string[];
  merged: { term: string; into: string }[];
  problems: IdentProblem[];
}

export interface FitResult {
  basis: Basis;
  options: ResolvedOptions;
  terms: TermFit[];
  coefficients: Float64Array;
  /** Covariance of the coefficients (p×p row-major; zero rows/columns for terms not fitted), or null. */
  covariance: Float64Array | null;
  residual: { sigma: number; scale: 'absolute' | 'relative'; dof: number; byKind?: Partial<Record<'step' | 'prefill' | 'decode', KindResidual>> };
  diagnostics: FitDiagnostics;
  experiments: ExperimentRef[];
  metrics: {
    train: { overall: Metrics; byGroup: Record<string, Record<string, Metrics>> };
    cv: CvResult | null;
  };
  /** Rows fitted and passes made over the data. */
  rows: number;
  passes: number;
  /** Every basis parameter's value used by the fit (compile the basis with these to predict). */
  basisParams: Record<string, number>;
  /** How each basis parameter was decided (profile, default fallback, given). */
  paramChoices: ParamChoice[];
}

/** Default ridge strength: a prior worth 0.1% of each (column-scaled) term's information in the data. */
export const DEFAULT_RIDGE_LAMBDA = 1e-3;

/**
 * Parse and check options against a basis. Throws InputError with the option name.
 * Combinations: bounds with bounded / ridge / huber; a ridge penalty with ridge / bounded / huber
 * (Huber's IRLS then solves the bounded and/or penalised problem at each iteration).
 */
export function resolveOptions(opts: FitOptions, basis: Basis): ResolvedOptions {
  const names = basis.terms.map((t) => t.name);
  if (!FIT_METHODS.includes(opts.method)) throw new InputError(`--method: unknown method '${opts.method}' (known: ${FIT_METHODS.join(', ')})`);
  if (opts.weight !== 'none' && opts.weight !== 'relative') throw new InputError(`--weight: expected 'none' or 'relative', got '${opts.weight}'`);
  if (!Number.isInteger(opts.seed) || opts.seed < 0) throw new InputError(`--seed: expected a non-negative integer, got ${opts.seed}`);
  const bootstrap = opts.bootstrap ?? 0;
  if (!Number.isInteger(bootstrap) || bootstrap < 0 || (bootstrap > 0 && bootstrap < 10)) throw new InputError(`--bootstrap: expected 0 (off) or an integer ≥ 10 replicates, got ${bootstrap}`);
  const r: ResolvedOptions = { method: opts.method, weight: opts.weight, seed: opts.seed, cv: opts.cv ?? null, bootstrap, collinear: opts.collinear ?? 'resolve' };
  if (r.cv !== null) parseCv(r.cv);
  const hasBounds = opts.bounds !== undefined && Object.keys(opts.bounds).length > 0;
  if (hasBounds && (opts.method === 'ols' || opts.method === 'nnls')) {
    throw new InputError(`--bounds applies to --method bounded, ridge or huber (got --method ${opts.method}${opts.method === 'nnls' ? ', which already bounds every term at 0' : ''})`);
  }
  if (opts.method === 'bounded' && !hasBounds) throw new InputError(`--method bounded needs --bounds (e.g. --bounds ${names[0]}=0:,${names[1]}=0.5:4)`);
  if (hasBounds && opts.bounds) {
    const bounds: Record<string, [number | null, number | null]> = {};
    for (const n of names) bounds[n] = [null, null];
    for (const [k, v] of Object.entries(opts.bounds)) {
      if (!names.includes(k)) throw new InputError(`--bounds: unknown term '${k}' for basis '${basis.name}' (terms: ${names.join(', ')})`);
      const [lo, hi] = v;
      if ((lo !== null && !Number.isFinite(lo)) || (hi !== null && !Number.isFinite(hi)) || (lo !== null && hi !== null && lo > hi)) {
        throw new InputError(`--bounds: term '${k}': expected lo ≤ hi (finite or empty), got ${lo ?? ''}:${hi ?? ''}`);
      }
      bounds[k] = [lo, hi];
    }
    r.bounds = bounds;
  }
  if (opts.ridge && (opts.method === 'ols' || opts.method === 'nnls')) {
    throw new InputError(`ridge options (--lambda / --prior) apply to --method ridge, bounded or huber (got --method ${opts.method})`);
  }
  if (opts.method === 'ridge' || opts.ridge) {
    const lambda = opts.ridge?.lambda ?? DEFAULT_RIDGE_LAMBDA;
    if (!(lambda > 0) || !Number.isFinite(lambda)) throw new InputError(`--lambda: expected a positive finite number, got ${lambda}`);
    const prior: Record<string, number> = {};
    basis.terms.forEach((t) => {
      prior[t.name] = t.prior;
    });
    const given = opts.ridge?.prior;
    if (Array.isArray(given)) {
      if (given.length !== names.length) throw new InputError(`--prior: expected ${names.length} values (${names.join(', ')}), got ${given.length}`);
      names.forEach((n, j) => {
        prior[n] = (given as readonly number[])[j]!;
      });
    } else if (given) {
      for (const [k, v] of Object.entries(given as Record<string, number>)) {
        if (!names.includes(k)) throw new InputError(`--prior: unknown term '${k}' for basis '${basis.name}' (terms: ${names.join(', ')})`);
        prior[k] = v;
      }
    }
    for (const [k, v] of Object.entries(prior)) if (!Number.isFinite(v)) throw new InputError(`--prior: term '${k}': expected a finite number, got ${v}`);
    r.ridge = { lambda, prior };
  }
  if (opts.huber && opts.method !== 'huber') throw new InputError(`--huber-k applies to --method huber (got --method ${opts.method})`);
  if (opts.method === 'huber') {
    const k = opts.huber?.k ?? 1.345;
    if (!(k > 0) || !Number.isFinite(k)) throw new InputError(`--huber-k: expected a positive number, got ${k}`);
    r.huber = { k, maxIter: opts.huber?.maxIter ?? 100, tol: opts.huber?.tol ?? 1e-7 };
  }
  return r;
}

export type CvSpec = { kind: 'kfold'; k: number } | { kind: 'group'; field: string };

export function parseCv(s: string): CvSpec {
  const m = /^kfold:(\d+)$/.exec(s);
  if (m) {
    const k = Number(m[1]);
    if (k < 2) throw new InputError(`--cv ${s}: K must be ≥ 2`);
    return { kind: 'kfold', k };
  }
  const g = /^group:(.+)$/.exec(s);
  if (g) return { kind: 'group', field: g[1]! };
  throw new InputError(`--cv: expected 'kfold:K' or 'group:<experiment|model|gpu|tp|label>', got '${s}'`);
}

/** E[min(Z², k²)] for Z ~ N(0,1): (2Φ(k) − 1) − 2kφ(k) + 2k²(1 − Φ(k)) (Huber's proposal-2 consistency constant). */
export function huberKappa(k: number): number {
  const Phi = normalCdf(k);
  const phi = Math.exp((-k * k) / 2) / Math.sqrt(2 * Math.PI);
  return 2 * Phi - 1 - 2 * k * phi + 2 * k * k * (1 - Phi);
}

interface SolveOut {
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

/** The inner problem every method reduces to: box bounds (±∞ = none) and a ridge penalty (λ = 0: none). */
interface MethodParams {
  lo: Float64Array;
  hi: Float64Array;
  hasBounds: boolean;
  lambda: number;
  prior: Float64Array;
}

/**
 * Solve one job's system on its active terms, in scaled coordinates z = D·β:
 * minimise ½zᵀ(A + λI)z − (b + λz₀)ᵀz subject to lo ≤ z ≤ hi (each part optional).
 * Covariance factor (σ² not applied) on the free terms F: (A_FF)⁻¹, or with a penalty the
 * sandwich M⁻¹·A_FF·M⁻¹ with M = A_FF + λI; effective parameters |F| or tr(A_FF·M⁻¹).
 */
function solveJob(sys: NormalSystem, active: readonly number[], mp: MethodParams): SolveOut {
  const p = sys.p;
  const s = scaleSystem(sys);
  const beta = new Float64Array(p);
  const k = active.length;
  const Aa = subMatrix(s.As, p, active);
  const ba = Float64Array.from(active, (j) => s.bs[j]!);
  const Da = Float64Array.from(active, (j) => s.D[j]!);
  const M = Float64Array.from(Aa);
  const r = Float64Array.from(ba);
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
  const covFactor = new Float64Array(p * p);
  const F = freeLocal;
  const f = F.length;
  let pEff = f;
  if (f > 0) {
    const Minv = invertSpd(subMatrix(M, k, F), f);
    let C = Minv;
    if (mp.lambda > 0) {
      const AMinv = mul(subMatrix(Aa, k, F), Minv, f);
      C = mul(Minv, AMinv, f);
      pEff = 0;
      for (let a = 0; a < f; a++) pEff += AMinv[a * f + a]!;
    }
    for (let a = 0; a < f; a++) {
      for (let b = 0; b < f; b++) covFactor[active[F[a]!]! * p + active[F[b]!]!] = C[a * f + b]! / (Da[F[a]!]! * Da[F[b]!]!);
    }
  }
  const free = F.map((a) => active[a]!);
  const atBound = active.filter((j) => !free.includes(j));
  return { beta, free, atBound, covFactor, pEff, svd };
}

function mul(A: Float64Array, B: Float64Array, k: number): Float64Array {
  const C = new Float64Array(k * k);
  for (let i = 0; i < k; i++)
    for (let l = 0; l < k; l++) {
      const a = A[i * k + l]!;
      if (a === 0) continue;
      for (let j = 0; j < k; j++) C[i * k + j] += a * B[l * k + j]!;
    }
  return C;
}

const dot = (x: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let j = 0; j < x.length; j++) s += x[j]! * b[j]!;
  return s;
};

interface Job {
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

/**
 * Huber IRLS with Huber's proposal-2 scale, all jobs at once (one pass per iteration): each iteration
 * re-weights every job's rows by u = min(1, k/|r/s|), re-solves the bounded / penalised problem and
 * updates s ← s·√(Σψ²/((n − p)κ)). Jobs start from their least-squares solutions.
 */
function* huberIrls(
  jobs: Job[],
  ro: ResolvedOptions,
  p: number,
  wOf: (y: number) => number,
  foldOf: (e: number, i: number) => number,
  mult: (e: number, i: number, b: number) => number,
  mp: MethodParams,
  view: (x: Float64Array, variant: number) => Float64Array = (x) => x,
): Generator<RowVisitor, { iterations: number; converged: boolean }, void> {
  const hk = ro.huber!.k;
  const kappa = huberKappa(hk);
  for (const j of jobs) {
    const rss = Math.max(0, quadraticRss(j.sys.A, j.sys.b, j.sys.c, j.sol.beta));
    j.scale = Math.sqrt(rss / Math.max(1, j.sys.n - j.ident.active.length)) || 1e-300;
  }
  let converged = false;
  let iterations = 0;
  for (let it = 0; it < ro.huber!.maxIter; it++) {
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
    yield {
      row(x, y, e, i) {
        const w0 = wOf(y);
        const sw = Math.sqrt(w0);
        const f = foldOf(e, i);
        for (let a = 0; a < live.length; a++) {
          const j = live[a]!;
          let m = 1;
          if (j.kind === 'fold') {
            if (f === j.index) continue;
          } else if (j.kind === 'boot') {
            m = mult(e, i, j.index);
            if (m === 0) continue;
          }
          const xv = view(x, j.variant);
          const r = ((y - dot(xv, j.sol.beta)) * sw) / j.scale;
          const ar = Math.abs(r);
          const u = ar <= hk ? 1 : hk / ar;
          j.acc!.add(xv, y, w0 * u * m, m);
          j.psi2 += m * (ar <= hk ? r * r : hk * hk);
          if (ar <= hk) j.inliers += m;
        }
      },
    };
    iterations = it + 1;
    for (const j of live) {
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
      const tol = ro.huber!.tol;
      j.converged = dz <= tol * Math.max(1, zmax) && Math.abs(newScale - j.scale) <= tol * j.scale;
      j.sol = sol;
      j.scale = newScale;
      if (j.kind === 'full') j.acc = null;
    }
  }
  if (!converged && jobs.every((j) => j.converged)) converged = true;
  return { iterations, converged };
}

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

/** The fit as a sequence of passes: yields one visitor per pass over the rows; returns the result. */
export function* fitPlan(src: RowSource, basis: Basis, ro: ResolvedOptions): Generator<RowVisitor, FitResult, void> {
  const ds = src.ds;
  const p = src.p;
  const names = basis.terms.map((t) => t.name);
  const relative = ro.weight === 'relative';
  const wOf = (y: number): number => (relative ? 1 / (y * y) : 1);
  const cv = ro.cv ? parseCv(ro.cv) : null;

  // fold structure
  let K = 0;
  let foldNames: string[] = [];
  let expFold: Int32Array | null = null;
  if (cv?.kind === 'group') {
    const vals = ds.experiments.map((_, e) => groupValue(ds, e, cv.field));
    const missing = vals.findIndex((v) => v === undefined);
    if (missing >= 0) {
      const known = [...GROUP_FIELDS, ...new Set(ds.experiments.flatMap((x) => Object.keys(x.ref.groups)))];
      throw new InputError(`--cv group:${cv.field}: experiment '${ds.experiments[missing]!.ref.id}' has no '${cv.field}' label (fields: ${known.join(', ')})`);
    }
    foldNames = sortValues(cv.field, [...new Set(vals as string[])]);
    if (foldNames.length < 2) throw new InputError(`--cv group:${cv.field}: needs at least 2 distinct values to leave one out, the data have only '${foldNames[0]}'`);
    K = foldNames.length;
    expFold = Int32Array.from(vals, (v) => foldNames.indexOf(v!));
    foldNames = foldNames.map((v) => `${cv.field}=${v}`);
  } else if (cv?.kind === 'kfold') {
    K = cv.k;
    foldNames = Array.from({ length: K }, (_, k) => String(k + 1));
  }
  const perm = new Int32Array(Math.max(1, K));
  const foldSeed = hash32(ro.seed, 0xf01d, 0);
  let permE = -1;
  let permB = -1;
  /** Fold of a row: experiment's group, or a seeded balanced assignment (a random permutation of 0..K−1 per block of K rows). */
  const foldOf = (e: number, i: number): number => {
    if (expFold) return expFold[e]!;
    const b = Math.floor(i / K);
    if (b !== permB || e !== permE) {
      for (let a = 0; a < K; a++) perm[a] = a;
      for (let a = K - 1; a > 0; a--) {
        const r = Math.floor(hashUniform(foldSeed, e, b, a) * (a + 1));
        const t = perm[a]!;
        perm[a] = perm[r]!;
        perm[r] = t;
      }
      permB = b;
      permE = e;
    }
    return perm[i % K]!;
  };
  const B = ro.bootstrap;
  const bootSeed = hash32(ro.seed, 0xb007, 0);
  const mult = (e: number, i: number, b: number): number => poisson1(hashUniform(bootSeed, e, i, b));

  // ---- pass 1: accumulate
  const foldAcc = Array.from({ length: Math.max(1, K) }, () => new NormalAccumulator(p));
  const bootAcc = Array.from({ length: B }, () => new NormalAccumulator(p, { trackRange: true }));
  yield {
    row(x, y, e, i) {
      const w = wOf(y);
      foldAcc[K ? foldOf(e, i) : 0]!.add(x, y, w);
      for (let b = 0; b < B; b++) {
        const m = mult(e, i, b);
        if (m > 0) bootAcc[b]!.add(x, y, w * m, m);
      }
    },
  };
  const summaries = src.summaries();
  const fullSys = NormalAccumulator.sum(foldAcc, p).system();
  const n = fullSys.n;
  if (n === 0) throw new InputError('no rows to fit (no step with duration_us and no request-level targets)');
  if (n < p)
    throw new InputError(`too few rows: ${n} row${n === 1 ? '' : 's'} (steps with duration_us + targets) for the ${p} terms of basis '${basis.name}' (${names.join(', ')}); need more rows than terms`);
  if (cv?.kind === 'kfold' && n < 2 * K) throw new InputError(`--cv kfold:${K}: needs at least ${2 * K} rows, the data have ${n}`);
  for (let k = 0; k < K; k++) {
    if (foldAcc[k]!.n === 0) throw new InputError(`--cv ${ro.cv}: fold ${foldNames[k]} has no rows to hold out`);
  }

  const penalised = (ro.ridge?.lambda ?? 0) > 0;
  const identMode = penalised ? 'report' : ro.collinear;
  const mp: MethodParams = {
    lo: Float64Array.from(names, (nm) => (ro.method === 'nnls' ? 0 : (ro.bounds?.[nm]?.[0] ?? -Infinity))),
    hi: Float64Array.from(names, (nm) => (ro.method === 'nnls' ? Infinity : (ro.bounds?.[nm]?.[1] ?? Infinity))),
    hasBounds: ro.method === 'nnls' || ro.bounds !== undefined,
    lambda: ro.ridge?.lambda ?? 0,
    prior: Float64Array.from(names, (nm) => ro.ridge?.prior[nm] ?? 0),
  };
  /** Under bounds, equivalent parameterisations of a collinear set are not equivalent fits: score the candidates. */
  const scorer = (sys: NormalSystem) => (mp.hasBounds ? (act: readonly number[]): number => quadraticRss(sys.A, sys.b, sys.c, solveJob(sys, act, mp).beta) : undefined);
  const ident = identify(fullSys, names, identMode, { score: scorer(fullSys) });
  const nActive = ident.active.length;
  if (nActive === 0) throw new InputError(`no identifiable term: ${ident.problems.map((x) => x.detail).join('; ')}`);
  if (n <= nActive) throw new InputError(`too few rows: ${n} row${n === 1 ? '' : 's'} for ${nActive} identifiable terms of basis '${basis.name}'; need more rows than terms`);

  const innerMp = mp;

  const makeJob = (kind: Job['kind'], index: number, sys: NormalSystem): Job => {
    const id = kind === 'full' ? ident : identify(sys, names, penalised ? 'report' : 'resolve', { initialActive: ident.active, score: scorer(sys) });
    if (sys.n <= id.active.length && kind !== 'boot') {
      throw new InputError(`CV fold ${foldNames[index]}: only ${sys.n} training rows for ${id.active.length} terms`);
    }
    return { kind, index, variant: 0, ident: id, sys, sol: solveJob(sys, id.active, innerMp), scale: 0, converged: false, acc: null, psi2: 0, inliers: 0 };
  };
  const full = makeJob('full', 0, fullSys);
  const folds: Job[] = [];
  for (let k = 0; k < K; k++) {
    const acc = new NormalAccumulator(p);
    for (let j = 0; j < K; j++) if (j !== k) acc.addFrom(foldAcc[j]!);
    folds.push(makeJob('fold', k, acc.system()));
  }
  const boots: Job[] = bootAcc.map((a, b) => makeJob('boot', b, a.system()));
  const jobs = [full, ...folds, ...boots];

  // ---- Huber IRLS (one pass per iteration, all jobs at once)
  let huberIters = 0;
  let huberConverged = true;
  if (ro.method === 'huber') {
    const h = yield* huberIrls(jobs, ro, p, wOf, (e, i) => (K ? foldOf(e, i) : -1), mult, innerMp);
    huberIters = h.iterations;
    huberConverged = h.converged;
    ro = { ...ro, huber: { ...ro.huber!, iterations: huberIters, converged: huberConverged } };
  }

  // ---- last pass: predictions and metrics
  const trainCells = new MetricCells(ds);
  const cvCells = new MetricCells(ds);
  const foldMetrics = Array.from({ length: K }, () => new MetricsAccumulator());
  let rss = 0;
  let psi2 = 0;
  let inl = 0;
  const hk = ro.huber?.k ?? 0;
  const betaFull = full.sol.beta;
  // per-kind residual scale: leverages h = w·xᵀFx with F the free terms' (XᵀWX)⁻¹ before Huber weights
  // (with a ridge penalty the sandwich M⁻¹AM⁻¹, M = A + λI: slightly below the ridge hat value for large λ)
  const levF = ro.method === 'huber' ? solveJob(fullSys, full.ident.active, mp).covFactor : full.sol.covFactor;
  const kindAcc = ROW_KINDS.map(() => new KindScaleAccumulator(hash32(ro.seed, 0x5ca1e, 0)));
  yield {
    row(x, y, e, i, kind) {
      const pred = dot(x, betaFull);
      trainCells.add(e, kind, pred, y);
      const w = wOf(y);
      const r = y - pred;
      rss += w * r * r;
      // on the scale predict applies σ to: relative y = ŷ·(1 + ε) → ε = r/ŷ (r/y when ŷ ≤ 0); absolute ε = r
      kindAcc[kind]!.add(relative ? r / (pred > 0 ? pred : y) : r, levF ? w * quadFormP(x, levF, p) : 0, e, i);
      if (hk > 0) {
        const sr = Math.abs((r * Math.sqrt(w)) / full.scale);
        psi2 += sr <= hk ? sr * sr : hk * hk;
        if (sr <= hk) inl++;
      }
      if (K) {
        const f = foldOf(e, i);
        const pc = dot(x, folds[f]!.sol.beta);
        cvCells.add(e, kind, pc, y);
        foldMetrics[f]!.add(pc, y);
      }
    },
  };

  // ---- uncertainty
  const sol = full.sol;
  const dof = Math.max(1, n - sol.pEff);
  let sigma: number;
  let covariance: Float64Array | null = null;
  if (ro.method === 'huber') {
    // Huber (1981) H1 covariance: K²·[Σψ²/(n−p)]/m² · s²·(XᵀW₀X)⁻¹, m = fraction of inliers, K = 1 + (p/n)·m(1−m)/m²
    sigma = full.scale;
    const m = inl / n;
    const pf = sol.free.length;
    const base = solveJob(fullSys, full.ident.active, mp).covFactor!;
    if (m > 0) {
      const Kc = 1 + ((pf / n) * (m * (1 - m))) / (m * m);
      const f = ((Kc * Kc * (psi2 / Math.max(1, n - pf))) / (m * m)) * sigma * sigma;
      covariance = base.map((v) => v * f);
    }
  } else {
    sigma = Math.sqrt(rss / dof);
    covariance = sol.covFactor ? sol.covFactor.map((v) => v * sigma * sigma) : null;
  }
  const tq = tQuantile(0.975, dof);
  const se = new Array<number | null>(p).fill(null);
  const ci: [number | null, number | null][] = names.map(() => [null, null]);
  const freeSet = new Set(sol.free);
  if (B > 0) {
    // Poisson-bootstrap standard errors and percentile intervals
    const reps = boots.map((b) => b.sol.beta);
    const cov = new Float64Array(p * p);
    const mean = new Float64Array(p);
    for (const r of reps) for (let j = 0; j < p; j++) mean[j] += r[j]! / B;
    for (const r of reps) for (let a = 0; a < p; a++) for (let c = 0; c < p; c++) cov[a * p + c] += ((r[a]! - mean[a]!) * (r[c]! - mean[c]!)) / (B - 1);
    for (const j of ident.active) {
      se[j] = Math.sqrt(cov[j * p + j]!);
      const sorted = Float64Array.from(reps, (r) => r[j]!).sort();
      ci[j] = [quantileSorted(sorted, 0.025), quantileSorted(sorted, 0.975)];
    }
    for (let a = 0; a < p; a++) for (let c = 0; c < p; c++) if (!ident.active.includes(a) || !ident.active.includes(c)) cov[a * p + c] = 0;
    covariance = cov;
  } else if (covariance) {
    for (const j of sol.free) {
      const v = covariance[j * p + j]!;
      if (v >= 0 && Number.isFinite(v)) {
        se[j] = Math.sqrt(v);
        ci[j] = [betaFull[j]! - tq * se[j]!, betaFull[j]! + tq * se[j]!];
      }
    }
  }

  const terms: TermFit[] = names.map((name, j) => {
    let status = ident.status[j]!;
    if (status === 'fitted' && !freeSet.has(j)) status = 'at-bound';
    return { name, coef: betaFull[j]!, se: se[j] ?? null, ci95: ci[j]!, status };
  });

  const train = trainCells.grouped();
  let cvRes: CvResult | null = null;
  if (K) {
    const g = cvCells.grouped();
    cvRes = {
      scheme: ro.cv!,
      ...(cv!.kind === 'kfold' ? { seed: ro.seed } : {}),
      overall: g.overall,
      folds: folds.map((f, k) => ({
        fold: foldNames[k]!,
        metrics: foldMetrics[k]!.result(),
        trainRows: f.sys.n,
        dropped: f.ident.active.length < ident.active.length ? ident.active.filter((j) => !f.ident.active.includes(j)).map((j) => names[j]!) : [],
      })),
      byGroup: g.byGroup,
    };
  }

  // ---- diagnostics
  const notes = [...ident.notes];
  if (sol.svd) notes.push('the normal equations were not numerically positive definite: solved by SVD (least-norm)');
  if (mp.hasBounds) {
    const ab = sol.atBound.map((j) => names[j]!);
    if (ab.length > 0)
      notes.push(
        `${ab.map((x) => `'${x}'`).join(', ')} ${ab.length > 1 ? 'are' : 'is'} at ${ro.method === 'nnls' ? 'zero (the non-negativity bound)' : 'a bound'}: no standard error; the other terms' errors are conditional on this active set`,
      );
  }
  if (penalised)
    notes.push(
      `ridge λ = ${ro.ridge!.lambda} toward the prior on the column-scaled normal equations; standard errors are the sandwich σ²(A+λI)⁻¹A(A+λI)⁻¹ around the biased estimate; dof uses tr(H) = ${sol.pEff.toFixed(3)}`,
    );
  if (ro.method === 'huber') {
    notes.push(
      `Huber IRLS k = ${hk} with Huber's proposal-2 scale: ${huberIters} iterations${huberConverged ? '' : ' (NOT converged: raise --huber-max-iter)'}; ${(100 * (1 - inl / n)).toFixed(2)}% of rows down-weighted; standard errors: Huber's H1 sandwich`,
    );
  }
  if (B > 0) {
    notes.push(`standard errors and 95% intervals from ${B} Poisson-bootstrap replicates (seed ${ro.seed}; percentile intervals)`);
    const extra = boots.filter((b) => b.ident.active.length < ident.active.length).length;
    if (extra > 0) notes.push(`${extra} bootstrap replicate${extra > 1 ? 's' : ''} needed further terms dropped`);
  }
  for (const f of cvRes?.folds ?? []) {
    if (f.dropped.length > 0) notes.push(`CV fold ${f.fold}: ${f.dropped.map((x) => `'${x}'`).join(', ')} not identifiable from the training folds (fixed at 0 in that fold's model)`);
  }

  const experiments: ExperimentRef[] = ds.experiments.map((x, e) => ({
    id: x.ref.id,
    model: x.ref.model,
    gpu: x.ref.gpu,
    tp: x.ref.tp,
    groups: { ...x.ref.groups },
    rows: summaries[e]!.rows,
    ranges: summaries[e]!.ranges,
  }));

  return {
    basis,
    options: ro,
    terms,
    coefficients: betaFull,
    covariance,
    residual: { sigma, scale: relative ? 'relative' : 'absolute', dof, byKind: kindResiduals(kindAcc, 'q95') },
    diagnostics: {
      rank: ident.rank,
      conditionNumber: ident.conditionNumber,
      activeConditionNumber: ident.activeConditionNumber,
      terms: p,
      notes,
      dropped: ident.dropped,
      merged: ident.merged,
      problems: ident.problems,
    },
    experiments,
    metrics: { train, cv: cvRes },
    rows: n,
    passes: src.passCount,
    basisParams: {},
    paramChoices: [],
  };
}

/** xᵀ·C·x for a row-major p×p matrix C. */
function quadFormP(x: Float64Array, C: Float64Array, p: number): number {
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

/** The per-kind residual scales of the kinds that have rows. */
function kindResiduals(accs: readonly KindScaleAccumulator[], estimator: 'rms' | 'q95' | 'mad'): Partial<Record<(typeof ROW_KINDS)[number], KindResidual>> {
  const out: Partial<Record<(typeof ROW_KINDS)[number], KindResidual>> = {};
  accs.forEach((a, k) => {
    if (a.n > 0) out[ROW_KINDS[k as RowKind]] = a.result(estimator);
  });
  return out;
}

function quantileSorted(s: Float64Array, q: number): number {
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (h - lo) * (s[hi]! - s[lo]!);
}

/** χ²₀.₉₅ quantile for k degrees of freedom (table for k ≤ 4, Wilson–Hilferty beyond). */
export function chi2Crit95(k: number): number {
  const t = [0, 3.841459, 5.991465, 7.814728, 9.487729];
  if (k <= 4) return t[k]!;
  const z = 1.644854;
  return k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;
}

interface ProfileOut {
  objective: number[];
  exercised: boolean;
  n: number;
}

/**
 * Profile of the basis parameters over their grids (cartesian product = variants), one linear fit of
 * the configured method per variant on the training rows:
 *  - least-squares methods: objective = weighted RSS Σ w·r² (w = 1 or 1/y²); deviance n·ln(RSS_g/RSS_min);
 *  - Huber: objective = Huber's proposal-2 criterion at its joint minimum over (β, σ),
 *      Q = Σ σ·ρ_k(√w·r/σ) + (n − p)·κ·σ/2,   ρ_k(t) = t²/2 (|t| ≤ k), k|t| − k²/2 otherwise,
 *    whose stationary point is exactly the engine's IRLS fixed point; deviance 2n·ln(Q_g/Q_min)
 *    (for all-inlier residuals Q ∝ √RSS, so both deviances are the Gaussian likelihood ratio).
 * The ridge penalty (which only decides unidentified directions) is not part of the objective.
 * Returns null when there are not enough rows (the main fit then reports it).
 */
function* profilePlan(src: RowSource, basis: Basis, ro: ResolvedOptions, affects: readonly number[]): Generator<RowVisitor, ProfileOut | null, void> {
  const p = src.pBasis;
  const G = src.variants;
  const names = basis.terms.map((t) => t.name);
  const relative = ro.weight === 'relative';
  const wOf = (y: number): number => (relative ? 1 / (y * y) : 1);
  const accs = Array.from({ length: G }, () => new NormalAccumulator(p));
  const bufs = Array.from({ length: G }, () => new Float64Array(p));
  const view = (x: Float64Array, g: number): Float64Array => src.variantRow(x, g, bufs[g]!);
  yield {
    row(x, y) {
      const w = wOf(y);
      for (let g = 0; g < G; g++) accs[g]!.add(view(x, g), y, w);
    },
  };
  const systems = accs.map((a) => a.system());
  const n = systems[0]!.n;
  if (n <= p) return null;
  const exercised = systems.some((sys) => affects.some((j) => sys.A[j * p + j]! > 0));
  if (!exercised) return { objective: systems.map(() => 0), exercised, n }; // every variant is the same fit: nothing to profile
  const penalised = (ro.ridge?.lambda ?? 0) > 0;
  const mp: MethodParams = {
    lo: Float64Array.from(names, (nm) => (ro.method === 'nnls' ? 0 : (ro.bounds?.[nm]?.[0] ?? -Infinity))),
    hi: Float64Array.from(names, (nm) => (ro.method === 'nnls' ? Infinity : (ro.bounds?.[nm]?.[1] ?? Infinity))),
    hasBounds: ro.method === 'nnls' || ro.bounds !== undefined,
    lambda: ro.ridge?.lambda ?? 0,
    prior: Float64Array.from(names, (nm) => ro.ridge?.prior[nm] ?? 0),
  };
  const jobs: Job[] = systems.map((sys, g) => {
    const score = mp.hasBounds ? (act: readonly number[]): number => quadraticRss(sys.A, sys.b, sys.c, solveJob(sys, act, mp).beta) : undefined;
    const ident = identify(sys, names, penalised ? 'report' : 'resolve', { score });
    return { kind: 'full', index: g, variant: g, ident, sys, sol: solveJob(sys, ident.active, mp), scale: 0, converged: false, acc: null, psi2: 0, inliers: 0 };
  });
  if (ro.method !== 'huber') {
    return { objective: jobs.map((j) => Math.max(0, quadraticRss(j.sys.A, j.sys.b, j.sys.c, j.sol.beta))), exercised, n };
  }
  yield* huberIrls(
    jobs,
    ro,
    p,
    wOf,
    () => -1,
    () => 1,
    mp,
    view,
  );
  const hk = ro.huber!.k;
  const kappa = huberKappa(hk);
  const obj = jobs.map((j) => 0.5 * Math.max(1, n - j.ident.active.length) * kappa * j.scale);
  yield {
    row(x, y) {
      const sw = Math.sqrt(wOf(y));
      for (let g = 0; g < G; g++) {
        const j = jobs[g]!;
        const t = Math.abs(((y - dot(view(x, g), j.sol.beta)) * sw) / j.scale);
        obj[g] += j.scale * (t <= hk ? 0.5 * t * t : hk * t - 0.5 * hk * hk);
      }
    },
  };
  return { objective: obj, exercised, n };
}

/** How a basis parameter's value was decided (recorded in the fit file's diagnostics). */
export interface ParamChoice {
  name: string;
  unit: string;
  value: number;
  /** 'profile': fitted on the training rows; 'default': not identifiable (fallback); 'given': fixed by the caller. */
  source: 'profile' | 'default' | 'given';
  /** Grid and training objective per grid value (profile and default-after-profile only). */
  grid?: number[];
  objective?: number[];
  /** Grid values inside the 95% profile-likelihood set (deviance ≤ χ²₀.₉₅), as [min, max]. */
  interval?: [number, number];
  reason: string;
}

interface Prepared {
  basis: Basis;
  ro: ResolvedOptions;
  cacheBytes: number;
  ds: FitDataset;
  given: Record<string, number>;
  profiled: readonly BasisParam[];
}

function prepare(ds: FitDataset, opts: FitOptions): Prepared {
  const basis = typeof opts.basis === 'string' ? getBasis(opts.basis) : opts.basis;
  const ro = resolveOptions(opts, basis);
  const cacheBytes = opts.rowCacheBytes ?? (ro.method === 'huber' ? 256 * 2 ** 20 : 0);
  const given = { ...(opts.basisParams ?? {}) };
  resolveBasisParams(basis, given, (m) => new InputError(`--basis-param: ${m}`));
  const profiled = (basis.params ?? []).filter((bp) => !(bp.name in given) && bp.grid.length > 1);
  return { basis, ro, cacheBytes, ds, given, profiled };
}

/** Cartesian product of the profiled parameters' grids, each merged over the given values. */
function variantsOf(pr: Prepared): Record<string, number>[] {
  let out: Record<string, number>[] = [{ ...pr.given }];
  for (const bp of pr.profiled) out = out.flatMap((v) => bp.grid.map((x) => ({ ...v, [bp.name]: x })));
  return out;
}

/** Decide every basis parameter from the profile (or defaults / given values). */
function chooseParams(pr: Prepared, variants: Record<string, number>[], prof: ProfileOut | null): { params: Record<string, number>; choices: ParamChoice[]; notes: string[] } {
  const params = resolveBasisParams(pr.basis, pr.given, (m) => new InputError(`--basis-param: ${m}`));
  const choices: ParamChoice[] = [];
  const notes: string[] = [];
  for (const bp of pr.basis.params ?? []) {
    if (bp.name in pr.given) {
      choices.push({ name: bp.name, unit: bp.unit, value: params[bp.name]!, source: 'given', reason: 'fixed by --basis-param' });
      notes.push(`basis parameter ${bp.name} = ${num(params[bp.name]!)} ${bp.unit}: given (not fitted)`);
    } else if (!pr.profiled.includes(bp)) {
      choices.push({ name: bp.name, unit: bp.unit, value: bp.default, source: 'default', reason: 'no grid to profile' });
    }
  }
  if (pr.profiled.length === 0) return { params, choices, notes };
  const obj = prof?.objective ?? [];
  const best = obj.length ? obj.reduce((b, v, g) => (v < obj[b]! ? g : b), 0) : -1;
  // deviance of each variant against the best: n·ln(RSS/RSS_min), or 2n·ln(Q/Q_min) for Huber
  const crit = chi2Crit95(pr.profiled.length);
  const devScale = (pr.ro.method === 'huber' ? 2 : 1) * (prof?.n ?? 0);
  const within = obj.map((v) => (v === obj[best]! ? true : devScale * Math.log(v / obj[best]!) <= crit));
  const flat = within.length > 0 && within.every(Boolean);
  for (const bp of pr.profiled) {
    const grid = [...bp.grid];
    // per-grid-value objective of this parameter: minimum over the other profiled parameters
    const objective = grid.map((x) => Math.min(...variants.map((v, g) => (v[bp.name] === x ? obj[g]! : Infinity))));
    const inSet = variants.map((v, g) => (within[g] ? v[bp.name]! : NaN)).filter((x) => Number.isFinite(x));
    const interval: [number, number] | undefined = inSet.length ? [Math.min(...inSet), Math.max(...inSet)] : undefined;
    const affects = bp.affects.map((t) => `'${t}'`).join(', ');
    let reason: string;
    if (!prof) {
      reason = 'too few training rows to profile';
    } else if (!prof.exercised) {
      reason = `not identifiable: ${affects} is 0 on every training row (e.g. no TP > 1 rows)`;
    } else if (flat) {
      reason = `not identifiable: flat profile (every grid value ${num(grid[0]!)}–${num(grid[grid.length - 1]!)} ${bp.unit} is inside the 95% profile-likelihood set)`;
    } else {
      params[bp.name] = variants[best]![bp.name]!;
      const edge = params[bp.name] === grid[0] || params[bp.name] === grid[grid.length - 1] ? ' — at the edge of the grid' : '';
      reason = `fitted on the training rows: best ${pr.ro.method === 'huber' ? 'Huber proposal-2 objective' : 'weighted residual sum of squares'} over ${grid.length} grid values ${num(grid[0]!)}–${num(grid[grid.length - 1]!)} ${bp.unit}${interval ? `; 95% profile interval ${num(interval[0])}–${num(interval[1])} ${bp.unit}` : ''}${edge}`;
      choices.push({ name: bp.name, unit: bp.unit, value: params[bp.name]!, source: 'profile', grid, objective, ...(interval ? { interval } : {}), reason });
      notes.push(`basis parameter ${bp.name} = ${num(params[bp.name]!)} ${bp.unit}: ${reason}`);
      continue;
    }
    choices.push({ name: bp.name, unit: bp.unit, value: bp.default, source: 'default', ...(prof ? { grid, objective } : {}), ...(interval ? { interval } : {}), reason });
    notes.push(`basis parameter ${bp.name} = ${num(bp.default)} ${bp.unit} (default): ${reason}`);
  }
  return { params, choices, notes };
}

/** Indices of the terms the profiled parameters shape. */
const affectedTerms = (pr: Prepared): number[] => {
  const names = pr.basis.terms.map((t) => t.name);
  return [...new Set(pr.profiled.flatMap((bp) => bp.affects.map((t) => names.indexOf(t)).filter((j) => j >= 0)))];
};

/** The main fit with the chosen basis parameters, then its result annotated with them. */
function finishResult(r: FitResult, chosen: ReturnType<typeof chooseParams>, extraPasses: number): FitResult {
  return {
    ...r,
    basisParams: chosen.params,
    paramChoices: chosen.choices,
    diagnostics: {
      ...r.diagnostics,
      notes: [
        ...chosen.notes,
        ...(r.options.cv && chosen.choices.some((c) => c.source === 'profile')
          ? ['CV folds reuse the basis parameters profiled on all training rows (not re-profiled per fold): CV error is slightly optimistic']
          : []),
        ...r.diagnostics.notes,
      ],
    },
    passes: r.passes + extraPasses,
  };
}

/** One data pass a fit asks for: stream `src`'s rows into `visitor`. */
interface PassRequest {
  readonly src: RowSource;
  readonly visitor: RowVisitor;
}

/** Run a pass plan over one row source, handing each pass to the driver. */
function* passesOf<T>(src: RowSource, plan: Generator<RowVisitor, T, void>): Generator<PassRequest, T, void> {
  let r = plan.next();
  while (!r.done) {
    yield { src, visitor: r.value };
    r = plan.next();
  }
  return r.value;
}

/**
 * The whole fit as a sequence of data passes (driven synchronously or asynchronously below). When the
 * basis has parameters (`Basis.params`) not fixed by `opts.basisParams`, they are first profiled on the
 * same training rows (one shared data pass per IRLS iteration for all grid values), then the fit runs
 * with the chosen values.
 */
function* fitProgram(ds: FitDataset, opts: FitOptions): Generator<PassRequest, FitResult, void> {
  const pr = prepare(ds, opts);
  let prof: ProfileOut | null = null;
  let extra = 0;
  const variants = variantsOf(pr);
  if (pr.profiled.length > 0) {
    const wide = new RowSource(ds, pr.basis, { cacheBytes: pr.cacheBytes, variants, varying: affectedTerms(pr) });
    prof = yield* passesOf(wide, profilePlan(wide, pr.basis, pr.ro, affectedTerms(pr)));
    extra = wide.passCount;
  }
  const chosen = chooseParams(pr, variants, prof);
  const src = new RowSource(ds, pr.basis, { cacheBytes: pr.cacheBytes, params: chosen.params });
  const result = yield* passesOf(src, fitPlan(src, pr.basis, pr.ro));
  return finishResult(result, chosen, extra);
}

/** Fit a data set (steps streamed from files where given as paths). */
export async function fitDataset(ds: FitDataset, input: FitInput): Promise<FitResult> {
  const program = fitProgram(ds, withFitDefaults(input));
  let r = program.next();
  while (!r.done) {
    await r.value.src.pass(r.value.visitor);
    r = program.next();
  }
  return r.value;
}

/** Fit an in-memory data set synchronously (steps as arrays or sync generators, targets in memory). */
export function fitDatasetSync(ds: FitDataset, input: FitInput): FitResult {
  const program = fitProgram(ds, withFitDefaults(input));
  let r = program.next();
  while (!r.done) {
    r.value.src.passSync(r.value.visitor);
    r = program.next();
  }
  return r.value;
}
