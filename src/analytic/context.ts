/**
 * Engine context: architecture + GPU + parallelism + dtypes + efficiency tables, validated once
 * and turned into per-GPU operator shapes. Everything per-step (analytic/step.ts) reads these.
 *
 * Parallelism (documented simplifications):
 * - TP shards attention heads (KV heads replicated when kvH < TP: each GPU holds ⌈kvH/TP⌉) and
 *   MLP/expert widths; each TP rank holds all T tokens of the step.
 * - EP lives inside the TP group (EP | TP): each GPU owns N/EP whole experts sharded over
 *   TP/EP ranks; tokens are dispatched and combined with two all-to-alls per MoE layer.
 *   EP may also span data-parallel replicas (vLLM --enable-expert-parallel: EP = TP·DP, or any
 *   multiple of TP dividing TP·DP): each GPU owns N/EP whole experts (expert TP 1) and serves the
 *   tokens of the EP/TP replicas in its EP group, assumed to carry the same load as this one
 *   (the replicas step in lockstep).
 * - PP splits the layers evenly into PP stages (PP | L); a step's latency is the sum of the
 *   stages plus PP−1 point-to-point activation sends.
 * - DP replicas are independent at inference (no communication); they multiply throughput.
 */
import fs from 'node:fs';
import { InputError } from '../io/errors.js';
import { DTYPE_BYTES, type Architecture, type Dtype } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import type { BasisContext } from '../basis/types.js';
import { loadEfficiency, linkGBsPerDirection, DEFAULTS, type EfficiencyTables, type AllReduceMode, type OpClass } from './efficiency.js';
import type { GemmTable } from './gemm-table.js';
import { gemmBoundOf, gemmTableOf } from './gemm-select.js';

export type KvDtype = 'bf16' | 'fp16' | 'fp8';

export interface EngineOptions {
  /** Pipeline-parallel stages (default 1). */
  pp?: number;
  /** Expert-parallel degree inside the TP group (default 1). */
  ep?: number;
  /** Data-parallel replicas (default 1; no effect on step time). */
  dp?: number;
  /** Weight dtype (default: the model config's). FP8 = W8A8 on FP8 tensor cores; INT4 = W4A16; FP4 = W4A4 where the GPU has FP4, else W4A16. */
  weightDtype?: Dtype;
  /** KV-cache dtype (default bf16). FP8 halves KV bytes. */
  kvDtype?: KvDtype;
  /** Efficiency tables: 'auto' (calibrated file if present, else defaults), 'default', a file path, or tables. */
  efficiency?: 'auto' | 'default' | string | EfficiencyTables;
  /** All-reduce implementation: vLLM custom all-reduce in CUDA graphs (default), eager, or plain NCCL. */
  allreduce?: AllReduceMode;
  /** Algorithm for formula-based collectives (inter-node stage, uncalibrated groups): ring (default) or tree. */
  algorithm?: 'ring' | 'tree';
  /** Intra-node link: the datasheet's scale-up link (default), or force PCIe. */
  link?: 'auto' | 'pcie';
  /** GPUs per node (default 8): TP/EP groups larger than this cross nodes. */
  gpusPerNode?: number;
  /** Inter-node bandwidth per GPU per direction in GB/s (default 50 = 400 Gb/s NDR) and latency per hop in µs (default 10). */
  interNodeGBs?: number;
  interNodeLatencyUs?: number;
  /** Point-to-point latency per send in µs (default 10). */
  p2pLatencyUs?: number;
  /**
   * Kernel launch: 'graph' (default; vLLM ≥ 0.2.2 decodes in CUDA graphs, launches are free) or
   * 'eager' (no CUDA graphs — `enforce_eager`, or vLLM before CUDA graphs, e.g. 2023's 0.1.x): every
   * kernel then costs at least the host launch time `launchUs` (the GPU idles when a kernel is
   * shorter than the CPU needs to issue the next one), and the all-reduce defaults to 'eager'.
   */
  execution?: 'graph' | 'eager';
  /**
   * Host time to issue one kernel in eager mode, µs. Default: half the gap between vLLM's eager and
   * CUDA-graph custom all-reduce latency floors for 2 GPUs in the GPU's calibrated tables
   * (AIConfigurator vLLM 0.14 microbenchmarks: an eager all-reduce is two launches, the copy into the
   * IPC buffer and the kernel): H100 7.2, A100 17.4, H200 6.4, L40S 17.0 µs; uncalibrated GPUs
   * (20 − 6)/2 = 7 µs from the default latencies.
   */
  launchUs?: number;
  /** Fixed host/scheduler overhead per step in µs (default 0) and per layer (default 0). */
  stepOverheadUs?: number;
  layerOverheadUs?: number;
  /** Include embedding, final norm, LM head and sampler (default true). */
  lmHead?: boolean;
  /**
   * Dense GEMM time: 'table' (default) = the calibrated shape-aware (m, n, k) table of the weight
   * dtype when the efficiency file has one (analytic/gemm-table.ts), else the 1-D curve; 'curve' =
   * always the 1-D efficiency curve in FLOPs (the engine before tables; for ablations).
   */
  gemmModel?: 'table' | 'curve';
}

/** One GEMM of a layer: C[m×n] = A[m×k]·W[k×n] with m = the step's tokens (times `mScale`). */
export interface GemmShape {
  readonly n: number;
  readonly k: number;
}

export interface Engine {
  readonly arch: Architecture;
  readonly gpu: GpuSpec;
  readonly tp: number;
  readonly pp: number;
  readonly ep: number;
  readonly dp: number;
  readonly weightDtype: Dtype;
  readonly kvDtype: KvDtype;
  readonly tables: EfficiencyTables;
  readonly options: Readonly<Required<Omit<EngineOptions, 'efficiency' | 'weightDtype' | 'kvDtype' | 'pp' | 'ep' | 'dp'>>>;
  /** Bytes per element: activations (GEMM input), weights, GEMM outputs / hidden states, KV cache. */
  readonly actBytes: number;
  readonly wBytes: number;
  readonly hBytes: number;
  readonly kvBytes: number;
  /** GEMM peak (FLOPs/µs) and curve class; attention peak; memory bytes/µs; intra-node link bytes/µs per direction. */
  readonly gemmPeak: number;
  readonly gemmClass: OpClass;
  /** The measured (m, n, k) table used for dense GEMMs (null: the 1-D curve of gemmClass). */
  readonly gemmTable: GemmTable | null;
  /** FP8 weights: the BF16 table of the same GPU, an upper bound on the FP8 GEMM time (see `gemmTableOf`); else null. */
  readonly gemmBound: GemmTable | null;
  readonly attnPeak: number;
  readonly memPerUs: number;
  readonly linkPerUs: number;
  readonly linkKind: string;
  // shapes (per GPU)
  readonly L: number;
  readonly d: number;
  readonly headsPerGpu: number;
  readonly kvHeadsPerGpu: number;
  readonly headDim: number;
  readonly window: number;
  readonly mla: null | { kvLoraRank: number; ropeDim: number; nopeDim: number; vDim: number; qLoraRank: number };
  /** Attention-side GEMMs per layer (QKV or MLA projections), and the output projection. */
  readonly qkvGemms: readonly GemmShape[];
  readonly oGemm: GemmShape;
  /** KV-cache bytes per token per layer on one GPU. */
  readonly kvBytesPerTokenLayer: number;
  /** Elements per token read+written by rotary embedding per layer (q and k rope dims). */
  readonly ropeElems: number;
  /** Dense MLP (null for layers that are all MoE): up (gate+up fused) and down; intermediate width per GPU. */
  readonly denseLayers: number;
  readonly denseUp: GemmShape;
  readonly denseDown: GemmShape;
  readonly denseWidth: number;
  readonly gated: boolean;
  /** MoE: layers, N, k, local experts per GPU, expert TP, expert up/down shapes, shared expert shapes;
   *  epReplicas = max(1, EP/TP): data-parallel replicas whose tokens one EP group serves. */
  readonly epReplicas: number;
  readonly moeLayers: number;
  readonly numExperts: number;
  readonly topK: number;
  readonly localExperts: number;
  readonly expertTp: number;
  readonly expertUp: GemmShape;
  readonly expertDown: GemmShape;
  readonly expertWidth: number;
  readonly sharedUp: GemmShape | null;
  readonly sharedDown: GemmShape | null;
  readonly sharedWidth: number;
  readonly routerGemm: GemmShape | null;
  readonly vocabPerGpu: number;
}

const FP8_LIKE = new Set<Dtype>(['fp8']);

/**
 * Default eager launch time (µs): (eager − graph) custom all-reduce latency floor at 2 GPUs / 2 launches,
 * from the calibrated tables when both are there, else (DEFAULTS eager 20 − graph 6)/2 = 7 µs.
 */
export function defaultLaunchUs(tables: EfficiencyTables): number {
  const eager = tables.allreduce.eager?.['2']?.latencyUs;
  const graph = tables.allreduce.graph?.['2']?.latencyUs;
  if (eager !== undefined && graph !== undefined && eager > graph) return (eager - graph) / 2;
  return (DEFAULTS.allreduce.eagerLatencyUs - DEFAULTS.allreduce.graphLatencyUs) / 2;
}

/** MLA dims not kept in Architecture: read from the config file when present. */
function mlaDims(arch: Architecture): Engine['mla'] {
  if (arch.kvLoraRank <= 0) return null;
  let raw: Record<string, unknown> = {};
  try {
    if (fs.existsSync(arch.source)) raw = JSON.parse(fs.readFileSync(arch.source, 'utf8')) as Record<string, unknown>;
  } catch {
    raw = {};
  }
  const num = (k: string, dflt: number): number => (typeof raw[k] === 'number' && (raw[k] as number) > 0 ? (raw[k] as number) : dflt);
  return {
    kvLoraRank: arch.kvLoraRank,
    ropeDim: arch.qkRopeHeadDim || num('qk_rope_head_dim', 64),
    nopeDim: num('qk_nope_head_dim', arch.headDim),
    vDim: num('v_head_dim', arch.headDim),
    qLoraRank: typeof raw['q_lora_rank'] === 'number' ? (raw['q_lora_rank'] as number) : 0,
  };
}

/** @throws InputError for TP not dividing heads (or KV heads ≥ TP), EP not dividing experts or TP, PP not dividing layers. */
function checkLayout(arch: Architecture, tp: number, pp: number, ep: number, dp: number): void {
  for (const [name, v] of [
    ['TP', tp],
    ['PP', pp],
    ['EP', ep],
    ['DP', dp],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InputError(`${name} must be a positive integer, got ${v}`);
  }
  if (arch.numHeads % tp !== 0) throw new InputError(`${arch.source}: TP ${tp} does not divide field 'num_attention_heads' (${arch.numHeads})`);
  if (arch.numKvHeads >= tp && arch.numKvHeads % tp !== 0) throw new InputError(`${arch.source}: TP ${tp} does not divide field 'num_key_value_heads' (${arch.numKvHeads})`);
  if (arch.numLayers % pp !== 0) throw new InputError(`${arch.source}: PP ${pp} does not divide field 'num_hidden_layers' (${arch.numLayers})`);
  if (ep > 1) {
    if (arch.numExperts === 0) throw new InputError(`${arch.source}: EP ${ep} given but the model is dense (no experts)`);
    if (arch.numExperts % ep !== 0) throw new InputError(`${arch.source}: EP ${ep} does not divide the number of experts (${arch.numExperts})`);
    if (tp % ep !== 0 && (ep % tp !== 0 || (tp * dp) % ep !== 0)) {
      throw new InputError(
        `EP ${ep} must divide TP ${tp} (expert parallelism inside the tensor-parallel group) or be a multiple of TP dividing TP·DP = ${tp * dp} (experts spread over data-parallel replicas)`,
      );
    }
  }
}

/** Weight and KV dtypes. @throws InputError for FP8 weights on a GPU without FP8 tensor cores, an unknown KV dtype. */
function dtypesOf(arch: Architecture, gpu: GpuSpec, opts: EngineOptions): { weightDtype: Dtype; kvDtype: KvDtype } {
  let weightDtype: Dtype = opts.weightDtype ?? arch.weightDtype;
  if (weightDtype === 'fp32') weightDtype = 'bf16';
  if (FP8_LIKE.has(weightDtype) && gpu.fp8DenseTflops === null) {
    throw new InputError(`GPU '${gpu.id}' has no FP8 tensor cores (fp8DenseTflops is null in ${gpu.file}): FP8 weights/activations need Ada, Hopper or newer; use --weight-dtype bf16 or int4`);
  }
  const kvDtype: KvDtype = opts.kvDtype ?? 'bf16';
  if (!['bf16', 'fp16', 'fp8'].includes(kvDtype)) throw new InputError(`KV dtype must be bf16, fp16 or fp8, got '${kvDtype}'`);
  return { weightDtype, kvDtype };
}

/** The options with their defaults (launch time from the tables). */
function optionsOf(opts: EngineOptions, tables: EfficiencyTables): Engine['options'] {
  if (opts.execution !== undefined && opts.execution !== 'graph' && opts.execution !== 'eager') throw new InputError(`execution must be 'graph' or 'eager', got '${String(opts.execution)}'`);
  if (opts.launchUs !== undefined && !(opts.launchUs >= 0)) throw new InputError(`launch time must be ≥ 0 µs, got ${opts.launchUs}`);
  return {
    launchUs: opts.launchUs ?? defaultLaunchUs(tables),
    allreduce: opts.allreduce ?? (opts.execution === 'eager' ? 'eager' : 'graph'),
    execution: opts.execution ?? 'graph',
    algorithm: opts.algorithm ?? 'ring',
    link: opts.link ?? 'auto',
    gpusPerNode: opts.gpusPerNode ?? 8,
    interNodeGBs: opts.interNodeGBs ?? 50,
    interNodeLatencyUs: opts.interNodeLatencyUs ?? 10,
    p2pLatencyUs: opts.p2pLatencyUs ?? 10,
    stepOverheadUs: opts.stepOverheadUs ?? 0,
    layerOverheadUs: opts.layerOverheadUs ?? 0,
    lmHead: opts.lmHead ?? true,
    gemmModel: opts.gemmModel ?? 'table',
  };
}

/** GEMM peak, curve class and activation bytes of the weight dtype (FP8 = W8A8, FP4 = W4A4 where the GPU has it). */
function gemmPeakOf(gpu: GpuSpec, weightDtype: Dtype): Pick<Engine, 'gemmPeak' | 'gemmClass' | 'actBytes'> {
  if (weightDtype === 'fp8') return { gemmPeak: gpu.fp8DenseTflops! * 1e6, gemmClass: 'gemm.fp8', actBytes: 1 };
  if (weightDtype === 'fp4' && gpu.fp4DenseTflops) return { gemmPeak: gpu.fp4DenseTflops * 1e6, gemmClass: 'gemm.fp8', actBytes: 0.5 };
  return { gemmPeak: gpu.fp16DenseTflops * 1e6, gemmClass: 'gemm.bf16', actBytes: 2 };
}

type AttentionShapes = Pick<Engine, 'headsPerGpu' | 'kvHeadsPerGpu' | 'headDim' | 'window' | 'mla' | 'qkvGemms' | 'oGemm' | 'kvBytesPerTokenLayer' | 'ropeElems'>;

/** Per-GPU attention shapes: QKV (or MLA) projections, output projection, KV bytes per token, rope elements. */
function attentionShapes(arch: Architecture, tp: number, kvBytes: number): AttentionShapes {
  const d = arch.hiddenSize;
  const dh = arch.headDim;
  const Htp = arch.numHeads / tp;
  const kvHtp = Math.max(1, Math.ceil(arch.numKvHeads / tp));
  const mla = mlaDims(arch);
  const common = { headsPerGpu: Htp, kvHeadsPerGpu: kvHtp, headDim: dh, window: arch.slidingWindow, mla };
  if (!mla) {
    return { ...common, qkvGemms: [{ n: (Htp + 2 * kvHtp) * dh, k: d }], oGemm: { n: d, k: Htp * dh }, kvBytesPerTokenLayer: 2 * kvHtp * dh * kvBytes, ropeElems: (Htp + kvHtp) * dh };
  }
  const qkvGemms: GemmShape[] =
    mla.qLoraRank > 0
      ? [
          { n: mla.qLoraRank, k: d },
          { n: Htp * (mla.nopeDim + mla.ropeDim), k: mla.qLoraRank },
        ]
      : [{ n: Htp * (mla.nopeDim + mla.ropeDim), k: d }];
  qkvGemms.push({ n: mla.kvLoraRank + mla.ropeDim, k: d }); // kv_a (replicated on every TP rank)
  return {
    ...common,
    qkvGemms,
    oGemm: { n: d, k: Htp * mla.vDim },
    kvBytesPerTokenLayer: (mla.kvLoraRank + mla.ropeDim) * kvBytes,
    ropeElems: (Htp + 1) * mla.ropeDim,
  };
}

type MlpShapes = Pick<
  Engine,
  | 'denseLayers'
  | 'denseUp'
  | 'denseDown'
  | 'denseWidth'
  | 'gated'
  | 'moeLayers'
  | 'numExperts'
  | 'topK'
  | 'localExperts'
  | 'expertTp'
  | 'epReplicas'
  | 'expertUp'
  | 'expertDown'
  | 'expertWidth'
  | 'sharedUp'
  | 'sharedDown'
  | 'sharedWidth'
  | 'routerGemm'
>;

/** Per-GPU dense MLP and MoE shapes (experts sharded over TP/EP ranks, shared experts over TP). */
function mlpShapes(arch: Architecture, tp: number, ep: number): MlpShapes {
  const d = arch.hiddenSize;
  const gated = arch.mlpMatrices === 3;
  const moeLayers = arch.numExperts > 0 ? arch.numLayers - arch.firstDenseLayers : 0;
  const denseWidth = arch.intermediateSize / tp;
  const expertTp = Math.max(1, tp / ep);
  const expertWidth = arch.expertIntermediateSize / expertTp;
  const sharedWidth = arch.sharedExpertIntermediateSize / tp;
  return {
    denseLayers: arch.numLayers - moeLayers,
    denseUp: { n: (gated ? 2 : 1) * denseWidth, k: d },
    denseDown: { n: d, k: denseWidth },
    denseWidth,
    gated,
    moeLayers,
    numExperts: arch.numExperts,
    topK: arch.expertsPerToken,
    localExperts: arch.numExperts / ep,
    expertTp,
    epReplicas: Math.max(1, ep / tp),
    expertUp: { n: 2 * expertWidth, k: d },
    expertDown: { n: d, k: expertWidth },
    expertWidth,
    sharedUp: sharedWidth > 0 ? { n: 2 * sharedWidth, k: d } : null,
    sharedDown: sharedWidth > 0 ? { n: d, k: sharedWidth } : null,
    sharedWidth,
    routerGemm: arch.numExperts > 0 ? { n: arch.numExperts, k: d } : null,
  };
}

/**
 * Validate parallelism and dtypes for (arch, GPU) and derive per-GPU shapes.
 * @throws InputError for TP not dividing heads (or KV heads ≥ TP), EP not dividing experts or TP,
 *   PP not dividing layers, FP8 weights on a GPU without FP8 tensor cores.
 */
export function compileEngine(ctx: BasisContext & { pp?: number; ep?: number }, opts: EngineOptions = {}): Engine {
  const { arch, gpu, tp } = ctx;
  const pp = opts.pp ?? ctx.pp ?? 1;
  const ep = opts.ep ?? ctx.ep ?? 1;
  const dp = opts.dp ?? 1;
  checkLayout(arch, tp, pp, ep, dp);
  const { weightDtype, kvDtype } = dtypesOf(arch, gpu, opts);
  const tables = typeof opts.efficiency === 'object' ? opts.efficiency : loadEfficiency(gpu, opts.efficiency ?? 'auto');
  const options = optionsOf(opts, tables);
  const kvBytes = DTYPE_BYTES[kvDtype];
  const peak = gemmPeakOf(gpu, weightDtype);
  return Object.freeze({
    arch,
    gpu,
    tp,
    pp,
    ep,
    dp,
    weightDtype,
    kvDtype,
    tables,
    options,
    actBytes: peak.actBytes,
    wBytes: DTYPE_BYTES[weightDtype],
    hBytes: 2,
    kvBytes,
    gemmPeak: peak.gemmPeak,
    gemmClass: peak.gemmClass,
    gemmTable: gemmTableOf(arch, weightDtype, tables, options.gemmModel),
    gemmBound: gemmBoundOf(weightDtype, tables, options.gemmModel),
    attnPeak: gpu.fp16DenseTflops * 1e6,
    memPerUs: gpu.memBandwidthTBs * 1e6,
    linkPerUs: (options.link === 'pcie' ? gpu.pcieGBs : linkGBsPerDirection(gpu)) * 1e3,
    linkKind: options.link === 'pcie' ? 'pcie' : gpu.scaleUpKind,
    L: arch.numLayers,
    d: arch.hiddenSize,
    ...attentionShapes(arch, tp, kvBytes),
    ...mlpShapes(arch, tp, ep),
    vocabPerGpu: arch.vocabSize / tp,
  });
}
