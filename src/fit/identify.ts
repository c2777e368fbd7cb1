/**
 * Identifiability diagnostics on the weighted, column-scaled design (via its normal equations):
 *
 * 1. all-zero columns (e.g. `tp` at TP 1, a prefill term without prefill steps): no information;
 * 2. constant columns (e.g. `layers` = L within one model, `weight` within one dense model at one
 *    TP): several constant columns — including the `constant` term itself — are perfectly
 *    collinear; only their sum is identified;
 * 3. other (near-)collinearity: the singular values of the column-scaled design are
 *    σ_j = √λ_j(D⁻¹AD⁻¹); a direction with σ_min/σ_max < RANK_TOL is not identified by the data,
 *    and the terms with large loadings in its eigenvector are the ones that trade off.
 *
 * Resolution (mode 'resolve'): drop zero columns (coefficient fixed at 0); merge every constant
 * column into the `constant` term (or the first constant column when the basis has none) — the
 * kept term's coefficient then absorbs the others' contribution; for other collinear sets drop the
 * term with the largest loading (ties: the later term), never the term that absorbed merged ones
 * when another can go. Every decision is recorded by name.
 * Mode 'fail' throws an InputError naming the terms instead. Mode 'report' (ridge: the prior
 * identifies every term) only records the findings.
 */
import { InputError } from '../io/errors.js';
import type { NormalSystem } from './accumulate.js';
import { scaleSystem, subMatrix, symEigen } from './linalg.js';

/** σ_min/σ_max of the column-scaled design below which a direction counts as not identified. */
export const RANK_TOL = 1e-6;
/** σ_max/σ_min above which the design is reported as poorly conditioned. */
export const COND_WARN = 1e4;

export interface IdentProblem {
  kind: 'zero' | 'constant' | 'collinear' | 'ill-conditioned';
  terms: string[];
  detail: string;
}

export interface Identification {
  /** Indices of the terms that are fitted (ascending). */
  active: number[];
  /** Per term: 'fitted' | 'dropped' | 'merged:<into>'. */
  status: string[];
  dropped: string[];
  merged: { term: string; into: string }[];
  notes: string[];
  problems: IdentProblem[];
  /** Numerical rank and condition number (σ_max/σ_min; null when rank-deficient) of the full scaled design. */
  rank: number;
  conditionNumber: number | null;
  /** Condition number of the design restricted to the fitted terms. */
  activeConditionNumber: number | null;
}

export type IdentMode = 'resolve' | 'fail' | 'report';

const fmt = (x: number): string => (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : String(Number(x.toPrecision(6))));

function spectrum(sys: NormalSystem, idx: readonly number[]): { values: number[]; vectors: number[][] } {
  const s = scaleSystem(sys);
  return symEigen(subMatrix(s.As, s.p, idx), idx.length);
}

/** Rank and condition number of the scaled design on columns `idx`. */
export function rankAndCondition(sys: NormalSystem, idx: readonly number[]): { rank: number; cond: number | null; ratio: number } {
  if (idx.length === 0) return { rank: 0, cond: null, ratio: 0 };
  const { values } = spectrum(sys, idx);
  const sv = values.map((v) => Math.sqrt(Math.max(0, v)));
  const smax = sv[sv.length - 1]!;
  if (!(smax > 0)) return { rank: 0, cond: null, ratio: 0 };
  const rank = sv.filter((v) => v / smax > RANK_TOL).length;
  const ratio = sv[0]! / smax;
  return { rank, cond: rank === idx.length ? smax / sv[0]! : null, ratio };
}

export interface IdentifyOptions {
  /** Start from these terms (e.g. the full fit's active set for a CV fold). */
  initialActive?: readonly number[];
  context?: string;
  /**
   * Weighted RSS of the (constrained) fit on a candidate set of terms. When given, a collinear
   * set loses the term whose removal fits best — under bounds (NNLS) the equivalent
   * parameterisations of an exactly collinear set are not equivalent fits. Without it (or on ties)
   * the largest loading goes.
   */
  score?: (active: readonly number[]) => number;
}

/** State of one identification while its steps run. */
interface IdentState {
  sys: NormalSystem;
  names: readonly string[];
  out: Identification;
  active: number[];
  change: boolean;
  mergeTargets: Set<number>;
}

const q = (n: string): string => `'${n}'`;

/** 1. all-zero columns: no information about their terms. */
function dropZeroColumns(s: IdentState): void {
  const { sys, names, out } = s;
  const p = sys.p;
  const zeros = s.active.filter((j) => sys.A[j * p + j] === 0);
  for (const j of zeros) {
    out.problems.push({ kind: 'zero', terms: [names[j]!], detail: `term ${q(names[j]!)} is 0 in every row: the data carry no information about it` });
    if (s.change) {
      out.status[j] = 'dropped';
      out.dropped.push(names[j]!);
      out.notes.push(`${q(names[j]!)} is 0 in every training row (e.g. no TP communication at TP 1, or no rows of that phase): not identifiable; dropped, coefficient fixed at 0`);
    }
  }
  if (s.change) s.active = s.active.filter((j) => !zeros.includes(j));
}

/** 2. constant columns (min = max ≠ 0 over the rows): merged into `constant` (or the first of them). */
function mergeConstantColumns(s: IdentState): void {
  const { sys, names, out } = s;
  const p = sys.p;
  const consts = s.active.filter((j) => sys.A[j * p + j]! > 0 && sys.colMin[j] === sys.colMax[j]);
  if (consts.length < 2) return;
  const keep = consts.find((j) => names[j] === 'constant') ?? consts[0]!;
  const others = consts.filter((j) => j !== keep);
  const desc = consts.map((j) => `${names[j]} = ${fmt(sys.colMin[j]!)}`).join(', ');
  out.problems.push({
    kind: 'constant',
    terms: consts.map((j) => names[j]!),
    detail: `terms ${consts.map((j) => q(names[j]!)).join(', ')} are constant in every row (${desc}) and so perfectly collinear: only their combined effect is identified`,
  });
  if (!s.change) return;
  s.mergeTargets.add(keep);
  for (const j of others) {
    out.status[j] = `merged:${names[keep]}`;
    out.merged.push({ term: names[j]!, into: names[keep]! });
  }
  out.notes.push(
    `${others.map((j) => q(names[j]!)).join(', ')} ${others.length > 1 ? 'are' : 'is'} constant in every training row, like ${q(names[keep]!)} (${desc}): not separately identifiable; merged into ${q(names[keep]!)} (its coefficient absorbs ${others.map((j) => `β_${names[j]}·${fmt(sys.colMin[j]!)}`).join(' + ')}; ${others.length > 1 ? 'they are' : 'it is'} reported as 0). Data from several models / TPs / GPUs would separate them.`,
  );
  s.active = s.active.filter((j) => !others.includes(j));
}

/** The term a collinear set loses: the best constrained fit without it (when scored); ties → not a merge target, then the largest loading, then the later term. */
function termToDrop(s: IdentState, involved: { j: number; load: number }[], score: IdentifyOptions['score']): { worst: { j: number; load: number }; why: string } {
  const rank = (t: { j: number; load: number }): number[] => [s.mergeTargets.has(t.j) ? 1 : 0, -Math.abs(t.load), -t.j];
  const scored = involved.map((t) => ({ ...t, score: score ? score(s.active.filter((j) => j !== t.j)) : 0 }));
  const bestScore = Math.min(...scored.map((t) => t.score));
  const tol = 1e-9 * Math.max(1, Math.abs(bestScore));
  const tied = scored.filter((t) => t.score <= bestScore + tol);
  tied.sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let k = 0; k < ra.length; k++) if (ra[k] !== rb[k]) return ra[k]! - rb[k]!;
    return 0;
  });
  return { worst: tied[0]!, why: score && tied.length < scored.length ? 'the best constrained fit without it' : 'largest loading' };
}

/** Drop one term of a collinear set (and what was merged into it), with its note. */
function dropCollinear(s: IdentState, terms: string[], ratio: number, involved: { j: number; load: number }[], score: IdentifyOptions['score']): void {
  const { names, out } = s;
  const { worst, why } = termToDrop(s, involved, score);
  out.status[worst.j] = 'dropped';
  out.dropped.push(names[worst.j]!);
  let extra = '';
  if (s.mergeTargets.has(worst.j)) {
    const gone = out.merged.filter((x) => x.into === names[worst.j]).map((x) => x.term);
    for (const m of gone) {
      out.status[names.indexOf(m)] = 'dropped';
      out.dropped.push(m);
    }
    out.merged = out.merged.filter((x) => x.into !== names[worst.j]);
    if (gone.length > 0) extra = `; ${gone.map(q).join(', ')} (merged into it) ${gone.length > 1 ? 'go' : 'goes'} too — the remaining collinear terms carry that constant`;
  }
  out.notes.push(
    `${terms.map(q).join(', ')} are collinear in the training data (singular value ratio ${ratio.toExponential(2)}): dropped ${q(names[worst.j]!)} (${why}), coefficient fixed at 0${extra}`,
  );
  s.active = s.active.filter((j) => j !== worst.j);
}

/** 3. general collinearity on what is left: one weakest direction at a time; true when a term was dropped (look again). */
function collinearStep(s: IdentState, score: IdentifyOptions['score']): boolean {
  const { sys, names, out } = s;
  const { values, vectors } = spectrum(sys, s.active);
  const smax = Math.sqrt(Math.max(0, values[values.length - 1]!));
  const smin = Math.sqrt(Math.max(0, values[0]!));
  const ratio = smax > 0 ? smin / smax : 0;
  const v = vectors[0]!;
  const maxLoad = Math.max(...v.map(Math.abs));
  const involved = s.active.map((j, a) => ({ j, load: v[a]! })).filter((t) => Math.abs(t.load) >= 0.1 * maxLoad && Math.abs(t.load) >= 0.05);
  const loads = involved.map((t) => `${names[t.j]} ${t.load >= 0 ? '+' : '−'}${Math.abs(t.load).toFixed(2)}`).join(', ');
  if (ratio < RANK_TOL) {
    const terms = involved.map((t) => names[t.j]!);
    const alreadyNamed = out.problems.some((pr) => pr.kind === 'collinear' && pr.terms.join() === terms.join());
    if (!alreadyNamed)
      out.problems.push({
        kind: 'collinear',
        terms,
        detail: `terms ${terms.map(q).join(', ')} are collinear in the data (smallest/largest singular value of the scaled design ${ratio.toExponential(2)}; direction ${loads}): not separately identifiable`,
      });
    if (!s.change) return false;
    dropCollinear(s, terms, ratio, involved, score);
    return true;
  }
  const cond = smax / smin;
  out.activeConditionNumber = cond;
  if (cond > COND_WARN) {
    out.problems.push({
      kind: 'ill-conditioned',
      terms: involved.map((t) => names[t.j]!),
      detail: `poorly conditioned design (condition number ${fmt(cond)}); the weakest direction mixes ${loads}: these coefficients trade off against each other, expect wide intervals`,
    });
    out.notes.push(`poorly conditioned (condition number ${fmt(cond)}): ${involved.map((t) => q(names[t.j]!)).join(', ')} trade off against each other; expect wide intervals`);
  }
  return false;
}

export function identify(sys: NormalSystem, names: readonly string[], mode: IdentMode, opts: IdentifyOptions = {}): Identification {
  const p = sys.p;
  const status = names.map(() => 'fitted');
  const out: Identification = { active: [], status, dropped: [], merged: [], notes: [], problems: [], rank: 0, conditionNumber: null, activeConditionNumber: null };
  const all = names.map((_, j) => j);
  const rc = rankAndCondition(sys, all);
  out.rank = rc.rank;
  out.conditionNumber = rc.cond;
  const s: IdentState = { sys, names, out, active: [...(opts.initialActive ?? all)], change: mode === 'resolve', mergeTargets: new Set() };
  dropZeroColumns(s);
  mergeConstantColumns(s);
  for (let guard = 0; guard < p; guard++) {
    if (s.active.length === 0 || !collinearStep(s, opts.score)) break;
  }
  out.active = s.active;

  const blocking = out.problems.filter((pr) => pr.kind !== 'ill-conditioned');
  if (mode === 'fail' && blocking.length > 0) {
    throw new InputError(
      `${opts.context ? opts.context + ': ' : ''}not identifiable: ${blocking.map((pr) => pr.detail).join('; ')}. Fit data from several models / GPUs / TPs, use --method ridge (a prior), or --on-collinear resolve to drop/merge them`,
    );
  }
  if (mode === 'report' && blocking.length > 0) {
    out.notes.push(`${blocking.map((pr) => pr.detail).join('; ')} — with ridge these terms are determined by the prior, not by the data`);
  }
  return out;
}
