/**
 * The report's one pass over its rows (steps with a measured duration_us), in bounded memory:
 * each row updates error accumulators (sums + a quantile sketch, error-stats.ts) per comparator,
 * per availability mask and per group of every grouping dimension; a seeded reservoir keeps at
 * most MAX_POINTS rows for the scatter plots; per-term contributions and the fit basis' normal
 * equations are sums. Nothing is kept per row.
 */
import { InputError } from '../io/errors.js';
import type { Step } from '../steps/step.js';
import { getBasis } from '../basis/registry.js';
import type { LoadedFit } from '../predict/load.js';
import { makePredictor, type Predictor } from '../predict/predict.js';
import { NormalAccumulator, type FitExperiment } from '../fit/api.js';
import { engineModel } from '../analytic/model.js';
import { makeRng, type Rng } from '../util/rng.js';
import { ErrorStats } from './error-stats.js';
import { PHASES, experimentSteps, kvContext, phaseOf, stepTokens } from './steps.js';
import type { Baselines } from './baselines.js';

/** Scatter plots show a seeded random sample of at most this many rows. */
export const MAX_POINTS = 3000;

/** One sampled row for the scatter plots: measured and fitted µs, phase mix, batch descriptors. */
export interface PlotPoint {
  m: number;
  p: number;
  phase: 0 | 1 | 2;
  requests: number;
  tokens: number;
  context: number;
}

/** A seeded uniform sample of at most k items of a stream (reservoir sampling, algorithm R). */
export class Reservoir<T> {
  readonly items: T[] = [];
  seen = 0;
  private rng: Rng;
  constructor(
    readonly k: number,
    seed = 1,
  ) {
    this.rng = makeRng(seed);
  }
  /** Count one more item; the slot to store it in, or -1 when it is not sampled. */
  slot(): number {
    this.seen++;
    if (this.items.length < this.k) return this.items.length;
    const j = Math.floor(this.rng.next() * this.seen);
    return j < this.k ? j : -1;
  }
  add(x: T): void {
    const s = this.slot();
    if (s >= 0) this.items[s] = x;
  }
}

/** The fit's error statistics per value of one grouping dimension. */
export interface GroupStats {
  dim: string;
  label: string;
  /** Its values (over the experiments; the three phase mixes for 'phase'). */
  levels: string[];
  stats: ErrorStats[];
}

/** The experiment-level attributes the report groups by (experiment, model, GPU, TP, each label). */
export interface GroupSource {
  id: string;
  archName: string;
  gpuId: string;
  tp: number;
  groups: Record<string, string>;
}

/** Grouping dimensions of a set of experiments: their values, and each experiment's value index per dimension. */
export function groupingOf(ex: readonly GroupSource[]): { groups: GroupStats[]; expLevel: number[][] } {
  const labelKeys = [...new Set(ex.flatMap((e) => Object.keys(e.groups)))].sort();
  const dims = [
    { dim: 'experiment', label: 'experiment', of: (e: GroupSource): string => e.id },
    { dim: 'model', label: 'model', of: (e: GroupSource): string => e.archName },
    { dim: 'gpu', label: 'GPU', of: (e: GroupSource): string => e.gpuId },
    { dim: 'tp', label: 'TP', of: (e: GroupSource): string => String(e.tp) },
    ...labelKeys.map((k) => ({ dim: `label:${k}`, label: k, of: (e: GroupSource): string => e.groups[k] ?? '(none)' })),
  ];
  const groups: GroupStats[] = dims.map((d) => {
    const levels = [...new Set(ex.map(d.of))];
    return { dim: d.dim, label: d.label, levels, stats: levels.map(() => new ErrorStats()) };
  });
  const expLevel = ex.map((e) => dims.map((d, k) => groups[k]!.levels.indexOf(d.of(e))));
  groups.push({ dim: 'phase', label: 'phase mix', levels: [...PHASES], stats: PHASES.map(() => new ErrorStats()) });
  return { groups, expLevel };
}

/** Per-experiment state of the pass: predictors and the group accumulators its rows feed. */
interface ExpState {
  pr: Predictor;
  fitRow: (s: Step, out: Float64Array) => void;
  seedRow: (s: Step, out: Float64Array) => void;
  eng: ((s: Step) => number) | null;
  groupStats: ErrorStats[];
}

export class RowPass {
  n = 0;
  engineRows = 0;
  readonly engineNotes: string[] = [];
  /** Error statistics per availability mask (bit c: comparator c predicts the row) and comparator (COMPARATORS order). */
  readonly errors = new Map<number, ErrorStats[]>();
  readonly groups: GroupStats[];
  /** Rows with a 95% prediction interval, and those inside it. */
  readonly coverage = { rows: 0, inside: 0 };
  readonly points = new Reservoir<PlotPoint>(MAX_POINTS, 1);
  readonly contrib: { sum: Float64Array; byPhase: Float64Array[]; count: number[]; measuredByPhase: number[] };
  readonly normal: NormalAccumulator;
  private readonly expLevel: number[][];
  private readonly cbuf: Float64Array;
  private readonly xrow: Float64Array;
  private readonly srow: Float64Array;
  private readonly preds = new Float64Array(4);
  private readonly relW: boolean;

  constructor(
    private readonly loaded: LoadedFit,
    experiments: readonly GroupSource[],
    private readonly base: Baselines,
    private readonly useEngine: boolean,
  ) {
    const p = loaded.fit.terms.length;
    this.contrib = { sum: new Float64Array(p), byPhase: [0, 1, 2].map(() => new Float64Array(p)), count: [0, 0, 0], measuredByPhase: [0, 0, 0] };
    this.normal = new NormalAccumulator(p);
    this.cbuf = new Float64Array(p);
    this.xrow = new Float64Array(p);
    this.srow = new Float64Array(getBasis('seed').terms.length);
    this.relW = loaded.fit.method.weight === 'relative';
    ({ groups: this.groups, expLevel: this.expLevel } = groupingOf(experiments));
  }

  private state(ei: number, e: FitExperiment): ExpState {
    const ctx = { arch: e.arch, gpu: e.gpu, tp: e.ref.tp };
    const fitCompiled = this.loaded.basis.compile(ctx, this.loaded.fit.basisParams);
    const seedCompiled = getBasis('seed').compile(ctx);
    let eng: ((s: Step) => number) | null = null;
    if (this.useEngine) {
      try {
        const m = engineModel(ctx);
        eng = (s) => m.predictUs(s);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        this.engineNotes.push(`${e.ref.id}: ${err.message}`);
      }
    }
    const groupStats = this.expLevel[ei]!.map((lv, k) => this.groups[k]!.stats[lv]!);
    return { pr: makePredictor(this.loaded, ctx), fitRow: (s, o) => fitCompiled.row(s, o), seedRow: (s, o) => seedCompiled.row(s, o), eng, groupStats };
  }

  /** Stream one experiment's steps; returns [rows, steps without duration_us]. */
  async experiment(ei: number, e: FitExperiment): Promise<[number, number]> {
    const st = this.state(ei, e);
    let rows = 0,
      skipped = 0;
    for await (const s of experimentSteps(e)) {
      if (s.durationUs === undefined) skipped++;
      else {
        rows++;
        this.row(st, s, s.durationUs);
      }
    }
    return [rows, skipped];
  }

  private errorsFor(mask: number): ErrorStats[] {
    let e = this.errors.get(mask);
    if (!e) this.errors.set(mask, (e = [0, 1, 2, 3].map(() => new ErrorStats())));
    return e;
  }

  private row(st: ExpState, s: Step, m: number): void {
    this.n++;
    const ph = phaseOf(s);
    const yFit = this.fitParts(st, s, m, ph);
    const seedCoefs = this.base.seedFit?.coefficients;
    let ySeed = NaN;
    if (seedCoefs) {
      st.seedRow(s, this.srow);
      ySeed = 0;
      for (let j = 0; j < this.srow.length; j++) ySeed += seedCoefs[j]! * this.srow[j]!;
    }
    if (st.eng) this.engineRows++;
    const preds = this.preds;
    preds[0] = yFit;
    preds[1] = ySeed;
    preds[2] = st.eng ? st.eng(s) : NaN;
    preds[3] = this.base.medians[ph];
    let mask = 0;
    for (let c = 0; c < 4; c++) if (Number.isFinite(preds[c]!)) mask |= 1 << c;
    const acc = this.errorsFor(mask);
    for (let c = 0; c < 4; c++) if (mask & (1 << c)) acc[c]!.add(preds[c]!, m);
    if (mask & 1) {
      for (const g of st.groupStats) g.add(yFit, m);
      this.groups[this.groups.length - 1]!.stats[ph]!.add(yFit, m);
    }
    const slot = this.points.slot();
    if (slot >= 0) this.points.items[slot] = { m, p: yFit, phase: ph, requests: s.prefill.length + s.decode.length, tokens: stepTokens(s), context: kvContext(s) };
  }

  /** The fit's prediction of a row, with its interval, per-term contributions and normal-equation row. */
  private fitParts(st: ExpState, s: Step, m: number, ph: 0 | 1 | 2): number {
    const y = st.pr.contributions(s, this.cbuf);
    if (st.pr.hasInterval) {
      const q = st.pr.predict(s);
      this.coverage.rows++;
      if (m >= q.lo! && m <= q.hi!) this.coverage.inside++;
    }
    const { contrib, cbuf } = this;
    for (let j = 0; j < cbuf.length; j++) {
      contrib.sum[j] += cbuf[j]!;
      contrib.byPhase[ph]![j] += cbuf[j]!;
    }
    contrib.count[ph]!++;
    contrib.measuredByPhase[ph] += m;
    st.fitRow(s, this.xrow);
    this.normal.add(this.xrow, m, this.relW ? 1 / (m * m) : 1);
    return y;
  }
}
