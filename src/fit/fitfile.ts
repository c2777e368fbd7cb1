/**
 * The coefficient file (fits/*.json): versioned and self-describing (design.md).
 * Anything that reads it (predict, report, export, simulate) goes through `readFitFile`, which
 * refuses unknown schema versions and unknown bases with a clear message.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { getBasis } from '../basis/registry.js';
import type { Basis } from '../basis/types.js';

export const FIT_SCHEMA_VERSION = 1;

export const TermFit = z.object({
  name: z.string(),
  coef: z.number(),
  /** Standard error (null when not estimable, e.g. a term fixed at a bound). */
  se: z.number().nullable(),
  ci95: z.tuple([z.number().nullable(), z.number().nullable()]),
  /** 'fitted' | 'dropped' (not identifiable, coef fixed at 0 or prior) | 'merged:<other>' | 'at-bound' */
  status: z.string().default('fitted'),
});
export type TermFit = z.infer<typeof TermFit>;

/** Accuracy metrics over a set of rows (APE in %, times in µs). */
export const Metrics = z.object({
  n: z.number().int(),
  mape: z.number(),
  medianApe: z.number(),
  p90Ape: z.number(),
  p99Ape: z.number(),
  rmseUs: z.number(),
  r2: z.number().nullable(),
  /** Mean signed percentage error (predicted − measured)/measured, %. */
  biasPct: z.number(),
});
export type Metrics = z.infer<typeof Metrics>;

export const ExperimentRef = z.object({
  id: z.string(),
  model: z.string(),
  gpu: z.string(),
  tp: z.number().int().positive(),
  groups: z.record(z.string(), z.string()).default({}),
  /** Number of training rows from this experiment. */
  rows: z.number().int().nonnegative(),
  /** Ranges of the training data, for extrapolation warnings. */
  ranges: z
    .object({
      prefillTokens: z.tuple([z.number(), z.number()]),
      decodeRequests: z.tuple([z.number(), z.number()]),
      maxContext: z.number(),
    })
    .optional(),
});
export type ExperimentRef = z.infer<typeof ExperimentRef>;

/**
 * Residual scale of one row kind (step rows, or request-level prefill / decode target rows) on the
 * scale the prediction interval applies it to: absolute ε = y − ŷ; relative (y = ŷ·(1 + ε)) ε = (y − ŷ)/ŷ.
 * The fitter writes σ_k = q₀.₉₅(|ε|) / t₀.₉₇₅,dof_k · √(n_k/dof_k) for every method ('q95': the t-interval
 * covers 95% of the kind's training residuals; equals σ for normal errors; quantile about zero, exact up to
 * 65,536 rows of the kind, over a seeded reservoir sample beyond), dof_k = n_k − Σ_k h_ii (leverages
 * h_ii = w·xᵀ(XᵀWX)⁻¹x). Other estimators a file may name: 'rms' √(Σ_k ε²/dof_k), 'mad' 1.4826·median|ε|·√(n_k/dof_k).
 */
export const KindResidual = z.object({
  sigma: z.number(),
  n: z.number().int().nonnegative(),
  dof: z.number().optional(),
  /** How σ was estimated: 'q95' (what the fitter writes), 'rms' or 'mad' (see above). */
  estimator: z.enum(['rms', 'q95', 'mad']).optional(),
});
export type KindResidual = z.infer<typeof KindResidual>;

export const FitFile = z.object({
  stepfitFit: z.literal(FIT_SCHEMA_VERSION),
  basis: z.string(),
  basisVersion: z.number().int(),
  /**
   * Values of the basis' nonlinear parameters (`Basis.params`, e.g. serving's `tp_comm_knee_mib`) the
   * fit used: predictions must compile the basis with them. Optional (older files, bases without
   * parameters): missing names take the basis defaults.
   */
  basisParams: z.record(z.string(), z.number()).optional(),
  terms: z.array(TermFit),
  method: z.object({
    name: z.enum(['ols', 'nnls', 'bounded', 'ridge', 'huber']),
    weight: z.enum(['none', 'relative']),
    options: z.record(z.string(), z.unknown()).default({}),
  }),
  /**
   * Residual standard deviation on the fitting scale (relative when weight = relative), pooled over every
   * training row (steps and request-level targets). `byKind` (optional; added after schema v1 was first
   * written) is the residual scale of each row kind on the same scale — `predict` uses `byKind.step` for
   * step predictions and falls back to the pooled σ when it is absent.
   */
  residual: z.object({
    sigma: z.number(),
    scale: z.enum(['absolute', 'relative']),
    dof: z.number(),
    byKind: z.object({ step: KindResidual.optional(), prefill: KindResidual.optional(), decode: KindResidual.optional() }).optional(),
  }),
  /** (XᵀWX)⁻¹·σ² in term order, row-major, for prediction intervals (null when not available). */
  covariance: z.array(z.number()).nullable().default(null),
  experiments: z.array(ExperimentRef),
  metrics: z.object({
    train: z.object({ overall: Metrics, byGroup: z.record(z.string(), z.record(z.string(), Metrics)).default({}) }),
    cv: z
      .object({
        scheme: z.string(),
        seed: z.number().int().optional(),
        overall: Metrics,
        folds: z.array(
          z.object({
            fold: z.string(),
            metrics: Metrics,
            /** Rows the fold's model was trained on (added in stepfit 0.1; optional for older files). */
            trainRows: z.number().int().optional(),
            /** Terms that fold's training data could not identify (fixed at 0 in that fold's model). */
            dropped: z.array(z.string()).optional(),
          }),
        ),
        byGroup: z.record(z.string(), z.record(z.string(), Metrics)).default({}),
      })
      .nullable()
      .default(null),
  }),
  /**
   * BLIS-style α terms (request overheads outside the steps), fitted beside β by `fit --alpha-from`
   * (src/fit/alpha.ts): alpha0 API time before queueing (µs), alpha1 post-decode fixed (µs), alpha2
   * per output token (µs). Optional: absent when the data carried no API timestamps.
   */
  alpha: z
    .object({
      source: z.string(),
      terms: z.array(TermFit),
      n: z.object({ api: z.number().int().nonnegative(), post: z.number().int().nonnegative() }),
      notes: z.array(z.string()).default([]),
    })
    .optional(),
  diagnostics: z.object({
    rank: z.number().int(),
    conditionNumber: z.number().nullable(),
    /** Human-readable notes: dropped/merged terms and why. */
    notes: z.array(z.string()).default([]),
    dropped: z.array(z.string()).default([]),
    merged: z.array(z.object({ term: z.string(), into: z.string() })).default([]),
    /** Number of basis terms (rank is out of this many). Optional: added after schema v1 was first written. */
    terms: z.number().int().optional(),
    /** Condition number of the scaled design restricted to the fitted terms. */
    activeConditionNumber: z.number().nullable().optional(),
    /** Identifiability findings by name: all-zero, constant, collinear or ill-conditioned terms. */
    problems: z
      .array(
        z.object({
          kind: z.enum(['zero', 'constant', 'collinear', 'ill-conditioned']),
          terms: z.array(z.string()),
          detail: z.string(),
        }),
      )
      .optional(),
    /** How each basis parameter was decided: profiled on the training rows, default (not identifiable), or given. */
    basisParams: z
      .array(
        z.object({
          name: z.string(),
          unit: z.string(),
          value: z.number(),
          source: z.enum(['profile', 'default', 'given']),
          grid: z.array(z.number()).optional(),
          /** Training objective at each grid value (Huber proposal-2 criterion, or weighted RSS). */
          objective: z.array(z.number()).optional(),
          interval: z.tuple([z.number(), z.number()]).optional(),
          reason: z.string(),
        }),
      )
      .optional(),
  }),
  provenance: z.object({
    stepfitVersion: z.string(),
    createdAt: z.string(),
    commandLine: z.string(),
    inputs: z.array(z.object({ path: z.string(), sha256: z.string() })),
    gpus: z.record(z.string(), z.unknown()).default({}),
  }),
});
export type FitFile = z.infer<typeof FitFile>;

/** Read and validate a fit file; refuse unknown versions/bases (checked by the caller's basis registry). */
export function readFitFile(path: string): FitFile {
  if (!fs.existsSync(path)) throw new InputError(`fit file '${path}' not found`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InputError(`${path}: corrupted fit file, not valid JSON (${jsonErrorDetail(e)})`);
  }
  if (json && typeof json === 'object' && 'stepfitFit' in json && (json as { stepfitFit: unknown }).stepfitFit !== FIT_SCHEMA_VERSION) {
    throw new InputError(`${path}: fit file schema version ${String((json as { stepfitFit: unknown }).stepfitFit)} is not supported (this stepfit reads version ${FIT_SCHEMA_VERSION})`);
  }
  const r = FitFile.safeParse(json);
  if (!r.success) {
    const iss = r.error.issues[0]!;
    throw new InputError(`${path}: not a stepfit fit file: field '${iss.path.join('.')}': ${iss.message}`);
  }
  return r.data;
}

/** Write a fit file atomically with stable key order (reproducible bytes apart from createdAt). */
export function writeFitFile(path: string, fit: FitFile): void {
  writeFileAtomic(path, JSON.stringify(fit, null, 2) + '\n');
}

/** The fit file's basis (refusing unknown names/versions) and its coefficients in term order; terms must match the basis. */
export function fitBasisAndCoefs(fit: Pick<FitFile, 'basis' | 'basisVersion' | 'terms'>): { basis: Basis; coefs: Float64Array } {
  const basis = getBasis(fit.basis, fit.basisVersion);
  const names = basis.terms.map((t) => t.name);
  const fileNames = fit.terms.map((t) => t.name);
  if (names.join(',') !== fileNames.join(',')) {
    throw new InputError(`fit file terms [${fileNames.join(', ')}] do not match basis '${basis.name}' v${basis.version} terms [${names.join(', ')}]`);
  }
  return { basis, coefs: Float64Array.from(fit.terms.map((t) => t.coef)) };
}
