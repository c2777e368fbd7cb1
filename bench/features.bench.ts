/**
 * Features throughput and peak RSS (issues 2, 17): `features` over synthetic steps streamed from
 * disk, from JSON Lines and from Parquet (BENCH_STEPS, default 200k; 1M for the issue figure).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { memoryIO } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';
import { measure, type RecordFigure } from './util.js';

export default async function (log: (s: string) => void, record?: RecordFigure): Promise<void> {
  const n = Number(process.env['BENCH_STEPS'] ?? 200_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-bench-'));
  try {
    const ctx = ['--model', 'llama-3.1-70b', '--gpu', 'h100-sxm', '--tp', '4'];
    const jsonl = path.join(dir, 'steps.jsonl');
    const parquet = path.join(dir, 'steps.parquet');
    const gen = await measure(() => main(['sample', '--num-steps', String(n), '--out', jsonl, ...ctx], memoryIO()));
    await main(['sample', '--num-steps', String(n), '--out', parquet, ...ctx], memoryIO());
    log(`sample: ${n} steps written in ${gen.seconds.toFixed(1)} s (JSONL ${(fs.statSync(jsonl).size / 2 ** 20).toFixed(0)} MiB, Parquet ${(fs.statSync(parquet).size / 2 ** 20).toFixed(0)} MiB)`);
    for (const [kind, steps] of [
      ['jsonl', jsonl],
      ['parquet', parquet],
    ] as const) {
      for (const basis of ['seed', 'roofline']) {
        const out = path.join(dir, `f-${basis}.csv`);
        const m = await measure(() => main(['features', '--steps', steps, ...ctx, '--basis', basis, '--out', out], memoryIO()));
        log(
          `features --basis ${basis} from ${kind}: ${n} steps in ${m.seconds.toFixed(2)} s = ${(n / m.seconds / 1000).toFixed(0)}k steps/s; peak RSS ${m.peakRssMiB.toFixed(0)} MiB (start ${m.startRssMiB.toFixed(0)} MiB)`,
        );
        if (basis === 'seed') record?.(`features.seed.${kind}_steps_per_s`, n / m.seconds, 'steps/s', 'higher');
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
