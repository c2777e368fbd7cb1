/**
 * The project's own model JSON (`stepfitModel: 1`): everything needed to predict with a fit and
 * to judge it — basis and version, terms with coefficient, unit and physical meaning, residual and
 * covariance (prediction intervals), the training contexts and their ranges (extrapolation
 * warnings), headline accuracy, and where it came from — without the fit file's per-fold and
 * per-group detail. `loadFit` (src/predict/load.ts) reads it wherever a fit file is accepted
 * (predict, report, export), so predictions from it are identical to those from the fit file.
 */
import { z } from 'zod';
import { FitFile, Metrics, ExperimentRef, FIT_SCHEMA_VERSION } from '../fit/fitfile.js';

export const MODEL_JSON_VERSION = 1;

export const ModelJson = z.object({
  stepfitModel: z.literal(MODEL_JSON_VERSION),
  basis: z.string(),
  basisVersion: z.number().int(),
  /** The fit's basis parameters (e.g. the fitted all-reduce knee); optional, defaults when absent. */
  basisParams: z.record(z.string(), z.number()).optional(),
  terms: z.array(
    z.object({
      name: z.string(),
      coef: z.number(),
      unit: z.enum(['us', 'count']),
      meaning: z.string(),
      status: z.string(),
      se: z.number().nullable(),
      ci95: z.tuple([z.number().nullable(), z.number().nullable()]),
    }),
  ),
  method: FitFile.shape.method,
  residual: FitFile.shape.residual,
  covariance: z.array(z.number()).nullable(),
  trainedOn: z.array(ExperimentRef),
  accuracy: z.object({
    train: Metrics,
    cv: z.object({ scheme: z.string(), overall: Metrics }).nullable(),
  }),
  source: z.object({
    fit: z.string(),
    sha256: z.string(),
    createdAt: z.string(),
    stepfitVersion: z.string(),
  }),
});
export type ModelJson = z.infer<typeof ModelJson>;

/**
 * A fit-file view of a model JSON (for the predictor and the checks that expect a FitFile):
 * per-group metrics, CV folds and diagnostics are not in the model JSON and come back empty.
 */
export function fitFromModelJson(m: ModelJson): FitFile {
  return {
    stepfitFit: FIT_SCHEMA_VERSION,
    basis: m.basis,
    basisVersion: m.basisVersion,
    ...(m.basisParams ? { basisParams: m.basisParams } : {}),
    terms: m.terms.map((t) => ({ name: t.name, coef: t.coef, se: t.se, ci95: t.ci95, status: t.status })),
    method: m.method,
    residual: m.residual,
    covariance: m.covariance,
    experiments: m.trainedOn,
    metrics: {
      train: { overall: m.accuracy.train, byGroup: {} },
      cv: m.accuracy.cv ? { scheme: m.accuracy.cv.scheme, overall: m.accuracy.cv.overall, folds: [], byGroup: {} } : null,
    },
    diagnostics: { rank: m.terms.filter((t) => t.status === 'fitted').length, conditionNumber: null, notes: [], dropped: [], merged: [] },
    provenance: { stepfitVersion: m.source.stepfitVersion, createdAt: m.source.createdAt, commandLine: `model JSON exported from ${m.source.fit}`, inputs: [], gpus: {} },
  };
}
