/** Features throughput and peak RSS on 1M synthetic steps streamed from disk (issue 2). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measure } from './util.js';
import { main } from '../src/cli/main.js';
import { memoryIO } from '../src/cli/io.js';

export default async function (log: (s: string) => void): Promise<void> {
  const n = Number(process.env['BENCH_STEPS'] ?? 1_000_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-bench-'));
  const steps = path.join(dir, 'steps.jsonl');
  const gen = await measure(() => main(['sample', '--num-steps', String(n), '--out', steps, '--model', 'llama-3.1-70b', '--gpu', 'h100-sxm', '--tp', '4'], memoryIO()));
  log(`sample: ${n} steps written in ${gen.seconds.toFixed(1)} s (${(fs.statSync(steps).size / 2 ** 20).toFixed(0)} MiB)`);
  for (const basis of ['seed', 'roofline']) {
    const out = path.join(dir, `f-${basis}.csv`);
    const m = await measure(() => main(['features', '--steps', steps, '--model', 'llama-3.1-70b', '--gpu', 'h100-sxm', '--tp', '4', '--basis', basis, '--out', out], memoryIO()));
    log(
      `features --basis ${basis}: ${n} steps in ${m.seconds.toFixed(2)} s = ${(n / m.seconds / 1000).toFixed(0)}k steps/s; peak RSS ${m.peakRssMiB.toFixed(0)} MiB (start ${m.startRssMiB.toFixed(0)} MiB)`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
