/**
 * Report data: the seven-term seed refit and the naive baseline's medians (baselines.ts), then one
 * pass over the steps (with measured `duration_us`) of a data set (rows.ts) that accumulates, in
 * bounded memory, the errors of the fit and of each comparator (seed refit, analytical engine,
 * naive baseline) overall, per availability mask and per group; interval coverage; a seeded
 * sample of rows for the scatter plots; per-term contributions and the fit basis' normal
 * equations on these rows (identifiability on the report data).
 */
import { InputError } from '../io/errors.js';
import type { LoadedFit } from '../predict/load.js';
import type { FitDataset, FitResult, NormalAccumulator } from '../fit/api.js';
import type { ErrorStats } from './error-stats.js';
import { reportBaselines, type Baselines } from './baselines.js';
import { RowPass, type GroupStats, type PlotPoint } from './rows.js';
import { sampleKind, type SampleKind } from './sample-kind.js';
import { int } from './format.js';

export { PHASES, type Phase, phaseOf, kvContext, stepTokens } from './steps.js';
export { seedMethodFor } from './baselines.js';
export { MAX_POINTS, type PlotPoint, type GroupStats } from './rows.js';

export type ComparatorId = 'fit' | 'seed' | 'engine' | 'naive';
export const COMPARATORS: readonly ComparatorId[] = ['fit', 'seed', 'engine', 'naive'];

export interface Comparator {
  id: ComparatorId;
  label: string;
  /** How it was obtained (method, in-sample or not). */
  description: string;
  /** Rows with a prediction (NaN elsewhere); 0 when unavailable. */
  rows: number;
  /** Why it is missing or partial. */
  note?: string;
}

export interface ReportExperiment {
  id: string;
  model: string;
  gpu: string;
  tp: number;
  groups: Record<string, string>;
  archName: string;
  gpuId: string;
  /** Steps used (with duration_us) and skipped (no duration_us). */
  rows: number;
  skipped: number;
}

export interface ReportData {
  loaded: LoadedFit;
  experiments: ReportExperiment[];
  n: number;
  /** Error statistics per availability mask (bit i: COMPARATORS[i] predicts the row), one per comparator. */
  errors: Map<number, ErrorStats[]>;
  /** The fit's error statistics per value of each grouping dimension (experiment, model, GPU, TP, labels, phase mix). */
  groups: GroupStats[];
  /** Rows with a 95% prediction interval, and those inside it. */
  coverage: { rows: number; inside: number };
  /** A seeded random sample of at most MAX_POINTS rows (every row when fewer) for the scatter plots. */
  points: PlotPoint[];
  comparators: Comparator[];
  /** Σ coef·regressor per term, overall and per phase, with row counts (mean contribution = sum / count). */
  contrib: { sum: Float64Array; byPhase: Float64Array[]; count: number[]; measuredByPhase: number[] };
  /** Normal equations of the fit basis on these rows (weighted as the fit was: 1 or 1/y²). */
  normal: NormalAccumulator;
  seedFit: FitResult | null;
  /** Whether these rows were the fit's training data (from input file hashes). */
  sample: SampleKind;
}

export interface CollectOptions {
  /** Refit the seven-term seed basis on these rows (default true). */
  seed?: boolean;
  /** Evaluate the analytical engine (default true). */
  engine?: boolean;
  /** Rows the seed refit uses at most (default SEED_MAX_ROWS; beyond, a seeded uniform sample). */
  seedMaxRows?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

function comparatorsOf(loaded: LoadedFit, n: number, base: Baselines, pass: RowPass, sample: SampleKind, engineOff: boolean): Comparator[] {
  const { fit } = loaded;
  const fitName = loaded.path.split('/').pop()!;
  const rel = fit.method.weight === 'relative' ? ', relative weights' : '';
  return [
    { id: 'fit', label: `${fit.basis} fit`, description: `${fitName}: basis '${fit.basis}' v${fit.basisVersion}, ${fit.method.name}${rel} (${sample.kind})`, rows: n },
    {
      id: 'seed',
      label: 'seven-term seed (refit here)',
      description:
        base.seedFit && base.seedRows < n
          ? `the published seven-term crossmodel formulation refit on a seeded random sample of ${int(base.seedRows)} of these ${int(n)} rows (${base.seedMethod}${rel}), scored on every row`
          : `the published seven-term crossmodel formulation refit on these rows (${base.seedMethod}${rel}, in-sample)`,
      rows: base.seedFit ? n : 0,
      ...(base.seedNote ? { note: base.seedNote } : {}),
    },
    {
      id: 'engine',
      label: 'analytical engine',
      description: 'first-principles roofline with efficiency curves, no fitted numbers',
      rows: pass.engineRows,
      ...(pass.engineNotes.length ? { note: pass.engineNotes.join('; ') } : engineOff ? { note: 'not requested (--no-engine)' } : {}),
    },
    {
      id: 'naive',
      label: 'naive (phase median)',
      description: "median measured step time of the row's phase mix (prefill-only / decode-only / mixed) on these rows, in-sample",
      rows: n,
    },
  ];
}

/** Collect the report data (a pass for the naive medians, the seed refit's passes, then one pass that collects the rows). */
export async function collectReportData(loaded: LoadedFit, ds: FitDataset, opts: CollectOptions = {}): Promise<ReportData> {
  const progress = opts.onProgress ?? (() => undefined);
  const stages = ds.experiments.length + 1;
  progress('phase medians and the seven-term seed refit', 0, stages);
  const base = await reportBaselines(loaded, ds, opts.seed !== false, opts.seedMaxRows);
  const experiments: ReportExperiment[] = ds.experiments.map((e) => ({
    id: e.ref.id,
    model: e.ref.model,
    gpu: e.ref.gpu,
    tp: e.ref.tp,
    groups: { ...e.ref.groups },
    archName: e.arch.name,
    gpuId: e.gpu.id,
    rows: 0,
    skipped: 0,
  }));
  const pass = new RowPass(loaded, experiments, base, opts.engine !== false);
  for (let ei = 0; ei < ds.experiments.length; ei++) {
    progress(`reading ${experiments[ei]!.id}`, ei + 1, stages);
    [experiments[ei]!.rows, experiments[ei]!.skipped] = await pass.experiment(ei, ds.experiments[ei]!);
  }
  const n = pass.n;
  if (n === 0) throw new InputError('report: the data holds no step with duration_us: nothing to compare predictions with');
  pass.normal.flush();
  const sample = await sampleKind(loaded, ds);
  progress('done', stages, stages);
  return {
    loaded,
    experiments,
    n,
    errors: pass.errors,
    groups: pass.groups,
    coverage: pass.coverage,
    points: pass.points.items,
    comparators: comparatorsOf(loaded, n, base, pass, sample, opts.engine === false),
    contrib: pass.contrib,
    normal: pass.normal,
    seedFit: base.seedFit,
    sample,
  };
}
