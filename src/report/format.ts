/** Number formatting shared by the HTML and Markdown writers (so both print identical numbers). */
import type { Metrics } from '../fit/fitfile.js';

/** Percentage: 2 decimals below 10, 1 below 1000, else integer; NaN → '–'. */
export function pct(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  return `${x.toFixed(a < 10 ? 2 : a < 1000 ? 1 : 0)}%`;
}

/** Signed percentage (+/−). */
export function spct(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return (x > 0 ? '+' : '') + pct(x);
}

/** µs with sensible precision. */
export function us(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 100) return `${Math.round(x).toLocaleString('en-US')} µs`;
  return `${x.toFixed(a >= 1 ? 1 : 3)} µs`;
}

/** A coefficient (4 significant digits, exponent for very large/small). */
export function coef(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e5 || a < 1e-3 ? x.toExponential(3) : String(Number(x.toPrecision(4)));
}

export function int(x: number): string {
  return x.toLocaleString('en-US');
}

/** Condition number. */
export function cond(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '∞ (rank-deficient)';
  return x >= 1e4 ? x.toExponential(2) : x.toFixed(1);
}

/** The metric cells of a table row: n, MAPE, median, p90, p99, bias, RMSE. */
export function metricCells(m: Pick<Metrics, 'n' | 'mape' | 'medianApe' | 'p90Ape' | 'p99Ape' | 'biasPct' | 'rmseUs'>): string[] {
  return [int(m.n), pct(m.mape), pct(m.medianApe), pct(m.p90Ape), pct(m.p99Ape), spct(m.biasPct), us(m.rmseUs)];
}

export const METRIC_HEADERS = ['rows', 'MAPE', 'median APE', 'p90 APE', 'p99 APE', 'bias', 'RMSE'];

/** Verdict word for a MAPE. */
export function verdict(mape: number): { word: string; cls: 'good' | 'fair' | 'poor' } {
  if (mape < 5) return { word: 'accurate', cls: 'good' };
  if (mape < 15) return { word: 'usable with care', cls: 'fair' };
  return { word: 'inaccurate', cls: 'poor' };
}
