/**
 * A basis maps (step, architecture, GPU, parallelism) to regressors in µs (or counts).
 * Each basis is a table of terms; each term is a pure function with its formula in its doc comment.
 */
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import type { StepBatch } from '../steps/batch.js';
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
  /**
   * `row` for every step of a column batch (steps/batch.ts), row-major: out[r·p + j] = term j of step r
   * (p = number of terms; `out` holds at least b.n·p values). Bit-identical to `row(batchStep(b, r), …)`.
   */
  rowsBatch(b: StepBatch, out: Float64Array): void;
  /**
   * Only terms `terms` (indices) of `rowsBatch`, row-major with width terms.length, the same values bit for bit
   * (the fit's basis-parameter variants differ only in the terms the parameters affect). Optional.
   */
  termsBatch?(b: StepBatch, terms: readonly number[], out: Float64Array): void;
  /** `features` for every step of a batch, row-major (width = featureColumns.length); bit-identical to `features`. */
  featuresBatch(b: StepBatch, out: Float64Array): void;
}

export interface Basis {
  readonly name: string;
  readonly version: number;
  readonly description: string;
  readonly terms: readonly TermInfo[];
  readonly featureColumns: readonly string[];
  /** Which feature columns are integer counts (written without decimals). */
  readonly countColumns: ReadonlySet<string>;
  /**
   * Nonlinear basis parameters (shape constants inside the regressors, e.g. a knee), estimated by the
   * fitter by profile likelihood over `grid` unless given; `default` when the data cannot identify them.
   */
  readonly params?: readonly BasisParam[];
  /** Compile for one context; `params` (name → value) override the parameters' defaults. */
  compile(ctx: BasisContext, params?: Readonly<Record<string, number>>): CompiledBasis;
}

/**
 * A nonlinear parameter of a basis. The regressors depend on it nonlinearly, so it is not a
 * coefficient: the fitter profiles it (one linear fit per grid value, keeps the best training
 * objective) and records the value in the fit file (`basisParams`); every consumer compiles the
 * basis with the recorded value.
 */
export interface BasisParam {
  readonly name: string;
  /** Used when not fitted, or when the training data cannot identify it (flat profile). */
  readonly default: number;
  /** Fixed candidate values (ascending), decided in advance — never chosen by looking at test results. */
  readonly grid: readonly number[];
  readonly unit: string;
  /** Terms whose regressors depend on it (all-zero on every training row ⇒ not identifiable). */
  readonly affects: readonly string[];
  readonly doc: string;
}

/** Log-spaced grid lo·r^k for k = 0… while ≤ hi·(1 + 1e-9). */
export function logGrid(lo: number, hi: number, ratio: number): number[] {
  const out: number[] = [];
  for (let k = 0; ; k++) {
    const v = lo * ratio ** k;
    if (v > hi * (1 + 1e-9)) break;
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/**
 * Full parameter record of a basis: defaults overridden by `given`. Throws InputError-like `Error`
 * subclasses via `fail` (the caller names the file or flag) for unknown names and non-finite or
 * non-positive values.
 */
export function resolveBasisParams(b: Pick<Basis, 'name' | 'params'>, given: Readonly<Record<string, number>> | undefined, fail: (msg: string) => Error): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of b.params ?? []) out[p.name] = p.default;
  for (const [k, v] of Object.entries(given ?? {})) {
    const def = (b.params ?? []).find((p) => p.name === k);
    if (!def) {
      const known = (b.params ?? []).map((p) => p.name);
      throw fail(`unknown parameter '${k}' for basis '${b.name}' (${known.length ? `parameters: ${known.join(', ')}` : 'it has no parameters'})`);
    }
    if (!Number.isFinite(v) || !(v > 0)) throw fail(`parameter '${k}': expected a positive number (${def.unit}), got ${v}`);
    out[k] = v;
  }
  return out;
}
