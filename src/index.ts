/**
 * stepfit's library API: what the CLI is built from, for programs that build on it.
 *
 *   import { experimentFrom, fit, buildFitFile, fitProvenance, fittedModel, loadArchitecture, loadGpu, readAllSteps } from 'stepfit';
 *
 *   // model/GPU: a shipped configs/ id or a config.json / datasheet path; steps: JSONL (.gz) file, directory, or Step[]
 *   const ds = { experiments: [experimentFrom({ experiment: 'x', steps: 'data/sample/steps.jsonl', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 })] };
 *   const result = await fit(ds);                            // the CLI's default fit policy (fit/defaults.ts)
 *   const file = buildFitFile(result, await fitProvenance(ds, 'my-program'));
 *   const model = fittedModel(file, { arch: loadArchitecture('llama-3.1-8b'), gpu: loadGpu('h100-sxm'), tp: 1 });
 *   for (const s of await readAllSteps('data/sample/steps.jsonl')) model.predictUs(s);   // µs
 *
 * Errors are `InputError` (bad input) or `UsageError` (bad option); their messages name the option.
 */
import { fitDataset as fitWith, fitDatasetSync as fitWithSync, type FitResult } from './fit/engine.js';
import type { FitDataset } from './fit/dataset.js';
import { defaultFitOptions, type FitOptionsInput } from './fit/defaults.js';

export { VERSION } from './version.js';
export { InputError, UsageError } from './io/errors.js';

// model and GPU
export { loadArchitecture, knownModelIds } from './model/load.js';
export { loadGpu, knownGpuIds, parseGpuSpec, type GpuSpec } from './hardware/gpu.js';

// step records
export { readSteps, readAllSteps, writeSteps, type ReadStepsOptions } from './steps/io.js';
export { validateStep, stepToJson, totalPrefillTokens, totalDecodeContext, numRequests, type Step, type PrefillChunk } from './steps/step.js';
export { readAllTargets, writeTargets, type RequestTarget } from './steps/targets.js';
export { loadManifest, type Manifest } from './steps/manifest.js';

// bases and features
export { BASES, DEFAULT_BASIS, getBasis } from './basis/registry.js';
export { physicalBounds, type Basis, type BasisContext, type TermInfo } from './basis/types.js';
export { featureCsvHeader, featureCsvRow } from './basis/features.js';

// fitting
export { DEFAULT_FIT, defaultFitOptions, type FitOptionsInput } from './fit/defaults.js';
export {
  fitDataset, fitDatasetSync, loadDataset, datasetFromManifest, experimentFrom, evaluateFit, evaluateFitSync,
  buildFitFile, fitProvenance, readFitFile, writeFitFile, computeMetrics, FIT_METHODS,
  type FitOptions, type FitResult, type FitMethod, type FitDataset, type FitExperiment, type Evaluation, type FitFile, type Metrics,
} from './fit/api.js';

/** Fit with the default policy (the one `stepfit fit` uses); any option given overrides it. */
export function fit(ds: FitDataset, opts: FitOptionsInput = {}): Promise<FitResult> {
  return fitWith(ds, defaultFitOptions(opts));
}
/** Synchronous `fit` for in-memory data sets (steps as arrays or sync generators). */
export function fitSync(ds: FitDataset, opts: FitOptionsInput = {}): FitResult {
  return fitWithSync(ds, defaultFitOptions(opts));
}

// prediction
export { fittedModel, type StepTimeModel } from './predict/model.js';
export { makePredictor, type Prediction, type Predictor } from './predict/predict.js';

// engine (first-principles step times and serving estimates)
export { engineModel, type EngineModel } from './engine/model.js';
export { engineStepUs, engineStepBreakdown, type StepBreakdown } from './engine/step.js';
export { replay, serveMetrics, type ServeResult } from './engine/serving.js';

// simulation
export { simulate, resolveLimits, type SimulationOutcome, type LimitInputs } from './simulate/run.js';
export { buildWorkload, parseWorkloadSpec, type Workload, type WorkloadSpec } from './simulate/workload.js';

// export
export { blisExport, BLIS_BACKENDS, type BlisExport } from './export/blis.js';
export { toModelJson, modelJsonText } from './export/json.js';
