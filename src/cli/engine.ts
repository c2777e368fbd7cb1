/**
 * `stepfit engine step|serve|search|memory|calibrate|check` — the analytical engine from the command line.
 * Each subcommand: parse options → call src/engine → print a readable table (or `--json`) / write files atomically.
 */
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intOption, floatOption } from './io.js';
import { loadArchitecture } from '../model/load.js';
import { loadGpu } from '../hardware/gpu.js';
import { InputError, UsageError } from '../io/errors.js';
import { writeFileAtomic, withAtomicWriter } from '../io/atomic.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import type { Step } from '../steps/step.js';
import { readSteps } from '../steps/io.js';
import { SkippedLines, SKIP_BAD_HELP } from './skip-bad.js';
import type { Dtype } from '../model/arch.js';
import type { EngineOptions, KvDtype } from '../engine/context.js';
import { engineModel } from '../engine/model.js';
import { calibrate } from '../engine/calibrate.js';
import { efficiencyFilePath } from '../engine/efficiency.js';
import { engineMemory, type MemoryOptions } from '../engine/memory.js';
import { serveMetrics, type Workload } from '../engine/serving.js';
import { searchParallelism } from '../engine/search.js';
import { checkFit } from '../validate/engine-check.js';
import { bubbleFraction } from '../engine/collectives.js';
import { readFitFile } from '../fit/fitfile.js';
import { costMetrics, type CostOptions } from '../engine/cost.js';
import { vllmDefaultLimits } from '../engine/vllm-defaults.js';
import { benchServeDeployment, BENCH_DEFAULT_NUM_PROMPTS, type BenchDeploymentResult } from '../engine/bench-serve.js';
import { DEFAULT_HOST_COSTS, type HostCosts } from '../engine/host-costs.js';
import { readScenarios, predictScenarios } from '../engine/scenarios.js';
import { compileEngine } from '../engine/context.js';
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';

const WEIGHT_DTYPES = ['bf16', 'fp16', 'fp8', 'int8', 'int4', 'fp4'] as const;
const KV_DTYPES = ['bf16', 'fp16', 'fp8'] as const;

/** Parse `--prefill`: comma list of `tokens[@prior]`, `NxTOKENS[@prior]` repeats. */
export function parsePrefill(spec: string | undefined): Step['prefill'] {
  if (!spec) return [];
  const out: { tokens: number; prior: number; prompt: number }[] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(?:(\d+)x)?(\d+)(?:@(\d+))?$/.exec(part);
    if (!m) throw new UsageError(`option '--prefill': expected tokens[@prior] or NxTOKENS[@prior] items separated by commas, got '${part}'`);
    const n = m[1] ? Number(m[1]) : 1;
    const tokens = Number(m[2]);
    const prior = m[3] ? Number(m[3]) : 0;
    if (tokens <= 0 || n <= 0) throw new UsageError(`option '--prefill': tokens and counts must be positive, got '${part}'`);
    for (let i = 0; i < n; i++) out.push({ tokens, prior, prompt: prior + tokens });
  }
  return out;
}

/** Parse `--decode`: comma list of contexts, `NxCONTEXT` repeats. */
export function parseDecode(spec: string | undefined): number[] {
  if (!spec) return [];
  const out: number[] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(?:(\d+)x)?(\d+)$/.exec(part);
    if (!m) throw new UsageError(`option '--decode': expected context lengths or NxCONTEXT items separated by commas, got '${part}'`);
    const n = m[1] ? Number(m[1]) : 1;
    if (n <= 0) throw new UsageError(`option '--decode': counts must be positive, got '${part}'`);
    for (let i = 0; i < n; i++) out.push(Number(m[2]));
  }
  return out;
}

// ---- shared options ----
type AnyCmd = Command<unknown[], Record<string, unknown>>;

function modelOptions<T extends AnyCmd>(c: T, requireTp = true): T {
  c.requiredOption('--model <id|path>', 'model: a configs/models id or a HuggingFace config.json path').requiredOption('--gpu <id|path>', 'GPU: a configs/hardware id or a datasheet JSON path');
  return modelOptionsNoIds(c, requireTp);
}

/** The model options without --model/--gpu (engine serve makes those optional with --scenarios). */
function modelOptionsNoIds<T extends AnyCmd>(c: T, requireTp = true): T {
  if (requireTp) {
    c.option('--tp <n>', 'tensor-parallel degree', intOption('--tp'), 1)
      .option('--pp <n>', 'pipeline-parallel stages (must divide the layers)', intOption('--pp'), 1)
      .option('--ep <n>', 'expert-parallel degree inside the TP group (must divide experts and TP)', intOption('--ep'), 1)
      .option('--dp <n>', 'data-parallel replicas (serve: multiplies throughput and GPUs; no effect on one step)', intOption('--dp'), 1);
  }
  c.addOption(new Option('--weight-dtype <dtype>', "weight dtype (default: the model config's): fp8 = W8A8 on FP8 tensor cores, int4 = W4A16").choices(WEIGHT_DTYPES))
    .addOption(new Option('--kv-dtype <dtype>', 'KV-cache dtype').choices(KV_DTYPES).default('bf16'))
    .option('--efficiency <auto|default|file>', "efficiency curves: 'auto' = configs/efficiency/<gpu>.json when present, 'default' = documented defaults, or a calibrated file", 'auto')
    .addOption(
      new Option('--execution <mode>', "kernel launch: CUDA graphs ('graph', no launch floor) or eager ('eager': every kernel costs at least --launch-us; all-reduce defaults to eager)")
        .choices(['graph', 'eager'] as const)
        .default('graph' as const),
    )
    .option('--launch-us <µs>', "eager kernel launch time, µs (default: from the GPU's all-reduce microbenchmarks, 7 µs uncalibrated)", floatOption('--launch-us', 0))
    .addOption(
      new Option(
        '--allreduce <mode>',
        "all-reduce implementation: vLLM custom all-reduce in CUDA graphs ('graph'), outside graphs ('eager'), or plain NCCL ('nccl') (default: graph, eager with --execution eager)",
      ).choices(['graph', 'eager', 'nccl'] as const),
    )
    .addOption(new Option('--algorithm <alg>', 'collective algorithm for formula-based (uncalibrated or inter-node) all-reduce').choices(['ring', 'tree'] as const).default('ring' as const))
    .addOption(new Option('--link <kind>', "intra-node link: the datasheet's scale-up link, or force PCIe").choices(['auto', 'pcie'] as const).default('auto' as const))
    .option('--gpus-per-node <n>', 'GPUs per node (larger TP/EP groups cross nodes)', intOption('--gpus-per-node'), 8)
    .option('--inter-node-gbs <GB/s>', 'inter-node bandwidth per GPU per direction, GB/s', floatOption('--inter-node-gbs', 0.001), 50)
    .option('--step-overhead-us <µs>', 'fixed host/scheduler overhead added to every step, µs', floatOption('--step-overhead-us', 0), 0)
    .option('--json', 'print JSON instead of a table');
  return c;
}

interface CommonOpts {
  model: string;
  gpu: string;
  tp?: number;
  pp?: number;
  ep?: number;
  dp?: number;
  weightDtype?: string;
  kvDtype: string;
  efficiency: string;
  execution: 'graph' | 'eager';
  launchUs?: number;
  allreduce?: 'graph' | 'eager' | 'nccl';
  algorithm: 'ring' | 'tree';
  link: 'auto' | 'pcie';
  gpusPerNode: number;
  interNodeGbs: number;
  stepOverheadUs: number;
  json?: boolean;
}

function engineOpts(o: CommonOpts): EngineOptions {
  return {
    pp: o.pp,
    ep: o.ep,
    dp: o.dp,
    weightDtype: o.weightDtype as Dtype | undefined,
    kvDtype: o.kvDtype as KvDtype,
    efficiency: o.efficiency,
    execution: o.execution,
    ...(o.launchUs !== undefined ? { launchUs: o.launchUs } : {}),
    ...(o.allreduce !== undefined ? { allreduce: o.allreduce } : {}),
    algorithm: o.algorithm,
    link: o.link,
    gpusPerNode: o.gpusPerNode,
    interNodeGBs: o.interNodeGbs,
    stepOverheadUs: o.stepOverheadUs,
  };
}

/** Fixed-width table: columns right-aligned except the first. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const w = header.map((_, j) => Math.max(...cells.map((r) => (r[j] ?? '').length)));
  return cells.map((r) => r.map((c, j) => (j === 0 ? c.padEnd(w[j]!) : c.padStart(w[j]!))).join('  ')).join('\n');
}
const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);

// ---- step ----
function stepCommand(io: CliIO) {
  const c = new Command('step')
    .description('predict one step (or every step of a step file) from first principles, with a per-operator breakdown (µs)')
    .option('--prefill <spec>', "prefill chunks: 'tokens[@prior]' or 'NxTOKENS[@prior]', comma-separated (e.g. 512,4x128@1024)")
    .option('--decode <spec>', "decode requests' context lengths: 'c1,c2' or 'NxCONTEXT' (e.g. 16x576)")
    .option('--steps <path>', 'step records (JSONL) to predict instead of one step; writes CSV to --out')
    .option('--out <file>', 'with --steps: output CSV experiment,step,duration_us,engine_us (written atomically)')
    .option('--ignore-memory', 'predict even when the model does not fit GPU memory at this parallelism')
    .option('--micro-batches <m>', 'with --pp: micro-batches of this shape per pipeline flush, for the bubble (p−1)/(m+p−1) (default PP)', intOption('--micro-batches'))
    .option('--skip-bad', `with --steps: ${SKIP_BAD_HELP}`);
  modelOptions(c as unknown as AnyCmd);
  return c.action(async (raw) => {
    const o = raw as unknown as CommonOpts & { prefill?: string; decode?: string; steps?: string; out?: string; ignoreMemory?: boolean; microBatches?: number; skipBad?: boolean };
    const arch = loadArchitecture(o.model);
    const gpu = loadGpu(o.gpu);
    const model = engineModel({ arch, gpu, tp: o.tp ?? 1 }, engineOpts(o));
    if (!o.ignoreMemory) {
      const mem = engineMemory(model.engine, { maxModelLen: 1 });
      if (mem.kvCacheBytes <= 0) throw new InputError(`does not fit: ${mem.reason} (pass --ignore-memory to predict anyway)`);
    }
    if (o.steps) {
      if (!o.out) throw new UsageError(`option '--out <file>' is required with --steps`);
      const skipped = new SkippedLines(o.skipBad === true);
      let n = 0;
      let ape = 0;
      let measured = 0;
      await withAtomicWriter(o.out, async (w) => {
        await w.write('experiment,step,duration_us,engine_us\n');
        let chunk = '';
        for await (const s of readSteps(o.steps!, skipped.readOptions())) {
          const p = model.predictUs(s);
          chunk += `${s.experiment},${s.step},${s.durationUs ?? ''},${p.toFixed(3)}\n`;
          if (s.durationUs) {
            ape += Math.abs(p - s.durationUs) / s.durationUs;
            measured++;
          }
          if (++n % 4096 === 0) {
            await w.write(chunk);
            chunk = '';
          }
        }
        if (chunk) await w.write(chunk);
      });
      const skippedNote = skipped.summary();
      if (skippedNote) io.err(skippedNote);
      const summary = { steps: n, measured, mapePct: measured ? (ape / measured) * 100 : null, out: o.out, model: model.name };
      if (o.json) io.out(JSON.stringify(summary, null, 2));
      else io.out(`engine step: ${n} steps → ${o.out}${measured ? `; MAPE vs duration_us ${summary.mapePct!.toFixed(1)}% over ${measured} measured steps` : ''} (${model.name})`);
      return;
    }
    const step: Step = { experiment: 'cli', step: 0, prefill: parsePrefill(o.prefill), decode: parseDecode(o.decode) };
    if (step.prefill.length === 0 && step.decode.length === 0) throw new UsageError(`give --prefill and/or --decode (or --steps)`);
    const b = model.breakdown(step);
    const p = model.engine.pp;
    const m = o.microBatches ?? p;
    // m micro-batches through p stages: (m + p − 1) stage slots, of which p − 1 are bubble
    const pipeline = p > 1 ? { stages: p, stageUs: b.stageUs, microBatches: m, bubbleFraction: bubbleFraction(p, m), flushUs: (m + p - 1) * b.stageUs } : undefined;
    if (o.json) {
      io.out(JSON.stringify({ model: model.name, efficiency: model.engine.tables.origin, step: { prefill: step.prefill, decode: step.decode }, ...b, ...(pipeline ? { pipeline } : {}) }, null, 2));
      return;
    }
    io.out(`${model.name}; efficiency: ${model.engine.tables.origin}`);
    io.out(`step: ${b.prefillTokens} prefill tokens in ${step.prefill.length} chunks, ${b.decodeRequests} decodes, ${b.sampled} sampled`);
    io.out(
      table(
        ['op', 'µs', '%', 'compute µs', 'memory µs', 'GFLOP', 'MB', 'calls', 'bound'],
        b.ops.map((op) => [op.op, f1(op.us), f1((op.us / b.us) * 100), f1(op.computeUs), f1(op.memoryUs), f2(op.flops / 1e9), f1(op.bytes / 1e6), op.calls, op.bound]),
      ),
    );
    io.out(`total: ${f1(b.us)} µs`);
    if (pipeline)
      io.out(`pipeline: ${p} stages, slowest stage ${f1(b.stageUs)} µs; ${m} micro-batches per flush take ${f1(pipeline.flushUs)} µs, bubble (p−1)/(m+p−1) = ${f1(pipeline.bubbleFraction * 100)}%`);
  });
}

// ---- calibrate ----
function calibrateCommand(io: CliIO) {
  return new Command('calibrate')
    .description('fit the efficiency curves of a GPU from per-operator microbenchmarks (AIConfigurator, Vidur) and write configs/efficiency/<gpu>.json')
    .requiredOption('--gpu <id|path>', 'GPU datasheet id or path')
    .option('--data <dir>', 'shared data root holding ai-dynamo__aiconfigurator/ and microsoft__vidur/', path.resolve(PACKAGE_ROOT, '..', 'shared', 'data'))
    .option('--aic-gpu <folder>', 'AIConfigurator system folder (default from the GPU id, e.g. h100_sxm)')
    .option('--vidur-gpu <folder>', "Vidur profiling folder (default from the GPU id, e.g. h100; '' for none)")
    .option('--out <file>', 'output file (default configs/efficiency/<gpu>.json)')
    .option('--json', 'print the calibration summary as JSON')
    .action(async (o) => {
      const gpu = loadGpu(o.gpu);
      const out = o.out ?? efficiencyFilePath(gpu.id);
      const { file, summary } = calibrate(gpu, {
        dataRoot: o.data,
        aicGpu: o.aicGpu,
        vidurGpu: o.vidurGpu,
        commandLine: `stepfit engine calibrate --gpu ${o.gpu}${o.aicGpu ? ` --aic-gpu ${o.aicGpu}` : ''}${o.vidurGpu !== undefined ? ` --vidur-gpu '${o.vidurGpu}'` : ''}`,
      });
      writeFileAtomic(out, JSON.stringify(file, null, 1) + '\n');
      if (o.json) {
        io.out(JSON.stringify({ out, summary }, null, 2));
        return;
      }
      const pct = (x: number | null): string => (x === null ? '-' : x.toFixed(1));
      io.out(
        table(
          ['curve', 'train n', 'train MAPE %', 'held-out n', 'held-out MAPE %', 'held-out median %', 'held-out p90 %'],
          summary.map((s) => [s.curve, s.train.n, pct(s.train.mape), s.heldOut.n, pct(s.heldOut.mape), pct(s.heldOut.medianApe), pct(s.heldOut.p90Ape)]),
        ),
      );
      io.out(`wrote ${out}`);
    });
}

// ---- memory ----
function memoryCommand(io: CliIO) {
  const c = new Command('memory')
    .description('per-GPU memory: weights + KV cache + activations + reserved; max concurrent tokens and sequences')
    .option('--max-model-len <tokens>', 'context length per sequence for the max-sequences figure', intOption('--max-model-len'), 4096)
    .option('--gpu-mem-util <fraction>', 'fraction of GPU memory the engine may use (vLLM gpu_memory_utilization)', floatOption('--gpu-mem-util', 0.01), 0.9)
    .option('--max-batched-tokens <n>', 'tokens per step (sizes activations)', intOption('--max-batched-tokens'), 8192);
  modelOptions(c as unknown as AnyCmd);
  return c.action(async (raw) => {
    const o = raw as unknown as CommonOpts & { maxModelLen: number; gpuMemUtil: number; maxBatchedTokens: number };
    if (o.gpuMemUtil > 1) throw new UsageError(`option '--gpu-mem-util' expects a fraction in (0, 1], got ${o.gpuMemUtil}`);
    const arch = loadArchitecture(o.model);
    const gpu = loadGpu(o.gpu);
    const model = engineModel({ arch, gpu, tp: o.tp ?? 1 }, engineOpts(o));
    const mo: MemoryOptions = { maxModelLen: o.maxModelLen, gpuMemUtil: o.gpuMemUtil, maxBatchedTokens: o.maxBatchedTokens };
    const m = engineMemory(model.engine, mo);
    if (o.json) {
      io.out(JSON.stringify(m, null, 2));
      if (!m.fits) throw new InputError(`does not fit: ${m.reason}`);
      return;
    }
    const gb = (b: number): string => (b / 1e9).toFixed(2);
    io.out(`${model.name}`);
    io.out(
      table(
        ['per GPU', 'GB'],
        [
          ['capacity', gb(m.capacityBytes)],
          ['usable (× gpu-mem-util)', gb(m.usableBytes)],
          ['weights', gb(m.weightBytes)],
          ['activations (peak)', gb(m.activationBytes)],
          ['reserved (runtime, NCCL)', gb(m.reservedBytes)],
          ['KV cache', gb(m.kvCacheBytes)],
        ],
      ),
    );
    io.out(`KV bytes per token per GPU: ${m.kvBytesPerToken.toFixed(0)}; max tokens in KV: ${m.maxKvTokens}; max sequences of ${o.maxModelLen} tokens: ${m.maxSequences}`);
    if (!m.fits) throw new InputError(`does not fit: ${m.reason}`);
  });
}

// ---- serve ----
function workloadOptions<T extends AnyCmd>(c: T): T {
  c.option('--input <tokens>', 'prompt length per request, tokens (required)', intOption('--input'))
    .option('--output <tokens>', 'output length per request, tokens (required)', intOption('--output'))
    .option('--concurrency <n>', 'requests in flight (closed loop); default: as many as memory and --max-seqs allow', intOption('--concurrency'))
    .option('--rate <req/s>', 'request arrival rate (open loop); the engine reports whether it keeps up', floatOption('--rate', 0))
    .option('--chunk <tokens>', "chunked-prefill token budget per step (max_num_batched_tokens; default: vLLM's for the GPU, 8192 on ≥ 70 GiB non-A100 GPUs, else 2048)", intOption('--chunk'))
    .option('--max-seqs <n>', "max sequences per step (max_num_seqs; default: vLLM's for the GPU, 1024 on ≥ 70 GiB non-A100 GPUs, else 256)", intOption('--max-seqs'))
    .option('--gpu-mem-util <fraction>', 'fraction of GPU memory the engine may use', floatOption('--gpu-mem-util', 0.01), 0.9)
    .option('--price <$/GPU-h>', 'price per GPU-hour, $', floatOption('--price', 0), 0)
    .option('--pue <x>', 'data-centre power usage effectiveness', floatOption('--pue', 1), 1.2)
    .option('--carbon <gCO2/kWh>', 'grid carbon intensity, g CO₂ per kWh', floatOption('--carbon', 0), 400)
    .option('--power-fraction <f>', 'average board power as a fraction of TDP while serving', floatOption('--power-fraction', 0), 0.7);
  return c;
}

interface WorkloadOpts {
  input?: number;
  output?: number;
  concurrency?: number;
  rate?: number;
  chunk?: number;
  maxSeqs?: number;
  gpuMemUtil: number;
  price: number;
  pue: number;
  carbon: number;
  powerFraction: number;
}

function lengthsOf(o: WorkloadOpts): { input: number; output: number } {
  if (o.input === undefined) throw new UsageError(`required option '--input <tokens>' not specified`);
  if (o.output === undefined) throw new UsageError(`required option '--output <tokens>' not specified`);
  return { input: o.input, output: o.output };
}

/** The workload, with vLLM's default limits for the GPU where the user gave none (engine/vllm-defaults.ts). */
function workloadOf(o: WorkloadOpts, gpu: GpuSpec): Workload {
  const { input, output } = lengthsOf(o);
  const d = vllmDefaultLimits(gpu);
  return {
    inputTokens: input,
    outputTokens: output,
    concurrency: o.concurrency,
    ratePerS: o.rate,
    chunkTokens: o.chunk ?? d.maxNumBatchedTokens,
    maxSeqs: o.maxSeqs ?? d.maxNumSeqs,
    gpuMemUtil: o.gpuMemUtil,
  };
}

interface HostOpts {
  apiOverheadUs?: number;
  stepHostUs?: number;
  postDecodeUs?: number;
  postTokenUs?: number;
}
function hostOf(o: HostOpts): HostCosts {
  return {
    apiOverheadUs: o.apiOverheadUs ?? DEFAULT_HOST_COSTS.apiOverheadUs,
    stepHostUs: o.stepHostUs ?? DEFAULT_HOST_COSTS.stepHostUs,
    postDecodeFixedUs: o.postDecodeUs ?? DEFAULT_HOST_COSTS.postDecodeFixedUs,
    postDecodePerTokenUs: o.postTokenUs ?? DEFAULT_HOST_COSTS.postDecodePerTokenUs,
  };
}
function costOf(o: WorkloadOpts): CostOptions {
  return { pricePerGpuHour: o.price, pue: o.pue, carbonGPerKWh: o.carbon, powerFraction: o.powerFraction };
}

function serveCommand(io: CliIO) {
  const c = new Command('serve')
    .description(
      'serving metrics for a steady workload: TTFT, TPOT/ITL, throughput, energy and cost (aggregated or prefill/decode-disaggregated); closed loop = the vllm bench serve protocol with host costs (docs/serving.md)',
    )
    .option('--disagg', 'prefill/decode disaggregation: separate prefill and decode GPU pools with KV handoff')
    .option('--prefill-tp <n>', 'disaggregated: TP of each prefill instance (default --tp)', intOption('--prefill-tp'))
    .option('--prefill-instances <n>', 'disaggregated: number of prefill instances', intOption('--prefill-instances'), 1)
    .option('--decode-instances <n>', 'disaggregated: number of decode instances', intOption('--decode-instances'), 1)
    .option('--kv-link-gbs <GB/s>', 'disaggregated: KV handoff bandwidth per GPU, GB/s (default: inter-node)', floatOption('--kv-link-gbs', 0.001))
    .addOption(
      new Option(
        '--protocol <kind>',
        "closed loop: 'bench' = vllm bench serve (clients, first wave, host costs, vLLM queueing; docs/serving.md; PP 1 — with --pp, --rate or --disagg the replay is used) or 'replay' = the step-by-step replay without host costs",
      )
        .choices(['bench', 'replay'] as const)
        .default('bench' as const),
    )
    .option('--num-prompts <n>', 'bench: prompts the benchmark sends in all (vllm bench serve --num-prompts)', intOption('--num-prompts'), BENCH_DEFAULT_NUM_PROMPTS)
    .option(
      '--api-overhead-us <µs>',
      `bench: α₀, per-request API/tokenization/first-token cost, µs (default ${DEFAULT_HOST_COSTS.apiOverheadUs}, fitted on real H100 deployments)`,
      floatOption('--api-overhead-us', 0),
    )
    .option('--step-host-us <µs>', `bench: host time per engine step not hidden by async scheduling, µs (default ${DEFAULT_HOST_COSTS.stepHostUs})`, floatOption('--step-host-us', 0))
    .option('--post-decode-us <µs>', `bench: α₁, per-request cost after the last token, µs (default ${DEFAULT_HOST_COSTS.postDecodeFixedUs})`, floatOption('--post-decode-us', 0))
    .option('--post-token-us <µs>', `bench: α₂, per-output-token cost after decode, µs (default ${DEFAULT_HOST_COSTS.postDecodePerTokenUs})`, floatOption('--post-token-us', 0))
    .option('--scenarios <csv>', 'predict every row of this CSV (model, gpu, dtype, tp, ep, dp, isl, osl, concurrency[, max_num_batched_tokens, max_num_seqs]) with the bench protocol; needs --out')
    .option('--out <csv>', 'with --scenarios: predictions CSV (written atomically)');
  c.option('--model <id|path>', 'model: a configs/models id or a HuggingFace config.json path (required without --scenarios)').option(
    '--gpu <id|path>',
    'GPU: a configs/hardware id or a datasheet JSON path (required without --scenarios)',
  );
  modelOptionsNoIds(c as unknown as AnyCmd);
  workloadOptions(c as unknown as AnyCmd);
  return c.action(async (raw) => {
    const o = raw as unknown as Omit<CommonOpts, 'model' | 'gpu'> & { model?: string; gpu?: string } & WorkloadOpts &
      HostOpts & {
        disagg?: boolean;
        prefillTp?: number;
        prefillInstances: number;
        decodeInstances: number;
        kvLinkGbs?: number;
        protocol: 'bench' | 'replay';
        numPrompts: number;
        scenarios?: string;
        out?: string;
      };
    const host = hostOf(o);
    if (o.scenarios) {
      if (!o.out) throw new UsageError(`option '--out <csv>' is required with --scenarios`);
      const t0 = performance.now();
      const { rows, columns } = readScenarios(o.scenarios);
      const res = predictScenarios(rows, columns, engineOpts({ ...o, model: '', gpu: '' }), host, { numPrompts: o.numPrompts }, o.scenarios);
      writeFileAtomic(o.out, res.csv);
      const secs = (performance.now() - t0) / 1e3;
      if (o.json) io.out(JSON.stringify({ scenarios: res.rows, predicted: res.predicted, out: o.out, seconds: secs }, null, 2));
      else io.out(`engine serve: ${res.rows} scenarios, ${res.predicted} predicted (${res.rows - res.predicted} with a note) in ${secs.toFixed(2)} s → ${o.out}`);
      return;
    }
    if (!o.model) throw new UsageError(`required option '--model <id|path>' not specified`);
    if (!o.gpu) throw new UsageError(`required option '--gpu <id|path>' not specified`);
    const arch = loadArchitecture(o.model);
    const gpu = loadGpu(o.gpu);
    const ctx = { arch, gpu, tp: o.tp ?? 1 };
    const co = o as unknown as CommonOpts;
    if (o.protocol === 'bench' && !o.disagg && o.rate === undefined && o.concurrency !== undefined && (o.pp ?? 1) === 1) {
      const { input, output } = lengthsOf(o);
      const b = benchServeDeployment(
        ctx,
        engineOpts(co),
        { isl: input, osl: output, concurrency: o.concurrency, maxNumBatchedTokens: o.chunk, maxNumSeqs: o.maxSeqs, gpuMemUtil: o.gpuMemUtil },
        host,
        { numPrompts: o.numPrompts },
      );
      const r = benchAsServe(b, ctx, co);
      const cost = costMetrics(r, gpu, costOf(o));
      if (o.json) {
        io.out(JSON.stringify({ ...r, protocol: 'bench', bench: b, hostCosts: host, cost }, null, 2));
        return;
      }
      io.out(printServe(r, cost));
      io.out(
        `protocol: vllm bench serve, ${o.numPrompts} prompts; vLLM limits max_num_batched_tokens ${b.maxNumBatchedTokens}, max_num_seqs ${b.maxNumSeqs} (${b.limitsSource}); running ${b.running * (o.dp ?? 1)} of ${o.concurrency}, queue wait ${f1(b.queueS * 1e3)} ms; host: α₀ ${f1(host.apiOverheadUs / 1e3)} ms, step host ${host.stepHostUs} µs`,
      );
      return;
    }
    const r = serveMetrics(
      ctx,
      engineOpts(co),
      workloadOf(o, gpu),
      o.disagg
        ? {
            prefillTp: o.prefillTp ?? o.tp ?? 1,
            prefillInstances: o.prefillInstances,
            decodeInstances: o.decodeInstances,
            kvLinkGBs: o.kvLinkGbs,
          }
        : undefined,
    );
    const cost = costMetrics(r, gpu, costOf(o));
    if (o.json) {
      io.out(JSON.stringify({ ...r, cost }, null, 2));
      return;
    }
    io.out(printServe(r, cost));
  });
}

/** The bench result in the shape `printServe`/`costMetrics` read. */
function benchAsServe(b: BenchDeploymentResult, ctx: { arch: Architecture; gpu: GpuSpec; tp: number }, o: CommonOpts): ReturnType<typeof serveMetrics> {
  const e = compileEngine(ctx, engineOpts(o));
  const mem = engineMemory(e, { maxModelLen: 1, maxBatchedTokens: b.maxNumBatchedTokens, maxSeqs: b.maxNumSeqs });
  return {
    deployment: `aggregated TP${ctx.tp}${(o.ep ?? 1) > 1 ? ` EP${o.ep}` : ''}${(o.dp ?? 1) > 1 ? ` DP${o.dp}` : ''}`,
    gpus: b.gpus,
    concurrency: b.concurrency,
    ...(b.limitedBy !== 'clients' ? { limitedBy: b.limitedBy } : {}),
    ttftMs: b.ttftS * 1e3,
    tpotMs: b.tpotS * 1e3,
    e2eS: b.e2eS,
    outputTokensPerS: b.outputTokensPerS,
    outputTokensPerSPerGpu: b.outputTokensPerSPerGpu,
    requestsPerS: b.requestsPerS,
    capacityRequestsPerS: b.requestsPerS,
    meanStepMs: b.meanStepS * 1e3,
    memory: mem,
  };
}

function printServe(r: ReturnType<typeof serveMetrics>, cost: ReturnType<typeof costMetrics>): string {
  const lines = [`${r.deployment}: ${r.gpus} GPUs; concurrency ${r.concurrency}${r.limitedBy ? ` (limited by ${r.limitedBy})` : ''}`];
  lines.push(
    table(
      ['metric', 'value'],
      [
        ['TTFT ms', f1(r.ttftMs)],
        ['TPOT / ITL ms', f2(r.tpotMs)],
        ['request latency s', f2(r.e2eS)],
        ['output tokens/s', f1(r.outputTokensPerS)],
        ['output tokens/s per GPU', f1(r.outputTokensPerSPerGpu)],
        ['requests/s', f2(r.requestsPerS)],
        ...(r.kvHandoffMs !== undefined ? [['KV handoff ms', f2(r.kvHandoffMs)] as [string, string]] : []),
        ['energy J/output token', cost.joulesPerOutputToken.toFixed(3)],
        ['$ per M output tokens', cost.dollarsPerMTokens === null ? '- (give --price)' : cost.dollarsPerMTokens.toFixed(3)],
        ['g CO₂ per M output tokens', f1(cost.gCo2PerMTokens)],
      ],
    ),
  );
  if (r.keepsUp === false) lines.push(`warning: the offered rate exceeds capacity (${r.capacityRequestsPerS.toFixed(2)} req/s); metrics are at saturation`);
  return lines.join('\n');
}

// ---- search ----
function searchCommand(io: CliIO) {
  const c = new Command('search')
    .description('search TP/PP/EP/DP for N GPUs: meet TTFT/TPOT targets at maximum output throughput per GPU')
    .requiredOption('--gpus <n>', 'total GPUs', intOption('--gpus'))
    .option('--ttft-ms <ms>', 'TTFT target, ms', floatOption('--ttft-ms', 0))
    .option('--tpot-ms <ms>', 'TPOT target, ms', floatOption('--tpot-ms', 0))
    .option('--top <n>', 'rows to print', intOption('--top'), 10);
  modelOptions(c as unknown as AnyCmd, false);
  workloadOptions(c as unknown as AnyCmd);
  return c.action(async (raw) => {
    const o = raw as unknown as CommonOpts & WorkloadOpts & { gpus: number; ttftMs?: number; tpotMs?: number; top: number };
    const arch = loadArchitecture(o.model);
    const gpu = loadGpu(o.gpu);
    const res = searchParallelism(arch, gpu, o.gpus, engineOpts(o), workloadOf(o, gpu), { ttftMs: o.ttftMs, tpotMs: o.tpotMs });
    if (o.json) {
      io.out(JSON.stringify(res, null, 2));
      return;
    }
    io.out(
      `${res.candidates.length} layouts of ${o.gpus} × ${gpu.id} for ${arch.name}; ${res.candidates.filter((x) => x.meets).length} meet the targets${res.best ? `; best: ${res.best.layout}` : ''}`,
    );
    io.out(
      table(
        ['layout', 'meets', 'TTFT ms', 'TPOT ms', 'tok/s', 'tok/s/GPU', 'concurrency', 'note'],
        res.candidates
          .slice(0, o.top)
          .map((x) => [
            x.layout,
            x.meets ? 'yes' : 'no',
            x.ttftMs === null ? '-' : f1(x.ttftMs),
            x.tpotMs === null ? '-' : f2(x.tpotMs),
            x.outputTokensPerS === null ? '-' : f1(x.outputTokensPerS),
            x.outputTokensPerSPerGpu === null ? '-' : f1(x.outputTokensPerSPerGpu),
            x.concurrency ?? '-',
            x.note ?? '',
          ]),
      ),
    );
    if (!res.best) io.out('no layout meets the targets');
  });
}

// ---- check ----
function checkCommand(io: CliIO) {
  const c = new Command('check')
    .description('compare a fitted model with the engine over a grid of batch shapes; flag disagreement and extrapolation')
    .requiredOption('--fit <file>', 'fit file (fits/*.json)')
    .option('--threshold <pct>', 'flag grid points where |fit − engine| / engine exceeds this, %', floatOption('--threshold', 0), 25)
    .option('--out <file>', 'write every grid point as CSV (atomically)');
  modelOptions(c as unknown as AnyCmd);
  return c.action(async (raw) => {
    const o = raw as unknown as CommonOpts & { fit: string; threshold: number; out?: string };
    const fit = readFitFile(o.fit);
    const arch = loadArchitecture(o.model);
    const gpu = loadGpu(o.gpu);
    const res = checkFit(fit, { arch, gpu, tp: o.tp ?? 1 }, engineOpts(o), { thresholdPct: o.threshold });
    if (o.out) {
      writeFileAtomic(
        o.out,
        'kind,batch,tokens,context,fit_us,engine_us,diff_pct,flagged,extrapolated\n' +
          res.points
            .map((p) => `${p.kind},${p.batch},${p.tokens},${p.context},${p.fitUs.toFixed(3)},${p.engineUs.toFixed(3)},${p.diffPct.toFixed(2)},${p.flagged},${p.extrapolated.join('|')}`)
            .join('\n') +
          '\n',
      );
    }
    if (o.json) {
      io.out(JSON.stringify(res, null, 2));
      return;
    }
    io.out(
      `fit ${o.fit} (${fit.basis} v${fit.basisVersion}) vs engine (${res.engine}): ${res.points.length} grid points; median |diff| ${f1(res.medianAbsDiffPct)}%; ${res.flagged} over ${o.threshold}%; ${res.extrapolated} outside the training ranges`,
    );
    const show = res.points.filter((p) => p.flagged || p.extrapolated.length).slice(0, 20);
    if (show.length) {
      io.out(
        table(
          ['kind', 'batch', 'tokens', 'context', 'fit µs', 'engine µs', 'diff %', 'flag'],
          show.map((p) => [
            p.kind,
            p.batch,
            p.tokens,
            p.context,
            f1(p.fitUs),
            f1(p.engineUs),
            f1(p.diffPct),
            [p.flagged ? 'disagree' : '', ...p.extrapolated.map((x) => `extrapolates ${x}`)].filter(Boolean).join('; '),
          ]),
        ),
      );
    }
    for (const w of res.warnings) io.err(`warning: ${w}`);
  });
}

export function engineCommand(io: CliIO) {
  const cmd = new Command('engine').description('analytical engine: step time, memory, serving metrics, parallelism search, calibration and fit checks (no fitted numbers)');
  cmd.addCommand(stepCommand(io) as unknown as Command);
  cmd.addCommand(serveCommand(io) as unknown as Command);
  cmd.addCommand(searchCommand(io) as unknown as Command);
  cmd.addCommand(memoryCommand(io) as unknown as Command);
  cmd.addCommand(calibrateCommand(io) as unknown as Command);
  cmd.addCommand(checkCommand(io) as unknown as Command);
  return cmd;
}

export { InputError };
