/**
 * Fitting efficiency curves to measured kernel times.
 *
 * Model of one measured row i (ideal times tc₀ = F/P, tm₀ = B/BW in µs):
 *   t̂_i = max( tc₀_i / eff_c(F_i), tm₀_i / eff_m(B_i) )
 * with log eff piecewise linear in log size (analytic/efficiency.ts `curveEff`). The fit minimises
 * Σ (log t̂_i − log t_i)² (≈ squared relative error) + a smoothness penalty on second differences
 * of the knot values, by alternating: assign each row to the bound that binds under the current
 * curves, fit each curve by linear least squares to its rows' achieved efficiencies
 * (log(tc₀/t) or log(tm₀/t)), clamp to eff ≤ 1, repeat. Knots without data are pulled toward the
 * prior (default) curve by a weak ridge term.
 */
import { Matrix, solve } from 'ml-matrix';
import { curveEff, type Curve, type RooflineCurves } from './efficiency.js';

export interface TimedRow {
  /** FLOPs and bytes of the kernel, measured time in µs. */
  readonly flops: number;
  readonly bytes: number;
  readonly us: number;
  /** Items (sequences) the kernel handles, for a per-item time term (attention). */
  readonly items?: number;
}

/** Knots at powers of 2 covering [lo, hi]. */
export function powerOfTwoKnots(lo: number, hi: number, step = 1): number[] {
  const a = Math.floor(Math.log2(lo));
  const b = Math.ceil(Math.log2(hi));
  const out: number[] = [];
  for (let e = a; e <= b; e += step) out.push(2 ** e);
  if (out[out.length - 1]! < hi) out.push(2 ** (a + Math.ceil((b - a) / step) * step));
  return out;
}

/** Hat-function weights of ln x on knots ln xs (linear interpolation); below/above range: end knot with an offset. */
function hat(knotsLn: readonly number[], lx: number): { i: number; wi: number; j: number; wj: number; offset: number } {
  const n = knotsLn.length;
  if (lx <= knotsLn[0]!) return { i: 0, wi: 1, j: 0, wj: 0, offset: lx - knotsLn[0]! };
  if (lx >= knotsLn[n - 1]!) return { i: n - 1, wi: 1, j: n - 1, wj: 0, offset: 0 };
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (knotsLn[mid]! <= lx) lo = mid;
    else hi = mid;
  }
  const t = (lx - knotsLn[lo]!) / (knotsLn[hi]! - knotsLn[lo]!);
  return { i: lo, wi: 1 - t, j: hi, wj: t, offset: 0 };
}

/**
 * Fit log-efficiency knot values g (eff = e^g) to points (size_i, achieved eff_i):
 * min Σ (g(ln size_i) − ln eff_i)² + λ Σ (g_{j−1} − 2g_j + g_{j+1})² + μ Σ (g_j − prior_j)².
 */
export function fitLogCurve(knots: readonly number[], sizes: readonly number[], effs: readonly number[], prior: Curve, lambda = 0.3, mu = 1e-3, weights?: readonly number[]): Curve {
  const n = knots.length;
  const kl = knots.map(Math.log);
  const A = Matrix.zeros(n, n);
  const b = new Array<number>(n).fill(0);
  for (let r = 0; r < sizes.length; r++) {
    const h = hat(kl, Math.log(sizes[r]!));
    const y = Math.log(effs[r]!) - h.offset;
    const w = weights ? weights[r]! : 1;
    A.set(h.i, h.i, A.get(h.i, h.i) + w * h.wi * h.wi);
    b[h.i]! += w * h.wi * y;
    if (h.wj > 0) {
      A.set(h.j, h.j, A.get(h.j, h.j) + w * h.wj * h.wj);
      A.set(h.i, h.j, A.get(h.i, h.j) + w * h.wi * h.wj);
      A.set(h.j, h.i, A.get(h.j, h.i) + w * h.wi * h.wj);
      b[h.j]! += w * h.wj * y;
    }
  }
  for (let j = 1; j < n - 1; j++) {
    const idx = [j - 1, j, j + 1];
    const c = [1, -2, 1];
    for (let a = 0; a < 3; a++) for (let bb = 0; bb < 3; bb++) A.set(idx[a]!, idx[bb]!, A.get(idx[a]!, idx[bb]!) + lambda * c[a]! * c[bb]!);
  }
  for (let j = 0; j < n; j++) {
    A.set(j, j, A.get(j, j) + mu);
    b[j]! += mu * Math.log(curveEff(prior, knots[j]!));
  }
  const g = solve(A, Matrix.columnVector(b)).getColumn(0);
  return { x: [...knots], eff: g.map((v) => Math.min(1, Math.max(1e-5, Math.exp(v)))) };
}

export interface RooflineFit {
  readonly curves: RooflineCurves;
  /** Predicted µs per training row (same order). */
  readonly predicted: number[];
  readonly iterations: number;
}

/** Predict a row with curves: max(F/(P·eff_c(F)), B/(BW·eff_m(B))) + items·perItemUs. */
export function predictRow(r: { flops: number; bytes: number; items?: number }, peak: number, bw: number, c: RooflineCurves): number {
  const tc = r.flops > 0 ? r.flops / (peak * curveEff(c.compute, r.flops)) : 0;
  const tm = r.bytes > 0 ? r.bytes / (bw * curveEff(c.memory, r.bytes)) : 0;
  return Math.max(tc, tm) + (r.items ?? 0) * (c.perItemUs ?? 0);
}

/** One alternating fit of the two curves to rows with times `us` (robust: IRLS toward least absolute log error). */
function fitCurvesOnce(
  rows: readonly TimedRow[],
  us: readonly number[],
  peak: number,
  bw: number,
  prior: RooflineCurves,
  cKnots: number[],
  mKnots: number[],
  iterations: number,
): { curves: RooflineCurves; it: number } {
  let curves: RooflineCurves = { compute: prior.compute, memory: prior.memory };
  let computeBound = rows.map((r) => r.flops > 0 && r.flops / (peak * curveEff(prior.compute, r.flops)) >= r.bytes / (bw * curveEff(prior.memory, r.bytes)));
  let weights = rows.map(() => 1);
  let it = 0;
  for (; it < iterations; it++) {
    const cs: number[] = [];
    const ce: number[] = [];
    const cw: number[] = [];
    const ms: number[] = [];
    const me: number[] = [];
    const mw: number[] = [];
    rows.forEach((r, i) => {
      if (computeBound[i]) {
        cs.push(r.flops);
        ce.push(r.flops / peak / us[i]!);
        cw.push(weights[i]!);
      } else {
        ms.push(r.bytes);
        me.push(r.bytes / bw / us[i]!);
        mw.push(weights[i]!);
      }
    });
    curves = {
      compute: cs.length ? fitLogCurve(cKnots, cs, ce, prior.compute, 0.3, 1e-3, cw) : curves.compute,
      memory: ms.length ? fitLogCurve(mKnots, ms, me, prior.memory, 0.3, 1e-3, mw) : curves.memory,
    };
    const next = rows.map((r) => r.flops > 0 && r.flops / (peak * curveEff(curves.compute, r.flops)) >= r.bytes / (bw * curveEff(curves.memory, r.bytes)));
    // IRLS weights 1/max(|log residual|, 0.03): least absolute log error
    weights = rows.map((r, i) => 1 / Math.max(0.03, Math.abs(Math.log(predictRow(r, peak, bw, curves) / us[i]!))));
    computeBound = next;
  }
  return { curves, it };
}

/**
 * Fit compute and memory curves (and, when `perItem`, a per-item time τ) for one operator class.
 * `peak` FLOPs/µs, `bw` bytes/µs, `prior` the default curves.
 * With `perItem`: t = max(…) + τ·items; τ ≥ 0 re-estimated by relative least squares between curve fits.
 */
export function fitRooflineCurves(rows: readonly TimedRow[], peak: number, bw: number, prior: RooflineCurves, opts: { perItem?: boolean; iterations?: number } = {}): RooflineFit {
  const iterations = opts.iterations ?? 10;
  const fl = rows.filter((r) => r.flops > 0);
  const cKnots = fl.length ? powerOfTwoKnots(Math.min(...fl.map((r) => r.flops)), Math.max(...fl.map((r) => r.flops))) : prior.compute.x.slice();
  const mKnots = powerOfTwoKnots(Math.min(...rows.map((r) => r.bytes)), Math.max(...rows.map((r) => r.bytes)));
  let tau = 0;
  let curves: RooflineCurves = prior;
  let it = 0;
  for (let outer = 0; outer < (opts.perItem ? 5 : 1); outer++) {
    const us = rows.map((r) => Math.max(r.us - tau * (r.items ?? 0), 0.2 * r.us));
    const f = fitCurvesOnce(rows, us, peak, bw, prior, cKnots, mKnots, iterations);
    curves = f.curves;
    it += f.it;
    if (!opts.perItem) break;
    let num = 0;
    let den = 0;
    for (const r of rows) {
      const n = r.items ?? 0;
      const base = predictRow({ flops: r.flops, bytes: r.bytes }, peak, bw, curves);
      num += ((n / r.us) * (r.us - base)) / r.us;
      den += (n / r.us) ** 2;
    }
    tau = den > 0 ? Math.max(0, num / den) : 0;
  }
  const final: RooflineCurves = opts.perItem ? { ...curves, perItemUs: tau } : curves;
  return { curves: final, predicted: rows.map((r) => predictRow(r, peak, bw, final)), iterations: it };
}

export interface CollectiveRow {
  readonly messageBytes: number;
  readonly trafficBytes: number;
  readonly us: number;
}

/**
 * Fit an all-reduce curve: latency α = 0.9·min t, then bandwidth efficiency
 * eff_i = traffic_i / (link·(t_i − α)) fitted as a log curve vs message size (rows with t − α below
 * 5% of t are dropped as latency-dominated). Predicted t = α + traffic/(link·eff(S)).
 */
export function fitCollective(rows: readonly CollectiveRow[], linkPerUs: number, prior: Curve): { latencyUs: number; bandwidth: Curve } {
  const alpha = 0.9 * Math.min(...rows.map((r) => r.us));
  const use = rows.filter((r) => r.us - alpha > 0.05 * r.us);
  const knots = powerOfTwoKnots(Math.min(...rows.map((r) => r.messageBytes)), Math.max(...rows.map((r) => r.messageBytes)));
  const bandwidth = fitLogCurve(
    knots,
    use.map((r) => r.messageBytes),
    use.map((r) => Math.min(1, r.trafficBytes / (linkPerUs * (r.us - alpha)))),
    prior,
    0.1,
  );
  return { latencyUs: alpha, bandwidth };
}

/** Absolute percentage errors → {n, mape, medianApe, p90Ape} (null when n = 0). */
export function apeStats(pred: readonly number[], meas: readonly number[]): { n: number; mape: number | null; medianApe: number | null; p90Ape: number | null } {
  const ape = pred.map((p, i) => (Math.abs(p - meas[i]!) / meas[i]!) * 100).sort((a, b) => a - b);
  const n = ape.length;
  if (n === 0) return { n: 0, mape: null, medianApe: null, p90Ape: null };
  const q = (f: number): number => ape[Math.min(n - 1, Math.floor(f * (n - 1) + 0.5))]!;
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { n, mape: r(ape.reduce((s, x) => s + x, 0) / n), medianApe: r(q(0.5)), p90Ape: r(q(0.9)) };
}
