/**
 * Profiling of basis parameters (e.g. the serving basis' all-reduce knee): every combination of the
 * parameters' grid values (a "variant") is fitted on the training rows with the configured method, and the
 * parameter values with the best objective are chosen — unless the profile is flat (not identifiable),
 * then the parameter keeps its default. One data pass serves all variants (wide rows, see rows.ts; their
 * normal equations share every entry the parameters do not change, variant-accumulate.ts).
 */
import { variantColumns } from './batch-rows.js';
import type { RowSource, RowVisitor } from './dataset.js';
import { boundedScorer, dot, methodParams, solveJob } from './estimators.js';
import { huberIrls, huberKappa, newJob, type Job } from './huber.js';
import { identify } from './identify.js';
import { num } from './format.js';
import type { ResolvedOptions } from './options.js';
import { quadraticRss } from './solvers.js';
import { VariantAccumulator } from './variant-accumulate.js';
import { resolveBasisParams, type Basis, type BasisParam } from '../basis/types.js';
import { InputError } from '../io/errors.js';

/** What the profile needs to know about a fit: its basis and options, the given parameter values, the parameters to profile. */
export interface ProfileSetup {
  basis: Basis;
  ro: ResolvedOptions;
  given: Record<string, number>;
  profiled: readonly BasisParam[];
}

/** χ²₀.₉₅ quantile for k degrees of freedom (table for k ≤ 4, Wilson–Hilferty beyond). */
export function chi2Crit95(k: number): number {
  const t = [0, 3.841459, 5.991465, 7.814728, 9.487729];
  if (k <= 4) return t[k]!;
  const z = 1.644854;
  return k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;
}

export interface ProfileOut {
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
export function* profilePlan(src: RowSource, basis: Basis, ro: ResolvedOptions, affects: readonly number[], G: number): Generator<RowVisitor, ProfileOut | null, void> {
  const p = src.pBasis;
  const names = basis.terms.map((t) => t.name);
  const relative = ro.weight === 'relative';
  const wOf = (y: number): number => (relative ? 1 / (y * y) : 1);
  const acc = new VariantAccumulator(p, src.varying, G, (x, g, out) => src.variantRow(x, g, out));
  const bufs = Array.from({ length: G }, () => new Float64Array(p));
  const view = (x: Float64Array, g: number): Float64Array => src.variantRow(x, g, bufs[g]!);
  yield {
    row(x, y) {
      acc.add(x, y, wOf(y));
    },
  };
  const systems = Array.from({ length: G }, (_, g) => acc.system(g));
  const n = systems[0]!.n;
  if (n <= p) return null;
  const exercised = systems.some((sys) => affects.some((j) => sys.A[j * p + j]! > 0));
  if (!exercised) return { objective: systems.map(() => 0), exercised, n }; // every variant is the same fit: nothing to profile
  const penalised = (ro.ridge?.lambda ?? 0) > 0;
  const mp = methodParams(ro, names);
  const jobs: Job[] = systems.map((sys, g) => {
    const ident = identify(sys, names, penalised ? 'report' : 'resolve', { score: boundedScorer(sys, mp) });
    return newJob('full', g, g, ident, sys, solveJob(sys, ident.active, mp));
  });
  if (ro.method !== 'huber') {
    return { objective: jobs.map((j) => Math.max(0, quadraticRss(j.sys.A, j.sys.b, j.sys.c, j.sol.beta))), exercised, n };
  }
  const columns = (g: number): Int32Array => variantColumns(g, p, src.varying);
  yield* huberIrls(jobs, ro.huber!, p, { wOf, foldOf: () => -1, mult: () => 1, view, columns, parallel: { relative } }, mp);
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

/** Cartesian product of the profiled parameters' grids, each merged over the given values. */
export function variantsOf(pr: ProfileSetup): Record<string, number>[] {
  let out: Record<string, number>[] = [{ ...pr.given }];
  for (const bp of pr.profiled) out = out.flatMap((v) => bp.grid.map((x) => ({ ...v, [bp.name]: x })));
  return out;
}

/** Decide every basis parameter from the profile (or defaults / given values). */
export function chooseParams(pr: ProfileSetup, variants: Record<string, number>[], prof: ProfileOut | null): { params: Record<string, number>; choices: ParamChoice[]; notes: string[] } {
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
export const affectedTerms = (pr: ProfileSetup): number[] => {
  const names = pr.basis.terms.map((t) => t.name);
  return [...new Set(pr.profiled.flatMap((bp) => bp.affects.map((t) => names.indexOf(t)).filter((j) => j >= 0)))];
};
