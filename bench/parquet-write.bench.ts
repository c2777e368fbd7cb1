/**
 * Step Parquet writing (issue 17: `reconstruct --out x.parquet`, `sample --out x.parquet`): BENCH_STEPS
 * synthetic steps (default 200k; llama-3.1-70b on H100 TP 4, the sample generator's batches of up to 64
 * requests) held in memory, written by `writeStepsParquet` (steps/parquet-step-writer.ts) three times — best
 * wall time and the CPU time of that run, steps/s, file size — then as JSON Lines for scale, and the file read
 * back (best of 2) by the columnar reader (readStepBatchesParquet: steps/s, every row group on its fast path).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syntheticSteps } from '../src/basis/synthetic.js';
import { resolveDeployment } from '../src/model/context.js';
import { writeSteps } from '../src/steps/io.js';
import { readStepBatchesParquet, writeStepsParquet } from '../src/steps/parquet.js';
import { rowGroupPaths } from '../src/steps/parquet-batch.js';
import type { Step } from '../src/steps/step.js';
import type { RecordFigure } from './util.js';

/**
 * Best-of-`k` wall time of `fn`, with the CPU seconds (all threads of this process) of that run, and the
 * peak RSS seen. No forced GC before a run (`measure` does one): the sweeping it leaves to background
 * threads would be counted in the run's CPU time.
 */
async function best(k: number, fn: () => Promise<unknown>): Promise<{ seconds: number; cpu: number; peak: number }> {
  let b = { seconds: Infinity, cpu: Infinity, peak: 0 };
  for (let i = 0; i < k; i++) {
    let peak = process.memoryUsage().rss;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    if (seconds < b.seconds) b = { seconds, cpu: (c.user + c.system) / 1e6, peak: peak / 2 ** 20 };
  }
  return b;
}

export default async function (log: (s: string) => void, record?: RecordFigure): Promise<void> {
  const n = Number(process.env['BENCH_STEPS'] ?? 200_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-bench-pqw-'));
  try {
    const { arch, gpu } = resolveDeployment({ model: 'llama-3.1-70b', gpu: 'h100-sxm', tp: 4 });
    const steps: Step[] = [...syntheticSteps({ arch, gpu, tp: 4 }, { steps: n, seed: 1, experiment: 'bench' })];
    let values = 0;
    for (const s of steps) values += s.decode.length + 3 * s.prefill.length;
    log(`${n} steps in memory, ${(values / n).toFixed(1)} list entries per step`);

    const pq = path.join(dir, 'steps.parquet');
    const w = await best(3, () => writeStepsParquet(pq, steps));
    const size = fs.statSync(pq).size;
    log(
      `writeStepsParquet: ${n} steps in ${w.seconds.toFixed(3)} s = ${(n / w.seconds / 1000).toFixed(0)}k steps/s (${(n / w.cpu / 1000).toFixed(0)}k steps per CPU-s); ${(size / 2 ** 20).toFixed(1)} MiB = ${(size / n).toFixed(1)} bytes/step; peak RSS ${w.peak.toFixed(0)} MiB`,
    );
    record?.('parquet_write.steps_per_s', n / w.seconds, 'steps/s', 'higher');
    record?.('parquet_write.steps_per_cpu_s', n / w.cpu, 'steps/CPU-s', 'higher');
    record?.('parquet_write.bytes_per_step', size / n, 'bytes/step', 'lower');

    const jsonl = path.join(dir, 'steps.jsonl');
    const j = await best(1, () => writeSteps(jsonl, steps));
    log(`for scale, writeSteps as JSON Lines: ${(n / j.seconds / 1000).toFixed(0)}k steps/s, ${(fs.statSync(jsonl).size / 2 ** 20).toFixed(1)} MiB`);

    const before = { ...rowGroupPaths };
    let rows = 0;
    const r = await best(2, async () => {
      rows = 0;
      for await (const b of readStepBatchesParquet(pq)) rows += b.n;
    });
    if (rows !== n || rowGroupPaths.general !== before.general) throw new Error(`read back ${rows} of ${n} rows, ${rowGroupPaths.general - before.general} row groups off the fast path`);
    log(`read back (readStepBatchesParquet, all row groups on the fast path): ${(n / r.seconds / 1000).toFixed(0)}k steps/s (${(n / r.cpu / 1000).toFixed(0)}k per CPU-s)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
