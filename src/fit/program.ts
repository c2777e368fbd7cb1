/**
 * The whole fit as a program of data passes, and the two drivers that run it: `fitDataset` (async:
 * streams files) and `fitDatasetSync` (in-memory data). When the basis has parameters (`Basis.params`)
 * not fixed by `opts.basisParams`, they are first profiled on the same training rows (profile.ts), then
 * the fit (plan.ts) runs with the chosen values.
 */
import { RowSource, type FitDataset, type RowVisitor } from './dataset.js';
import { withFitDefaults, type FitInput } from './defaults.js';
import { resolveOptions, type FitOptions, type ResolvedOptions } from './options.js';
import { fitPlan } from './plan.js';
import { affectedTerms, chooseParams, profilePlan, variantsOf, type ProfileOut, type ProfileSetup } from './profile.js';
import type { FitResult } from './result.js';
import { getBasis } from '../basis/registry.js';
import { resolveBasisParams } from '../basis/types.js';
import { InputError } from '../io/errors.js';

/**
 * Design rows kept in memory between passes (beyond it they spill to a temporary file, row-cache.ts): every
 * method makes at least two passes (accumulate, metrics), Huber one more per IRLS iteration.
 */
export const DEFAULT_ROW_CACHE_BYTES = 256 * 2 ** 20;

interface Prepared extends ProfileSetup {
  ro: ResolvedOptions;
  cacheBytes: number;
  workers: number;
}

function prepare(opts: FitOptions): Prepared {
  const basis = typeof opts.basis === 'string' ? getBasis(opts.basis) : opts.basis;
  const ro = resolveOptions(opts, basis);
  const cacheBytes = opts.rowCacheBytes ?? DEFAULT_ROW_CACHE_BYTES;
  const given = { ...(opts.basisParams ?? {}) };
  resolveBasisParams(basis, given, (m) => new InputError(`--basis-param: ${m}`));
  const profiled = (basis.params ?? []).filter((bp) => !(bp.name in given) && bp.grid.length > 1);
  return { basis, ro, cacheBytes, workers: opts.workers ?? 1, given, profiled };
}

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
  const pr = prepare(opts);
  let prof: ProfileOut | null = null;
  let extra = 0;
  const variants = variantsOf(pr);
  let wide: RowSource | null = null;
  let wideVariants: Record<string, number>[] = [];
  if (pr.profiled.length > 0) {
    // the wide rows also carry the parameters' defaults (the fallback), so the main fit can replay them whatever is chosen
    const defaults = resolveBasisParams(pr.basis, pr.given, (m) => new InputError(`--basis-param: ${m}`));
    wideVariants = variants.some((v) => sameParams(v, defaults)) ? variants : [...variants, defaults];
    wide = new RowSource(ds, pr.basis, { cacheBytes: pr.cacheBytes, workers: pr.workers, variants: wideVariants, varying: affectedTerms(pr) });
    prof = yield* passesOf(wide, profilePlan(wide, pr.basis, pr.ro, affectedTerms(pr), variants.length));
    extra = wide.passCount;
  }
  const chosen = chooseParams(pr, variants, prof);
  const g = wideVariants.findIndex((v) => sameParams(v, chosen.params));
  const from = wide?.rowsKept && g >= 0 ? { source: wide, variant: g } : undefined;
  const src = new RowSource(ds, pr.basis, { cacheBytes: pr.cacheBytes, workers: pr.workers, params: chosen.params, from });
  const result = yield* passesOf(src, fitPlan(src, pr.basis, pr.ro));
  return finishResult(result, chosen, extra);
}

/** Two parameter records with the same values for the same names. */
function sameParams(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** Fit a data set (steps streamed from files where given as paths). */
export async function fitDataset(ds: FitDataset, input: FitInput): Promise<FitResult> {
  const program = fitProgram(ds, withFitDefaults(input));
  const sources = new Set<RowSource>();
  try {
    let r = program.next();
    while (!r.done) {
      sources.add(r.value.src);
      await r.value.src.pass(r.value.visitor);
      r = program.next();
    }
    return r.value;
  } finally {
    for (const s of sources) s.close();
  }
}

/** Fit an in-memory data set synchronously (steps as arrays or sync generators, targets in memory). */
export function fitDatasetSync(ds: FitDataset, input: FitInput): FitResult {
  const program = fitProgram(ds, withFitDefaults(input));
  const sources = new Set<RowSource>();
  try {
    let r = program.next();
    while (!r.done) {
      sources.add(r.value.src);
      r.value.src.passSync(r.value.visitor);
      r = program.next();
    }
    return r.value;
  } finally {
    for (const s of sources) s.close();
  }
}
