/**
 * Shape-aware GEMM time: a table of measured latencies over (m, n, k), interpolated in log space.
 *
 * A dense GEMM C[m×n] = A[m×k]·W[k×n] does not run at one efficiency per FLOP count: the same FLOPs
 * take different times for different shapes (tile quantization in m and n, split-K for small m and
 * large k, weight streaming at small m, wave quantization over the SMs). The 1-D curve in FLOPs
 * (efficiency.ts) averages these away (held-out MAPE 13–19 % on H100, up to 1.6× on real layer
 * shapes); the table keeps them:
 *
 *   log t(m, n, k) = trilinear interpolation of log t over (log m, log n, log k)
 *
 * between the measured grid points (equivalently, log efficiency is interpolated: log FLOPs is
 * linear in the log coordinates). Outside the grid, per dimension:
 * - above the largest measured size the *efficiency* is held (t grows ∝ size: the kernel is as
 *   efficient as the largest one measured);
 * - below the smallest measured size the *time* is held (launch and ramp-up floor).
 *
 * The table is per GPU and GEMM dtype (`bf16`, `fp8` per-tensor scaled, `fp8_block` 128×128
 * block-scaled), written by `stepfit engine calibrate` from AIConfigurator's vLLM 0.14.0
 * gemm_perf.csv into the efficiency file (`gemmShapes`). GPUs or dtypes without one use the 1-D
 * curves (the documented defaults when the GPU has no calibrated file at all).
 */

/** Measured GEMM latencies on a grid; `us[(i·|n| + j)·|k| + l]` = time of (m[i], n[j], k[l]) in µs. */
export interface GemmTable {
  readonly m: readonly number[];
  readonly n: readonly number[];
  readonly k: readonly number[];
  readonly us: readonly number[];
}

/** GEMM dtypes with tables: BF16/FP16, FP8 per-tensor (W8A8), FP8 128×128 block-scaled weights. */
export type GemmTableDtype = 'bf16' | 'fp8' | 'fp8_block';
export const GEMM_TABLE_DTYPES: readonly GemmTableDtype[] = ['bf16', 'fp8', 'fp8_block'];

/**
 * Position of x on a sorted grid in log space: segment index i and weight t ∈ [0, 1] between
 * grid[i] and grid[i+1], plus the factor `scale` by which the time is multiplied for the part of x
 * outside the grid (x/max above it: constant efficiency; 1 below it: constant time).
 */
function locate(grid: readonly number[], x: number): { i: number; t: number; scale: number } {
  const n = grid.length;
  if (n === 1) return { i: 0, t: 0, scale: x > grid[0]! ? x / grid[0]! : 1 };
  if (x <= grid[0]!) return { i: 0, t: 0, scale: 1 };
  if (x >= grid[n - 1]!) return { i: n - 2, t: 1, scale: x / grid[n - 1]! };
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (grid[mid]! <= x) lo = mid;
    else hi = mid;
  }
  const a = grid[lo]!;
  return { i: lo, t: Math.log(x / a) / Math.log(grid[hi]! / a), scale: 1 };
}

/** log(us) of each table, computed once per table object (the interpolation's hot path reads logs only). */
const LOG_US = new WeakMap<GemmTable, Float64Array>();
function logUs(tb: GemmTable): Float64Array {
  let l = LOG_US.get(tb);
  if (!l) {
    l = Float64Array.from(tb.us, Math.log);
    LOG_US.set(tb, l);
  }
  return l;
}

/** Time of one GEMM (m, n, k) from the table, µs (log-trilinear inside the grid; see the module doc outside it). */
export function gemmTableUs(tb: GemmTable, m: number, n: number, k: number): number {
  const lu = logUs(tb);
  const a = locate(tb.m, m);
  const b = locate(tb.n, n);
  const c = locate(tb.k, k);
  const nn = tb.n.length;
  const nk = tb.k.length;
  let logT = 0;
  for (let da = 0; da < 2; da++) {
    const wa = da ? a.t : 1 - a.t;
    if (wa === 0) continue;
    const ia = Math.min(a.i + da, tb.m.length - 1);
    for (let db = 0; db < 2; db++) {
      const wb = db ? b.t : 1 - b.t;
      if (wb === 0) continue;
      const ib = Math.min(b.i + db, nn - 1);
      for (let dc = 0; dc < 2; dc++) {
        const wc = dc ? c.t : 1 - c.t;
        if (wc === 0) continue;
        const ic = Math.min(c.i + dc, nk - 1);
        logT += wa * wb * wc * lu[(ia * nn + ib) * nk + ic]!;
      }
    }
  }
  return Math.exp(logT) * a.scale * b.scale * c.scale;
}

/**
 * The grid rule of the calibrated tables: a size is a grid point when it is 2^j or 3·2^j (1, 2, 3,
 * 4, 6, 8, 12, 16, 24, 32, 48, …), or the largest size measured; the other measured sizes (e.g.
 * n, k = 2560, 3584, 5120, 7168, 10240; m = 80, 160 on H100) are held out and predicted by
 * interpolation, which is the error the file reports.
 */
export function onGrid(x: number): boolean {
  if (!(x > 0) || !Number.isInteger(x)) return false;
  let v = x;
  while (v % 2 === 0) v /= 2;
  return v === 1 || v === 3;
}

export interface GemmSample {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly us: number;
}

/**
 * Build a table from measured samples on the grid points (onGrid, plus the largest size of each
 * dimension). A grid cell without a measurement takes the efficiency of its nearest measured
 * neighbour with smaller k (then smaller n, then smaller m), scaled by the FLOP ratio (AIConfigurator
 * skips the largest corner, n = k = 65536). Returns null when a dimension has fewer than 2 grid points.
 */
export function buildGemmTable(samples: readonly GemmSample[]): GemmTable | null {
  const axis = (f: (s: GemmSample) => number): number[] => {
    const all = [...new Set(samples.map(f))].sort((x, y) => x - y);
    const max = all[all.length - 1];
    return all.filter((v) => onGrid(v) || v === max);
  };
  const m = axis((s) => s.m);
  const n = axis((s) => s.n);
  const k = axis((s) => s.k);
  if (m.length < 2 || n.length < 2 || k.length < 2) return null;
  const mi = new Map(m.map((v, i) => [v, i]));
  const ni = new Map(n.map((v, i) => [v, i]));
  const ki = new Map(k.map((v, i) => [v, i]));
  const us = new Array<number>(m.length * n.length * k.length).fill(NaN);
  for (const s of samples) {
    const a = mi.get(s.m);
    const b = ni.get(s.n);
    const c = ki.get(s.k);
    if (a === undefined || b === undefined || c === undefined || !(s.us > 0)) continue;
    us[(a * n.length + b) * k.length + c] = s.us;
  }
  fillMissing(us, m, n, k);
  return us.some((v) => !Number.isFinite(v)) ? null : { m, n, k, us };
}

/** Fill missing cells from the nearest measured cell with smaller k, n or m at the same efficiency (time × FLOP ratio). */
function fillMissing(us: number[], m: readonly number[], n: readonly number[], k: readonly number[]): void {
  const idx = (a: number, b: number, c: number): number => (a * n.length + b) * k.length + c;
  for (let a = 0; a < m.length; a++)
    for (let b = 0; b < n.length; b++)
      for (let c = 0; c < k.length; c++) {
        if (Number.isFinite(us[idx(a, b, c)])) continue;
        const from = [c > 0 ? [a, b, c - 1] : null, b > 0 ? [a, b - 1, c] : null, a > 0 ? [a - 1, b, c] : null].find((p) => p && Number.isFinite(us[idx(p[0]!, p[1]!, p[2]!)]));
        if (!from) continue;
        const [fa, fb, fc] = from as number[];
        us[idx(a, b, c)] = us[idx(fa!, fb!, fc!)]! * ((m[a]! / m[fa!]!) * (n[b]! / n[fb!]!) * (k[c]! / k[fc!]!));
      }
}
