/** What a fit returns (the fit file is built from it, build.ts). */
import type { Basis } from '../basis/types.js';
import type { ExperimentRef, KindResidual, Metrics, TermFit } from './fitfile.js';
import type { IdentProblem } from './identify.js';
import type { ResolvedOptions } from './options.js';
import type { ParamChoice } from './profile.js';

export type { ParamChoice };

export interface CvResult {
  scheme: string;
  seed?: number;
  overall: Metrics;
  folds: { fold: string; metrics: Metrics; trainRows: number; dropped: string[] }[];
  byGroup: Record<string, Record<string, Metrics>>;
}

export interface FitDiagnostics {
  rank: number;
  conditionNumber: number | null;
  activeConditionNumber: number | null;
  terms: number;
  notes: string[];
  dropped: string[];
  merged: { term: string; into: string }[];
  problems: IdentProblem[];
}

export interface FitResult {
  basis: Basis;
  options: ResolvedOptions;
  terms: TermFit[];
  coefficients: Float64Array;
  /** Covariance of the coefficients (p×p row-major; zero rows/columns for terms not fitted), or null. */
  covariance: Float64Array | null;
  residual: { sigma: number; scale: 'absolute' | 'relative'; dof: number; byKind?: Partial<Record<'step' | 'prefill' | 'decode', KindResidual>> };
  diagnostics: FitDiagnostics;
  experiments: ExperimentRef[];
  metrics: {
    train: { overall: Metrics; byGroup: Record<string, Record<string, Metrics>> };
    cv: CvResult | null;
  };
  /** Rows fitted and passes made over the data. */
  rows: number;
  passes: number;
  /** Every basis parameter's value used by the fit (compile the basis with these to predict). */
  basisParams: Record<string, number>;
  /** How each basis parameter was decided (profile, default fallback, given). */
  paramChoices: ParamChoice[];
}
