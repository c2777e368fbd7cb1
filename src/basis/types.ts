/**
 * A basis maps (step, architecture, GPU, parallelism) to regressors in µs (or counts).
 * Each basis is a table of terms; each term is a pure function with its formula in its doc comment.
 */
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import type { Step } from '../steps/step.js';

/** Everything a basis may depend on besides the step itself. Frozen. */
export interface BasisContext {
  readonly arch: Architecture;
  readonly gpu: GpuSpec;
  /** Tensor parallel degree. */
  readonly tp: number;
}

export interface TermInfo {
  /** Coefficient name in fit files (e.g. `prefill`). */
  readonly name: string;
  /** Unit of the regressor: 'us' (a time whose coefficient is a dimensionless multiplier) or 'count' (coefficient in µs per unit). */
  readonly unit: 'us' | 'count';
  /** What the coefficient means physically, for reports. */
  readonly meaning: string;
  /** Prior value for ridge (efficiency multipliers: 1; counts: 0). */
  readonly prior: number;
  /**
   * Physical lower bound of the coefficient, when the basis knows one (e.g. 1 for a time computed at
   * datasheet peak: no kernel beats its roofline). `physicalBounds(basis)` turns these into fit bounds.
   */
  readonly lower?: number;
}

/** Per-term bounds `[lower, null]` from each term's physical lower bound (0 when the basis gives none): the `bounds` option of a bounded or robust fit. */
export function physicalBounds(b: Basis): Record<string, [number, null]> {
  const out: Record<string, [number, null]> = {};
  for (const t of b.terms) out[t.name] = [t.lower ?? 0, null];
  return out;
}

/** A basis compiled for one context: constants precomputed, then cheap per-step evaluation. */
export interface CompiledBasis {
  /** Raw feature columns (as written by `stepfit features`). */
  features(step: Step, out: Float64Array): void;
  /** Regressors in term order (the design-matrix row). */
  row(step: Step, out: Float64Array): void;
}

export interface Basis {
  readonly name: string;
  readonly version: number;
  readonly description: string;
  readonly terms: readonly TermInfo[];
  readonly featureColumns: readonly string[];
  /** Which feature columns are integer counts (written without decimals). */
  readonly countColumns: ReadonlySet<string>;
  compile(ctx: BasisContext): CompiledBasis;
}
