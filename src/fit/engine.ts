/**
 * Kept only so that code written against the old module name keeps compiling during the merge of the
 * fit split (issue 16): the fit now lives in options.ts, estimators.ts, huber.ts, cv.ts, uncertainty.ts,
 * residuals.ts, profile.ts, plan.ts (the solve loop) and program.ts (the drivers). Import from those or
 * from api.ts; this file goes once nothing imports it.
 */
export { FIT_METHODS, DEFAULT_RIDGE_LAMBDA, parseCv, formatCv, resolveOptions, type CvSpec, type FitMethod, type FitOptions, type FitWeight, type ResolvedOptions } from './options.js';
export { fitDataset, fitDatasetSync } from './program.js';
export { huberKappa } from './huber.js';
export { chi2Crit95, type ParamChoice } from './profile.js';
export { KindScaleAccumulator, KIND_RESERVOIR } from './residuals.js';
export type { CvResult, FitDiagnostics, FitResult } from './result.js';
