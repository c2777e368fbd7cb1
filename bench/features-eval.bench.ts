/**
 * Compiled basis evaluation throughput (issue 16: basis terms as records): `row()` (the fit's design
 * row) and `features()` (the `stepfit features` columns) over in-memory synthetic steps, per basis,
 * best of 5 passes. No I/O, so this isolates the compiled evaluator that the fit streams millions of
 * rows through; `features.bench.ts` measures the whole command (parse + evaluate + CSV).
 */
import { BASES } from '../src/basis/registry.js';
import { syntheticSteps } from '../src/basis/synthetic.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { loadArchitecture } from '../src/model/load.js';
import type { Step } from '../src/steps/step.js';

export default async function (log: (s: string) => void): Promise<void> {
  const n = Number(process.env['BENCH_EVAL_STEPS'] ?? 200_000);
  const ctx = { arch: loadArchitecture('llama-3.1-70b'), gpu: loadGpu('h100-sxm'), tp: 4 };
  const steps: Step[] = [...syntheticSteps(ctx, { steps: n, seed: 7, experiment: 'bench' })];
  let sink = 0;
  for (const [name, basis] of Object.entries(BASES)) {
    const c = basis.compile(ctx);
    const row = new Float64Array(basis.terms.length);
    const feat = new Float64Array(basis.featureColumns.length);
    const best = { row: Infinity, features: Infinity };
    for (let pass = 0; pass < 5; pass++) {
      let t0 = process.hrtime.bigint();
      for (const s of steps) {
        c.row(s, row);
        sink += row[0]!;
      }
      best.row = Math.min(best.row, Number(process.hrtime.bigint() - t0) / 1e9);
      t0 = process.hrtime.bigint();
      for (const s of steps) {
        c.features(s, feat);
        sink += feat[0]!;
      }
      best.features = Math.min(best.features, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const rate = (sec: number): string => `${(n / sec / 1e6).toFixed(2)}M steps/s`;
    log(`eval --basis ${name}: row ${rate(best.row)}, features ${rate(best.features)} (${n} steps, best of 5)`);
  }
  if (!Number.isFinite(sink)) log('(non-finite feature sum)');
}
