/**
 * `export --to json`: the project's own model JSON (schema and reader in src/predict/modeljson.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { FitFile } from '../fit/fitfile.js';
import type { Basis } from '../basis/types.js';
import { MODEL_JSON_VERSION, ModelJson } from '../predict/modeljson.js';

export { ModelJson, MODEL_JSON_VERSION };

/** The model JSON of a fit file (`path` and its bytes name the source). */
export function toModelJson(fit: FitFile, basis: Basis, path: string): ModelJson {
  const sha256 = fs.existsSync(path) ? crypto.createHash('sha256').update(fs.readFileSync(path)).digest('hex') : '';
  return {
    stepfitModel: MODEL_JSON_VERSION,
    basis: fit.basis,
    basisVersion: fit.basisVersion,
    ...(fit.basisParams ? { basisParams: fit.basisParams } : {}),
    terms: fit.terms.map((t, j) => ({ name: t.name, coef: t.coef, unit: basis.terms[j]!.unit, meaning: basis.terms[j]!.meaning, status: t.status, se: t.se, ci95: t.ci95 })),
    method: fit.method,
    residual: fit.residual,
    covariance: fit.covariance,
    trainedOn: fit.experiments,
    accuracy: { train: fit.metrics.train.overall, cv: fit.metrics.cv ? { scheme: fit.metrics.cv.scheme, overall: fit.metrics.cv.overall } : null },
    source: { fit: path, sha256, createdAt: fit.provenance.createdAt, stepfitVersion: fit.provenance.stepfitVersion },
  };
}

/** Serialise (stable key order, 2-space indent, trailing newline). */
export function modelJsonText(m: ModelJson): string {
  return JSON.stringify(ModelJson.parse(m), null, 2) + '\n';
}
