/**
 * The options `stepfit engine` subcommands share: `add*` puts them on a command, and the zod schemas
 * (`*Flags`) turn commander's option record into typed objects at this edge — then a `ContextSpec`
 * for the context resolver, `EngineOptions` for the analytic engine, a `Workload` and `CostOptions`
 * for serve and search. Commander has already validated every value (choices, integer and number
 * parsers), so a schema failure is a programming error (exit 70), never a user's.
 */
import { type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import { z } from 'zod';
import type { EngineOptions } from '../../analytic/context.js';
import type { CostOptions } from '../../analytic/cost.js';
import type { Workload } from '../../analytic/serving.js';
import { vllmDefaultLimits } from '../../analytic/vllm-defaults.js';
import type { GpuSpec } from '../../hardware/gpu.js';
import { UsageError } from '../../io/errors.js';
import type { ContextSpec } from '../../model/context.js';
import { floatOption, intOption } from '../io.js';

export const WEIGHT_DTYPES = ['bf16', 'fp16', 'fp8', 'int8', 'int4', 'fp4'] as const;
export const KV_DTYPES = ['bf16', 'fp16', 'fp8'] as const;

/** `--model` and `--gpu`, required. */
export function addModelIds(c: CommandUnknownOpts): void {
  c.requiredOption('--model <id|path>', 'model: a configs/models id or a HuggingFace config.json path').requiredOption('--gpu <id|path>', 'GPU: a configs/hardware id or a datasheet JSON path');
}

export const ModelFlags = z.object({ model: z.string(), gpu: z.string() });

/** `--tp --pp --ep --dp` (search has none: it tries every layout). */
export function addParallelism(c: CommandUnknownOpts): void {
  c.option('--tp <n>', 'tensor-parallel degree', intOption('--tp'), 1)
    .option('--pp <n>', 'pipeline-parallel stages (must divide the layers)', intOption('--pp'), 1)
    .option('--ep <n>', 'expert-parallel degree inside the TP group (must divide experts and TP)', intOption('--ep'), 1)
    .option('--dp <n>', 'data-parallel replicas (serve: multiplies throughput and GPUs; no effect on one step)', intOption('--dp'), 1);
}

/** Dtypes and efficiency tables. */
function addDtypes(c: CommandUnknownOpts): void {
  c.addOption(new Option('--weight-dtype <dtype>', "weight dtype (default: the model config's): fp8 = W8A8 on FP8 tensor cores, int4 = W4A16").choices(WEIGHT_DTYPES))
    .addOption(new Option('--kv-dtype <dtype>', 'KV-cache dtype').choices(KV_DTYPES).default('bf16' as const))
    .option('--efficiency <auto|default|file>', "efficiency curves: 'auto' = configs/efficiency/<gpu>.json when present, 'default' = documented defaults, or a calibrated file", 'auto')
    .addOption(
      new Option('--gemm-model <kind>', "dense GEMM time: the calibrated (m, n, k) table of the weight dtype when the efficiency file has one ('table'), or the 1-D curve in FLOPs ('curve')")
        .choices(['table', 'curve'] as const)
        .default('table' as const),
    );
}

/** Kernel launch and collectives. */
function addExecution(c: CommandUnknownOpts): void {
  c.addOption(
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
    .addOption(new Option('--algorithm <alg>', 'collective algorithm for formula-based (uncalibrated or inter-node) all-reduce').choices(['ring', 'tree'] as const).default('ring' as const));
}

/** Links, nodes, fixed overhead and `--json`. */
function addTopology(c: CommandUnknownOpts): void {
  c.addOption(new Option('--link <kind>', "intra-node link: the datasheet's scale-up link, or force PCIe").choices(['auto', 'pcie'] as const).default('auto' as const))
    .option('--gpus-per-node <n>', 'GPUs per node (larger TP/EP groups cross nodes)', intOption('--gpus-per-node'), 8)
    .option('--inter-node-gbs <GB/s>', 'inter-node bandwidth per GPU per direction, GB/s', floatOption('--inter-node-gbs', 0.001), 50)
    .option('--step-overhead-us <µs>', 'fixed host/scheduler overhead added to every step, µs', floatOption('--step-overhead-us', 0), 0)
    .option('--json', 'print JSON instead of a table');
}

/** Every engine option except the model, GPU and parallelism. */
export function addEngineFlags(c: CommandUnknownOpts): void {
  addDtypes(c);
  addExecution(c);
  addTopology(c);
}

/** The engine flags as commander parses them (what `addEngineFlags` adds). */
export const EngineFlags = z.object({
  weightDtype: z.enum(WEIGHT_DTYPES).optional(),
  kvDtype: z.enum(KV_DTYPES),
  efficiency: z.string(),
  gemmModel: z.enum(['table', 'curve']),
  execution: z.enum(['graph', 'eager']),
  launchUs: z.number().optional(),
  allreduce: z.enum(['graph', 'eager', 'nccl']).optional(),
  algorithm: z.enum(['ring', 'tree']),
  link: z.enum(['auto', 'pcie']),
  gpusPerNode: z.number(),
  interNodeGbs: z.number(),
  stepOverheadUs: z.number(),
  json: z.literal(true).optional(),
});
export type EngineFlags = z.infer<typeof EngineFlags>;
export const ParallelFlags = z.object({ tp: z.number(), pp: z.number(), ep: z.number(), dp: z.number() });
export type ParallelFlags = z.infer<typeof ParallelFlags>;
/** What step, memory and check take: model, GPU, parallelism and the engine flags. */
export const DeploymentFlags = z.object({ ...ModelFlags.shape, ...ParallelFlags.shape, ...EngineFlags.shape });

/** Engine options from the flags (parallelism given separately: search sets its own per layout). */
export function engineOptionsOf(o: EngineFlags, par: Partial<ParallelFlags> = {}): EngineOptions {
  return {
    pp: par.pp,
    ep: par.ep,
    dp: par.dp,
    weightDtype: o.weightDtype,
    kvDtype: o.kvDtype,
    efficiency: o.efficiency,
    gemmModel: o.gemmModel,
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

/** The context to resolve: the engine checks the layout itself (EP across DP replicas, PP | L). */
export function deploymentOf(o: { model: string; gpu: string } & Partial<ParallelFlags>): ContextSpec {
  return { model: o.model, gpu: o.gpu, tp: o.tp ?? 1, pp: o.pp, ep: o.ep, dp: o.dp, check: false };
}

/** Workload, vLLM limits and cost flags of serve and search. */
export function addWorkload(c: CommandUnknownOpts): void {
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
}

export const WorkloadFlags = z.object({
  input: z.number().optional(),
  output: z.number().optional(),
  concurrency: z.number().optional(),
  rate: z.number().optional(),
  chunk: z.number().optional(),
  maxSeqs: z.number().optional(),
  gpuMemUtil: z.number(),
  price: z.number(),
  pue: z.number(),
  carbon: z.number(),
  powerFraction: z.number(),
});
export type WorkloadFlags = z.infer<typeof WorkloadFlags>;

export function lengthsOf(o: WorkloadFlags): { input: number; output: number } {
  if (o.input === undefined) throw new UsageError(`required option '--input <tokens>' not specified`);
  if (o.output === undefined) throw new UsageError(`required option '--output <tokens>' not specified`);
  return { input: o.input, output: o.output };
}

/** The workload, with vLLM's default limits for the GPU where the user gave none (analytic/vllm-defaults.ts). */
export function workloadOf(o: WorkloadFlags, gpu: GpuSpec): Workload {
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

export function costOf(o: WorkloadFlags): CostOptions {
  return { pricePerGpuHour: o.price, pue: o.pue, carbonGPerKWh: o.carbon, powerFraction: o.powerFraction };
}
