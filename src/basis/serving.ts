/**
 * The `serving` basis (version 4): stepfit's default. Roofline times at datasheet peak for the GPU
 * work of a step, plus the serving engine's fixed costs, each with a physical meaning and bound.
 * Chosen on real measurements (reports/validation.md: Splitwise batch sweeps, four held-out splits).
 *
 * step = Σ_k β_k · x_k, with x_k:
 *  GPU work at peak (coefficient = 1 / achieved efficiency, physical lower bound 1):
 *   prefill_gemm   linear-layer FLOPs of the prefill tokens (+ LM head of prompts that finish) / F
 *   decode_gemm    linear-layer + LM-head FLOPs of the decode tokens / F
 *   prefill_attn   causal attention FLOPs over prior context / F
 *   kv             KV-cache traffic (decode reads + prefill writes) / BW
 *   weight         weight bytes read once per step (dense + LM head + expected distinct MoE experts) / BW
 *   tp_comm        ring all-reduce traffic 2(TP−1)/TP · T·d·2 B, 2 per layer / per-direction link BW
 *  Engine effects (lower bound 0):
 *   tp_comm_large  extra all-reduce time that grows with message size: the tp_comm time of
 *                  √(T² + T₀²) − T₀ tokens (≈ T²/2T₀ for small steps, T − T₀ for large), with the knee
 *                  in bytes: T₀ = knee / (d · 2 B). The knee is the basis parameter `tp_comm_knee_mib`
 *                  (since version 3): fitted on the training rows by profile likelihood over a fixed grid
 *                  (0.25 – 32 MiB, ×√2), falling back to the microbenchmark value COMM_KNEE_BYTES
 *                  (2.63 MiB; Llama-2-70B 168 tokens, BLOOM-176B 96) when the data cannot identify it.
 *   tp_hops        ring latency: 2L all-reduces × 2(TP−1) hops, × (450 GB/s ÷ per-direction link GB/s)
 *   prefill_layers L per step that carries prefill (eager launches), × s
 *   decode_layers  L per decode-only step (graph-captured), × s
 *   requests       requests in the step (scheduling, sampling), × s
 *   constant       1 per step, × s
 * s: the device-latency scale (1 on an H100 SXM), so fixed costs measured on one GPU carry to another.
 * Version 4: s = 1980 MHz / boost clock (the datasheet's maximum SM clock, `GpuSpec.boostClockMHz`): kernel
 * and launch latencies are counted in SM cycles, so they scale with the clock period (A100 1980/1410 = 1.404,
 * H100 PCIe 1.128, L40S / RTX 4090 0.786, MI300X 0.943). The rule was fixed a priori on that physical ground,
 * not chosen on the validation splits. Only when a datasheet has no clock (B200, crossmodel-layout files) does
 * s fall back to version 3's (989.5 / F_TFLOPS)^(1/3) — an exponent that was picked by comparing held-out test
 * splits (reports/validation.md), kept only as a last resort. Count coefficients are µs at s = 1.
 */
import { logGrid, resolveBasisParams, type Basis, type BasisContext, type BasisParam } from './types.js';
import { defineBasis, type BatchFn, type TermFn, type TermRecord } from './define.js';
import { InputError } from '../io/errors.js';
import type { Step } from '../steps/step.js';
import { decodeKvTokens, type BatchSums } from '../steps/batch-row.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { DTYPE_BYTES } from '../model/arch.js';
import { rooflineConsts, rfPrefillAttn, rfPrefillAttnBatch, rfWeight, rfWeightUs, type RooflineConsts } from './roofline.js';

/**
 * All-reduce message size (bytes) at which all-reduce time leaves its latency floor: the default and
 * fallback knee of `tp_comm_large` (version 3 fits the knee, `tp_comm_knee_mib`, on the training rows and
 * uses this value only when they cannot identify it), T₀ = COMM_KNEE_BYTES / (d · actBytes) tokens. Derived from microbenchmarks the
 * validation splits never see (src/validate/comm-knee.ts, recomputed by test/basis-roofline-knee.test.ts):
 * AIConfigurator's vLLM 0.14 custom all-reduce sweeps on H100 SXM and A100 SXM, eager mode, 2/4/8 GPUs;
 * per curve the Hockney half-performance size n½ = floor latency (≤ 4 KiB) × asymptotic bandwidth
 * (slope over 64–512 MiB): H100 2.84 / 1.98 / 1.85 MiB, A100 3.47 / 2.81 / 2.45 MiB; median 2.63 MiB.
 * (Version 1 used T₀ = 1024 tokens, picked by looking at the held-out Splitwise splits: withdrawn.)
 */
export const COMM_KNEE_BYTES = 2.63 * 2 ** 20;
/** Default and fallback of `tp_comm_knee_mib` (MiB). */
export const COMM_KNEE_MIB = COMM_KNEE_BYTES / 2 ** 20;
/**
 * The fixed profile grid of the knee, decided before any fit was run: 0.25 – 32 MiB in ×√2 steps
 * (15 values; for Llama-2-70B 16 – 2,048 tokens), spanning the microbenchmark n½ range (1.85 – 3.47 MiB
 * eager, 0.36 – 0.70 MiB CUDA graphs) by more than a factor 4 on each side.
 */
export const COMM_KNEE_GRID_MIB: readonly number[] = Object.freeze(logGrid(0.25, 32, Math.SQRT2));
/** Reference GPU of the latency scales: H100 SXM (1,980 MHz boost clock, 989.5 dense FP16 TFLOPS, 450 GB/s NVLink per direction). */
export const REF_CLOCK_MHZ = 1980;
export const REF_TFLOPS = 989.5;
export const REF_LINK_GBS = 450;

/** Where the device-latency scale came from: the datasheet clock, or the TFLOPS fallback. */
export type LatencyScaleSource = 'clock' | 'tflops';

/**
 * Device-latency scale s of the count terms (1 on an H100 SXM):
 *   s = REF_CLOCK_MHZ / boostClockMHz                 when the datasheet carries the clock (version 4);
 *   s = (REF_TFLOPS / F_TFLOPS)^(1/3)                 otherwise (version 3's rule, fallback only).
 */
export function deviceLatencyScale(gpu: GpuSpec): { scale: number; from: LatencyScaleSource } {
  const clk = gpu.boostClockMHz;
  if (clk != null && clk > 0) return { scale: REF_CLOCK_MHZ / clk, from: 'clock' };
  return { scale: Math.cbrt(REF_TFLOPS / gpu.fp16DenseTflops), from: 'tflops' };
}

export interface ServingConsts {
  rf: RooflineConsts;
  /** LM-head FLOPs per sampled token per GPU (2·d·V/TP), and its weight bytes per GPU. */
  lmFlops: number;
  lmBytes: number;
  /** s: device-latency scale of count terms (deviceLatencyScale). */
  latencyScale: number;
  /** Whether s came from the datasheet clock or the TFLOPS fallback. */
  latencyScaleFrom: LatencyScaleSource;
  /** Link-latency scale of one ring hop. */
  hopScale: number;
  /** All-reduce message-size knee of `tp_comm_large` (bytes). */
  kneeBytes: number;
}

export function servingConsts(ctx: BasisContext, kneeBytes: number = COMM_KNEE_BYTES): ServingConsts {
  const rf = rooflineConsts(ctx);
  const a = ctx.arch;
  const lmParams = (a.hiddenSize * a.vocabSize) / ctx.tp;
  const link = ctx.gpu.scaleUpGBs / 2;
  const s = deviceLatencyScale(ctx.gpu);
  return {
    rf,
    lmFlops: 2 * lmParams,
    lmBytes: lmParams * DTYPE_BYTES[a.weightDtype],
    latencyScale: s.scale,
    latencyScaleFrom: s.from,
    hopScale: link > 0 ? REF_LINK_GBS / link : 0,
    kneeBytes,
  };
}

const prefillTokens = (s: Step): number => {
  let t = 0;
  for (const c of s.prefill) t += c.tokens;
  return t;
};
/** Prefill chunks that complete their prompt (sample a first token). */
const finishingChunks = (s: Step): number => {
  let n = 0;
  for (const c of s.prefill) if (c.prior + c.tokens >= c.prompt) n++;
  return n;
};

/** Prefill GEMM (µs): [T_pf · flopsPerToken + (#finishing chunks) · 2dV/TP] / F. */
export function svPrefillGemm(c: ServingConsts, s: Step): number {
  return prefillGemmUs(c, prefillTokens(s), finishingChunks(s));
}

const prefillGemmUs = (c: ServingConsts, T: number, finishing: number): number => (T * c.rf.flopsPerToken + finishing * c.lmFlops) / c.rf.flopsPerUs;

/** Decode GEMM (µs): T_dc · (flopsPerToken + 2dV/TP) / F. */
export function svDecodeGemm(c: ServingConsts, s: Step): number {
  return decodeGemmUs(c, s.decode.length);
}

const decodeGemmUs = (c: ServingConsts, T: number): number => (T * (c.rf.flopsPerToken + c.lmFlops)) / c.rf.flopsPerUs;

/** KV traffic (µs): L · [Σ_j (min(c_j, W) + 1) + T_pf] · kvBytesPerToken / BW (decode reads, prefill writes). */
export function svKv(c: ServingConsts, s: Step): number {
  return kvUs(c, prefillTokens(s) + decodeKvTokens(s, c.rf.window));
}

const kvUs = (c: ServingConsts, toks: number): number => (c.rf.L * toks * c.rf.kvBytesPerToken) / c.rf.bytesPerUs;

/** Weights (µs): roofline weight bytes (dense + expected distinct experts) + LM-head bytes, / BW. */
export function svWeight(c: ServingConsts, s: Step): number {
  return rfWeight(c.rf, s) + c.lmBytes / c.rf.bytesPerUs;
}

/** All-reduce traffic time (µs) of `tokens` tokens: L · 2 · 2(TP−1)/TP · tokens · d · 2 B / link; 0 at TP 1. */
function commUs(c: ServingConsts, tokens: number): number {
  if (c.rf.tp === 1 || c.rf.linkBytesPerUs <= 0) return 0;
  return (c.rf.L * 2 * ((2 * (c.rf.tp - 1)) / c.rf.tp) * tokens * c.rf.d * c.rf.actBytes) / c.rf.linkBytesPerUs;
}

/** TP all-reduce traffic (µs) of all T = T_pf + T_dc tokens. */
export function svTpComm(c: ServingConsts, s: Step): number {
  return commUs(c, prefillTokens(s) + s.decode.length);
}

/** Knee of `tp_comm_large` in tokens: T₀ = kneeBytes / (d · actBytes) (one token's all-reduce message is d activations). */
export function commKneeTokens(c: ServingConsts): number {
  return c.kneeBytes / (c.rf.d * c.rf.actBytes);
}

/** Message-size growth of all-reduce time (µs): commUs(√(T² + T₀²) − T₀), T₀ = commKneeTokens. */
export function svTpCommLarge(c: ServingConsts, s: Step): number {
  return commLargeUs(c, prefillTokens(s) + s.decode.length, commKneeTokens(c));
}

const commLargeUs = (c: ServingConsts, T: number, T0: number): number => commUs(c, Math.sqrt(T * T + T0 * T0) - T0);

/** Ring hops per step: 2L all-reduces × 2(TP−1) hops (0 at TP 1); the design row multiplies it by the link-latency scale. */
export function svTpHops(c: ServingConsts): number {
  return c.rf.tp > 1 ? 2 * c.rf.L * 2 * (c.rf.tp - 1) : 0;
}

const prefillLayers = (c: ServingConsts, s: Step): number => (s.prefill.length > 0 ? c.rf.L : 0);
const decodeLayers = (c: ServingConsts, s: Step): number => (s.prefill.length > 0 || s.decode.length === 0 ? 0 : c.rf.L);
const requests = (_c: ServingConsts, s: Step): number => s.prefill.length + s.decode.length;

/** out[o + r·st] = f(c, v[r]) for every row: the column-batch form of a term that is a formula of one per-row sum. */
function perRow(sum: (x: BatchSums, c: ServingConsts) => ArrayLike<number>, f: (c: ServingConsts, v: number) => number): BatchFn<ServingConsts> {
  return (c, x, out, o, st) => {
    const v = sum(x, c);
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = f(c, v[r]!);
  };
}

/** Column-batch forms of the serving terms (the same scalar formulas over the batch's per-row sums). */
const servingBatch = {
  prefillGemm: ((c, x, out, o, st) => {
    const T = x.prefillTokens();
    const f = x.finishing();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = prefillGemmUs(c, T[r]!, f[r]!);
  }) as BatchFn<ServingConsts>,
  decodeGemm: perRow((x) => x.decodeCount(), decodeGemmUs),
  prefillAttn: ((c, x, out, o, st) => rfPrefillAttnBatch(c.rf, x, out, o, st)) as BatchFn<ServingConsts>,
  kv: ((c, x, out, o, st) => {
    const T = x.prefillTokens();
    const kv = x.kvTokens(c.rf.window);
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = kvUs(c, T[r]! + kv[r]!);
  }) as BatchFn<ServingConsts>,
  weight: perRow(
    (x) => x.tokens(),
    (c, B) => rfWeightUs(c.rf, B) + c.lmBytes / c.rf.bytesPerUs,
  ),
  tpComm: perRow((x) => x.tokens(), commUs),
  tpCommLarge: ((c, x, out, o, st) => {
    const T = x.tokens();
    const T0 = commKneeTokens(c);
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = commLargeUs(c, T[r]!, T0);
  }) as BatchFn<ServingConsts>,
  prefillLayers: ((c, x, out, o, st) => {
    const p = x.prefillCount();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = p[r]! > 0 ? c.rf.L : 0;
  }) as BatchFn<ServingConsts>,
  decodeLayers: ((c, x, out, o, st) => {
    const p = x.prefillCount();
    const d = x.decodeCount();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = p[r]! > 0 || d[r]! === 0 ? 0 : c.rf.L;
  }) as BatchFn<ServingConsts>,
  requests: perRow(
    (x) => x.requests(),
    (_c, v) => v,
  ),
};

/** A GPU-work term at datasheet peak (β ≥ 1, prior 1) whose one feature column has its name and value. */
function work(name: string, meaning: string, compute: TermFn<ServingConsts>, batch: BatchFn<ServingConsts>, prior = 1, lower = 1): TermRecord<ServingConsts> {
  return { name, unit: 'us', prior, lower, meaning, compute, batch, columns: [{ name, compute, batch }] };
}
/** A fixed cost counted in device-latency units: the column is the raw count, the regressor count × s. */
function scaled(name: string, meaning: string, count: TermFn<ServingConsts>, countBatch: BatchFn<ServingConsts>): TermRecord<ServingConsts> {
  const batch: BatchFn<ServingConsts> = (c, x, out, o, st) => {
    countBatch(c, x, out, o, st);
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = out[q]! * c.latencyScale;
  };
  return { name, unit: 'count', prior: 0, lower: 0, meaning, compute: (c, s) => count(c, s) * c.latencyScale, batch, columns: [{ name, count: true, compute: count, batch: countBatch }] };
}

/** The parameters of the serving basis (see `servingBasis.params`). */
const SERVING_PARAMS: readonly BasisParam[] = Object.freeze([
  {
    name: 'tp_comm_knee_mib',
    default: COMM_KNEE_MIB,
    grid: COMM_KNEE_GRID_MIB,
    unit: 'MiB',
    affects: ['tp_comm_large'],
    doc: 'all-reduce message size (per GPU, MiB) where all-reduce time leaves its latency floor: the knee of tp_comm_large; fitted on the training rows by profile likelihood, default = vLLM all-reduce microbenchmark n½ (2.63 MiB)',
  },
]);

export const servingBasis: Basis = defineBasis<ServingConsts>({
  name: 'serving',
  version: 4,
  description:
    'Roofline GPU work at datasheet peak (β ≥ 1) plus serving-engine costs: message-size all-reduce growth, ring-hop latency, per-phase per-layer launch overhead, per-request and per-step costs in device-latency units (H100 SXM clock / datasheet boost clock).',
  params: SERVING_PARAMS,
  consts(ctx, params) {
    const pv = resolveBasisParams({ name: 'serving', params: SERVING_PARAMS }, params, (m) => new InputError(`basis 'serving': ${m}`));
    return servingConsts(ctx, pv['tp_comm_knee_mib']! * 2 ** 20);
  },
  terms: [
    work('prefill_gemm', 'prefill linear layers run at 1/β of peak tensor FLOPS', svPrefillGemm, servingBatch.prefillGemm),
    work('decode_gemm', 'decode linear layers run at 1/β of peak tensor FLOPS', svDecodeGemm, servingBatch.decodeGemm),
    work('prefill_attn', 'prefill attention runs at 1/β of peak tensor FLOPS', (c, s) => rfPrefillAttn(c.rf, s), servingBatch.prefillAttn),
    work('kv', 'KV cache is read and written at 1/β of peak memory bandwidth', svKv, servingBatch.kv),
    work('weight', 'weights stream at 1/β of peak memory bandwidth', svWeight, servingBatch.weight),
    work('tp_comm', 'all-reduce moves data at 1/β of peak link bandwidth', svTpComm, servingBatch.tpComm),
    work('tp_comm_large', 'extra all-reduce time per unit of link time beyond the message-size knee', svTpCommLarge, servingBatch.tpCommLarge, 0, 0),
    {
      name: 'tp_hops',
      unit: 'count',
      prior: 0,
      lower: 0,
      meaning: 'µs per ring hop of an all-reduce (at 450 GB/s links)',
      compute: (c) => svTpHops(c) * c.hopScale,
      perStep: false,
      columns: [{ name: 'tp_hops', count: true, compute: svTpHops, perStep: false }],
    },
    scaled('prefill_layers', 'µs per layer of a step with prefill (launch overhead; at s = 1)', prefillLayers, servingBatch.prefillLayers),
    scaled('decode_layers', 'µs per layer of a decode-only step (at s = 1)', decodeLayers, servingBatch.decodeLayers),
    scaled('requests', 'µs per request in the step (at s = 1)', requests, servingBatch.requests),
    {
      name: 'constant',
      unit: 'count',
      prior: 0,
      lower: 0,
      meaning: 'µs of fixed overhead per step (at s = 1)',
      compute: (c) => c.latencyScale,
      perStep: false,
      columns: [{ name: 'latency_scale', compute: (c) => c.latencyScale, perStep: false }],
    },
  ],
});
