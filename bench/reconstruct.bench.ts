/**
 * vllm-otlp reconstruction at scale (issue 4): generate a large shuffled trace streaming to a temp
 * dir (default 2 GiB: BENCH_TRACE_MB), then reconstruct it in a child process and report lines/s,
 * MB/s and the child's peak RSS (process.resourceUsage().maxRSS). Also the memory state the reader
 * held: max requests in flight and bytes spilled by the external sort.
 *
 * Trace: chunked prefill (budget 2048, 128 seqs, prompts up to 4000 tokens), preemptions, 10 % of
 * steps traced with snapshots, lines shuffled within a 256-line window (out of order, as exporters
 * deliver). The size check counts lines already out of the shuffle window, so the file ends up a
 * little larger than the target.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateSchedule, generatorConfig, type GenerateOptions } from '../src/reconstruct/vllm-otlp/generate.js';
import { OtlpTraceEmitter, TraceFileWriter, expConfigYaml } from '../src/reconstruct/vllm-otlp/emit.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export default async function (log: (s: string) => void): Promise<void> {
  const targetMb = Number(process.env['BENCH_TRACE_MB'] ?? 2048);
  const dir = fs.mkdtempSync(path.join(process.env['BENCH_TMP'] ?? os.tmpdir(), 'stepfit-bench-rec-'));
  try {
    const exp = path.join(dir, '20260101-000000-synthetic-tp1-bench');
    fs.mkdirSync(exp);
    const gen: GenerateOptions = {
      seed: 42,
      requests: 50_000_000,
      maxNumBatchedTokens: 2048,
      maxNumSeqs: 128,
      numGpuBlocks: 12_000,
      blockSize: 16,
      meanInterArrivalMs: 110,
      minPrompt: 32,
      maxPrompt: 4000,
      maxOutput: 600,
    };
    fs.writeFileSync(path.join(exp, 'exp-config.yaml'), expConfigYaml(generatorConfig(gen)));
    const file = path.join(exp, 'traces.json');
    const w = new TraceFileWriter(file, false);
    let emitted = 0;
    const em = new OtlpTraceEmitter({ snapshots: true, stepSampleRate: 0.1, shuffle: 256, seed: 7, spansPerLine: 8 }, (l) => {
      emitted += l.length + 1;
      w.line(l);
    });
    const t0 = Date.now();
    let steps = 0;
    for (const it of generateSchedule(gen)) {
      if (it.kind === 'request') {
        em.addRequest(it.request);
        continue;
      }
      em.addStep(it.step);
      if (++steps % 2000 === 0) {
        await w.drain();
        if (emitted >= targetMb * 2 ** 20) break;
      }
    }
    const stats = em.end();
    await w.close();
    const bytes = fs.statSync(file).size;
    log(
      `generated: ${(bytes / 2 ** 20).toFixed(0)} MiB, ${stats.lines} lines, ${stats.steps} steps (${stats.tracedSteps} traced with snapshots), ${stats.requests} requests, in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );

    // Reconstruct in a fresh process so that its peak RSS is the reader's own.
    const out = path.join(dir, 'steps.jsonl');
    const child = `
      import { main } from ${JSON.stringify(path.join(ROOT, 'src/cli/main.ts'))};
      const io = { out: (s) => process.stdout.write(s + '\\n'), err: (s) => process.stderr.write(s + '\\n'), interactive: false };
      const t0 = process.hrtime.bigint();
      const code = await main(['reconstruct', '--format', 'vllm-otlp', '--in', ${JSON.stringify(exp)}, '--out', ${JSON.stringify(out)},
        '--targets', ${JSON.stringify(path.join(dir, 'targets.jsonl'))}, '--json'], io);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      process.stderr.write('BENCH ' + JSON.stringify({ code, seconds: s, maxRssKiB: process.resourceUsage().maxRSS }) + '\\n');
    `;
    // BENCH_HEAP_MB caps the child's V8 old space (proof that the reader fits in it); unset: Node's default.
    const heap = process.env['BENCH_HEAP_MB'] ? [`--max-old-space-size=${process.env['BENCH_HEAP_MB']}`] : [];
    const r = spawnSync(process.execPath, [...heap, '--import', 'tsx', '--input-type=module', '-e', child], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    const m = /BENCH (\{.*\})/.exec(r.stderr ?? '');
    if (!m) {
      log(`reconstruct failed: ${r.stderr?.slice(-2000)}`);
      return;
    }
    const b = JSON.parse(m[1]!) as { code: number; seconds: number; maxRssKiB: number };
    const sum = JSON.parse(r.stdout) as {
      records: number;
      steps: number;
      stepsWithDuration: number;
      requests: number;
      targets: number;
      detail: Record<string, number>;
      dropped: Record<string, number>;
      mismatches: { count: number; examples: string[] };
    };
    log(
      `reconstruct (exit ${b.code}${heap.length ? `, ${heap[0]}` : ''}): ${sum.records} lines in ${b.seconds.toFixed(1)} s = ${(sum.records / b.seconds).toFixed(0)} lines/s, ${(bytes / 2 ** 20 / b.seconds).toFixed(1)} MiB/s`,
    );
    log(
      `  peak RSS ${(b.maxRssKiB / 1024).toFixed(0)} MiB (trace ${(bytes / 2 ** 20).toFixed(0)} MiB); max requests in flight ${sum.detail['max requests in flight']}; spilled to disk ${sum.detail['spilled to disk (MiB)']} MiB`,
    );
    const events = sum.detail['journey events']! + sum.detail['request snapshots']! + sum.detail['step summaries (traced steps)']!;
    log(`  dropped: ${JSON.stringify(sum.dropped)}; mismatches: ${sum.mismatches.count}${sum.mismatches.examples[0] ? ` (e.g. ${sum.mismatches.examples[0]})` : ''}`);
    log(
      `  ${events} OTLP events (${(events / b.seconds / 1000).toFixed(0)}k events/s); ${sum.steps} steps (${sum.stepsWithDuration} with a duration), ${sum.requests} requests, ${sum.targets} request-level targets`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
