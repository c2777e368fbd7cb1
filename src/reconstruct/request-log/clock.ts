/**
 * The request-log replay's step clock (simulate.ts): a 4-term step-time model, its regressor rows,
 * prefix sums of the rows by step, and its robust fit to the logged request-level times.
 */
import { fcnnlsVector } from 'ml-fcnnls';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * A 4-term step-time model used only as the replay's clock and as its consistency check
 * (seconds): t = a + b·(prefill tokens/1000) + c·(decodes/100) + d·(Σ decode context/1e5).
 */
export interface ClockModel {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

/** Regressor row of one step for the clock model (scaled so the coefficients are of similar size). */
export function clockRow(pfTok: number, nDec: number, ctx: number): [number, number, number, number] {
  return [1, pfTok / 1000, nDec / 100, ctx / 1e5];
}

export function clockTime(m: ClockModel, row: readonly number[]): number {
  return Math.max(1e-6, m.a * row[0]! + m.b * row[1]! + m.c * row[2]! + m.d * row[3]!);
}

/** Prefix sums of the clock rows by step, so that a request's (contiguous) step range sums in O(1). */
export class RowSums {
  private readonly c: Float64Array;
  constructor(rows: Map<number, number[]>, n: number) {
    this.c = new Float64Array((n + 1) * 4);
    for (let k = 0; k < n; k++) {
      const row = rows.get(k);
      for (let i = 0; i < 4; i++) this.c[(k + 1) * 4 + i] = this.c[k * 4 + i]! + (row ? row[i]! : 0);
    }
  }
  /** Σ rows over the steps of `ks` (increasing and contiguous). */
  sum(ks: readonly number[]): number[] {
    if (ks.length === 0) return [0, 0, 0, 0];
    const a = ks[0]!,
      b = ks[ks.length - 1]!;
    if (b - a + 1 !== ks.length) throw new Error('RowSums: steps not contiguous (internal)');
    return [0, 1, 2, 3].map((i) => this.c[(b + 1) * 4 + i]! - this.c[a * 4 + i]!);
  }
}

/** What fitClock needs of a replayed request: its logged times and the steps of its prefill / decode targets. */
export interface ClockTargets {
  q: { scheduled: number; firstToken: number; lastToken: number };
  pf: number[];
  dc: number[];
}

/**
 * Fit the clock model to the request-level sums: Σ rows over a request's prefill (decode) steps = its
 * logged time, in relative terms (row and target divided by the target), by NNLS made robust with
 * Huber IRLS: residual e_i = x_i·K − 1, scale s = 1.4826·median|e|, weight w_i = min(1, 1.345·s/|e_i|),
 * rows scaled by √w_i, 6 rounds. Robustness matters where the replay departs from the engine (a
 * request the replay preempted but the engine did not has a target with many more steps than its
 * logged time allows, and one such row would otherwise outweigh hundreds of consistent ones).
 */
export function fitClock(runs: { reqs: readonly ClockTargets[]; cum: RowSums }[]): ClockModel | undefined {
  const X: number[][] = [];
  for (const { reqs, cum } of runs) {
    for (const r of reqs) {
      const add = (ks: number[], t: number) => {
        if (ks.length === 0 || !(t > 0)) return;
        X.push(cum.sum(ks).map((v) => v / t));
      };
      add(r.pf, r.q.firstToken - r.q.scheduled);
      add(r.dc, r.q.lastToken - r.q.firstToken);
    }
  }
  if (X.length < 4) return undefined;
  let w = new Array<number>(X.length).fill(1);
  let K: number[] = [];
  for (let round = 0; round < 6; round++) {
    const sw = w.map(Math.sqrt);
    K = fcnnlsVector(
      X.map((x, i) => x.map((v) => v * sw[i]!)),
      sw,
    ).K.to1DArray();
    const e = X.map((x) => x.reduce((acc, v, j) => acc + v * K[j]!, 0) - 1);
    const s = 1.4826 * median(e.map(Math.abs));
    if (!(s > 0)) break;
    const k = 1.345 * s;
    w = e.map((ei) => (Math.abs(ei) <= k ? 1 : k / Math.abs(ei)));
  }
  const [a, b, c, d] = K as [number, number, number, number];
  return a > 0 || b > 0 ? { a, b, c, d } : undefined;
}
