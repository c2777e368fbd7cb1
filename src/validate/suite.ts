import { DEFAULT_FIT } from '../fit/defaults.js';
/**
 * Validation suites: named sets of train/test splits over real measurements, and the fit
 * configurations compared on them (the seven-term seed baseline and stepfit's default).
 */
import type { Step } from '../steps/step.js';
import type { RequestTarget } from '../steps/targets.js';
import type { FitMethod, FitWeight } from '../fit/options.js';

/** An experiment of a suite: one (model, GPU, TP) with its measured steps. */
export interface SuiteExperiment {
  readonly id: string;
  /** configs/models id (or config path). */
  readonly model: string;
  /** configs/hardware id (or datasheet path). */
  readonly gpu: string;
  readonly tp: number;
  /** Source labels the split rules use (e.g. sweep model / hardware names). */
  readonly labels: Readonly<Record<string, string>>;
  readonly steps: readonly Step[];
  /**
   * Request-level targets (src/steps/targets.ts) over `steps`, for data whose steps carry no measured
   * durations (request logs): a target is a training row or a test row (predicted as Σ of its steps).
   */
  readonly targets?: readonly RequestTarget[];
  /** Position of each request (by id) in arrival order, 0-based, for splits by arrival. */
  readonly arrivalRank?: ReadonlyMap<string, number>;
}

export interface SuiteData {
  readonly experiments: readonly SuiteExperiment[];
  /** Where the data came from (for the report). */
  readonly source: string;
  /** Data-handling notes shown with the table (what was excluded and why). */
  readonly notes: readonly string[];
}

export interface Split {
  readonly name: string;
  /** One line each: what the fit sees and what it is tested on. */
  readonly trainDesc: string;
  readonly testDesc: string;
  inTrain(e: SuiteExperiment, s: Step): boolean;
  inTest(e: SuiteExperiment, s: Step): boolean;
  /** For experiments with request-level targets: which targets train and which test (default: none). */
  targetInTrain?(e: SuiteExperiment, t: RequestTarget): boolean;
  targetInTest?(e: SuiteExperiment, t: RequestTarget): boolean;
}

/** A fit configuration: basis + method + weighting (+ bounds from the basis' physical lower bounds). */
export interface FitConfig {
  /** Row label: 'seed' (published baseline) or 'default' (stepfit's default). */
  readonly label: string;
  readonly basis: string;
  readonly method: FitMethod;
  readonly weight: FitWeight;
  /** 'physical': each term bounded below by its TermInfo.lower (0 when none). */
  readonly bounds: 'none' | 'physical';
  /** Ridge λ toward the basis priors (TermInfo.prior) on the column-scaled system; 0 = none. */
  readonly ridge: number;
  /** Basis parameters fixed instead of fitted (ablations only; the default fits them on the training rows). */
  readonly basisParams?: Readonly<Record<string, number>>;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  /** Load (reconstruct) the suite's data from the shared data root (bundled suites ignore it). */
  load(dataRoot: string): Promise<SuiteData>;
  /** True when the suite reads data shipped in the package (data/…), not the shared data root. */
  readonly bundled?: boolean;
  readonly splits: readonly Split[];
  readonly configs: readonly FitConfig[];
  /**
   * Published numbers the seed configuration must reproduce (MAPE %, by split name) and the tolerance;
   * `informational`: published numbers shown but not checked (with why).
   */
  readonly reference?: { readonly seedMape: Readonly<Record<string, number>>; readonly tolerance: number; readonly informational?: Readonly<Record<string, { mape: number; why: string }>> };
  /** Targets for the default configuration (MAPE %, by split name). */
  readonly targets?: Readonly<Record<string, number>>;
}

/** Batch size of a pure step: number of prefill chunks or decode requests. */
export const stepBatch = (s: Step): number => s.prefill.length + s.decode.length;
export const stepPhase = (s: Step): 'prefill' | 'decode' | 'mixed' => (s.prefill.length > 0 && s.decode.length > 0 ? 'mixed' : s.prefill.length > 0 ? 'prefill' : 'decode');

/** The two configurations every suite compares: the published seven-term baseline and stepfit's default. */
export const SEED_CONFIG: FitConfig = Object.freeze({ label: 'seed', basis: 'seed', method: 'nnls', weight: 'relative', bounds: 'none', ridge: 0 });
/**
 * stepfit's default: the `serving` basis, Huber (k = 1.345) with relative weights, every coefficient
 * bounded below by its physical bound (β ≥ 1 for roofline times, ≥ 0 otherwise), and a ridge of
 * λ = 1e-6 toward the basis priors that only decides directions the data leave unidentified.
 */
export const DEFAULT_CONFIG: FitConfig = Object.freeze({
  label: 'default',
  basis: DEFAULT_FIT.basis,
  method: DEFAULT_FIT.method,
  weight: DEFAULT_FIT.weight,
  bounds: DEFAULT_FIT.bounds,
  ridge: DEFAULT_FIT.boundedRidgeLambda,
});
