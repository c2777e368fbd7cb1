/**
 * Design rows of a whole column batch (steps/batch.ts) at once: variant 0's rows with `rowsBatch`, then for
 * each other basis-parameter variant only its values of the varying columns (a "wide" row, rows.ts). The
 * rows are bit-identical to the row-wise path (`rowsBatch` equals `row` bit for bit), so a fit over batches
 * equals a fit over the same steps as objects. Pure: no I/O, usable in a worker thread (row-pool.ts).
 */
import type { CompiledBasis } from '../basis/types.js';
import type { StepBatch } from '../steps/batch.js';

/**
 * Rows of one batch: n × p wide rows (row-major); the first row whose variants differ outside `varying` (−1:
 * none) and the term where they do (a basis whose parameter shapes a term it does not declare in `affects`).
 */
export interface BatchRows {
  readonly n: number;
  readonly rows: Float64Array;
  readonly mismatch: number;
  readonly mismatchTerm: number;
}

/** Variant g's design row (pBasis columns) from a wide row `x` (variant 0's row, then |varying| values per other variant), into `out`. */
export function variantRowOf(x: Float64Array, g: number, out: Float64Array, pBasis: number, varying: readonly number[]): Float64Array {
  for (let j = 0; j < pBasis; j++) out[j] = x[j]!;
  if (g > 0) {
    const k = varying.length;
    const off = pBasis + (g - 1) * k;
    for (let a = 0; a < k; a++) out[varying[a]!] = x[off + a]!;
  }
  return out;
}

/** Where `variantRowOf(x, g, …)` takes each of its pBasis values from, as column indices into the wide row x. */
export function variantColumns(g: number, pBasis: number, varying: readonly number[]): Int32Array {
  const cols = Int32Array.from({ length: pBasis }, (_, j) => j);
  if (g > 0) varying.forEach((j, a) => (cols[j] = pBasis + (g - 1) * varying.length + a));
  return cols;
}

export class BatchEvaluator {
  private base = new Float64Array(0);
  private other = new Float64Array(0);
  private wide = new Float64Array(0);
  private sub = new Float64Array(0);

  constructor(
    /** Number of basis terms. */
    private readonly pBasis: number,
    /** Wide row width: pBasis + (variants − 1)·|varying|. */
    private readonly p: number,
    private readonly varying: readonly number[],
  ) {}

  /**
   * Wide rows of `b` for the compiled variants (one per basis-parameter variant). `check`: evaluate every term of
   * every variant and find the first row where a variant differs from variant 0 in a column outside `varying`;
   * otherwise variants g ≥ 1 evaluate only their `varying` terms (`termsBatch`, when the basis has it) and take the
   * rest from variant 0 — the basis' `affects` declaration, checked on each experiment's first batch. The
   * returned array is reused by the next call unless `fresh` (then it is a new array the caller may keep or transfer).
   */
  evaluate(compiled: readonly CompiledBasis[], b: StepBatch, check: boolean, fresh = false): BatchRows {
    const n = b.n;
    const pb = this.pBasis;
    const G = compiled.length;
    if (G === 1) {
      const out = fresh ? new Float64Array(n * pb) : this.grow('base', n * pb);
      compiled[0]!.rowsBatch(b, out);
      return { n, rows: out, mismatch: -1, mismatchTerm: -1 };
    }
    const base = this.grow('base', n * pb);
    compiled[0]!.rowsBatch(b, base);
    const p = this.p;
    const wide = fresh ? new Float64Array(n * p) : this.grow('wide', n * p);
    for (let r = 0; r < n; r++) wide.set(base.subarray(r * pb, (r + 1) * pb), r * p);
    const other = this.grow('other', n * pb);
    const vc = this.varying;
    const k = vc.length;
    const fixed = Array.from({ length: pb }, (_, j) => j).filter((j) => !vc.includes(j));
    let mismatch = -1;
    let mismatchTerm = -1;
    for (let g = 1; g < G; g++) {
      if (!check && compiled[g]!.termsBatch) {
        this.varyingOnly(compiled[g]!, b, g, wide);
        continue;
      }
      compiled[g]!.rowsBatch(b, other);
      const off = pb + (g - 1) * k;
      for (let r = 0; r < n; r++) {
        const o = r * pb;
        if (check && (mismatch < 0 || r < mismatch)) {
          for (const j of fixed) {
            if (other[o + j] !== base[o + j]) {
              mismatch = r;
              mismatchTerm = j;
              break;
            }
          }
        }
        const w = r * p + off;
        for (let a = 0; a < k; a++) wide[w + a] = other[o + vc[a]!]!;
      }
    }
    return { n, rows: wide, mismatch, mismatchTerm };
  }

  /** Variant g's varying columns of every row of `b` into the wide rows (its other columns are variant 0's: `affects`). */
  private varyingOnly(cg: CompiledBasis, b: StepBatch, g: number, wide: Float64Array): void {
    const vc = this.varying;
    const k = vc.length;
    const sub = this.grow('sub', b.n * k);
    cg.termsBatch!(b, vc, sub);
    const p = this.p;
    const off = this.pBasis + (g - 1) * k;
    for (let r = 0; r < b.n; r++) {
      const w = r * p + off;
      const o = r * k;
      for (let a = 0; a < k; a++) wide[w + a] = sub[o + a]!;
    }
  }

  private grow(which: 'base' | 'other' | 'wide' | 'sub', len: number): Float64Array {
    if (this[which].length < len) this[which] = new Float64Array(Math.max(len, this[which].length * 2));
    return this[which];
  }
}
