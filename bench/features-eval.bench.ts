/**
 * Compiled basis evaluation throughput (issues 16, 17): `row()` (the fit's design row) and `features()`
 * (the `stepfit features` columns) over in-memory synthetic steps, and their column-batch forms
 * `rowsBatch` / `featuresBatch` over batches of 16,384 steps (what the fit's first pass and `features`
 * run on Parquet input), per basis, best of 5 passes. No I/O, so this isolates the compiled evaluator;
 * `features.bench.ts` measures the whole command.
 */
import { BASES } from '../src/basis/registry.js';
import { syntheticSteps } from '../src/basis/synthetic.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { loadArchitecture } from '../src/model/load.js';
import type { Step } from '../src/steps/step.js';
import { stepsToBatch, type StepBatch } from '../src/steps/batch.js';
import type { RecordFigure } from './util.js';

/** Best of 5 passes of `run` over all batches (seconds). */
function bestOf5(batches: readonly StepBatch[], run: (b: StepBatch) => void): number {
  let best = Infinity;
  for (let pass = 0; pass < 5; pass++) {
    const t0 = process.hrtime.bigint();
    for (const b of batches) run(b);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

export default async function (log: (s: string) => void, record?: RecordFigure): Promise<void> {
  const n = Number(process.env['BENCH_EVAL_STEPS'] ?? 200_000);
  const ctx = { arch: loadArchitecture('llama-3.1-70b'), gpu: loadGpu('h100-sxm'), tp: 4 };
  const steps: Step[] = [...syntheticSteps(ctx, { steps: n, seed: 7, experiment: 'bench' })];
  const batches: StepBatch[] = [];
  for (let i = 0; i < n; i += 16384) batches.push(stepsToBatch(steps.slice(i, i + 16384)));
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
    const rows = new Float64Array(16384 * basis.terms.length);
    const feats = new Float64Array(16384 * basis.featureColumns.length);
    const tRows = bestOf5(batches, (b) => c.rowsBatch(b, rows));
    const tFeats = bestOf5(batches, (b) => c.featuresBatch(b, feats));
    sink += rows[0]! + feats[0]!;
    log(`eval --basis ${name}: rowsBatch ${rate(tRows)}, featuresBatch ${rate(tFeats)} (batches of 16384, best of 5)`);
    record?.(`eval.${name}.rows_batch_steps_per_s`, n / tRows, 'steps/s', 'higher');
  }
  if (!Number.isFinite(sink)) log('(non-finite feature sum)');
}
