/**
 * Basis terms as named records (issue 16). A basis is its constants (computed once per context) and a
 * list of term records `{name, unit, meaning, prior, lower, compute, columns}`; adding a term is one
 * record in one file. `defineBasis` derives everything else — the `TermInfo` table, the feature column
 * names, which columns are counts — and compiles the records into a flat evaluator that writes a
 * Float64Array row: terms that do not depend on the step (`perStep: false`) are computed once per
 * compile; only the per-step ones are called on each row.
 */
import type { Basis, BasisContext, BasisParam, CompiledBasis, TermInfo } from './types.js';
import type { Step } from '../steps/step.js';
import type { StepBatch } from '../steps/batch.js';
import { BatchRow, sumsOf, type BatchSums } from '../steps/batch-row.js';

/** A value computed from the basis constants `C` of one context and one step. */
export type TermFn<C> = (c: C, s: Step) => number;

/**
 * The same value for every row of a column batch at once: out[o + r·stride] = compute(c, step r) for
 * r < x.n, bit for bit (same operations in the same order; `x` holds the batch and its shared per-row sums).
 */
export type BatchFn<C> = (c: C, x: BatchSums, out: Float64Array, o: number, stride: number) => void;

/** One raw feature column (what `stepfit features` writes), in µs or a count. */
export interface FeatureColumn<C> {
  readonly name: string;
  /** An integer count (true) or a time in µs (false, the default). */
  readonly count?: boolean;
  readonly compute: TermFn<C>;
  /** Optional column-batch form of `compute` (tested equal to it bit for bit); without it, batches go row by row. */
  readonly batch?: BatchFn<C>;
  /** False when the value depends only on the context (computed once per compile). Default true. */
  readonly perStep?: boolean;
}

/** One term of a basis: its `TermInfo` fields, the regressor, and the raw feature columns it contributes. */
export interface TermRecord<C> extends TermInfo {
  /** The regressor: this term's entry of the design row. */
  readonly compute: TermFn<C>;
  /** Optional column-batch form of `compute` (tested equal to it bit for bit); without it, batches go row by row. */
  readonly batch?: BatchFn<C>;
  /** False when the regressor depends only on the context (computed once per compile). Default true. */
  readonly perStep?: boolean;
  /** Raw feature columns of this term, in order (the feature table is their concatenation in term order); none for e.g. the constant. */
  readonly columns?: readonly FeatureColumn<C>[];
}

export interface BasisDefinition<C> {
  readonly name: string;
  readonly version: number;
  readonly description: string;
  readonly params?: readonly BasisParam[];
  /** Constants of one context (with the resolved basis parameters); everything a term needs besides the step. */
  readonly consts: (ctx: BasisContext, params: Readonly<Record<string, number>> | undefined) => C;
  readonly terms: readonly TermRecord<C>[];
}

/** An item of the flat evaluator (a term or a feature column): its value function, and whether it varies per step. */
export interface Slot<C> {
  readonly compute: TermFn<C>;
  readonly batch?: BatchFn<C>;
  readonly perStep?: boolean;
}

/**
 * Compile slots for constants `c` into `(step, out) => void` writing slot i to out[i]: the fixed values
 * are computed here once, each row only calls the per-step functions. `codegen: false` forces the loop
 * form (the fallback where code generation is not allowed; tests compare the two).
 */
export function flatEvaluator<C>(slots: readonly Slot<C>[], c: C, opts: { codegen?: boolean } = {}): (s: Step, out: Float64Array) => void {
  const at = flatEvaluatorAt(slots, c, opts);
  return (s, out) => at(s, out, 0);
}

/** `flatEvaluator` writing slot i to out[o + i] (the batch evaluator fills row r at o = r · width). */
export function flatEvaluatorAt<C>(slots: readonly Slot<C>[], c: C, opts: { codegen?: boolean } = {}): EvalAt {
  const fixedAt: number[] = [];
  const fixedVal: number[] = [];
  const stepAt: number[] = [];
  const stepFn: TermFn<C>[] = [];
  slots.forEach((sl, i) => {
    if (sl.perStep === false) {
      fixedAt.push(i);
      fixedVal.push(sl.compute(c, NO_STEP));
    } else {
      stepAt.push(i);
      stepFn.push(sl.compute);
    }
  });
  return (opts.codegen === false ? undefined : straightLine(stepAt, stepFn, fixedAt, fixedVal, c)) ?? loop(stepAt, stepFn, fixedAt, fixedVal, c);
}

type EvalAt = (s: Step, out: Float64Array, o: number) => void;

/**
 * The evaluator as straight-line code, `out[i] = f_i(c, s); …; out[j] = v_j;`, so that every call site
 * sees one function (monomorphic, inlinable) as in a hand-written basis. Only indices, and the names
 * of this function's own parameters, are written into the source; the functions and values are passed
 * in. Undefined where code generation is not allowed (a page whose content security policy forbids it).
 */
function straightLine<C>(stepAt: number[], stepFn: TermFn<C>[], fixedAt: number[], fixedVal: number[], c: C): EvalAt | undefined {
  const body = [...stepAt.map((i, k) => `out[o + ${i}] = f${k}(c, s);`), ...fixedAt.map((i, k) => `out[o + ${i}] = v${k};`)].join('\n');
  const names = ['c', ...stepFn.map((_, k) => `f${k}`), ...fixedVal.map((_, k) => `v${k}`)];
  try {
    const make = new Function(...names, `return function evaluate(s, out, o) {\n${body}\n};`) as (...args: unknown[]) => EvalAt;
    return make(c, ...stepFn, ...fixedVal);
  } catch {
    return undefined;
  }
}

/** The same evaluator as a loop over the per-step functions (no code generation). */
function loop<C>(stepAt: number[], stepFn: TermFn<C>[], fixedAt: number[], fixedVal: number[], c: C): EvalAt {
  const nStep = stepAt.length;
  const nFixed = fixedAt.length;
  const sAt = Int32Array.from(stepAt);
  const fAt = Int32Array.from(fixedAt);
  const fVal = Float64Array.from(fixedVal);
  return (s: Step, out: Float64Array, o: number): void => {
    for (let k = 0; k < nStep; k++) out[o + sAt[k]!] = stepFn[k]!(c, s);
    for (let k = 0; k < nFixed; k++) out[o + fAt[k]!] = fVal[k]!;
  };
}

/**
 * A per-step evaluator lifted to column batches: row r of the batch → out[r·width …]. The same term
 * functions run on one `BatchRow` view moved along the batch (no step record per row; the decode-context
 * sums are computed once per row and shared by the terms), so the values are those of `row`/`features`
 * bit for bit.
 */
export function batchEvaluatorAt(at: EvalAt, width: number): (b: StepBatch, out: Float64Array) => void {
  const view = new BatchRow();
  return (b, out) => {
    if (out.length < b.n * width) throw new Error(`batch evaluator: output holds ${out.length} values, ${b.n} rows × ${width} needed`);
    for (let r = 0; r < b.n; r++) at(view.moveTo(b, r), out, r * width);
  };
}

/**
 * The batch evaluator of compiled slots: each slot with a `batch` form fills its column of the row-major
 * output once per batch (over the batch's shared per-row sums, `sumsOf`), fixed slots are filled with
 * their value, and only the per-step slots without a batch form (none in the built-in bases) run row by
 * row on a `BatchRow` view. Bit-identical to the per-step evaluator (each `batch` form is tested so).
 */
export function columnEvaluator<C>(slots: readonly Slot<C>[], c: C, opts: { codegen?: boolean } = {}): (b: StepBatch, out: Float64Array) => void {
  const width = slots.length;
  const cols: { at: number; fn: BatchFn<C> }[] = [];
  const fixed: { at: number; v: number }[] = [];
  const rest: number[] = [];
  slots.forEach((sl, i) => {
    if (sl.perStep === false) fixed.push({ at: i, v: sl.compute(c, NO_STEP) });
    else if (sl.batch) cols.push({ at: i, fn: sl.batch });
    else rest.push(i);
  });
  const restFns = rest.map((i) => slots[i]!.compute);
  const perRow = rest.length === 0 ? null : batchEvaluatorAt((opts.codegen === false ? undefined : straightLine(rest, restFns, [], [], c)) ?? loop(rest, restFns, [], [], c), width);
  return (b, out) => {
    if (out.length < b.n * width) throw new Error(`batch evaluator: output holds ${out.length} values, ${b.n} rows × ${width} needed`);
    if (perRow) perRow(b, out);
    const x = sumsOf(b);
    for (const { at, fn } of cols) fn(c, x, out, at, width);
    for (const { at, v } of fixed) for (let q = at, e = b.n * width; q < e; q += width) out[q] = v;
  };
}

/** A plain per-step evaluator `(step, out)` lifted to batches the same way (through a scratch row). */
export function batchEvaluator(one: (s: Step, out: Float64Array) => void, width: number): (b: StepBatch, out: Float64Array) => void {
  const tmp = new Float64Array(width);
  return batchEvaluatorAt((s, out, o) => {
    one(s, tmp);
    out.set(tmp, o);
  }, width);
}

/** The step context-only terms are evaluated with (they must not read it). */
const NO_STEP: Step = Object.freeze({ experiment: '', step: 0, prefill: Object.freeze([]), decode: Object.freeze([]) });

const infoOf = <C>(t: TermRecord<C>): TermInfo => Object.freeze({ name: t.name, unit: t.unit, meaning: t.meaning, prior: t.prior, ...(t.lower !== undefined ? { lower: t.lower } : {}) });

/** Build a `Basis` from its term records; throws on duplicate term or column names (a programming error). */
export function defineBasis<C>(def: BasisDefinition<C>): Basis {
  const columns = def.terms.flatMap((t) => t.columns ?? []);
  for (const [what, names] of [
    ['term', def.terms.map((t) => t.name)],
    ['feature column', columns.map((x) => x.name)],
  ] as const) {
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new Error(`basis '${def.name}': duplicate ${what} '${dup}'`);
  }
  return Object.freeze({
    name: def.name,
    version: def.version,
    description: def.description,
    terms: Object.freeze(def.terms.map(infoOf)),
    featureColumns: Object.freeze(columns.map((x) => x.name)),
    countColumns: new Set(columns.filter((x) => x.count === true).map((x) => x.name)),
    ...(def.params ? { params: def.params } : {}),
    compile(ctx: BasisContext, params?: Readonly<Record<string, number>>): CompiledBasis {
      const c = def.consts(ctx, params);
      const featuresAt = flatEvaluatorAt(columns, c);
      const rowAt = flatEvaluatorAt(def.terms, c);
      const subsets = new Map<string, (b: StepBatch, out: Float64Array) => void>();
      const subset = (terms: readonly number[]) =>
        columnEvaluator(
          terms.map((j) => def.terms[j]!),
          c,
        );
      return {
        termsBatch: (b, terms, out) => {
          const key = terms.join();
          if (!subsets.has(key)) subsets.set(key, subset(terms));
          subsets.get(key)!(b, out);
        },
        features: (s, out) => featuresAt(s, out, 0),
        row: (s, out) => rowAt(s, out, 0),
        rowsBatch: columnEvaluator(def.terms, c),
        featuresBatch: columnEvaluator(columns, c),
      };
    },
  });
}
