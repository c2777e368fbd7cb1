/**
 * stepfit's default fitting configuration — the winner of the held-out validation (reports/validation.md):
 * the default basis, Huber IRLS with relative weights (w = 1/y²), every coefficient bounded below by
 * its physical bound (β ≥ 1 for a time computed at datasheet peak, ≥ 0 otherwise), and a tiny ridge
 * (λ = 1e-6 on the column-scaled normal equations) toward the basis priors that only decides
 * directions the data leave unidentified. `stepfit fit` and `stepfit validate` both read it from here.
 */
import { DEFAULT_BASIS } from '../basis/registry.js';
import type { FitMethod } from './engine.js';

export const DEFAULT_FIT = Object.freeze({
  basis: DEFAULT_BASIS,
  method: 'huber' as FitMethod,
  weight: 'relative' as 'relative' | 'none',
  bounds: 'physical' as 'physical' | 'none',
  /** Ridge λ used with bounded/huber fits when none is given. */
  boundedRidgeLambda: 1e-6,
});
