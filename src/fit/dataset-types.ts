/** The records of a fit data set and of its design rows (shared by the loaders, the row source and the fitter). */
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import type { StepBatch } from '../steps/batch.js';
import type { Step } from '../steps/step.js';
import type { RequestTarget } from '../steps/targets.js';

export type { RequestTarget };

/**
 * Steps already in columns (steps/batch.ts), for large in-process inputs without one object per step: the
 * experiment's batches in order, or a factory called once per pass. Every batch's `experiment` is ignored
 * (the rows belong to the experiment that holds the source); a NaN `durationUs` is a step without a time.
 */
export interface BatchSource {
  readonly batches: readonly StepBatch[] | (() => Iterable<StepBatch> | AsyncIterable<StepBatch>);
}

/**
 * Where an experiment's steps come from: an array, a file / directory path (streamed), a generator factory
 * (called once per pass), or column batches (`{batches}`).
 */
export type StepSource = readonly Step[] | string | (() => Iterable<Step> | AsyncIterable<Step>) | BatchSource;

/** True for a `{batches}` source. */
export const isBatchSource = (s: StepSource): s is BatchSource => typeof s === 'object' && s !== null && !Array.isArray(s) && 'batches' in s;

export interface ExperimentSpec {
  readonly id: string;
  /** Model id or config path, as given (recorded in the fit file). */
  readonly model: string;
  /** GPU id or datasheet path, as given. */
  readonly gpu: string;
  readonly tp: number;
  /** Labels for grouped metrics / CV (e.g. workload). */
  readonly groups: Readonly<Record<string, string>>;
}

/** Where bad step lines go when they are skipped instead of failing the run (`--skip-bad`). */
export interface BadLineSink {
  /** Called once per bad line per pass (a multi-pass fit sees each line several times). */
  bad(message: string): void;
}

export interface FitExperiment {
  readonly ref: ExperimentSpec;
  readonly arch: Architecture;
  readonly gpu: GpuSpec;
  readonly steps: StepSource;
  /** Skip malformed step lines (reported here) instead of failing on the first one. */
  readonly skipBad?: BadLineSink;
  /** Request-level targets: rows in memory or a JSON Lines path. */
  readonly targets?: readonly RequestTarget[] | string;
}

export interface FitDataset {
  readonly experiments: readonly FitExperiment[];
  /** The manifest the data set came from (for provenance), if any. */
  readonly manifest?: string;
}

export interface SingleExperimentSpec {
  steps: StepSource;
  model: string;
  gpu: string;
  tp: number;
  /** Experiment id; default `<model name>-<gpu id>-tp<N>` (what `stepfit sample` writes). */
  experiment?: string;
  groups?: Record<string, string>;
  targets?: readonly RequestTarget[] | string;
}

export const ROW_KINDS = ['step', 'prefill', 'decode'] as const;
export type RowKind = 0 | 1 | 2;

/** Receives the design rows of one pass. `x` is reused between calls: copy it to keep it. */
export interface RowVisitor {
  row(x: Float64Array, y: number, experiment: number, index: number, kind: RowKind): void;
  /**
   * Optional: visit `n` kept rows in place — row r at `c[r·(p + 3) …]`: x (p values), y, experiment, index·4 + kind
   * (row-cache.ts) — with the same result as `row` on each of them in order. A replay of kept rows calls it instead of `row`.
   */
  chunk?(c: Float64Array, n: number, p: number, shape: ChunkShape): void;
}

/** What a replay knows of a chunk of kept rows: the columns (< p) not 0 in every row, ascending; the largest |x| (Infinity: some x is not finite). */
export interface ChunkShape {
  readonly nz: Int32Array;
  readonly maxAbs: number;
}

export interface ExperimentSummary {
  rows: number;
  stepRows: number;
  targetRows: number;
  stepsRead: number;
  ranges: { prefillTokens: [number, number]; decodeRequests: [number, number]; maxContext: number };
}
