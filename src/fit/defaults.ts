/**
 * stepfit's default fitting configuration — the winner of the held-out validation (reports/validation.md):
 * the default basis, Huber IRLS with relative weights (w = 1/y²), every coefficient bounded below by
 * its physical bound (β ≥ 1 for a time computed at datasheet peak, ≥ 0 otherwise), and a tiny ridge
 * (λ = 1e-6 on the column-scaled normal equations) toward the basis priors that only decides
 * directions the data leave unidentified. `stepfit fit` and `stepfit validate` both read it from here.
 */
import { DEFAULT_BASIS, getBasis } from '../basis/registry.js';
import { physicalBounds } from '../basis/types.js';
import type { FitMethod, FitOptions } from './options.js';

export const DEFAULT_FIT = Object.freeze({
  basis: DEFAULT_BASIS,
  method: 'huber' as FitMethod,
  weight: 'relative' as 'relative' | 'none',
  bounds: 'physical' as 'physical' | 'none',
  /** Ridge λ used with bounded/huber fits when none is given. */
  boundedRidgeLambda: 1e-6,
});

/**
 * Fit options as a library caller may give them: everything but the basis is optional. When no
 * `method` is given the default policy applies (the same one `stepfit fit` uses):
 *   - method: `nnls` for the seed basis (as published), else `huber`;
 *   - bounds: each term's physical lower bound for `huber` and `bounded`;
 *   - ridge: λ = 1e-6 toward the basis priors with those bounds;
 * and always weight `relative`, seed 1, no cross-validation unless asked. When `method` is given,
 * nothing else is added (the caller states the whole configuration, as the CLI does).
 */
export type FitInput = Omit<FitOptions, 'basis' | 'method' | 'weight' | 'seed'> & Partial<Pick<FitOptions, 'basis' | 'method' | 'weight' | 'seed'>>;

export function withFitDefaults(o: FitInput): FitOptions {
  const basis = o.basis ?? DEFAULT_FIT.basis;
  const base = { ...o, basis, weight: o.weight ?? DEFAULT_FIT.weight, seed: o.seed ?? 1 };
  if (o.method !== undefined) return { ...base, method: o.method };
  const name = typeof basis === 'string' ? basis : basis.name;
  const method: FitMethod = name === 'seed' ? 'nnls' : DEFAULT_FIT.method;
  if (method !== 'huber') return { ...base, method };
  return {
    ...base,
    method,
    bounds: o.bounds ?? physicalBounds(typeof basis === 'string' ? getBasis(basis) : basis),
    ridge: o.ridge ?? { lambda: DEFAULT_FIT.boundedRidgeLambda },
  };
}
