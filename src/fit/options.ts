/**
 * Fit options: what a caller may give (`FitOptions`), the typed cross-validation scheme (`CvSpec`, parsed
 * at the edge: the CLI or `resolveOptions`), and the checked, defaulted options recorded in the fit file
 * (`ResolvedOptions`). The default policy (which method / bounds / ridge when none is given) lives in
 * defaults.ts `withFitDefaults`, nowhere else.
 */
import type { Basis } from '../basis/types.js';
import { InputError } from '../io/errors.js';

export type FitMethod = 'ols' | 'nnls' | 'bounded' | 'ridge' | 'huber';
export const FIT_METHODS: readonly FitMethod[] = ['ols', 'nnls', 'bounded', 'ridge', 'huber'];
export type FitWeight = 'none' | 'relative';

/** Cross-validation: K seeded folds of rows, or leave one group (experiment field or label) out. */
export type CvSpec = { kind: 'kfold'; k: number } | { kind: 'group'; field: string };

/** Per-term bounds [lo, hi] (null = unbounded). */
export type TermBounds = Readonly<Record<string, readonly [number | null, number | null]>>;

export interface FitOptions {
  basis: string | Basis;
  method: FitMethod;
  /** 'relative': w = 1/y² (minimise squared relative error); 'none': w = 1. */
  weight: FitWeight;
  /** Per-term bounds [lo, hi] (null = unbounded): required for 'bounded', also accepted by 'ridge' and 'huber'. */
  bounds?: TermBounds;
  /**
   * Ridge toward a prior: λ on the column-scaled problem (each diagonal of D⁻¹XᵀWXD⁻¹ is 1; default 1e-3);
   * prior default = basis TermInfo.prior. Used by 'ridge'; also accepted by 'bounded' and 'huber'.
   */
  ridge?: { lambda: number; prior?: Readonly<Record<string, number>> | readonly number[] };
  /** Huber IRLS: threshold k in robust-scale units (default 1.345), iteration cap, relative tolerance. */
  huber?: { k?: number; maxIter?: number; tol?: number };
  /** A typed scheme, or its text form 'kfold:K' / 'group:<experiment|model|gpu|tp|label>' (parsed by `parseCv`). */
  cv?: CvSpec | string | null;
  seed: number;
  /** Number of Poisson-bootstrap replicates for standard errors / intervals (0 = analytic). */
  bootstrap?: number;
  /** Unidentifiable terms: 'resolve' (drop / merge, recorded) or 'fail'. Ridge always keeps every term. */
  collinear?: 'resolve' | 'fail';
  /**
   * Memory budget (bytes) for keeping design rows between passes instead of re-reading the data (default
   * 256 MiB; beyond it the rows spill to a temporary file); 0: every pass reads the data again.
   */
  rowCacheBytes?: number;
  /**
   * Worker threads that read Parquet step files (a range of row groups each) and evaluate their design rows;
   * the rows are consumed in file order, so the result does not depend on the count. 1 (default): no workers.
   */
  workers?: number;
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
  /** The CV scheme in its canonical text form (as recorded in the fit file), or null. */
  cv: string | null;
  /** The same scheme, typed. */
  cvSpec: CvSpec | null;
  bootstrap: number;
  collinear: 'resolve' | 'fail';
  bounds?: Record<string, [number | null, number | null]>;
  ridge?: { lambda: number; prior: Record<string, number> };
  huber?: { k: number; maxIter: number; tol: number; iterations?: number; converged?: boolean };
}

/** Default ridge strength: a prior worth 0.1% of each (column-scaled) term's information in the data. */
export const DEFAULT_RIDGE_LAMBDA = 1e-3;

/** 'kfold:K' or 'group:<field>' → CvSpec (InputError naming --cv otherwise). */
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

/** The text form of a scheme (what `parseCv` reads and the fit file records). */
export const formatCv = (cv: CvSpec): string => (cv.kind === 'kfold' ? `kfold:${cv.k}` : `group:${cv.field}`);

/** A scheme given either way, checked. */
function checkCv(cv: CvSpec | string): CvSpec {
  if (typeof cv === 'string') return parseCv(cv);
  if (cv.kind === 'kfold') {
    if (!Number.isInteger(cv.k) || cv.k < 2) throw new InputError(`--cv kfold:${cv.k}: K must be an integer ≥ 2`);
    return { kind: 'kfold', k: cv.k };
  }
  if (cv.kind === 'group' && typeof cv.field === 'string' && cv.field !== '') return { kind: 'group', field: cv.field };
  throw new InputError(`--cv: expected { kind: 'kfold', k } or { kind: 'group', field }, got ${JSON.stringify(cv)}`);
}

function resolveBounds(opts: FitOptions, basis: Basis, names: readonly string[]): Record<string, [number | null, number | null]> {
  const bounds: Record<string, [number | null, number | null]> = {};
  for (const n of names) bounds[n] = [null, null];
  for (const [k, v] of Object.entries(opts.bounds ?? {})) {
    if (!names.includes(k)) throw new InputError(`--bounds: unknown term '${k}' for basis '${basis.name}' (terms: ${names.join(', ')})`);
    const [lo, hi] = v;
    if ((lo !== null && !Number.isFinite(lo)) || (hi !== null && !Number.isFinite(hi)) || (lo !== null && hi !== null && lo > hi)) {
      throw new InputError(`--bounds: term '${k}': expected lo ≤ hi (finite or empty), got ${lo ?? ''}:${hi ?? ''}`);
    }
    bounds[k] = [lo, hi];
  }
  return bounds;
}

function resolveRidge(opts: FitOptions, basis: Basis, names: readonly string[]): { lambda: number; prior: Record<string, number> } {
  const lambda = opts.ridge?.lambda ?? DEFAULT_RIDGE_LAMBDA;
  if (!(lambda > 0) || !Number.isFinite(lambda)) throw new InputError(`--lambda: expected a positive finite number, got ${lambda}`);
  const prior: Record<string, number> = {};
  for (const t of basis.terms) prior[t.name] = t.prior;
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
  return { lambda, prior };
}

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
  const cvSpec = opts.cv === undefined || opts.cv === null ? null : checkCv(opts.cv);
  const r: ResolvedOptions = { method: opts.method, weight: opts.weight, seed: opts.seed, cv: cvSpec ? formatCv(cvSpec) : null, cvSpec, bootstrap, collinear: opts.collinear ?? 'resolve' };
  const hasBounds = opts.bounds !== undefined && Object.keys(opts.bounds).length > 0;
  if (hasBounds && (opts.method === 'ols' || opts.method === 'nnls')) {
    throw new InputError(`--bounds applies to --method bounded, ridge or huber (got --method ${opts.method}${opts.method === 'nnls' ? ', which already bounds every term at 0' : ''})`);
  }
  if (opts.method === 'bounded' && !hasBounds) throw new InputError(`--method bounded needs --bounds (e.g. --bounds ${names[0]}=0:,${names[1]}=0.5:4)`);
  if (hasBounds) r.bounds = resolveBounds(opts, basis, names);
  if (opts.ridge && (opts.method === 'ols' || opts.method === 'nnls')) {
    throw new InputError(`ridge options (--lambda / --prior) apply to --method ridge, bounded or huber (got --method ${opts.method})`);
  }
  if (opts.method === 'ridge' || opts.ridge) r.ridge = resolveRidge(opts, basis, names);
  if (opts.huber && opts.method !== 'huber') throw new InputError(`--huber-k applies to --method huber (got --method ${opts.method})`);
  if (opts.method === 'huber') {
    const k = opts.huber?.k ?? 1.345;
    if (!(k > 0) || !Number.isFinite(k)) throw new InputError(`--huber-k: expected a positive number, got ${k}`);
    r.huber = { k, maxIter: opts.huber?.maxIter ?? 100, tol: opts.huber?.tol ?? 1e-7 };
  }
  return r;
}
