/**
 * HuggingFace `config.json` → Architecture (frozen, validated).
 *
 * Invariants of an Architecture (checked in `parseArchitecture`):
 * - all counts are positive integers (experts may be 0 = dense);
 * - headDim · numHeads need not equal hiddenSize only when `head_dim` is given explicitly;
 * - numKvHeads divides numHeads;
 * - expertsPerToken ≤ numExperts for MoE.
 */
import { z } from 'zod';
import { InputError } from '../io/errors.js';

export type Dtype = 'fp32' | 'bf16' | 'fp16' | 'fp8' | 'int8' | 'int4' | 'fp4';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = Object.freeze({
  fp32: 4,
  bf16: 2,
  fp16: 2,
  fp8: 1,
  int8: 1,
  int4: 0.5,
  fp4: 0.5,
});

export interface Architecture {
  /** Short name (file stem or `_name_or_path`). */
  readonly name: string;
  /** Where it came from (file path) — for error messages and provenance. */
  readonly source: string;
  readonly modelType: string;
  /** L */
  readonly numLayers: number;
  /** d */
  readonly hiddenSize: number;
  /** H */
  readonly numHeads: number;
  /** kvH (= H for MHA, 1 for MQA) */
  readonly numKvHeads: number;
  /** d_h: `head_dim` when given, else d / H */
  readonly headDim: number;
  /** True when head_dim came from the config (may differ from d/H, e.g. Qwen3). */
  readonly headDimExplicit: boolean;
  /** `intermediate_size` as written in config.json (dense FFN width; for Mixtral the expert width). */
  readonly intermediateSize: number;
  /** 3 for gated MLPs (SwiGLU/GeGLU: gate, up, down), 2 for plain (up, down: BLOOM, GPT-2, OPT, Falcon). */
  readonly mlpMatrices: 2 | 3;
  /** N routed experts (0 = dense). */
  readonly numExperts: number;
  /** k experts per token (0 for dense). */
  readonly expertsPerToken: number;
  /** Width of one routed expert (moe_intermediate_size, else intermediate_size). */
  readonly expertIntermediateSize: number;
  /** Number of shared (always-active) experts, 0 if none. */
  readonly numSharedExperts: number;
  /** Total width of the shared expert path (shared_expert_intermediate_size or n_shared·moe width). */
  readonly sharedExpertIntermediateSize: number;
  /** Leading dense layers in an MoE model (DeepSeek first_k_dense_replace), 0 otherwise. */
  readonly firstDenseLayers: number;
  readonly vocabSize: number;
  /** Sliding-window attention span in tokens, or 0 when full attention. */
  readonly slidingWindow: number;
  /**
   * Layers that use the sliding window (`layer_types` entries 'sliding_attention', e.g. gpt-oss
   * alternates sliding and full attention); all layers when the config has a window and no
   * `layer_types`; 0 without a window.
   */
  readonly slidingLayers: number;
  /** MLA (DeepSeek-V2/V3) latent KV rank, 0 when not MLA. */
  readonly kvLoraRank: number;
  /** MLA rope head dim (qk_rope_head_dim), 0 when not MLA. */
  readonly qkRopeHeadDim: number;
  readonly weightDtype: Dtype;
  readonly tieWordEmbeddings: boolean;
  /** Block-scaled quantized weights: `quantization_config.weight_block_size` (e.g. [128, 128]); absent otherwise. */
  readonly weightBlockSize?: readonly number[];
}

const pos = z.number().int().positive();
const nonneg = z.number().int().nonnegative();

/** Loose view of a config.json: every key optional, types checked where present. */
const RawConfig = z.looseObject({
  model_type: z.string().optional(),
  _name_or_path: z.string().optional(),
  num_hidden_layers: pos.optional(),
  n_layer: pos.optional(),
  n_layers: pos.optional(),
  num_layers: pos.optional(),
  hidden_size: pos.optional(),
  n_embd: pos.optional(),
  n_embed: pos.optional(),
  d_model: pos.optional(),
  dim: pos.optional(),
  num_attention_heads: pos.optional(),
  n_head: pos.optional(),
  n_heads: pos.optional(),
  num_key_value_heads: pos.optional().nullable(),
  num_kv_heads: pos.optional().nullable(),
  n_head_kv: pos.optional().nullable(),
  multi_query: z.boolean().optional(),
  head_dim: pos.optional().nullable(),
  intermediate_size: pos.optional().nullable(),
  n_inner: pos.optional().nullable(),
  ffn_dim: pos.optional().nullable(),
  ffn_hidden_size: pos.optional().nullable(),
  hidden_act: z.string().optional(),
  hidden_activation: z.string().optional(),
  activation_function: z.string().optional(),
  num_local_experts: nonneg.optional().nullable(),
  num_experts: nonneg.optional().nullable(),
  n_routed_experts: nonneg.optional().nullable(),
  num_experts_per_tok: nonneg.optional().nullable(),
  moe_topk: nonneg.optional().nullable(),
  top_k: nonneg.optional().nullable(),
  moe_intermediate_size: pos.optional().nullable(),
  n_shared_experts: nonneg.optional().nullable(),
  num_shared_experts: nonneg.optional().nullable(),
  shared_expert_intermediate_size: nonneg.optional().nullable(),
  first_k_dense_replace: nonneg.optional().nullable(),
  vocab_size: pos.optional(),
  padded_vocab_size: pos.optional(),
  sliding_window: z.number().int().nonnegative().optional().nullable(),
  use_sliding_window: z.boolean().optional(),
  kv_lora_rank: nonneg.optional().nullable(),
  qk_rope_head_dim: nonneg.optional().nullable(),
  torch_dtype: z.string().optional().nullable(),
  dtype: z.string().optional().nullable(),
  quantization_config: z.looseObject({}).optional().nullable(),
  tie_word_embeddings: z.boolean().optional(),
  text_config: z.looseObject({}).optional(),
  layer_types: z.array(z.string()).optional().nullable(),
});

const PLAIN_MLP_TYPES = new Set(['bloom', 'gpt2', 'gpt_neox', 'gptj', 'gpt_bigcode', 'opt', 'falcon', 'mpt', 'phi', 'starcoder2', 'bert']);

function first<T>(...xs: (T | null | undefined)[]): T | undefined {
  for (const x of xs) if (x !== undefined && x !== null) return x;
  return undefined;
}

function dtypeOf(s: string | null | undefined): Dtype | undefined {
  if (!s) return undefined;
  const t = s.toLowerCase();
  if (t.includes('bfloat16') || t === 'bf16') return 'bf16';
  if (t.includes('float16') || t === 'fp16' || t === 'half') return 'fp16';
  if (t.includes('float32') || t === 'fp32') return 'fp32';
  if (t.includes('float8') || t.includes('fp8') || t.includes('e4m3')) return 'fp8';
  return undefined;
}

/** Weight dtype from `quantization_config` (FP8, INT4 AWQ/GPTQ, FP4/NVFP4/MXFP4), else `torch_dtype`. */
function weightDtype(raw: z.infer<typeof RawConfig>): Dtype {
  const q = raw.quantization_config as Record<string, unknown> | null | undefined;
  if (q) {
    // compressed-tensors: the bit width sits under config_groups.<group>.weights {num_bits, type}
    const groups = q['config_groups'] as Record<string, { weights?: { num_bits?: unknown; type?: unknown } }> | undefined;
    if (groups && typeof groups === 'object') {
      for (const g of Object.values(groups)) {
        const bitsW = Number(g?.weights?.num_bits ?? NaN);
        const type = String(g?.weights?.type ?? 'int').toLowerCase();
        if (bitsW === 4) return type === 'float' ? 'fp4' : 'int4';
        if (bitsW === 8) return type === 'float' ? 'fp8' : 'int8';
      }
    }
    const method = `${String(q['quant_method'] ?? '')} ${String(q['quant_algo'] ?? '')}`.toLowerCase();
    const bits = Number(q['bits'] ?? q['w_bit'] ?? q['weight_bits'] ?? NaN);
    const fmt = String(q['fmt'] ?? q['format'] ?? q['weight_dtype'] ?? '').toLowerCase();
    if (method.includes('fp4') || fmt.includes('fp4') || method.includes('mxfp4')) return 'fp4';
    if (method.includes('fp8') || fmt.includes('e4m3') || fmt.includes('fp8') || fmt.includes('float8')) return 'fp8';
    if (bits === 4 || /\b(awq|gptq)\b/.test(method)) return 'int4';
    if (bits === 8) return 'int8';
  }
  return dtypeOf(raw.torch_dtype) ?? dtypeOf(raw.dtype) ?? 'bf16';
}

/** `weight_block_size` of a block-quantized checkpoint (positive integers), as an optional field. */
function blockSizeOf(raw: z.infer<typeof RawConfig>): { weightBlockSize?: number[] } {
  const b = (raw.quantization_config as Record<string, unknown> | null | undefined)?.['weight_block_size'];
  return Array.isArray(b) && b.length > 0 && b.every((v) => Number.isInteger(v) && v > 0) ? { weightBlockSize: b as number[] } : {};
}

/**
 * Parse a HuggingFace config object. `source` names the file in errors.
 * Multimodal configs are read from their `text_config`.
 * @throws InputError naming the file and field on missing/inconsistent values.
 */
export function parseArchitecture(json: unknown, source: string, name?: string): Architecture {
  const outer = RawConfig.safeParse(json);
  if (!outer.success) {
    const iss = outer.error.issues[0]!;
    throw new InputError(`${source}: field '${iss.path.join('.')}': ${iss.message}`);
  }
  let raw = outer.data;
  if (raw.text_config && raw.num_hidden_layers === undefined && raw.hidden_size === undefined) {
    const inner = RawConfig.safeParse({
      ...raw.text_config,
      torch_dtype: raw.torch_dtype ?? (raw.text_config as Record<string, unknown>)['torch_dtype'],
      quantization_config: raw.quantization_config ?? (raw.text_config as Record<string, unknown>)['quantization_config'],
    });
    if (!inner.success) {
      const iss = inner.error.issues[0]!;
      throw new InputError(`${source}: field 'text_config.${iss.path.join('.')}': ${iss.message}`);
    }
    raw = inner.data;
  }
  const need = <T>(v: T | undefined, field: string): T => {
    if (v === undefined) throw new InputError(`${source}: missing required field '${field}'`);
    return v;
  };
  const modelType = raw.model_type ?? 'unknown';
  const numLayers = need(first(raw.num_hidden_layers, raw.n_layer, raw.n_layers, raw.num_layers), 'num_hidden_layers');
  const hiddenSize = need(first(raw.hidden_size, raw.n_embd, raw.n_embed, raw.d_model, raw.dim), 'hidden_size');
  const numHeads = need(first(raw.num_attention_heads, raw.n_head, raw.n_heads), 'num_attention_heads');
  const numKvHeads = first(raw.num_key_value_heads, raw.num_kv_heads, raw.n_head_kv) ?? (raw.multi_query ? 1 : numHeads);
  const headDimExplicit = raw.head_dim !== undefined && raw.head_dim !== null;
  if (!headDimExplicit && hiddenSize % numHeads !== 0) {
    throw new InputError(`${source}: field 'num_attention_heads' (${numHeads}) does not divide 'hidden_size' (${hiddenSize}) and no 'head_dim' is given`);
  }
  const headDim = headDimExplicit ? raw.head_dim! : hiddenSize / numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new InputError(`${source}: field 'num_key_value_heads' (${numKvHeads}) must divide 'num_attention_heads' (${numHeads})`);
  }
  const plain = PLAIN_MLP_TYPES.has(modelType);
  const intermediateSize = first(raw.intermediate_size, raw.n_inner, raw.ffn_dim, raw.ffn_hidden_size) ?? (plain ? 4 * hiddenSize : undefined);
  const numExperts = first(raw.num_local_experts, raw.n_routed_experts, raw.num_experts) ?? 0;
  const expertsPerToken = numExperts > 0 ? need(first(raw.num_experts_per_tok, raw.moe_topk, raw.top_k), 'num_experts_per_tok') : 0;
  if (numExperts > 0 && expertsPerToken > numExperts) {
    throw new InputError(`${source}: field 'num_experts_per_tok' (${expertsPerToken}) exceeds the number of experts (${numExperts})`);
  }
  const expertIntermediateSize = numExperts > 0 ? first(raw.moe_intermediate_size, intermediateSize) : intermediateSize;
  const ffn = need(intermediateSize ?? expertIntermediateSize, 'intermediate_size');
  const numSharedExperts = first(raw.n_shared_experts, raw.num_shared_experts) ?? ((raw.shared_expert_intermediate_size ?? 0) > 0 ? 1 : 0);
  const sharedExpertIntermediateSize = raw.shared_expert_intermediate_size ?? (numSharedExperts > 0 ? numSharedExperts * (expertIntermediateSize ?? ffn) : 0);
  const slidingOn = raw.use_sliding_window !== false && (raw.sliding_window ?? 0) > 0 && modelType !== 'qwen2' && modelType !== 'qwen3';
  const arch: Architecture = {
    name: name ?? raw._name_or_path ?? source,
    source,
    modelType,
    numLayers,
    hiddenSize,
    numHeads,
    numKvHeads,
    headDim,
    headDimExplicit,
    intermediateSize: ffn,
    mlpMatrices: plain ? 2 : 3,
    numExperts,
    expertsPerToken,
    expertIntermediateSize: expertIntermediateSize ?? ffn,
    numSharedExperts,
    sharedExpertIntermediateSize,
    firstDenseLayers: numExperts > 0 ? (raw.first_k_dense_replace ?? 0) : 0,
    vocabSize: first(raw.vocab_size, raw.padded_vocab_size) ?? 32000,
    slidingWindow: slidingOn ? (raw.sliding_window ?? 0) : 0,
    slidingLayers: !slidingOn ? 0 : raw.layer_types ? Math.min(numLayers, raw.layer_types.filter((t) => t === 'sliding_attention').length) : numLayers,
    kvLoraRank: raw.kv_lora_rank ?? 0,
    qkRopeHeadDim: raw.qk_rope_head_dim ?? 0,
    weightDtype: weightDtype(raw),
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    ...blockSizeOf(raw),
  };
  return Object.freeze(arch);
}

/**
 * Check a parallelism against an architecture: TP must divide the attention heads
 * (KV heads may be fewer than TP: they are replicated), EP must divide the experts,
 * PP must not exceed the layers.
 */
export function checkParallelism(arch: Architecture, tp: number, opts: { pp?: number; ep?: number } = {}): void {
  if (!Number.isInteger(tp) || tp < 1) throw new InputError(`--tp must be a positive integer, got ${tp}`);
  if (arch.numHeads % tp !== 0) {
    throw new InputError(`${arch.source}: TP ${tp} does not divide field 'num_attention_heads' (${arch.numHeads})`);
  }
  if (arch.numKvHeads >= tp && arch.numKvHeads % tp !== 0) {
    throw new InputError(`${arch.source}: TP ${tp} does not divide field 'num_key_value_heads' (${arch.numKvHeads})`);
  }
  const ep = opts.ep ?? 1;
  if (ep > 1 && (arch.numExperts === 0 || arch.numExperts % ep !== 0)) {
    throw new InputError(`${arch.source}: EP ${ep} does not divide the number of experts (${arch.numExperts})`);
  }
  const pp = opts.pp ?? 1;
  if (pp > arch.numLayers) throw new InputError(`${arch.source}: PP ${pp} exceeds 'num_hidden_layers' (${arch.numLayers})`);
}

/** Total parameter count of the decoder (excluding embeddings) — used for weight bytes. */
export function decoderParams(arch: Architecture): number {
  const d = arch.hiddenSize;
  const attn = d * (arch.numHeads * arch.headDim) * 2 + d * (arch.numKvHeads * arch.headDim) * 2;
  const denseMlp = arch.mlpMatrices * d * arch.intermediateSize;
  const moeMlp = arch.numExperts * 3 * d * arch.expertIntermediateSize + 3 * d * arch.sharedExpertIntermediateSize + d * arch.numExperts;
  const moeLayers = arch.numExperts > 0 ? arch.numLayers - arch.firstDenseLayers : 0;
  const denseLayers = arch.numLayers - moeLayers;
  return arch.numLayers * attn + denseLayers * denseMlp + moeLayers * moeMlp;
}
