/**
 * The report's streaming quantile sketch (src/report/sketch.ts): exact below k values, within
 * RANK_ERROR·n in rank beyond (several distributions and input orders, merged sketches), bounded
 * size; and the report's streamed metrics on more rows than k against exact computeMetrics.
 */
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { QuantileSketch, RANK_ERROR, SKETCH_K } from '../src/report/sketch.js';
import { makeRng } from '../src/util/rng.js';
import { sortedQuantile, computeMetrics, experimentFrom, fitDatasetSync, buildFitFile, fitProvenance } from '../src/fit/api.js';
import { writeFitFile } from '../src/fit/fitfile.js';
import { loadFit } from '../src/predict/load.js';
import { makePredictor } from '../src/predict/predict.js';
import { collectReportData } from '../src/report/data.js';
import { overallMetrics, statsOf, accuracyByGroup } from '../src/report/accuracy.js';
import { tmpDir, synthDataset } from './predict-fixtures.js';

/** Check that `v`'s rank range in `sorted` comes within eps·n of q·n. */
function rankOk(sorted: Float64Array, v: number, q: number, eps: number): boolean {
  let lo = 0,
    hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  let ub = lo;
  while (ub < sorted.length && sorted[ub] === v) ub++;
  const n = sorted.length;
  const target = q * n;
  return target >= lo - eps * n && target <= ub + eps * n;
}

const QS = [0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

function streams(n: number): Record<string, Float64Array> {
  const rng = makeRng(42);
  const uniform = Float64Array.from({ length: n }, () => rng.next());
  const lognormal = Float64Array.from({ length: n }, () => Math.exp(2 * rng.normal()));
  const ascending = Float64Array.from({ length: n }, (_, i) => i);
  const descending = Float64Array.from({ length: n }, (_, i) => n - i);
  const fewValues = Float64Array.from({ length: n }, () => Math.floor(rng.next() * 7));
  return { uniform, lognormal, ascending, descending, fewValues };
}

describe('quantile sketch', () => {
  it('is exact (type 7) while it holds every value (n ≤ k)', () => {
    const rng = makeRng(3);
    const xs = Float64Array.from({ length: SKETCH_K }, () => rng.normal());
    const s = new QuantileSketch();
    for (const x of xs) s.add(x);
    expect(s.exact).toBe(true);
    const sorted = xs.slice().sort();
    expect(s.quantiles(QS)).toEqual(QS.map((q) => sortedQuantile(sorted, q)));
    expect(new QuantileSketch().quantile(0.5)).toBeNaN();
  });

  it(`stays within ${RANK_ERROR * 100}% of n in rank on 200k values of every distribution and order, with bounded size`, () => {
    const n = 200_000;
    for (const [name, xs] of Object.entries(streams(n))) {
      const s = new QuantileSketch();
      for (const x of xs) s.add(x);
      expect(s.exact, name).toBe(false);
      expect(s.n).toBe(n);
      expect(s.size, name).toBeLessThan(3.2 * SKETCH_K);
      const sorted = xs.slice().sort();
      const got = s.quantiles(QS);
      QS.forEach((q, i) => expect(rankOk(sorted, got[i]!, q, RANK_ERROR), `${name} q=${q}: ${got[i]}`).toBe(true));
      // min and max are exact
      expect(got[0]).toBe(sorted[0]);
      expect(got[QS.length - 1]).toBe(sorted[n - 1]);
    }
  });

  it('a merge of sketches of parts is a sketch of the whole (same rank bound); same input, same answer', () => {
    const xs = streams(150_000)['lognormal']!;
    const parts = Array.from({ length: 7 }, () => new QuantileSketch());
    xs.forEach((x, i) => parts[i % 7 === 0 ? 0 : i % 3]!.add(x));
    const all = new QuantileSketch();
    for (const p of parts) all.merge(p);
    expect(all.n).toBe(xs.length);
    expect(all.size).toBeLessThan(3.2 * SKETCH_K);
    const sorted = xs.slice().sort();
    const got = all.quantiles(QS);
    QS.forEach((q, i) => expect(rankOk(sorted, got[i]!, q, RANK_ERROR), `q=${q}`).toBe(true));
    const again = new QuantileSketch();
    for (const p of parts) again.merge(p);
    expect(again.quantiles(QS)).toEqual(got);
  });
});

describe('report metrics beyond the sketch size', () => {
  it('means are exact and APE quantiles within the rank bound of computeMetrics on 3 × 4000 rows', async () => {
    const dir = tmpDir('stepfit-report-sketch-');
    const data = [synthDataset('llama-3.1-8b', 'h100-sxm', 1, 4000, 5, 0.08), synthDataset('qwen3-8b', 'a100-sxm-80gb', 1, 4000, 6, 0.08), synthDataset('llama-3.1-8b', 'h100-sxm', 2, 4000, 7, 0.08)];
    const ds = { experiments: data.map((d) => experimentFrom({ steps: d.steps, model: d.model, gpu: d.gpu, tp: d.tp, experiment: d.id })) };
    const fitPath = path.join(dir, 'fit.json');
    const fitted = fitDatasetSync(ds, { basis: 'seed', method: 'nnls', weight: 'relative', seed: 1 });
    writeFitFile(fitPath, buildFitFile(fitted, await fitProvenance(ds, 'test', '2026-01-01T00:00:00Z')));
    const loaded = loadFit(fitPath);
    const d = await collectReportData(loaded, ds, { engine: false, seedMaxRows: 3000 });
    expect(d.n).toBe(12_000);
    // the seed refit ran on a seeded sample of about 3000 rows and is scored on all of them
    const seed = d.comparators.find((c) => c.id === 'seed')!;
    expect(seed.rows).toBe(12_000);
    expect(d.seedFit!.rows).toBeGreaterThan(2700);
    expect(d.seedFit!.rows).toBeLessThan(3300);
    expect(seed.description).toMatch(new RegExp(`seeded random sample of ${d.seedFit!.rows.toLocaleString('en-US')} of these 12,000 rows`));
    expect(overallMetrics(d, 'seed')!.n).toBe(12_000);
    expect(overallMetrics(d, 'seed')!.mape).toBeLessThan(2 * overallMetrics(d, 'fit')!.mape + 1);
    const p: number[] = [];
    const m: number[] = [];
    for (const e of ds.experiments) {
      const pr = makePredictor(loaded, { arch: e.arch, gpu: e.gpu, tp: e.ref.tp });
      for (const s of e.steps as readonly { durationUs?: number }[]) {
        p.push(pr.predict(s as never).predictedUs);
        m.push(s.durationUs!);
      }
    }
    const exact = computeMetrics(p, m);
    const got = overallMetrics(d, 'fit')!;
    expect(statsOf(d, 'fit').ape.exact).toBe(false);
    expect(got.n).toBe(exact.n);
    expect(got.mape).toBeCloseTo(exact.mape, 9);
    expect(got.biasPct).toBeCloseTo(exact.biasPct, 9);
    expect(got.rmseUs).toBeCloseTo(exact.rmseUs, 6);
    expect(got.r2!).toBeCloseTo(exact.r2!, 9);
    const ape = Float64Array.from(p, (x, i) => Math.fround((Math.abs(x - m[i]!) / m[i]!) * 100)).sort();
    for (const [q, v] of [
      [0.5, got.medianApe],
      [0.9, got.p90Ape],
      [0.99, got.p99Ape],
    ] as const)
      expect(rankOk(ape, v, q, RANK_ERROR), `q=${q}: ${v} vs exact ${sortedQuantile(ape, q)}`).toBe(true);
    // the plot sample is capped and the groups still partition the rows
    expect(d.points.length).toBe(3000);
    expect(
      accuracyByGroup(d)
        .find((s) => s.dim === 'experiment')!
        .rows.reduce((a, r) => a + r.n, 0),
    ).toBe(12_000);
  });
});
