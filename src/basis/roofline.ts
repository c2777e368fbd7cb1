/**
 * The `roofline` basis (version 1): stepfit's improved basis. It keeps compute and memory terms
 * separate (no max(), so the fit sees which bound binds), and fixes the seed's known weaknesses:
 * - prefill attention over the chunk's prior context with causal masking: t·(prior + (t+1)/2), capped by a sliding window;
 * - KV heads replicated when kvH < TP (each GPU holds ceil(kvH/TP) heads);
 * - weight dtype and KV dtype bytes instead of FP16 everywhere;
 * - 2- or 3-matrix MLPs; MoE expert width (moe_intermediate_size) and shared experts;
 * - expected distinct MoE experts N·(1−(1−k/N)^B) for weight traffic;
 * - ring all-reduce traffic 2(TP−1)/TP at per-direction link bandwidth, plus a per-call latency term;
 * - head_dim from the config.
 */
import type { Basis, BasisContext } from './types.js';
import { defineBasis, type TermFn, type TermRecord } from './define.js';
import type { Step } from '../steps/step.js';
import { decodeKvTokens } from '../steps/batch-row.js';
import { DTYPE_BYTES } from '../model/arch.js';

export interface RooflineConsts {
  L: number;
  tp: number;
  d: number;
  dh: number;
  Htp: number;
  kvHtp: number;
  /** Linear-layer FLOPs per token per GPU (QKV, O, MLP or k routed experts + shared), summed over layers. */
  flopsPerToken: number;
  /** Dense (always-read) weight bytes per GPU over all layers. */
  denseWeightBytes: number;
  /** Bytes of one routed expert per GPU (one layer), and the number of MoE layers. */
  expertBytes: number;
  moeLayers: number;
  N: number;
  k: number;
  /** KV bytes per token per layer per GPU (K and V). */
  kvBytesPerToken: number;
  window: number;
  /** Peak rates in units per µs. */
  flopsPerUs: number;
  bytesPerUs: number;
  linkBytesPerUs: number;
  actBytes: number;
}

export function rooflineConsts(ctx: BasisContext): RooflineConsts {
  const { arch: a, gpu, tp } = ctx;
  const dh = a.headDim;
  const Htp = a.numHeads / tp;
  const kvHtp = Math.max(1, Math.ceil(a.numKvHeads / tp));
  const wb = DTYPE_BYTES[a.weightDtype];
  const d = a.hiddenSize;
  const attnParams = d * Htp * dh * 2 + d * kvHtp * dh * 2; // Q and O sharded; K,V per GPU heads
  const denseMlpParams = (a.mlpMatrices * d * a.intermediateSize) / tp;
  const moeLayers = a.numExperts > 0 ? a.numLayers - a.firstDenseLayers : 0;
  const denseLayers = a.numLayers - moeLayers;
  const expertParams = (3 * d * a.expertIntermediateSize) / tp;
  const sharedParams = (3 * d * a.sharedExpertIntermediateSize) / tp;
  const flopsPerToken = 2 * (a.numLayers * attnParams + denseLayers * denseMlpParams + moeLayers * (a.expertsPerToken * expertParams + sharedParams));
  const fp = a.weightDtype === 'fp8' && gpu.fp8DenseTflops ? gpu.fp8DenseTflops : gpu.fp16DenseTflops;
  return {
    L: a.numLayers,
    tp,
    d,
    dh,
    Htp,
    kvHtp,
    flopsPerToken,
    denseWeightBytes: wb * (a.numLayers * attnParams + denseLayers * denseMlpParams + moeLayers * (sharedParams + d * a.numExperts)),
    expertBytes: wb * expertParams,
    moeLayers,
    N: a.numExperts,
    k: a.expertsPerToken,
    kvBytesPerToken: 2 * kvHtp * dh * 2,
    window: a.slidingWindow,
    flopsPerUs: fp * 1e6,
    bytesPerUs: gpu.memBandwidthTBs * 1e6,
    linkBytesPerUs: (gpu.scaleUpGBs / 2) * 1e3,
    actBytes: 2,
  };
}

const tokensOf = (s: Step): number => {
  let T = s.decode.length;
  for (const c of s.prefill) T += c.tokens;
  return T;
};

/** Linear-layer compute (µs) of all tokens in the step: (T_pf + T_dc)·flopsPerToken / F. */
export function rfGemm(c: RooflineConsts, s: Step): number {
  return (tokensOf(s) * c.flopsPerToken) / c.flopsPerUs;
}

/**
 * Prefill attention compute (µs), causal, over prior context:
 * L·4·(H/TP)·d_h·Σ_i t_i·(min(prior_i, W) + (t_i+1)/2) / F   (W = sliding window, ∞ when none).
 */
export function rfPrefillAttn(c: RooflineConsts, s: Step): number {
  let pairs = 0;
  for (const ch of s.prefill) {
    const prior = c.window > 0 ? Math.min(ch.prior, c.window) : ch.prior;
    const self = c.window > 0 ? Math.min((ch.tokens + 1) / 2, c.window) : (ch.tokens + 1) / 2;
    pairs += ch.tokens * (prior + self);
  }
  return (c.L * 4 * c.Htp * c.dh * pairs) / c.flopsPerUs;
}

/** Decode attention KV traffic (µs): L·Σ_j (min(c_j, W) + 1)·kvBytesPerToken / BW. */
export function rfDecodeAttn(c: RooflineConsts, s: Step): number {
  const toks = decodeKvTokens(s, c.window);
  return (c.L * toks * c.kvBytesPerToken) / c.bytesPerUs;
}

/** Prefill KV write (µs): L·T_pf·kvBytesPerToken / BW. */
export function rfPrefillKv(c: RooflineConsts, s: Step): number {
  let T = 0;
  for (const ch of s.prefill) T += ch.tokens;
  return (c.L * T * c.kvBytesPerToken) / c.bytesPerUs;
}

/**
 * Weight streaming (µs): [dense bytes + moeLayers·E[distinct experts]·expert bytes] / BW,
 * E[distinct] = N·(1 − (1 − k/N)^B) for B tokens routed to k of N experts each.
 */
export function rfWeight(c: RooflineConsts, s: Step): number {
  let bytes = c.denseWeightBytes;
  if (c.N > 0) {
    const B = tokensOf(s);
    const distinct = c.N * (1 - (1 - c.k / c.N) ** B);
    bytes += c.moeLayers * distinct * c.expertBytes;
  }
  return bytes / c.bytesPerUs;
}

/** TP all-reduce traffic (µs): 2 per layer × 2(TP−1)/TP × T·d·2 bytes / (link GB/s per direction). 0 at TP 1. */
export function rfTpComm(c: RooflineConsts, s: Step): number {
  if (c.tp === 1) return 0;
  return (c.L * 2 * ((2 * (c.tp - 1)) / c.tp) * tokensOf(s) * c.d * c.actBytes) / c.linkBytesPerUs;
}

/** Number of TP all-reduce calls in the step: 2·L when TP > 1 (coefficient = µs latency per call). */
export function rfTpCalls(c: RooflineConsts): number {
  return c.tp > 1 ? 2 * c.L : 0;
}

const requests = (_c: RooflineConsts, s: Step): number => s.prefill.length + s.decode.length;

/** A term whose one feature column has the term's name and value. */
function term(name: string, unit: 'us' | 'count', prior: number, meaning: string, compute: TermFn<RooflineConsts>, perStep = true): TermRecord<RooflineConsts> {
  return { name, unit, prior, meaning, compute, perStep, columns: [{ name, count: unit === 'count', compute, perStep }] };
}

export const rooflineBasis: Basis = defineBasis<RooflineConsts>({
  name: 'roofline',
  version: 1,
  description: 'Separate compute and memory roofline terms with prior-context attention, dtype-aware bytes, MoE expected experts and collective latency.',
  consts: (ctx) => rooflineConsts(ctx),
  terms: [
    term('gemm', 'us', 1, 'linear layers run at 1/β of peak tensor FLOPS', rfGemm),
    term('prefill_attn', 'us', 1, 'prefill attention runs at 1/β of peak tensor FLOPS', rfPrefillAttn),
    term('decode_attn', 'us', 1, 'decode attention reads KV at 1/β of peak memory bandwidth', rfDecodeAttn),
    term('prefill_kv', 'us', 1, 'prefill KV writes at 1/β of peak memory bandwidth', rfPrefillKv),
    term('weight', 'us', 1, 'weights stream at 1/β of peak memory bandwidth', rfWeight),
    term('tp_comm', 'us', 1, 'all-reduce moves data at 1/β of peak link bandwidth', rfTpComm),
    term('tp_calls', 'count', 0, 'µs latency per all-reduce call', rfTpCalls, false),
    term('layers', 'count', 0, 'µs of fixed overhead per layer (kernel launches)', (c) => c.L, false),
    term('requests', 'count', 0, 'µs per request in the batch', requests),
    { name: 'constant', unit: 'count', prior: 0, meaning: 'µs of fixed overhead per step', compute: () => 1, perStep: false },
  ],
});
