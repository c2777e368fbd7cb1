/**
 * The fit's diagnostic notes (recorded in the fit file and printed under the coefficient table): what
 * identifiability resolution did, numerical fallbacks, terms at a bound, the ridge and Huber settings,
 * bootstrap replicates and CV folds that needed terms dropped.
 */
import type { SolveOut, MethodParams } from './estimators.js';
import type { Job } from './huber.js';
import type { Identification } from './identify.js';
import type { ResolvedOptions } from './options.js';
import type { CvResult } from './result.js';

export interface NotesInput {
  ro: ResolvedOptions;
  names: readonly string[];
  ident: Identification;
  sol: SolveOut;
  mp: MethodParams;
  huberRun: { iterations: number; converged: boolean } | null;
  /** Huber: percentage of rows down-weighted at the solution. */
  downWeightedPct: number;
  boots: readonly Job[];
  cv: CvResult | null;
}

const quoted = (xs: readonly string[]): string => xs.map((x) => `'${x}'`).join(', ');

export function fitNotes(a: NotesInput): string[] {
  const { ro, names, ident, sol } = a;
  const notes = [...ident.notes];
  if (sol.svd) notes.push('the normal equations were not numerically positive definite: solved by SVD (least-norm)');
  if (a.mp.hasBounds) {
    const ab = sol.atBound.map((j) => names[j]!);
    if (ab.length > 0)
      notes.push(
        `${quoted(ab)} ${ab.length > 1 ? 'are' : 'is'} at ${ro.method === 'nnls' ? 'zero (the non-negativity bound)' : 'a bound'}: no standard error; the other terms' errors are conditional on this active set`,
      );
  }
  if ((ro.ridge?.lambda ?? 0) > 0)
    notes.push(
      `ridge λ = ${ro.ridge!.lambda} toward the prior on the column-scaled normal equations; standard errors are the sandwich σ²(A+λI)⁻¹A(A+λI)⁻¹ around the biased estimate; dof uses tr(H) = ${sol.pEff.toFixed(3)}`,
    );
  if (ro.method === 'huber' && a.huberRun) {
    notes.push(
      `Huber IRLS k = ${ro.huber!.k} with Huber's proposal-2 scale: ${a.huberRun.iterations} iterations${a.huberRun.converged ? '' : ' (NOT converged: raise --huber-max-iter)'}; ${a.downWeightedPct.toFixed(2)}% of rows down-weighted; standard errors: Huber's H1 sandwich`,
    );
  }
  const B = a.boots.length;
  if (B > 0) {
    notes.push(`standard errors and 95% intervals from ${B} Poisson-bootstrap replicates (seed ${ro.seed}; percentile intervals)`);
    const extra = a.boots.filter((b) => b.ident.active.length < ident.active.length).length;
    if (extra > 0) notes.push(`${extra} bootstrap replicate${extra > 1 ? 's' : ''} needed further terms dropped`);
  }
  for (const f of a.cv?.folds ?? []) {
    if (f.dropped.length > 0) notes.push(`CV fold ${f.fold}: ${quoted(f.dropped)} not identifiable from the training folds (fixed at 0 in that fold's model)`);
  }
  return notes;
}
