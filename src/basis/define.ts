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
import { batchStep, type StepBatch } from '../steps/batch.js';

/** A value computed from the basis constants `C` of one context and one step. */
export type TermFn<C> = (c: C, s: Step) => number;

/** One raw feature column (what `stepfit features` writes), in µs or a count. */
export interface FeatureColumn<C> {
  readonly name: string;
  /** An integer count (true) or a time in µs (false, the default). */
  readonly count?: boolean;
  readonly compute: TermFn<C>;
  /** False when the value depends only on the context (computed once per compile). Default true. */
  readonly perStep?: boolean;
}

/** One term of a basis: its `TermInfo` fields, the regressor, and the raw feature columns it contributes. */
export interface TermRecord<C> extends TermInfo {
  /** The regressor: this term's entry of the design row. */
  readonly compute: TermFn<C>;
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
  readonly perStep?: boolean;
}

/**
 * Compile slots for constants `c` into `(step, out) => void` writing slot i to out[i]: the fixed values
 * are computed here once, each row only calls the per-step functions. `codegen: false` forces the loop
 * form (the fallback where code generation is not allowed; tests compare the two).
 */
export function flatEvaluator<C>(slots: readonly Slot<C>[], c: C, opts: { codegen?: boolean } = {}): (s: Step, out: Float64Array) => void {
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

type Eval = (s: Step, out: Float64Array) => void;

/**
 * The evaluator as straight-line code, `out[i] = f_i(c, s); …; out[j] = v_j;`, so that every call site
 * sees one function (monomorphic, inlinable) as in a hand-written basis. Only indices, and the names
 * of this function's own parameters, are written into the source; the functions and values are passed
 * in. Undefined where code generation is not allowed (a page whose content security policy forbids it).
 */
function straightLine<C>(stepAt: number[], stepFn: TermFn<C>[], fixedAt: number[], fixedVal: number[], c: C): Eval | undefined {
  const body = [...stepAt.map((i, k) => `out[${i}] = f${k}(c, s);`), ...fixedAt.map((i, k) => `out[${i}] = v${k};`)].join('\n');
  const names = ['c', ...stepFn.map((_, k) => `f${k}`), ...fixedVal.map((_, k) => `v${k}`)];
  try {
    const make = new Function(...names, `return function evaluate(s, out) {\n${body}\n};`) as (...args: unknown[]) => Eval;
    return make(c, ...stepFn, ...fixedVal);
  } catch {
    return undefined;
  }
}

/** The same evaluator as a loop over the per-step functions (no code generation). */
function loop<C>(stepAt: number[], stepFn: TermFn<C>[], fixedAt: number[], fixedVal: number[], c: C): Eval {
  const nStep = stepAt.length;
  const nFixed = fixedAt.length;
  const sAt = Int32Array.from(stepAt);
  const fAt = Int32Array.from(fixedAt);
  const fVal = Float64Array.from(fixedVal);
  return (s: Step, out: Float64Array): void => {
    for (let k = 0; k < nStep; k++) out[sAt[k]!] = stepFn[k]!(c, s);
    for (let k = 0; k < nFixed; k++) out[fAt[k]!] = fVal[k]!;
  };
}

/**
 * A per-step evaluator lifted to column batches: row r of the batch → out[r·width …]. (Generic version:
 * one step record per row via `batchStep`; a columnar evaluator may replace its inside.)
 */
export function batchEvaluator(one: Eval, width: number): (b: StepBatch, out: Float64Array) => void {
  return (b, out) => {
    for (let r = 0; r < b.n; r++) one(batchStep(b, r), out.subarray(r * width, (r + 1) * width));
  };
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
      const features = flatEvaluator(columns, c);
      const row = flatEvaluator(def.terms, c);
      return { features, row, rowsBatch: batchEvaluator(row, def.terms.length), featuresBatch: batchEvaluator(features, columns.length) };
    },
  });
}
