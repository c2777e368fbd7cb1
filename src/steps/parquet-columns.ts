/**
 * The row loops of the columnar Parquet reader (parquet-batch.ts) over one row group's decoded columns:
 * the checks of `validateStep` on the arrays, and the columns built from them. Each loop is a small
 * function of its own, so that each is optimised once for the whole file (a larger function with several
 * loops is re-optimised, and thrown away again, for every row group).
 */
import type { DecodedChunk } from './parquet-pages.js';
import { MAX_DURATION_US, MAX_TOKENS, MIN_DURATION_US } from './step.js';

/** Whether the definition levels of a flat optional column agree with its number of values. */
export function flatDefined(ch: DecodedChunk, n: number): boolean {
  if (!ch.def) return ch.nValues === n;
  let m = 0;
  for (let r = 0; r < n; r++) if (ch.def[r] === 1) m++;
  return m === ch.nValues;
}

const isCount = (x: number): boolean => x >= 0 && x <= MAX_TOKENS && Number.isInteger(x);

/** Offsets of a LIST column over n rows, or null when a list or element is null (left to the general reader). */
export function listOffsets(ch: DecodedChunk, n: number): Int32Array | null {
  const l = ch.list;
  if (!l || l.bad || l.rows !== n || l.values !== ch.nValues) return null;
  return l.off;
}

/** A LIST column's values as Int32Array after checking each is a count (0 … 2^30); null if one is not. */
export function counts(ch: DecodedChunk, positive: boolean): Int32Array | null {
  const v = ch.values as Float64Array | Int32Array;
  const m = ch.nValues;
  const lo = positive ? 1 : 0;
  if (v instanceof Int32Array) {
    if (ch.inRange) return v.length === m ? v : v.subarray(0, m);
    for (let i = 0; i < m; i++) {
      const x = v[i]!;
      if (x < lo || x > MAX_TOKENS) return null;
    }
    return v.length === m ? v : v.subarray(0, m);
  }
  const out = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    const x = v[i]!;
    if (!isCount(x) || x < lo) return null;
    out[i] = x;
  }
  return out;
}

export function sameOffsets(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether every step number is a non-negative safe integer. */
export function stepsValid(step: Float64Array, n: number): boolean {
  for (let r = 0; r < n; r++) if (!(step[r]! >= 0 && Number.isSafeInteger(step[r]!))) return false;
  return true;
}

/** The duration column over n rows (NaN where null), or null when a value is out of range. */
export function durations(du: DecodedChunk | null, n: number): Float64Array | null {
  const durationUs = new Float64Array(n);
  if (!du) return durationUs.fill(Number.NaN);
  const dv = du.values as Float64Array;
  const def = du.def;
  for (let r = 0, v = 0; r < n; r++) {
    if (def && def[r] === 0) {
      durationUs[r] = Number.NaN;
      continue;
    }
    const d = dv[v++]!;
    if (!(d >= MIN_DURATION_US && d <= MAX_DURATION_US)) return null;
    durationUs[r] = d;
  }
  return durationUs;
}

/** Each row's experiment name as an index into the distinct names (a null or absent experiment is ''). */
export function experimentIds(ex: DecodedChunk | null, n: number): { experiment: Int32Array; experimentNames: string[] } {
  const experiment = new Int32Array(n);
  if (!ex) return { experiment, experimentNames: [''] };
  const names = ex.names!;
  const ids = ex.values as Int32Array;
  if (!ex.def) {
    experiment.set(ids.subarray(0, n));
    return { experiment, experimentNames: names };
  }
  let empty = names.indexOf('');
  for (let r = 0, v = 0; r < n; r++) {
    if (ex.def[r] !== 0) experiment[r] = ids[v++]!;
    else {
      if (empty < 0) empty = names.push('') - 1;
      experiment[r] = empty;
    }
  }
  return { experiment, experimentNames: names };
}

/** Whether prompt ≥ prior + tokens for every chunk. */
export function promptsCover(prompt: Int32Array, prior: Int32Array, tokens: Int32Array, np: number): boolean {
  for (let i = 0; i < np; i++) if (prompt[i]! < prior[i]! + tokens[i]!) return false;
  return true;
}

/** Prompts prior + tokens (when the file has no prompt column), or null when one exceeds MAX_TOKENS. */
export function promptsOf(prior: Int32Array, tokens: Int32Array, np: number): Int32Array | null {
  const out = new Int32Array(np);
  for (let i = 0; i < np; i++) {
    const s = prior[i]! + tokens[i]!;
    if (s > MAX_TOKENS) return null;
    out[i] = s;
  }
  return out;
}

/** Whether a row has neither prefill chunks nor decode requests. */
export function anyEmptyRow(pOff: Int32Array, dOff: Int32Array, n: number): boolean {
  for (let r = 0; r < n; r++) if (pOff[r + 1] === pOff[r] && dOff[r + 1] === dOff[r]) return true;
  return false;
}
