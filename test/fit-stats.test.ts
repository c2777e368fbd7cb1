import { describe, it, expect } from 'vitest';
import { tQuantile, tCdf, normalQuantile, normalCdf, incompleteBeta, poisson1, hash32, logGamma } from '../src/util/stats.js';
import { computeMetrics, MetricsAccumulator, sortedQuantile } from '../src/fit/metrics.js';
import { huberKappa } from '../src/fit/huber.js';
import { NormalAccumulator } from '../src/fit/accumulate.js';

describe('fit stats: distribution functions against tabulated values', () => {
  it('Student-t 97.5% quantiles (scipy.stats.t.ppf(0.975, df))', () => {
    const table: [number, number][] = [
      [1, 12.706204736174694],
      [2, 4.302652729749462],
      [5, 2.5705818356363146],
      [10, 2.228138851986274],
      [30, 2.0422724563012378],
      [100, 1.9839715185235518],
      [1000, 1.9623390808264083],
      [1e6, 1.959966356814107],
    ];
    for (const [df, q] of table) expect(Math.abs(tQuantile(0.975, df) - q), `df ${df}`).toBeLessThan(1e-9 * Math.max(1, q));
    expect(tQuantile(0.025, 7)).toBeCloseTo(-tQuantile(0.975, 7), 12);
  });
  it('t CDF, normal CDF / quantile, incomplete beta, log-gamma', () => {
    expect(tCdf(2.228138851986274, 10)).toBeCloseTo(0.975, 12);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 13);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
    // I_0.5(2,3) = 11/16 (hand: Σ_{j=2..4} C(4,j) 0.5^4)
    expect(incompleteBeta(0.5, 2, 3)).toBeCloseTo(11 / 16, 13);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 13);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13);
  });
  it('Huber proposal-2 constant κ(k) = E[min(Z², k²)]: κ(∞) = 1, κ(1.345) ≈ 0.7102 (numerical integration)', () => {
    expect(huberKappa(40)).toBeCloseTo(1, 12);
    // Riemann sum of min(z², k²)·φ(z)
    const k = 1.345;
    let s = 0;
    const h = 1e-4;
    for (let z = -12; z < 12; z += h) s += ((Math.min(z * z, k * k) * Math.exp((-z * z) / 2)) / Math.sqrt(2 * Math.PI)) * h;
    expect(huberKappa(k)).toBeCloseTo(s, 6);
  });
  it('Poisson(1) draws have mean 1 and P(0) = e⁻¹; hash is deterministic and spreads', () => {
    let sum = 0;
    let zeros = 0;
    const N = 200000;
    for (let i = 0; i < N; i++) {
      const k = poisson1(hash32(7, 1, i) / 4294967296);
      sum += k;
      if (k === 0) zeros++;
    }
    expect(sum / N).toBeCloseTo(1, 2);
    expect(zeros / N).toBeCloseTo(Math.exp(-1), 2);
    expect(hash32(1, 2, 3)).toBe(hash32(1, 2, 3));
    expect(hash32(1, 2, 3)).not.toBe(hash32(1, 2, 4));
  });
});

describe('fit metrics: hand-computed values', () => {
  it('MAPE, quantiles (type 7), RMSE, R², bias', () => {
    const meas = [100, 200, 400, 800];
    const pred = [110, 190, 400, 880];
    // APE: 10, 5, 0, 10 → mean 6.25; sorted 0,5,10,10: median = 7.5; p90: h = 2.7 → 10; p99 → 10
    // errors: 10, −10, 0, 80 → SSE = 6600, RMSE = √1650; m̄ = 375, SST = 75625+30625+625+180625 = 287500
    // signed PE: 10, −5, 0, 10 → bias 3.75
    const m = computeMetrics(pred, meas);
    expect(m.n).toBe(4);
    expect(m.mape).toBeCloseTo(6.25, 12);
    expect(m.medianApe).toBeCloseTo(7.5, 5);
    expect(m.p90Ape).toBeCloseTo(10, 5);
    expect(m.p99Ape).toBeCloseTo(10, 5);
    expect(m.rmseUs).toBeCloseTo(Math.sqrt(1650), 12);
    expect(m.r2!).toBeCloseTo(1 - 6600 / 287500, 12);
    expect(m.biasPct).toBeCloseTo(3.75, 12);
    expect(sortedQuantile([1, 2, 3, 4, 5], 0.9)).toBeCloseTo(4.6, 12);
  });
  it('merging accumulators equals one accumulator over the union (spanning several storage chunks); R² null for constant data', () => {
    const a = new MetricsAccumulator();
    const b = new MetricsAccumulator();
    const all = new MetricsAccumulator();
    for (let i = 0; i < 300000; i++) {
      const meas = 100 + (i % 37) * 3;
      const pred = meas * (1 + (((i * 7919) % 13) - 6) / 100);
      (i % 3 === 0 ? a : b).add(pred, meas);
      all.add(pred, meas);
    }
    const m = MetricsAccumulator.merge([a, b]).result();
    const r = all.result();
    expect(r.n).toBe(300000);
    // exact median of the APE multiset by counting (APE values are |k−6| % for k = i·7919 mod 13)
    expect(r.medianApe).toBeCloseTo(3, 5);
    for (const k of ['n', 'mape', 'medianApe', 'p90Ape', 'p99Ape', 'rmseUs', 'biasPct'] as const) expect(m[k]).toBeCloseTo(r[k], 9);
    expect(m.r2!).toBeCloseTo(r.r2!, 9);
    expect(computeMetrics([1, 2], [5, 5]).r2).toBeNull();
  });
});

describe('normal-equation accumulation', () => {
  it('XᵀWX, XᵀWy, yᵀWy, column ranges match direct sums; block flush and merge are exact in order', () => {
    const p = 3;
    const acc = new NormalAccumulator(p);
    const parts = [new NormalAccumulator(p), new NormalAccumulator(p)];
    const A = new Float64Array(9);
    const bb = new Float64Array(3);
    let c = 0;
    for (let i = 0; i < 2000; i++) {
      const x = Float64Array.of(1, i % 17, ((i * 31) % 101) - 50);
      const y = 3 + 0.5 * x[1]! - 0.1 * x[2]!;
      const w = 1 + (i % 5);
      acc.add(x, y, w);
      parts[i % 2]!.add(x, y, w);
      for (let r = 0; r < 3; r++) {
        bb[r] += w * x[r]! * y;
        for (let s = 0; s < 3; s++) A[r * 3 + s] += w * x[r]! * x[s]!;
      }
      c += w * y * y;
    }
    const sys = acc.system();
    const merged = NormalAccumulator.sum(parts, p).system();
    for (let k = 0; k < 9; k++) {
      expect(sys.A[k]).toBeCloseTo(A[k]!, 6);
      expect(merged.A[k]).toBeCloseTo(A[k]!, 6);
    }
    for (let k = 0; k < 3; k++) expect(sys.b[k]).toBeCloseTo(bb[k]!, 6);
    expect(sys.c).toBeCloseTo(c, 4);
    expect(sys.n).toBe(2000);
    expect([sys.colMin[0], sys.colMax[0], sys.colMin[1], sys.colMax[1]]).toEqual([1, 1, 0, 16]);
  });
});
