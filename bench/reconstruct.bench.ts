/**
 * vllm-otlp reconstruction (issues 4, 17): generate a snapshot trace streaming to a temp dir (every
 * step traced with REQUEST_SNAPSHOTs, lines shuffled within a 256-line window; default 64 MiB,
 * BENCH_TRACE_MB=300 for the issue-17 size), then reconstruct it in child processes — the built CLI
 * (dist/) when there is one, else the sources through tsx — with each worker count of
 * BENCH_WORKERS (default 1, 2, 4, 8 up to the cores here), and report per run: wall time and CPU
 * time (all threads) of the reconstruction alone and of the whole process, MiB of trace per
 * CPU-second, peak RSS (the child's maxRSS), the wall-time speedup over the first count, and that
 * the outputs of every worker count are byte-identical.
 *
 * Trace: chunked prefill (budget 2048, 128 seqs, prompts 32–4000 tokens, outputs ≤ 600), KV-bound
 * preemptions, 180 ms mean inter-arrival (about 1,230 requests and 31,700 steps per 300 MiB).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expConfigYaml, OtlpTraceEmitter, TraceFileWriter } from '../src/reconstruct/vllm-otlp/emit.js';
import { type GenerateOptions, generateSchedule, generatorConfig } from '../src/reconstruct/vllm-otlp/generate.js';
import type { RecordFigure } from './util.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function generate(exp: string, targetMb: number): Promise<string> {
  const gen: GenerateOptions = {
    seed: 42,
    requests: 50_000_000,
    maxNumBatchedTokens: 2048,
    maxNumSeqs: 128,
    numGpuBlocks: 12_000,
    blockSize: 16,
    meanInterArrivalMs: 180,
    minPrompt: 32,
    maxPrompt: 4000,
    maxOutput: 600,
  };
  fs.writeFileSync(path.join(exp, 'exp-config.yaml'), expConfigYaml(generatorConfig(gen)));
  const file = path.join(exp, 'traces.json');
  const w = new TraceFileWriter(file, false);
  let emitted = 0;
  const em = new OtlpTraceEmitter({ snapshots: true, stepSampleRate: 1, shuffle: 256, seed: 7, spansPerLine: 8 }, (l) => {
    emitted += l.length + 1;
    w.line(l);
  });
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
  em.end();
  await w.close();
  return file;
}

interface ChildFigures {
  code: number;
  /** The reconstruction (main()) alone: after node and the CLI's modules are loaded. */
  wallS: number;
  cpuS: number;
  /** The whole process, node start to exit (what `/usr/bin/time stepfit reconstruct …` reports). */
  processWallS: number;
  processCpuS: number;
  maxRssKiB: number;
  /**
   * CPU time of the main thread alone during the reconstruction (Linux: /proc/self/task/<pid>/stat, 10 ms
   * ticks; elsewhere its event-loop busy time): the serial part when workers parse.
   */
  mainBusyS: number;
}

/** The built CLI (dist/, what `stepfit` runs) when there is one, else the TypeScript sources through tsx (transpiling counts in the CPU figures). */
function cliEntry(): { main: string; nodeArgs: string[]; what: string } {
  const built = path.join(ROOT, 'dist/cli/main.js');
  if (fs.existsSync(built)) return { main: built, nodeArgs: [], what: 'the built CLI (dist/)' };
  return { main: path.join(ROOT, 'src/cli/main.ts'), nodeArgs: ['--import', 'tsx'], what: 'the TypeScript sources through tsx (no dist/: npm run build)' };
}

/** Reconstruct in a fresh process so that its peak RSS and CPU time are the reader's own. */
function reconstructIn(exp: string, outDir: string, workers: number): ChildFigures | string {
  const outs = ['steps.jsonl', 'targets.jsonl', 'labels.jsonl'].map((f) => path.join(outDir, f));
  const entry = cliEntry();
  const child = `
    import { main } from ${JSON.stringify(entry.main)};
    const { performance } = await import('node:perf_hooks');
    const fs = await import('node:fs');
    const cpu = (c) => (c.user + c.system) / 1e6;
    const mainCpu = () => {
      try {
        const s = fs.readFileSync('/proc/self/task/' + process.pid + '/stat', 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        return (Number(f[11]) + Number(f[12])) / 100;
      } catch { return Number.NaN; }
    };
    const m0 = mainCpu();
    const io = { out: () => {}, err: (s) => process.stderr.write(s + '\\n'), interactive: false };
    const c0 = process.cpuUsage(); const t0 = process.hrtime.bigint(); const e0 = performance.eventLoopUtilization();
    const code = await main(['reconstruct', '--format', 'vllm-otlp', '--in', ${JSON.stringify(exp)}, '--out', ${JSON.stringify(outs[0])},
      '--targets', ${JSON.stringify(outs[1])}, '--labels', ${JSON.stringify(outs[2])}, '--workers', '${workers}'], io);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9; const c = process.cpuUsage(); const m1 = mainCpu(); const mainBusyS = Number.isFinite(m1 - m0) ? m1 - m0 : performance.eventLoopUtilization(e0).active / 1e3;
    process.stderr.write('BENCH ' + JSON.stringify({ code, wallS, cpuS: cpu(c) - cpu(c0), processCpuS: cpu(c), maxRssKiB: process.resourceUsage().maxRSS, mainBusyS }) + '\\n');
  `;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [...entry.nodeArgs, '--input-type=module', '-e', child], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const processWallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /BENCH (\{.*\})/.exec(r.stderr ?? '');
  const f = m ? (JSON.parse(m[1]!) as Omit<ChildFigures, 'processWallS'>) : undefined;
  return f && f.code === 0 ? { ...f, processWallS } : `reconstruct with ${workers} worker(s) failed: ${r.stderr?.slice(-2000)}`;
}

/** Worker counts: BENCH_WORKERS (e.g. 1,4), default 1, 2, 4, 8 up to the cores here. */
function workerCounts(cores: number): number[] {
  const env = process.env['BENCH_WORKERS'];
  const ws = env ? env.split(',').map((x) => Number(x.trim())) : [1, 2, 4, 8].filter((w) => w === 1 || w <= cores);
  if (ws.some((w) => !Number.isInteger(w) || w < 1)) throw new Error(`BENCH_WORKERS: expected worker counts like 1,4, got '${env}'`);
  return ws;
}

export default async function (log: (s: string) => void, record?: RecordFigure): Promise<void> {
  const targetMb = Number(process.env['BENCH_TRACE_MB'] ?? 64);
  const cores = os.availableParallelism();
  const workers = workerCounts(cores);
  const dir = fs.mkdtempSync(path.join(process.env['BENCH_TMP'] ?? os.tmpdir(), 'stepfit-bench-rec-'));
  try {
    const exp = path.join(dir, '20260101-000000-synthetic-tp1-bench');
    fs.mkdirSync(exp);
    const t0 = Date.now();
    const file = await generate(exp, targetMb);
    const mib = fs.statSync(file).size / 2 ** 20;
    log(`generated: ${mib.toFixed(0)} MiB snapshot trace in ${((Date.now() - t0) / 1000).toFixed(0)} s (${cores} cores here); running ${cliEntry().what}`);
    log('  per run: the reconstruction (after node and the CLI modules are loaded) | the whole process (node start to exit)');
    let first: { wallS: number; processWallS: number; cpuS: number; text: string } | undefined;
    for (const w of workers) {
      const out = path.join(dir, `out-${w}`);
      fs.mkdirSync(out);
      const b = reconstructIn(exp, out, w);
      if (typeof b === 'string') {
        log(b);
        return;
      }
      const text = ['steps.jsonl', 'targets.jsonl', 'labels.jsonl'].map((f) => fs.readFileSync(path.join(out, f), 'utf8')).join('\u0000');
      first ??= { wallS: b.wallS, processWallS: b.processWallS, cpuS: b.cpuS, text };
      const same = text === first.text ? (w === workers[0] ? 'reference outputs' : `byte-identical to ${workers[0]} worker(s)`) : `OUTPUTS DIFFER from ${workers[0]} worker(s)`;
      const speed = w === workers[0] ? '' : `, ×${(first.wallS / b.wallS).toFixed(2)} | ×${(first.processWallS / b.processWallS).toFixed(2)} faster (wall)`;
      log(
        `${w} worker${w > 1 ? 's' : ''} (exit ${b.code}): wall ${b.wallS.toFixed(2)} | ${b.processWallS.toFixed(2)} s, CPU ${b.cpuS.toFixed(2)} | ${b.processCpuS.toFixed(2)} s = ${(mib / b.cpuS).toFixed(0)} | ${(mib / b.processCpuS).toFixed(0)} MiB/CPU-s, peak RSS ${(b.maxRssKiB / 1024).toFixed(0)} MiB${speed}, ${same}`,
      );
      if (w > 1 && workers[0] === 1) {
        // Amdahl: the main thread's CPU time is the part the workers cannot share
        const f = Math.min(1, b.mainBusyS / first.cpuS);
        log(
          `  main thread CPU ${b.mainBusyS.toFixed(2)} s = serial fraction ${(100 * f).toFixed(0)} % of the 1-worker CPU → at most ×${(1 / (f + (1 - f) / 4)).toFixed(2)} with 4 workers, ×${(1 / (f + (1 - f) / 8)).toFixed(2)} with 8 (Amdahl)`,
        );
        record?.(`reconstruct.otlp.serial_fraction_${w}_workers`, f, '', 'lower');
      }
      if (w === 1) {
        record?.('reconstruct.otlp.mib_per_cpu_s', mib / b.cpuS, 'MiB/CPU-s', 'higher');
        record?.('reconstruct.otlp.peak_rss', b.maxRssKiB / 1024, 'MiB', 'lower');
      } else if (workers[0] === 1) record?.(`reconstruct.otlp.speedup_${w}_workers`, first.wallS / b.wallS, '×', 'higher');
      fs.rmSync(out, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
