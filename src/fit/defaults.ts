/**
 * stepfit's default fitting configuration — the winner of the held-out validation (reports/validation.md):
 * the default basis, Huber IRLS with relative weights (w = 1/y²), every coefficient bounded below by
 * its physical bound (β ≥ 1 for a time computed at datasheet peak, ≥ 0 otherwise), and a tiny ridge
 * (λ = 1e-6 on the column-scaled normal equations) toward the basis priors that only decides
 * directions the data leave unidentified. `stepfit fit` and `stepfit validate` both read it from here.
 */
import { DEFAULT_BASIS, getBasis } from '../basis/registry.js';
import { physicalBounds } from '../basis/types.js';
import type { FitMethod, FitOptions } from './engine.js';

export const DEFAULT_FIT = Object.freeze({
  basis: DEFAULT_BASIS,
  method: 'huber' as FitMethod,
  weight: 'relative' as 'relative' | 'none',
  bounds: 'physical' as 'physical' | 'none',
  /** Ridge λ used with bounded/huber fits when none is given. */
  boundedRidgeLambda: 1e-6,
});

/** What a caller may leave out of a fit: every field of `FitOptions` is optional here. */
export type FitOptionsInput = Partial<Omit<FitOptions, 'bounds'>> & {
  /** 'physical' (each term's physical lower bound), 'none', or explicit per-term [lo, hi] bounds. */
  bounds?: 'physical' | 'none' | FitOptions['bounds'];
};

/**
 * The one default fit policy, used by `stepfit fit`, `stepfit validate`, `stepfit report` and the library
 * (`fitDataset(ds)` with no options). Fills what the caller left out:
 *   basis  → DEFAULT_FIT.basis;  method → 'nnls' for the seed basis (as published), else DEFAULT_FIT.method;
 *   weight → 'relative';  seed → 1;  bounds → 'physical' for huber/bounded, none otherwise;
 *   ridge  → λ = DEFAULT_FIT.boundedRidgeLambda toward the basis priors for huber/bounded with bounds.
 * Explicit values are kept as given (the engine validates them and names the option on error).
 */
export function defaultFitOptions(input: FitOptionsInput = {}): FitOptions {
  const basisName = input.basis === undefined ? DEFAULT_FIT.basis : typeof input.basis === 'string' ? input.basis : input.basis.name;
  const basis = input.basis ?? DEFAULT_FIT.basis;
  const method: FitMethod = input.method ?? (basisName === 'seed' ? 'nnls' : DEFAULT_FIT.method);
  const { bounds: boundsIn, ...rest } = input;
  const opts: FitOptions = { ...rest, basis, method, weight: input.weight ?? DEFAULT_FIT.weight, seed: input.seed ?? 1 };
  const boundsSpec = boundsIn ?? (method === 'huber' || method === 'bounded' ? DEFAULT_FIT.bounds : 'none');
  if (boundsSpec === 'physical') opts.bounds = physicalBounds(typeof basis === 'string' ? getBasis(basis) : basis);
  else if (boundsSpec !== 'none') opts.bounds = boundsSpec;
  if (opts.ridge === undefined && (method === 'huber' || method === 'bounded') && opts.bounds !== undefined) {
    opts.ridge = { lambda: DEFAULT_FIT.boundedRidgeLambda };
  }
  return opts;
}
