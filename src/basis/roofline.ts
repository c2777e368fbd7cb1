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
import { defineBasis, type BatchFn, type TermFn, type TermRecord } from './define.js';
import type { Step } from '../steps/step.js';
import { decodeKvTokens, type BatchSums } from '../steps/batch-row.js';
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
  return gemmUs(c, tokensOf(s));
}

const gemmUs = (c: RooflineConsts, T: number): number => (T * c.flopsPerToken) / c.flopsPerUs;

/**
 * Prefill attention compute (µs), causal, over prior context:
 * L·4·(H/TP)·d_h·Σ_i t_i·(min(prior_i, W) + (t_i+1)/2) / F   (W = sliding window, ∞ when none).
 */
export function rfPrefillAttn(c: RooflineConsts, s: Step): number {
  let pairs = 0;
  for (const ch of s.prefill) pairs += chunkPairs(c, ch.tokens, ch.prior);
  return prefillAttnUs(c, pairs);
}

/** Attention pairs of one prefill chunk: t·(min(prior, W) + min((t+1)/2, W)). */
function chunkPairs(c: RooflineConsts, tokens: number, prior: number): number {
  const p = c.window > 0 ? Math.min(prior, c.window) : prior;
  const self = c.window > 0 ? Math.min((tokens + 1) / 2, c.window) : (tokens + 1) / 2;
  return tokens * (p + self);
}

const prefillAttnUs = (c: RooflineConsts, pairs: number): number => (c.L * 4 * c.Htp * c.dh * pairs) / c.flopsPerUs;

/** `rfPrefillAttn` of every row of a batch. */
export const rfPrefillAttnBatch: BatchFn<RooflineConsts> = (c, x, out, o, st) => {
  const { prefillOffsets: off, prefillTokens: tk, prefillPrior: pr } = x.b;
  for (let r = 0, q = o; r < x.n; r++, q += st) {
    let pairs = 0;
    for (let i = off[r]!, e = off[r + 1]!; i < e; i++) pairs += chunkPairs(c, tk[i]!, pr[i]!);
    out[q] = prefillAttnUs(c, pairs);
  }
};

/** Decode attention KV traffic (µs): L·Σ_j (min(c_j, W) + 1)·kvBytesPerToken / BW. */
export function rfDecodeAttn(c: RooflineConsts, s: Step): number {
  return kvUs(c, decodeKvTokens(s, c.window));
}

/** KV traffic (µs) of `toks` token reads or writes over all layers: L·toks·kvBytesPerToken / BW. */
const kvUs = (c: RooflineConsts, toks: number): number => (c.L * toks * c.kvBytesPerToken) / c.bytesPerUs;

/** Prefill KV write (µs): L·T_pf·kvBytesPerToken / BW. */
export function rfPrefillKv(c: RooflineConsts, s: Step): number {
  let T = 0;
  for (const ch of s.prefill) T += ch.tokens;
  return kvUs(c, T);
}

/**
 * Weight streaming (µs): [dense bytes + moeLayers·E[distinct experts]·expert bytes] / BW,
 * E[distinct] = N·(1 − (1 − k/N)^B) for B tokens routed to k of N experts each.
 */
export function rfWeight(c: RooflineConsts, s: Step): number {
  return rfWeightUs(c, c.N > 0 ? tokensOf(s) : 0);
}

/** `rfWeight` of a step of B tokens. */
export function rfWeightUs(c: RooflineConsts, B: number): number {
  let bytes = c.denseWeightBytes;
  if (c.N > 0) {
    const distinct = c.N * (1 - (1 - c.k / c.N) ** B);
    bytes += c.moeLayers * distinct * c.expertBytes;
  }
  return bytes / c.bytesPerUs;
}

/** TP all-reduce traffic (µs): 2 per layer × 2(TP−1)/TP × T·d·2 bytes / (link GB/s per direction). 0 at TP 1. */
export function rfTpComm(c: RooflineConsts, s: Step): number {
  return tpCommUs(c, tokensOf(s));
}

const tpCommUs = (c: RooflineConsts, T: number): number => (c.tp === 1 ? 0 : (c.L * 2 * ((2 * (c.tp - 1)) / c.tp) * T * c.d * c.actBytes) / c.linkBytesPerUs);

/** Number of TP all-reduce calls in the step: 2·L when TP > 1 (coefficient = µs latency per call). */
export function rfTpCalls(c: RooflineConsts): number {
  return c.tp > 1 ? 2 * c.L : 0;
}

/** out[o + r·st] = f(c, v[r]) for every row: the column-batch form of a term that is a formula of one per-row sum. */
function perRow(sum: (x: BatchSums, c: RooflineConsts) => ArrayLike<number>, f: (c: RooflineConsts, v: number) => number): BatchFn<RooflineConsts> {
  return (c, x, out, o, st) => {
    const v = sum(x, c);
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = f(c, v[r]!);
  };
}

/** Column-batch forms of the roofline terms. */
export const rooflineBatch = {
  gemm: perRow((x) => x.tokens(), gemmUs),
  decodeAttn: perRow((x, c) => x.kvTokens(c.window), kvUs),
  prefillKv: perRow((x) => x.prefillTokens(), kvUs),
  weight: perRow((x) => x.tokens(), rfWeightUs),
  tpComm: perRow((x) => x.tokens(), tpCommUs),
  requests: perRow(
    (x) => x.requests(),
    (_c, v) => v,
  ),
};

const requests = (_c: RooflineConsts, s: Step): number => s.prefill.length + s.decode.length;

/** A term whose one feature column has the term's name and value. */
function term(name: string, unit: 'us' | 'count', prior: number, meaning: string, compute: TermFn<RooflineConsts>, batch?: BatchFn<RooflineConsts>, perStep = true): TermRecord<RooflineConsts> {
  const b = batch ? { batch } : {};
  return { name, unit, prior, meaning, compute, ...b, perStep, columns: [{ name, count: unit === 'count', compute, ...b, perStep }] };
}

export const rooflineBasis: Basis = defineBasis<RooflineConsts>({
  name: 'roofline',
  version: 1,
  description: 'Separate compute and memory roofline terms with prior-context attention, dtype-aware bytes, MoE expected experts and collective latency.',
  consts: (ctx) => rooflineConsts(ctx),
  terms: [
    term('gemm', 'us', 1, 'linear layers run at 1/β of peak tensor FLOPS', rfGemm, rooflineBatch.gemm),
    term('prefill_attn', 'us', 1, 'prefill attention runs at 1/β of peak tensor FLOPS', rfPrefillAttn, rfPrefillAttnBatch),
    term('decode_attn', 'us', 1, 'decode attention reads KV at 1/β of peak memory bandwidth', rfDecodeAttn, rooflineBatch.decodeAttn),
    term('prefill_kv', 'us', 1, 'prefill KV writes at 1/β of peak memory bandwidth', rfPrefillKv, rooflineBatch.prefillKv),
    term('weight', 'us', 1, 'weights stream at 1/β of peak memory bandwidth', rfWeight, rooflineBatch.weight),
    term('tp_comm', 'us', 1, 'all-reduce moves data at 1/β of peak link bandwidth', rfTpComm, rooflineBatch.tpComm),
    term('tp_calls', 'count', 0, 'µs latency per all-reduce call', rfTpCalls, undefined, false),
    term('layers', 'count', 0, 'µs of fixed overhead per layer (kernel launches)', (c) => c.L, undefined, false),
    term('requests', 'count', 0, 'µs per request in the batch', requests, rooflineBatch.requests),
    { name: 'constant', unit: 'count', prior: 0, meaning: 'µs of fixed overhead per step', compute: () => 1, perStep: false },
  ],
});
