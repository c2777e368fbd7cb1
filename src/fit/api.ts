/**
 * The fitter's library API (what the CLI, report, validate and simulate code call).
 *
 *   const ds = loadDataset({ manifest: 'exp.yaml' });            // or { steps, model, gpu, tp }
 *   const r = await fitDataset(ds, { basis: 'seed', method: 'nnls', weight: 'relative', seed: 1, cv: 'group:model' });
 *   const fit = buildFitFile(r, await fitProvenance(ds, 'stepfit fit …'));   // the fits/*.json object
 *   writeFitFile('fits/x.json', fit);
 *   const ev = await evaluateFit(fit, otherDs);                   // metrics without refitting
 *
 * In-memory data sets (steps as Step[] or sync generators, targets as arrays) can use the
 * synchronous `fitDatasetSync` / `evaluateFitSync`.
 */
export { fitDataset, fitDatasetSync } from './program.js';
export {
  resolveOptions,
  parseCv,
  formatCv,
  FIT_METHODS,
  DEFAULT_RIDGE_LAMBDA,
  type FitOptions,
  type FitMethod,
  type FitWeight,
  type ResolvedOptions,
  type CvSpec,
  type TermBounds,
} from './options.js';
export { huberKappa } from './huber.js';
export type { FitResult, CvResult, FitDiagnostics, ParamChoice } from './result.js';
export {
  loadDataset,
  datasetFromManifest,
  experimentFrom,
  materializeDataset,
  hashDatasetInputs,
  inMemorySteps,
  isBatchSource,
  RowSource,
  ROW_KINDS,
  type FitDataset,
  type FitExperiment,
  type ExperimentSpec,
  type SingleExperimentSpec,
  type StepSource,
  type BatchSource,
  type RequestTarget,
  type RowVisitor,
  type RowKind,
} from './dataset.js';
export { evaluateFit, evaluateFitSync, type Evaluation } from './evaluate.js';
export { computeMetrics, MetricsAccumulator, sortedQuantile } from './metrics.js';
export { buildFitFile, fitProvenance, type FitProvenance } from './build.js';
export { readFitFile, writeFitFile, FitFile, FIT_SCHEMA_VERSION, type Metrics, type TermFit, type ExperimentRef } from './fitfile.js';
export { NormalAccumulator, type NormalSystem } from './accumulate.js';
export { stepsToBatch, type StepBatch } from '../steps/batch.js';
export { identify, RANK_TOL, COND_WARN, type Identification, type IdentProblem } from './identify.js';
