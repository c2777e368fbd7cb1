/**
 * The fit's solve loop: passes over the design rows of a data set (see dataset.ts `RowSource`),
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
import { NormalAccumulator, type NormalSystem } from './accumulate.js';
import { bootstrapMultiplicity, makeFolds, type Folds } from './cv.js';
import { ROW_KINDS, type RowSource, type RowVisitor } from './dataset.js';
import { boundedScorer, dot, methodParams, quadFormP, solveJob, type MethodParams } from './estimators.js';
import type { TermFit } from './fitfile.js';
import { MetricCells } from './groups.js';
import { huberIrls, newJob, type Job } from './huber.js';
import { identify, type Identification } from './identify.js';
import { MetricsAccumulator } from './metrics.js';
import { fitNotes } from './notes.js';
import type { ResolvedOptions } from './options.js';
import { KindScaleAccumulator, kindResiduals } from './residuals.js';
import type { CvResult, FitResult } from './result.js';
import { uncertainty, type ResidualSums } from './uncertainty.js';
import type { Basis } from '../basis/types.js';
import { InputError } from '../io/errors.js';
import { hash32 } from '../util/stats.js';

/** Everything the passes of one fit share. */
interface FitContext {
  src: RowSource;
  basis: Basis;
  ro: ResolvedOptions;
  p: number;
  names: string[];
  wOf: (y: number) => number;
  folds: Folds;
  mult: (e: number, i: number, b: number) => number;
  mp: MethodParams;
}

/** Pass 1: one accumulator per CV fold (or one) and per bootstrap replicate. */
function accumulateVisitor(c: FitContext, foldAcc: NormalAccumulator[], bootAcc: NormalAccumulator[]): RowVisitor {
  const { wOf, folds, mult } = c;
  const K = folds.K;
  const B = bootAcc.length;
  return {
    row(x, y, e, i) {
      const w = wOf(y);
      foldAcc[K ? folds.foldOf(e, i) : 0]!.add(x, y, w);
      for (let b = 0; b < B; b++) {
        const m = mult(e, i, b);
        if (m > 0) bootAcc[b]!.add(x, y, w * m, m);
      }
    },
  };
}

/** Refuse data that cannot be fitted with a message that says why. */
function checkRows(c: FitContext, fullSys: NormalSystem, foldAcc: readonly NormalAccumulator[]): void {
  const { p, basis, names, folds, ro } = c;
  const n = fullSys.n;
  if (n === 0) throw new InputError('no rows to fit (no step with duration_us and no request-level targets)');
  if (n < p)
    throw new InputError(`too few rows: ${n} row${n === 1 ? '' : 's'} (steps with duration_us + targets) for the ${p} terms of basis '${basis.name}' (${names.join(', ')}); need more rows than terms`);
  if (ro.cvSpec?.kind === 'kfold' && n < 2 * folds.K) throw new InputError(`--cv kfold:${folds.K}: needs at least ${2 * folds.K} rows, the data have ${n}`);
  for (let k = 0; k < folds.K; k++) {
    if (foldAcc[k]!.n === 0) throw new InputError(`--cv ${ro.cv}: fold ${folds.names[k]} has no rows to hold out`);
  }
}

/** The full fit's job, then one per CV fold (training = the other folds) and per bootstrap replicate. */
function makeJobs(c: FitContext, fullSys: NormalSystem, foldAcc: readonly NormalAccumulator[], bootAcc: readonly NormalAccumulator[]): { full: Job; folds: Job[]; boots: Job[] } {
  const { p, names, mp, folds: fd, ro, basis } = c;
  const penalised = (ro.ridge?.lambda ?? 0) > 0;
  const ident = identify(fullSys, names, penalised ? 'report' : ro.collinear, { score: boundedScorer(fullSys, mp) });
  const nActive = ident.active.length;
  if (nActive === 0) throw new InputError(`no identifiable term: ${ident.problems.map((x) => x.detail).join('; ')}`);
  if (fullSys.n <= nActive) throw new InputError(`too few rows: ${fullSys.n} row${fullSys.n === 1 ? '' : 's'} for ${nActive} identifiable terms of basis '${basis.name}'; need more rows than terms`);
  const make = (kind: Job['kind'], index: number, sys: NormalSystem): Job => {
    const id: Identification = kind === 'full' ? ident : identify(sys, names, penalised ? 'report' : 'resolve', { initialActive: ident.active, score: boundedScorer(sys, mp) });
    if (sys.n <= id.active.length && kind !== 'boot') {
      throw new InputError(`CV fold ${fd.names[index]}: only ${sys.n} training rows for ${id.active.length} terms`);
    }
    return newJob(kind, index, 0, id, sys, solveJob(sys, id.active, mp));
  };
  const full = make('full', 0, fullSys);
  const folds: Job[] = [];
  for (let k = 0; k < fd.K; k++) {
    const acc = new NormalAccumulator(p);
    for (let j = 0; j < fd.K; j++) if (j !== k) acc.addFrom(foldAcc[j]!);
    folds.push(make('fold', k, acc.system()));
  }
  const boots = bootAcc.map((a, b) => make('boot', b, a.system()));
  return { full, folds, boots };
}

/** State of the last pass: training and held-out metrics, residual sums, per-kind residual scales. */
interface MetricsState {
  trainCells: MetricCells;
  cvCells: MetricCells;
  foldMetrics: MetricsAccumulator[];
  kindAcc: KindScaleAccumulator[];
  sums: ResidualSums;
}

/** Last pass: predictions of the full fit (and each row's held-out fold), metrics and residual scales. */
function metricsVisitor(c: FitContext, full: Job, folds: readonly Job[], fullSys: NormalSystem, st: MetricsState): RowVisitor {
  const { p, wOf, ro, folds: fd, mp } = c;
  const K = fd.K;
  const relative = ro.weight === 'relative';
  const hk = ro.huber?.k ?? 0;
  const betaFull = full.sol.beta;
  // per-kind residual scale: leverages h = w·xᵀFx with F the free terms' (XᵀWX)⁻¹ before Huber weights
  // (with a ridge penalty the sandwich M⁻¹AM⁻¹, M = A + λI: slightly below the ridge hat value for large λ)
  const levF = ro.method === 'huber' ? solveJob(fullSys, full.ident.active, mp).covFactor : full.sol.covFactor;
  const { trainCells, cvCells, foldMetrics, kindAcc, sums } = st;
  return {
    row(x, y, e, i, kind) {
      const pred = dot(x, betaFull);
      trainCells.add(e, kind, pred, y);
      const w = wOf(y);
      const r = y - pred;
      sums.rss += w * r * r;
      // on the scale predict applies σ to: relative y = ŷ·(1 + ε) → ε = r/ŷ (r/y when ŷ ≤ 0); absolute ε = r
      kindAcc[kind]!.add(relative ? r / (pred > 0 ? pred : y) : r, levF ? w * quadFormP(x, levF, p) : 0, e, i);
      if (hk > 0) {
        const sr = Math.abs((r * Math.sqrt(w)) / full.scale);
        sums.psi2 += sr <= hk ? sr * sr : hk * hk;
        if (sr <= hk) sums.inliers++;
      }
      if (K) {
        const f = fd.foldOf(e, i);
        const pc = dot(x, folds[f]!.sol.beta);
        cvCells.add(e, kind, pc, y);
        foldMetrics[f]!.add(pc, y);
      }
    },
  };
}

/** The CV section of the result (null without CV). */
function cvResult(c: FitContext, st: MetricsState, folds: readonly Job[], ident: Identification): CvResult | null {
  if (!c.folds.K) return null;
  const g = st.cvCells.grouped();
  return {
    scheme: c.ro.cv!,
    ...(c.ro.cvSpec!.kind === 'kfold' ? { seed: c.ro.seed } : {}),
    overall: g.overall,
    folds: folds.map((f, k) => ({
      fold: c.folds.names[k]!,
      metrics: st.foldMetrics[k]!.result(),
      trainRows: f.sys.n,
      dropped: f.ident.active.length < ident.active.length ? ident.active.filter((j) => !f.ident.active.includes(j)).map((j) => c.names[j]!) : [],
    })),
    byGroup: g.byGroup,
  };
}

/** The fit as a sequence of passes: yields one visitor per pass over the rows; returns the result. */
export function* fitPlan(src: RowSource, basis: Basis, ro: ResolvedOptions): Generator<RowVisitor, FitResult, void> {
  const names = basis.terms.map((t) => t.name);
  const relative = ro.weight === 'relative';
  const c: FitContext = {
    src,
    basis,
    ro,
    p: src.p,
    names,
    wOf: (y) => (relative ? 1 / (y * y) : 1),
    folds: makeFolds(src.ds, ro.cvSpec, ro.seed),
    mult: bootstrapMultiplicity(ro.seed),
    mp: methodParams(ro, names),
  };
  const p = c.p;
  const foldAcc = Array.from({ length: Math.max(1, c.folds.K) }, () => new NormalAccumulator(p));
  const bootAcc = Array.from({ length: ro.bootstrap }, () => new NormalAccumulator(p, { trackRange: true }));
  yield accumulateVisitor(c, foldAcc, bootAcc);
  const fullSys = NormalAccumulator.sum(foldAcc, p).system();
  checkRows(c, fullSys, foldAcc);
  const { full, folds, boots } = makeJobs(c, fullSys, foldAcc, bootAcc);
  let huberRun: { iterations: number; converged: boolean } | null = null;
  if (ro.method === 'huber') {
    const K = c.folds.K;
    huberRun = yield* huberIrls(
      [full, ...folds, ...boots],
      ro.huber!,
      p,
      { wOf: c.wOf, foldOf: (e, i) => (K ? c.folds.foldOf(e, i) : -1), mult: c.mult, view: (x) => x, columns: () => Int32Array.from({ length: p }, (_, j) => j) },
      c.mp,
    );
    c.ro = { ...ro, huber: { ...ro.huber!, iterations: huberRun.iterations, converged: huberRun.converged } };
  }
  const st: MetricsState = {
    trainCells: new MetricCells(src.ds),
    cvCells: new MetricCells(src.ds),
    foldMetrics: Array.from({ length: c.folds.K }, () => new MetricsAccumulator()),
    kindAcc: ROW_KINDS.map(() => new KindScaleAccumulator(hash32(ro.seed, 0x5ca1e, 0))),
    sums: { rss: 0, psi2: 0, inliers: 0 },
  };
  yield metricsVisitor(c, full, folds, fullSys, st);
  return assembleResult(c, full, folds, boots, fullSys, st, huberRun);
}

/** Uncertainty, terms, CV and diagnostics into the result. */
function assembleResult(c: FitContext, full: Job, folds: Job[], boots: Job[], fullSys: NormalSystem, st: MetricsState, huberRun: { iterations: number; converged: boolean } | null): FitResult {
  const { ro, names, p, basis, src } = c;
  const ident = full.ident;
  const u = uncertainty(ro.method === 'huber', full, fullSys, c.mp, boots, st.sums);
  const freeSet = new Set(full.sol.free);
  const terms: TermFit[] = names.map((name, j) => {
    let status = ident.status[j]!;
    if (status === 'fitted' && !freeSet.has(j)) status = 'at-bound';
    return { name, coef: full.sol.beta[j]!, se: u.se[j] ?? null, ci95: u.ci[j]!, status };
  });
  const cvRes = cvResult(c, st, folds, ident);
  const n = fullSys.n;
  const notes = fitNotes({ ro, names, ident, sol: full.sol, mp: c.mp, huberRun, downWeightedPct: 100 * (1 - st.sums.inliers / n), boots, cv: cvRes });
  const summaries = src.summaries();
  return {
    basis,
    options: ro,
    terms,
    coefficients: full.sol.beta,
    covariance: u.covariance,
    residual: { sigma: u.sigma, scale: ro.weight === 'relative' ? 'relative' : 'absolute', dof: u.dof, byKind: kindResiduals(st.kindAcc, 'q95') },
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
    experiments: src.ds.experiments.map((x, e) => ({
      id: x.ref.id,
      model: x.ref.model,
      gpu: x.ref.gpu,
      tp: x.ref.tp,
      groups: { ...x.ref.groups },
      rows: summaries[e]!.rows,
      ranges: summaries[e]!.ranges,
    })),
    metrics: { train: st.trainCells.grouped(), cv: cvRes },
    rows: n,
    passes: src.passCount,
    basisParams: {},
    paramChoices: [],
  };
}
