/**
 * Features throughput and peak RSS (issues 2, 17): `features` over synthetic steps streamed from
 * disk, from JSON Lines and from Parquet to CSV, and Parquet → Parquet (the columnar path: the issue's
 * "features from Parquet" figure), BENCH_STEPS steps (default 200k; 1M for the issue figure).
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
    // Parquet → Parquet: the columnar path end to end (batches decoded column-wise, features evaluated per
    // batch, the table written from typed arrays). Best of 3 (wall and CPU of this process).
    let best = { seconds: Infinity, cpu: Infinity, peak: 0 };
    for (let k = 0; k < 3; k++) {
      const out = path.join(dir, 'f.parquet');
      const c0 = process.cpuUsage();
      const m = await measure(() => main(['features', '--steps', parquet, ...ctx, '--basis', 'seed', '--out', out], memoryIO()));
      const c = process.cpuUsage(c0);
      const cpu = (c.user + c.system) / 1e6;
      if (m.seconds < best.seconds) best = { seconds: m.seconds, cpu, peak: m.peakRssMiB };
    }
    log(
      `features --basis seed parquet → parquet: ${n} steps in ${best.seconds.toFixed(2)} s = ${(n / best.seconds / 1000).toFixed(0)}k steps/s (${(n / best.cpu / 1000).toFixed(0)}k steps per CPU-s); peak RSS ${best.peak.toFixed(0)} MiB`,
    );
    record?.('features.seed.parquet_to_parquet_steps_per_s', n / best.seconds, 'steps/s', 'higher');
    record?.('features.seed.parquet_to_parquet_steps_per_cpu_s', n / best.cpu, 'steps/CPU-s', 'higher');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
