/**
 * Per-GPU memory for a deployment (all in bytes). This is the one KV-capacity formula of stepfit:
 * `engine memory/serve/search` and the simulator's block count (`kvCacheBlocks`) both use it.
 *
 *   capacity    = datasheet GB · 2³⁰: GPU memory "GB" are binary (an "80 GB" H100/A100 has
 *                 85,899,345,920 bytes, as AIConfigurator's system files record: mem_capacity 80 GiB)
 *   usable      = capacity · gpuMemUtil                      (vLLM gpu_memory_utilization)
 *   weights     = the heaviest pipeline stage's weights on one GPU (GEMM weights in the weight dtype;
 *                 embeddings, LM head, norms, router in BF16; MoE: the N/EP local experts)
 *   activations = peak transient of one forward pass over `maxBatchedTokens` tokens (vLLM profiles a
 *                 dummy step of max_num_batched_tokens):
 *                 T·(4·d + qkvWidth + 3·mlpWidth)·2 + min(T, maxSeqs)·vocab/TP·4·2
 *   reserved    = 1.17 GB runtime + 0.4 GB NCCL / custom all-reduce buffers when TP·PP > 1.
 *                 The runtime term covers what the driver keeps of the datasheet capacity (torch sees
 *                 23.5 of an RTX 4090's 24 GiB), CUDA graphs, cuBLAS workspaces and allocator slack;
 *                 it is calibrated on the one real vLLM run that logged its block count (vLLM 0.19,
 *                 Llama-3.1-8B BF16 on an RTX 4090, util 0.9, 2,048 batched tokens, 256 seqs →
 *                 num_gpu_blocks 2,588; this formula gives 2,590, see test/engine-memory.test.ts)
 *   KV cache    = usable − weights − activations − reserved
 *   KV bytes per token per GPU = (L/PP)·kvBytesPerTokenLayer  (2·⌈kvH/TP⌉·d_h·kvB, or MLA (r + rope)·kvB)
 *   blocks      = ⌊KV cache / (blockSize · KV bytes per token)⌋   (vLLM num_gpu_blocks)
 *   max tokens  = blocks(16) · 16                              (16-token paged blocks)
 *   max sequences of length S = ⌊max tokens / min(S, W)⌋     (W = sliding window, when any)
 * "Does not fit" when KV cache ≤ 0 or it cannot hold one sequence of `maxModelLen`.
 * `reservedBytes` (simulate --kv-reserve-gb) replaces activations + reserved with one fixed figure.
 */
import type { Engine } from './context.js';

export interface MemoryOptions {
  /** Context length per sequence (vLLM max_model_len). */
  maxModelLen?: number;
  /** Fraction of capacity the engine may use (default 0.9). */
  gpuMemUtil?: number;
  /** Tokens per step used to size activations (default 8192). */
  maxBatchedTokens?: number;
  /** Max sequences per step (default 256), for the logits buffer. */
  maxSeqs?: number;
  /** Fixed non-KV, non-weight bytes replacing activations + reserved (default: the formula). */
  reservedBytes?: number;
}

export interface MemoryResult {
  readonly capacityBytes: number;
  readonly usableBytes: number;
  readonly weightBytes: number;
  readonly activationBytes: number;
  readonly reservedBytes: number;
  readonly kvCacheBytes: number;
  readonly kvBytesPerToken: number;
  readonly maxKvTokens: number;
  readonly maxSequences: number;
  readonly fits: boolean;
  /** Why it does not fit, with the numbers (absent when it fits). */
  readonly reason?: string;
}

export const RUNTIME_RESERVED_BYTES = 1.17e9;
export const NCCL_RESERVED_BYTES = 0.4e9;
export const KV_BLOCK_TOKENS = 16;
export const GIB = 2 ** 30;

/** Weight bytes of one decoder layer on one GPU (dense or MoE layer). */
export function layerWeightBytes(e: Engine, moe: boolean): number {
  let b = 0;
  for (const g of e.qkvGemms) b += g.k * g.n * e.wBytes;
  b += e.oGemm.k * e.oGemm.n * e.wBytes;
  if (e.mla) b += e.mla.kvLoraRank * e.headsPerGpu * (e.mla.nopeDim + e.mla.vDim) * e.wBytes; // kv_b
  b += 2 * e.d * 2; // norms
  if (!moe) {
    b += (e.denseUp.k * e.denseUp.n + e.denseDown.k * e.denseDown.n) * e.wBytes;
  } else {
    b += e.localExperts * (e.expertUp.k * e.expertUp.n + e.expertDown.k * e.expertDown.n) * e.wBytes;
    if (e.sharedUp && e.sharedDown) b += (e.sharedUp.k * e.sharedUp.n + e.sharedDown.k * e.sharedDown.n) * e.wBytes;
    b += e.d * e.numExperts * 2; // router
  }
  return b;
}

/** Weight bytes per GPU of the heaviest pipeline stage. Layers are split evenly; dense layers come first. */
export function weightBytesPerGpu(e: Engine): number {
  const perStage = e.L / e.pp;
  const dense = layerWeightBytes(e, false);
  const moe = e.moeLayers > 0 ? layerWeightBytes(e, true) : 0;
  const embed = e.vocabPerGpu * e.d * 2;
  const head = e.arch.tieWordEmbeddings && e.pp === 1 ? 0 : e.vocabPerGpu * e.d * 2;
  let worst = 0;
  for (let s = 0; s < e.pp; s++) {
    let b = 0;
    for (let l = s * perStage; l < (s + 1) * perStage; l++) b += l < e.denseLayers ? dense : moe;
    if (s === 0) b += embed;
    if (s === e.pp - 1) b += head + e.d * 2;
    worst = Math.max(worst, b);
  }
  return worst;
}

/** KV-cache bytes per token on one GPU (its L/PP layers). */
export function kvBytesPerTokenPerGpu(e: Engine): number {
  return (e.L / e.pp) * e.kvBytesPerTokenLayer;
}

/** Peak activation bytes of one forward pass over T tokens (see file comment). */
export function activationBytes(e: Engine, tokens: number, maxSeqs: number): number {
  const qkvWidth = e.qkvGemms.reduce((s, g) => s + g.n, 0);
  const mlpWidth = Math.max(e.denseLayers > 0 ? e.denseWidth : 0, e.moeLayers > 0 ? Math.max(e.expertWidth * e.topK, e.sharedWidth) : 0);
  return tokens * (4 * e.d + qkvWidth + 3 * mlpWidth) * 2 + Math.min(tokens, maxSeqs) * e.vocabPerGpu * 4 * 2;
}

/** KV-cache bytes per GPU and the terms it is computed from (see file comment). */
export function kvCacheBudget(e: Engine, opts: MemoryOptions = {}): { capacity: number; usable: number; weights: number; act: number; reserved: number; kvCache: number; perTok: number } {
  const capacity = e.gpu.memCapacityGB * GIB;
  const usable = capacity * (opts.gpuMemUtil ?? 0.9);
  const weights = weightBytesPerGpu(e);
  const fixed = opts.reservedBytes;
  const act = fixed === undefined ? activationBytes(e, opts.maxBatchedTokens ?? 8192, opts.maxSeqs ?? 256) : 0;
  const reserved = fixed ?? RUNTIME_RESERVED_BYTES + (e.tp * e.pp > 1 ? NCCL_RESERVED_BYTES : 0);
  return { capacity, usable, weights, act, reserved, kvCache: usable - weights - act - reserved, perTok: kvBytesPerTokenPerGpu(e) };
}

/**
 * KV blocks of `blockSize` tokens per GPU, as vLLM logs num_gpu_blocks:
 *   ⌊(capacity·util − weights − activations − reserved) / (blockSize · KV bytes per token)⌋ (≤ 0 → 0).
 */
export function kvCacheBlocks(e: Engine, opts: MemoryOptions & { blockSize?: number } = {}): number {
  const b = kvCacheBudget(e, opts);
  return b.kvCache > 0 ? Math.floor(b.kvCache / ((opts.blockSize ?? KV_BLOCK_TOKENS) * b.perTok)) : 0;
}

export function engineMemory(e: Engine, opts: MemoryOptions = {}): MemoryResult {
  const util = opts.gpuMemUtil ?? 0.9;
  const maxModelLen = opts.maxModelLen ?? 4096;
  const { capacity, usable, weights, act, reserved, kvCache, perTok } = kvCacheBudget(e, opts);
  const maxKvTokens = kvCacheBlocks(e, { ...opts, blockSize: KV_BLOCK_TOKENS }) * KV_BLOCK_TOKENS;
  // mixed sliding/full layers (layer_types): the full-attention layers keep the whole context
  const mixed = e.window > 0 && (e.arch.slidingLayers ?? e.arch.numLayers) < e.arch.numLayers;
  const seqLen = e.window > 0 && !mixed ? Math.min(maxModelLen, e.window) : maxModelLen;
  const maxSequences = Math.floor(maxKvTokens / seqLen);
  const gb = (b: number): string => `${(b / 1e9).toFixed(2)} GB`;
  const layout = `TP ${e.tp}${e.pp > 1 ? ` PP ${e.pp}` : ''}${e.ep > 1 ? ` EP ${e.ep}` : ''}`;
  let reason: string | undefined;
  if (kvCache <= 0) {
    reason =
      `${e.arch.name} on ${e.gpu.id} at ${layout}: weights ${gb(weights)} + activations ${gb(act)} + reserved ${gb(reserved)} = ${gb(weights + act + reserved)} per GPU exceed the usable ${gb(usable)} (${e.gpu.memCapacityGB} GiB × ${util}); ` +
      `use more GPUs (TP/PP), a higher --gpu-mem-util or a smaller --weight-dtype`;
  } else if (maxSequences < 1) {
    reason = `${e.arch.name} on ${e.gpu.id} at ${layout}: the KV cache (${gb(kvCache)} per GPU = ${maxKvTokens} tokens) cannot hold one sequence of ${seqLen} tokens (max-model-len)`;
  }
  return {
    capacityBytes: capacity,
    usableBytes: usable,
    weightBytes: weights,
    activationBytes: act,
    reservedBytes: reserved,
    kvCacheBytes: Math.max(0, kvCache),
    kvBytesPerToken: perTok,
    maxKvTokens,
    maxSequences: Math.max(0, maxSequences),
    fits: reason === undefined,
    ...(reason ? { reason } : {}),
  };
}
