/**
 * Engine speed (issue 5): step predictions per second through `engineModel` (what simulators
 * call), serving replay and parallelism search wall time, and calibration time per GPU (when
 * ../shared/data is present).
 */
import fs from 'node:fs';
import path from 'node:path';
import { measure } from './util.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { engineModel } from '../src/analytic/model.js';
import { serveMetrics } from '../src/analytic/serving.js';
import { searchParallelism } from '../src/analytic/search.js';
import { calibrate } from '../src/analytic/calibrate.js';
import { makeRng } from '../src/util/rng.js';
import type { Step } from '../src/steps/step.js';
import { PACKAGE_ROOT } from '../src/io/paths.js';

export default async function (log: (s: string) => void): Promise<void> {
  const rng = makeRng(5);
  const steps: Step[] = Array.from({ length: 20_000 }, (_, i) => ({
    experiment: 'b',
    step: i,
    prefill: rng.int(0, 1) ? [{ tokens: rng.int(16, 2048), prior: rng.int(0, 4096), prompt: 8192 }] : [],
    decode: Array.from({ length: rng.int(1, 128) }, () => rng.int(100, 8000)),
  }));
  for (const [model, tp] of [
    ['llama-3.1-8b', 1],
    ['llama-3.1-70b', 4],
    ['qwen3-30b-a3b', 2],
  ] as const) {
    const m = engineModel({ arch: loadArchitecture(model), gpu: loadGpu('h100-sxm'), tp }, { efficiency: 'auto' });
    let sink = 0;
    const r = await measure(() => {
      for (const s of steps) sink += m.predictUs(s);
      return sink;
    });
    log(`predictUs ${model} TP${tp} (calibrated H100): ${steps.length} mixed steps (≤128 decodes) in ${r.seconds.toFixed(2)} s = ${(steps.length / r.seconds / 1000).toFixed(1)}k steps/s`);
  }
  const ctx = { arch: loadArchitecture('llama-3.1-70b'), gpu: loadGpu('h100-sxm'), tp: 4 };
  const s = await measure(() => serveMetrics(ctx, {}, { inputTokens: 1024, outputTokens: 256, concurrency: 64 }));
  log(`serve (Llama-3.1-70B TP4, I 1024, O 256, concurrency 64): ${s.seconds.toFixed(2)} s`);
  const q = await measure(() => searchParallelism(ctx.arch, ctx.gpu, 8, {}, { inputTokens: 1024, outputTokens: 256 }, { ttftMs: 500, tpotMs: 50 }));
  log(`search (Llama-3.1-70B, 8 × H100, ${q.result.candidates.length} layouts): ${q.seconds.toFixed(2)} s; peak RSS ${q.peakRssMiB.toFixed(0)} MiB`);
  const data = path.resolve(PACKAGE_ROOT, '..', 'shared', 'data');
  if (!fs.existsSync(data)) {
    log(`calibrate: skipped (no ${data})`);
    return;
  }
  for (const g of ['h100-sxm', 'h200', 'a100-sxm-80gb', 'l40s']) {
    const c = await measure(() => calibrate(loadGpu(g), { dataRoot: data }));
    log(`calibrate ${g}: ${c.seconds.toFixed(1)} s, peak RSS ${c.peakRssMiB.toFixed(0)} MiB`);
  }
}
