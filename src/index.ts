/**
 * stepfit as a library: the same functions the CLI commands call.
 *
 *   import { loadDataset, fitDataset, buildFitFile, fitProvenance, writeFitFile,
 *            resolveDeployment, fittedModel, compileEngine, benchServeDeployment, DEFAULT_HOST_COSTS } from 'stepfit';
 *
 *   const ds = loadDataset({ steps: 'data/sample/steps.jsonl', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 });
 *   const r = await fitDataset(ds, { cv: 'kfold:5' });             // the default policy of `stepfit fit`
 *   const fit = buildFitFile(r, await fitProvenance(ds, 'my script'));
 *   writeFitFile('fits/mine.json', fit);
 *   const m = fittedModel(fit, resolveDeployment({ model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 }));
 *   m.predictUs({ experiment: 'x', step: 0, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: [1024, 2048] });
 *
 * Errors from bad input are `InputError` (message names the file/record/field); the CLI prints them
 * as one line with exit 1. Option names in messages are the CLI's flag names.
 */

// models, GPUs, step records
export { loadArchitecture, knownModelIds } from './model/load.js';
export { resolveDeployment, type ContextSpec, type DeploymentContext } from './model/context.js';
export { parseArchitecture, checkParallelism, decoderParams, type Architecture, type Dtype } from './model/arch.js';
export { loadGpu, knownGpuIds, parseGpuSpec, type GpuSpec } from './hardware/gpu.js';
export { readSteps, readAllSteps, writeSteps, stepFiles } from './steps/io.js';
export { validateStep, stepToJson, totalPrefillTokens, totalDecodeContext, numRequests, type Step, type PrefillChunk } from './steps/step.js';
export { readAllTargets, writeTargets, type RequestTarget as StepTarget, type TargetKind } from './steps/targets.js';
export { loadManifest, type Manifest } from './steps/manifest.js';

// reconstruction from traces, request logs and sweeps
export { reconstructOtlp, type OtlpOptions } from './reconstruct/vllm-otlp/read.js';
export { reconstructRequestLog, type RequestLogOptions, type RequestLogOutput } from './reconstruct/request-log/read.js';
export { reconstructSweep, sweepManifest, type SweepOptions, type SweepOutput } from './reconstruct/sweep/read.js';

// bases and the fit
export { BASES, DEFAULT_BASIS, getBasis } from './basis/registry.js';
export { physicalBounds, type Basis, type BasisContext, type TermInfo } from './basis/types.js';
export { featureCsvHeader, featureCsvRow } from './basis/features.js';
export * from './fit/api.js';
export { DEFAULT_FIT, withFitDefaults, type FitInput } from './fit/defaults.js';

// prediction from a fit file
export { loadFit, checkFit, type LoadedFit } from './predict/load.js';
export { fittedModel, type StepTimeModel } from './predict/model.js';
export { makePredictor, type Prediction, type Predictor } from './predict/predict.js';
export { parseGridSpec, gridPoints, gridStep, type Grid, type GridPoint } from './predict/grid.js';

// the analytical engine and the serving model
export { compileEngine, type Engine, type EngineOptions } from './analytic/context.js';
export { engineModel } from './analytic/model.js';
export { engineStepUs, engineStepBreakdown, type StepBreakdown } from './analytic/step.js';
export { engineMemory, type MemoryOptions, type MemoryResult } from './analytic/memory.js';
export { serveMetrics, replay, type Workload, type ServeResult } from './analytic/serving.js';
export { benchServeDeployment, type BenchDeployment, type BenchDeploymentResult, type BenchProtocol } from './analytic/bench-serve.js';
export { DEFAULT_HOST_COSTS, NO_HOST_COSTS, HOST_COST_TERMS, type HostCosts } from './analytic/host-costs.js';
export { vllmDefaultLimits, type VllmLimits } from './analytic/vllm-defaults.js';

// the serving simulator
export { ServingSimulator, type SimOptions, type EngineLimits, type RequestResult } from './simulate/simulator.js';
export { buildWorkload, parseWorkloadSpec, type WorkloadSpec, type WorkloadRequest } from './simulate/workload.js';

// exports for simulators and tables
export { blisExport, blisBetas, BLIS_BETA_ORDER, type BlisExport } from './export/blis.js';
export { tableCsv, tableHeader } from './export/table.js';
export { toModelJson, modelJsonText } from './export/json.js';

// validation suites
export { getSuite, SUITES } from './validate/suites.js';
export { runSuite, type SuiteResult, type SplitResult } from './validate/run.js';

export { InputError, UsageError } from './io/errors.js';
export { VERSION } from './version.js';
