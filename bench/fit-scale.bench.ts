/**
 * Fit at scale (issue 17), each figure with its wall time, CPU seconds and peak RSS:
 *  1. in-process: N rows × the seed basis (NNLS), steps built once as column batches (`{batches}`), the fit's
 *     own time; then the same steps from a seeded generator re-run every pass (the generator's own time per
 *     pass printed, so the fit's share is visible; BENCH_FIT_GENERATOR=0 skips it);
 *  2. the knee profile: the default fit (serving basis, Huber) on TP 2/4/8 steps whose times carry an
 *     all-reduce knee, once profiling `tp_comm_knee_mib` over its 15-value grid and once with the knee fixed
 *     (`basisParams`): the ratio is what the profile costs; with 1 worker, then (more than one core) with
 *     min(8, cores) workers, which run the profile's IRLS passes a share of the grid each (CPU-s: all threads);
 *  3. from Parquet: the file read alone (readStepBatchesParquet, one pass), then in a child process `stepfit fit`
 *     from dist/ (peak RSS = the child's maxRSS; CPU = the child's, workers included) with --workers
 *     BENCH_FIT_WORKERS (default auto): N steps × the default basis. The Parquet file is written once to the OS
 *     temp folder and reused by later runs.
 * Sizes: BENCH_FIT_ROWS (default 10000000), BENCH_FIT_PROFILE_ROWS (default 200000), BENCH_FIT_PARQUET_ROWS
 * (default 10000000); BENCH_FIT_CASES=rows,profile,parquet picks cases. Run: npm run bench -- fit-scale
 * (npm run build first: case 3 runs dist/).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measure as measureWall } from './util.js';

/** Wall time and peak RSS (bench/util.ts) plus this process's CPU seconds (user + system): on a shared machine CPU time is the figure that compares. */
async function measure<T>(fn: () => Promise<T> | T) {
  const c0 = process.cpuUsage();
  const m = await measureWall(fn);
  const c = process.cpuUsage(c0);
  return { ...m, cpu: (c.user + c.system) / 1e6 };
}
import { fitDataset, type FitDataset, type FitOptions } from '../src/fit/api.js';
import type { Step, PrefillChunk } from '../src/steps/step.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { makeRng } from '../src/util/rng.js';
import { getBasis } from '../src/basis/registry.js';
import { readStepBatchesParquet, writeStepsParquet } from '../src/steps/parquet.js';
import { stepsToBatch, type StepBatch } from '../src/steps/batch.js';

/** Seeded batch compositions: 0–48 decodes (context 10–4000), a prefill chunk in ~30% of steps. */
function* compositions(n: number, seed: number): Generator<Step> {
  const rng = makeRng(seed);
  for (let i = 0; i < n; i++) {
    const nd = rng.int(0, 48);
    const decode = new Array<number>(nd);
    for (let k = 0; k < nd; k++) decode[k] = rng.int(10, 4000);
    const prefill: PrefillChunk[] = [];
    if (nd === 0 || rng.next() < 0.3) {
      const t = rng.int(16, 2048);
      const prior = rng.next() < 0.5 ? 0 : rng.int(1, 2000);
      prefill.push({ tokens: t, prior, prompt: prior + t });
    }
    yield { experiment: 'bench', step: i, durationUs: 1, prefill, decode };
  }
}

/** Step times from a basis at known coefficients (and knee), times (1 + 3% normal noise). */
function* timed(n: number, seed: number, basis: string, tp: number, model: string, coef: readonly number[], params: Record<string, number>): Generator<Step> {
  const c = getBasis(basis).compile({ arch: loadArchitecture(model), gpu: loadGpu('h100-sxm'), tp }, params);
  const x = new Float64Array(coef.length);
  const rng = makeRng(seed + 7);
  for (const s of compositions(n, seed)) {
    c.row(s, x);
    let mu = 0;
    for (let j = 0; j < coef.length; j++) mu += coef[j]! * x[j]!;
    yield { ...s, durationUs: mu * (1 + 0.03 * rng.normal()) };
  }
}

const SEED_COEF = [1.2, 1.5, 1.1, 1.3, 1.05, 1.0, 9, 4500];
const SERVING_COEF = [1.6, 1.4, 1.8, 1.3, 1.1, 1.5, 0.8, 3, 12, 8, 9, 900];

function experiment(id: string, model: string, tp: number, steps: FitDataset['experiments'][number]['steps']): FitDataset['experiments'][number] {
  return { ref: { id, model, gpu: 'h100-sxm', tp, groups: {} }, arch: loadArchitecture(model), gpu: loadGpu('h100-sxm'), steps };
}

/** The same steps as `timed`, built once as column batches of 16,384 rows (the columnar in-process input). */
function timedBatches(n: number, seed: number, basis: string, tp: number, model: string, coef: readonly number[], params: Record<string, number>): StepBatch[] {
  const out: StepBatch[] = [];
  let buf: Step[] = [];
  for (const s of timed(n, seed, basis, tp, model, coef, params)) {
    buf.push(s);
    if (buf.length === 16384) {
      out.push(stepsToBatch(buf));
      buf = [];
    }
  }
  if (buf.length > 0) out.push(stepsToBatch(buf));
  return out;
}

async function inProcess(n: number, log: (s: string) => void): Promise<void> {
  const opts = { basis: 'seed', method: 'nnls', weight: 'relative', seed: 1 } as const;
  const built = await measure(() => timedBatches(n, 42, 'seed', 1, 'llama-3.1-8b', SEED_COEF.slice(0, 7), {}));
  const batches = built.result;
  const ds: FitDataset = { experiments: [experiment('bench', 'llama-3.1-8b', 1, { batches })] };
  const m = await measure(() => fitDataset(ds, opts));
  log(
    `in-process ${n} rows × seed (7 terms), nnls, steps given as column batches (built once: ${built.cpu.toFixed(2)} CPU-s, not counted): the fit ${m.seconds.toFixed(2)} s wall, ${m.cpu.toFixed(2)} CPU-s, ${m.result.passes} passes; peak RSS ${m.peakRssMiB.toFixed(0)} MiB (the batches included)`,
  );
  batches.length = 0;
  if (process.env['BENCH_FIT_GENERATOR'] === '0') return;
  const gen = await measure(() => {
    let s = 0;
    for (const st of timed(n, 42, 'seed', 1, 'llama-3.1-8b', SEED_COEF.slice(0, 7), {})) s += st.decode.length;
    return s;
  });
  const gds: FitDataset = { experiments: [experiment('bench', 'llama-3.1-8b', 1, () => timed(n, 42, 'seed', 1, 'llama-3.1-8b', SEED_COEF.slice(0, 7), {}))] };
  const g = await measure(() => fitDataset(gds, opts));
  log(
    `in-process ${n} rows × seed, nnls, steps from a generator re-run every pass: ${g.seconds.toFixed(2)} s wall, ${g.cpu.toFixed(2)} CPU-s, ${g.result.passes} passes; the generator alone: ${gen.cpu.toFixed(2)} CPU-s per run of the data; peak RSS ${g.peakRssMiB.toFixed(0)} MiB`,
  );
}

async function kneeProfile(n: number, log: (s: string) => void): Promise<void> {
  const per = Math.floor(n / 3);
  const ds: FitDataset = {
    experiments: [2, 4, 8].map((tp, k) => experiment(`knee-tp${tp}`, 'llama-3.1-70b', tp, () => timed(per, 100 + k, 'serving', tp, 'llama-3.1-70b', SERVING_COEF, { tp_comm_knee_mib: 4 }))),
  };
  const W = Math.min(8, os.availableParallelism());
  const runs = [{ method: 'huber', workers: 1 }, ...(W > 1 ? [{ method: 'huber', workers: W }] : []), { method: 'nnls', workers: 1 }] as const;
  for (const { method, workers } of runs) {
    const opts: Partial<FitOptions> = { weight: 'relative', seed: 1, workers, ...(method === 'nnls' ? { method, basis: 'serving' } : {}) };
    const prof = await measure(() => fitDataset(ds, opts));
    const knee = prof.result.basisParams['tp_comm_knee_mib']!;
    const fixed = await measure(() => fitDataset(ds, { ...opts, basisParams: { tp_comm_knee_mib: knee } }));
    log(
      `knee profile, ${3 * per} rows (TP 2/4/8) × serving, ${method === 'huber' ? 'default fit (huber)' : 'nnls'}, workers ${workers}: profiled ${prof.seconds.toFixed(2)} s wall, ${prof.cpu.toFixed(2)} CPU-s (${prof.result.passes} passes, knee ${knee.toFixed(3)} MiB) vs fixed knee ${fixed.seconds.toFixed(2)} s wall, ${fixed.cpu.toFixed(2)} CPU-s (${fixed.result.passes} passes): ×${(prof.seconds / fixed.seconds).toFixed(2)} wall, ×${(prof.cpu / fixed.cpu).toFixed(2)} CPU; peak RSS ${prof.peakRssMiB.toFixed(0)} MiB`,
    );
  }
}

async function fromParquet(n: number, log: (s: string) => void): Promise<void> {
  const file = path.join(os.tmpdir(), `stepfit-bench-fit-${n}.parquet`);
  if (!fs.existsSync(file)) {
    const w = await measure(() => writeStepsParquet(file, timed(n, 42, 'serving', 1, 'llama-3.1-8b', SERVING_COEF, {})));
    log(`(wrote ${file}: ${n} steps, ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB in ${w.seconds.toFixed(1)} s; reused by later runs)`);
  }
  const read = await measure(async () => {
    let rows = 0;
    for await (const b of readStepBatchesParquet(file)) rows += b.n;
    return rows;
  });
  log(
    `reading it alone (readStepBatchesParquet, one pass, in this process): ${read.cpu.toFixed(2)} CPU-s, ${read.seconds.toFixed(2)} s wall, ${(read.result / read.seconds / 1000).toFixed(0)}k rows/s`,
  );
  const cli = path.resolve('bin', 'stepfit.js');
  const workers = process.env['BENCH_FIT_WORKERS'] ?? 'auto';
  const args = ['fit', '--steps', file, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1', '--workers', workers];
  const script = `const t0=process.hrtime.bigint();process.argv=[process.argv[0],${JSON.stringify(cli)},...${JSON.stringify(args)}];await import(${JSON.stringify(cli)});process.on('exit',()=>{const u=process.resourceUsage();console.error('BENCH '+(Number(process.hrtime.bigint()-t0)/1e9)+' '+u.maxRSS+' '+(u.userCPUTime+u.systemCPUTime)/1e6)})`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const m = /BENCH (\S+) (\d+) (\S+)/.exec(r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith('fit: ')) ?? r.stderr.trim().split('\n').slice(-3).join(' | ');
  if (!m || r.status !== 0) {
    log(`stepfit fit --steps <${n} steps Parquet> (default basis): FAILED (exit ${r.status}): ${line}`);
    return;
  }
  log(
    `stepfit fit --steps <${n} steps, ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB Parquet> --workers ${workers} (default: serving, huber): ${Number(m[3]).toFixed(2)} CPU-s, ${Number(m[1]).toFixed(2)} s wall in the child, peak RSS ${(Number(m[2]) / 1024).toFixed(0)} MiB; ${line}`,
  );
}

export default async function (log: (s: string) => void): Promise<void> {
  const env = (k: string, d: number): number => Number(process.env[k] ?? d);
  const cases = (process.env['BENCH_FIT_CASES'] ?? 'rows,profile,parquet').split(',');
  if (cases.includes('rows')) await inProcess(env('BENCH_FIT_ROWS', 10_000_000), log);
  if (cases.includes('profile')) await kneeProfile(env('BENCH_FIT_PROFILE_ROWS', 200_000), log);
  if (cases.includes('parquet')) await fromParquet(env('BENCH_FIT_PARQUET_ROWS', 10_000_000), log);
}
