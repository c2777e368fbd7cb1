/**
 * Load a fit file for use (predict, report, export): schema + version (readFitFile), a known basis
 * and basis version, term names matching the basis in order, and a covariance of the right size.
 * Every refusal is one line naming the file and what is wrong.
 */
import { resolveFitRef } from '../io/fit-ref.js';
import fs from 'node:fs';
import { readFitFile, type FitFile } from '../fit/fitfile.js';
import { ModelJson, MODEL_JSON_VERSION, fitFromModelJson } from './modeljson.js';
import { BASES } from '../basis/registry.js';
import { resolveBasisParams, type Basis } from '../basis/types.js';
import { InputError } from '../io/errors.js';

export interface LoadedFit {
  readonly path: string;
  readonly fit: FitFile;
  readonly basis: Basis;
}

/** Check a parsed fit against the basis registry; `path` names the file in messages. */
/**
 * Largest |coefficient| accepted: terms are multipliers of a µs time or µs per unit (token, layer,
 * request), so 10⁹ already means minutes per token; beyond it predictions overflow or are garbage.
 */
export const MAX_ABS_COEF = 1e9;

export function checkFit(fit: FitFile, path: string): LoadedFit {
  const basis = BASES[fit.basis];
  if (!basis) {
    throw new InputError(`${path}: fit file uses basis '${fit.basis}', which this stepfit does not know (known: ${Object.keys(BASES).join(', ')})`);
  }
  if (fit.basisVersion !== basis.version) {
    throw new InputError(`${path}: fit file uses basis '${fit.basis}' version ${fit.basisVersion}; this stepfit has version ${basis.version} — refit with this version`);
  }
  const want = basis.terms.map((t) => t.name);
  const got = fit.terms.map((t) => t.name);
  if (want.join(',') !== got.join(',')) {
    throw new InputError(`${path}: field 'terms': names [${got.join(', ')}] do not match basis '${basis.name}' v${basis.version} terms [${want.join(', ')}]`);
  }
  resolveBasisParams(basis, fit.basisParams, (m) => new InputError(`${path}: field 'basisParams': ${m}`));
  fit.terms.forEach((t, i) => {
    if (!Number.isFinite(t.coef)) throw new InputError(`${path}: field 'terms[${i}].coef' (${t.name}): expected a finite number, got ${t.coef}`);
    if (Math.abs(t.coef) > MAX_ABS_COEF)
      throw new InputError(`${path}: field 'terms[${i}].coef' (${t.name}): ${t.coef} is beyond ±${MAX_ABS_COEF} (no step-time term is that large: corrupt or hand-edited fit file?)`);
  });
  const p = want.length;
  if (fit.covariance !== null) {
    if (fit.covariance.length !== p * p) {
      throw new InputError(`${path}: field 'covariance': expected ${p}×${p} = ${p * p} numbers (row-major, term order), got ${fit.covariance.length}`);
    }
    const bad = fit.covariance.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new InputError(`${path}: field 'covariance[${bad}]': expected a finite number`);
  }
  if (!Number.isFinite(fit.residual.sigma) || fit.residual.sigma < 0) {
    throw new InputError(`${path}: field 'residual.sigma': expected a finite number ≥ 0, got ${fit.residual.sigma}`);
  }
  for (const [kind, k] of Object.entries(fit.residual.byKind ?? {})) {
    if (!k) continue;
    if (!Number.isFinite(k.sigma) || k.sigma < 0) throw new InputError(`${path}: field 'residual.byKind.${kind}.sigma': expected a finite number ≥ 0, got ${k.sigma}`);
    if (k.dof !== undefined && !(k.dof > 0)) throw new InputError(`${path}: field 'residual.byKind.${kind}.dof': expected a number > 0, got ${k.dof}`);
  }
  return { path, fit, basis };
}

/** Read a model JSON (`stepfitModel`), refusing unknown versions and schema mismatches. */
function readModelJson(path: string, json: Record<string, unknown>): FitFile {
  if (json['stepfitModel'] !== MODEL_JSON_VERSION) {
    throw new InputError(`${path}: model JSON version ${String(json['stepfitModel'])} is not supported (this stepfit reads version ${MODEL_JSON_VERSION})`);
  }
  const r = ModelJson.safeParse(json);
  if (!r.success) {
    const iss = r.error.issues[0]!;
    throw new InputError(`${path}: not a stepfit model JSON: field '${iss.path.join('.')}': ${iss.message}`);
  }
  return fitFromModelJson(r.data);
}

/** Read, validate and check a fit file — or a model JSON written by `stepfit export --to json`. */
export function loadFit(ref: string): LoadedFit {
  const path = resolveFitRef(ref); // a published fit id (fits/<id>.json) or a file path
  if (fs.existsSync(path) && fs.statSync(path).isFile()) {
    let json: unknown = null;
    try {
      json = JSON.parse(fs.readFileSync(path, 'utf8'));
    } catch {
      // readFitFile reports corrupted JSON with its message
    }
    if (json && typeof json === 'object' && !Array.isArray(json) && 'stepfitModel' in json) return checkFit(readModelJson(path, json as Record<string, unknown>), path);
  }
  return checkFit(readFitFile(path), path);
}
