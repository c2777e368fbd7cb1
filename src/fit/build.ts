/**
 * The complete fit file (fitfile.ts schema) from a fit result — one builder, so `stepfit fit` and
 * every other caller (validation suites, notebooks) write identical files for identical inputs.
 * Only `provenance.createdAt` varies between runs.
 */
import { VERSION } from '../version.js';
import { FIT_SCHEMA_VERSION, FitFile } from './fitfile.js';
import type { FitResult } from './result.js';
import { hashDatasetInputs, type FitDataset } from './dataset.js';

export interface FitProvenance {
  commandLine: string;
  inputs: { path: string; sha256: string }[];
  /** GPU datasheet figures by the id each experiment gave. */
  gpus: Record<string, unknown>;
  /** ISO time; default now. */
  createdAt?: string;
}

/** Provenance of a data set: SHA-256 of every input file and the GPU figures used. */
export async function fitProvenance(ds: FitDataset, commandLine: string, createdAt?: string): Promise<FitProvenance> {
  const gpus: Record<string, unknown> = {};
  for (const e of ds.experiments) {
    if (gpus[e.ref.gpu]) continue;
    const { file: _file, ...spec } = e.gpu;
    gpus[e.ref.gpu] = spec;
  }
  return { commandLine, inputs: await hashDatasetInputs(ds), gpus, createdAt };
}

/** Method options as recorded in the file (stable key order). */
function methodOptions(r: FitResult): Record<string, unknown> {
  const o = r.options;
  const out: Record<string, unknown> = { seed: o.seed, cv: o.cv, bootstrap: o.bootstrap, collinear: o.collinear };
  if (o.bounds) out['bounds'] = o.bounds;
  if (o.ridge) out['ridge'] = o.ridge;
  if (o.huber) out['huber'] = o.huber;
  return out;
}

const finiteOrThrow = (what: string, x: number): number => {
  if (!Number.isFinite(x)) throw new Error(`fit produced a non-finite ${what} (${x})`);
  return x;
};

/** Build (and validate against the schema) the fit file object. */
export function buildFitFile(r: FitResult, prov: FitProvenance): FitFile {
  const obj = {
    stepfitFit: FIT_SCHEMA_VERSION,
    basis: r.basis.name,
    basisVersion: r.basis.version,
    ...(Object.keys(r.basisParams).length > 0 ? { basisParams: r.basisParams } : {}),
    terms: r.terms.map((t) => ({ name: t.name, coef: finiteOrThrow(`coefficient for '${t.name}'`, t.coef), se: t.se, ci95: t.ci95, status: t.status })),
    method: { name: r.options.method, weight: r.options.weight, options: methodOptions(r) },
    residual: r.residual,
    covariance: r.covariance ? Array.from(r.covariance) : null,
    experiments: r.experiments,
    metrics: {
      train: r.metrics.train,
      cv: r.metrics.cv
        ? {
            scheme: r.metrics.cv.scheme,
            ...(r.metrics.cv.seed !== undefined ? { seed: r.metrics.cv.seed } : {}),
            overall: r.metrics.cv.overall,
            folds: r.metrics.cv.folds.map((f) => ({ fold: f.fold, metrics: f.metrics, trainRows: f.trainRows, dropped: f.dropped })),
            byGroup: r.metrics.cv.byGroup,
          }
        : null,
    },
    diagnostics: {
      rank: r.diagnostics.rank,
      conditionNumber: r.diagnostics.conditionNumber,
      notes: r.diagnostics.notes,
      dropped: r.diagnostics.dropped,
      merged: r.diagnostics.merged,
      terms: r.diagnostics.terms,
      activeConditionNumber: r.diagnostics.activeConditionNumber,
      problems: r.diagnostics.problems,
      ...(r.paramChoices.length > 0 ? { basisParams: r.paramChoices } : {}),
    },
    provenance: {
      stepfitVersion: VERSION,
      createdAt: prov.createdAt ?? new Date().toISOString(),
      commandLine: prov.commandLine,
      inputs: prov.inputs,
      gpus: prov.gpus,
    },
  };
  const parsed = FitFile.safeParse(JSON.parse(JSON.stringify(obj)));
  if (!parsed.success) {
    const iss = parsed.error.issues[0]!;
    throw new Error(`internal: fit file does not match its schema at '${iss.path.join('.')}': ${iss.message}`);
  }
  return parsed.data;
}
