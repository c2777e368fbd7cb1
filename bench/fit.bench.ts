/**
 * Fitting engine: fit time and peak RSS for 1M and 10M steps × the seed basis (issue 3).
 * Steps are generated in-process by a seeded generator (re-run for every pass over the data), so
 * nothing is written to disk; the 1M case is also run from a JSON Lines file through the CLI.
 * BENCH_FIT_SIZES=1000000,10000000 overrides the sizes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measure } from './util.js';
import { fitDataset } from '../src/fit/program.js';
import type { FitOptions } from '../src/fit/options.js';
import type { FitDataset } from '../src/fit/dataset.js';
import type { Step, PrefillChunk } from '../src/steps/step.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { writeSteps } from '../src/steps/io.js';
import { makeRng } from '../src/util/rng.js';
import { main } from '../src/cli/main.js';
import { memoryIO } from '../src/cli/io.js';

/** Seeded random batch compositions: 0–48 decodes (context 10–4000), a prefill chunk in ~30% of steps; time ≈ linear + 3% noise. */
function* benchSteps(n: number, seed: number): Generator<Step> {
  const rng = makeRng(seed);
  for (let i = 0; i < n; i++) {
    const nd = rng.int(0, 48);
    const decode = new Array<number>(nd);
    let ctx = 0;
    for (let k = 0; k < nd; k++) {
      decode[k] = rng.int(10, 4000);
      ctx += decode[k]!;
    }
    const prefill: PrefillChunk[] = [];
    let toks = 0;
    if (nd === 0 || rng.next() < 0.3) {
      const t = rng.int(16, 2048);
      const prior = rng.next() < 0.5 ? 0 : rng.int(1, 2000);
      prefill.push({ tokens: t, prior, prompt: prior + t });
      toks += t;
    }
    const mu = 4500 + 2.6 * toks + (0.004 * toks * toks) / 100 + 0.011 * ctx + 9 * (nd + prefill.length);
    yield { experiment: 'bench', step: i, durationUs: mu * (1 + 0.03 * rng.normal()), prefill, decode };
  }
}

export default async function (log: (s: string) => void): Promise<void> {
  const sizes = (process.env['BENCH_FIT_SIZES'] ?? '1000000,10000000').split(',').map(Number);
  const arch = loadArchitecture('llama-3.1-8b');
  const gpu = loadGpu('h100-sxm');
  const ds = (n: number): FitDataset => ({
    experiments: [{ ref: { id: 'bench', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: {} }, arch, gpu, steps: () => benchSteps(n, 42) }],
  });
  const base: FitOptions = { basis: 'seed', method: 'nnls', weight: 'relative', seed: 1 };
  for (const n of sizes) {
    const gen = await measure(() => {
      let s = 0;
      for (const st of benchSteps(n, 42)) s += st.decode.length;
      return s;
    });
    log(`generator only: ${n} steps in ${gen.seconds.toFixed(2)} s (one pass; a fit makes 2 passes)`);
    const runs: [string, FitOptions][] = [
      ['nnls, relative weights', base],
      ['ols, relative weights, kfold:5 CV', { ...base, method: 'ols', cv: 'kfold:5' }],
    ];
    if (n <= 1_000_000) runs.push(['huber, relative weights (IRLS, rows cached in memory)', { ...base, method: 'huber' }]);
    for (const [label, opts] of runs) {
      const m = await measure(() => fitDataset(ds(n), opts));
      const r = m.result;
      log(
        `fit ${n} steps × seed (7 terms), ${label}: ${m.seconds.toFixed(2)} s incl. generation, ${r.passes} passes; peak RSS ${m.peakRssMiB.toFixed(0)} MiB (start ${m.startRssMiB.toFixed(0)} MiB); train MAPE ${r.metrics.train.overall.mape.toFixed(2)}%`,
      );
    }
  }
  // from disk through the CLI: 1M steps JSONL
  const n = Math.min(1_000_000, sizes[0]!);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-fit-bench-'));
  const file = path.join(dir, 'steps.jsonl');
  await writeSteps(file, benchSteps(n, 42));
  const out = path.join(dir, 'fit.json');
  const m = await measure(() => main(['fit', '--steps', file, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1', '--basis', 'seed', '--out', out], memoryIO()));
  log(
    `stepfit fit --steps <${n} steps, ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB JSONL> --basis seed (nnls): ${m.seconds.toFixed(2)} s; peak RSS ${m.peakRssMiB.toFixed(0)} MiB (start ${m.startRssMiB.toFixed(0)} MiB); exit ${m.result}`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}
