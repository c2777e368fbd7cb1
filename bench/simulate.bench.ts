/**
 * Serving simulator speed (issue 8): simulated engine steps per second on a 100k-request workload
 * (Llama-3.1-8B on an H100, Poisson arrivals at 30 req/s, lognormal lengths ~600 in / ~150 out,
 * max_num_seqs 256, budget 2048), with a cheap step model.
 * - core: the simulator alone (in memory, per-step callback only), with the synthetic-truth model
 *   (a roofline formula, O(batch) per step) and with a constant model (scheduler cost alone);
 * - CLI: `stepfit simulate` writing steps.jsonl + requests.csv + summary.json, then the same with
 *   a 10%-sampled vllm-otlp trace.
 * Wall time and process CPU time are both printed (CPU time is what to compare on a loaded machine).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measure } from './util.js';
import { main } from '../src/cli/main.js';
import { memoryIO } from '../src/cli/io.js';
import { buildWorkload, parseInlineSpec } from '../src/simulate/workload.js';
import { ServingSimulator } from '../src/simulate/simulator.js';
import { syntheticTruthModel } from '../src/simulate/models.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import type { StepTimeModel } from '../src/predict/model.js';

export default async function (log: (s: string) => void): Promise<void> {
  const n = Number(process.env['BENCH_REQUESTS'] ?? 100_000);
  const spec = `poisson:requests=${n},rate=30,input=lognormal(600;1),output=lognormal(150;1)`;
  const arch = loadArchitecture('llama-3.1-8b');
  const gpu = loadGpu('h100-sxm');
  const workload = await buildWorkload(parseInlineSpec(spec), 1);
  log(`workload: ${workload.description}`);
  const models: StepTimeModel[] = [syntheticTruthModel({ arch, gpu, tp: 1 }), { name: 'constant 5 ms', predictUs: () => 5000 }];
  for (const model of models) {
    let steps = 0;
    let batch = 0;
    const cpu0 = process.cpuUsage();
    const m = await measure(() => {
      const sim = new ServingSimulator(workload, {
        limits: { maxNumSeqs: 256, maxNumBatchedTokens: 2048, blockSize: 16, numGpuBlocks: 28_000 },
        model,
        experiment: 'bench',
        noise: 0.05,
        seed: 1,
      });
      sim.runAll((v) => {
        steps++;
        batch += v.step.prefill.length + v.step.decode.length;
      });
      return sim;
    });
    const c = process.cpuUsage(cpu0);
    const cpuS = (c.user + c.system) / 1e6;
    log(
      `core, ${model.name}: ${steps} steps (mean batch ${(batch / steps).toFixed(1)} requests, ${(m.result.nowNs / 1e9).toFixed(0)} s simulated, ${m.result.totalPreemptions} preemptions) in ${m.seconds.toFixed(2)} s wall = ${(steps / m.seconds / 1000).toFixed(0)}k steps/s; CPU ${cpuS.toFixed(2)} s = ${(steps / cpuS / 1000).toFixed(0)}k steps/CPU-s; peak RSS ${m.peakRssMiB.toFixed(0)} MiB`,
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-bench-sim-'));
  for (const extra of [[], ['--emit-trace', 'vllm-otlp', '--sample-rate', '0.1']]) {
    const out = path.join(dir, extra.length ? 'trace' : 'plain');
    const cpu0 = process.cpuUsage();
    const m = await measure(() =>
      main(['simulate', '--synthetic-truth', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--workload', spec, '--num-gpu-blocks', '28000', '--noise', '0.05', '--out', out, ...extra], memoryIO()),
    );
    const c = process.cpuUsage(cpu0);
    const sum = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { steps: number };
    const sz = (f: string): string => (fs.existsSync(f) ? `${(fs.statSync(f).size / 2 ** 20).toFixed(0)} MiB` : '-');
    log(
      `CLI${extra.length ? ' + trace (10% of steps sampled)' : ''}: ${sum.steps} steps in ${m.seconds.toFixed(1)} s wall = ${(sum.steps / m.seconds / 1000).toFixed(0)}k steps/s; CPU ${((c.user + c.system) / 1e6).toFixed(1)} s; peak RSS ${m.peakRssMiB.toFixed(0)} MiB; steps.jsonl ${sz(path.join(out, 'steps.jsonl'))}${extra.length ? `, trace ${sz(path.join(out, 'trace.jsonl.gz'))}` : ''}`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
  log(
    `machine: ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ')}`,
  );
}
