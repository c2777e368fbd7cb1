/**
 * The `seed` basis: the published inference-sim "crossmodel" seven-term formulation, kept exactly
 * (integer divisions H/TP, kvH/TP and d/H; FP16 2 bytes/element; 3-matrix MLP; TP cases 1 / 2 / ≥4)
 * so that coefficients fitted elsewhere can be reproduced.
 *
 * step = β1·max(T_pf_compute, T_pf_kv) + β2·max(T_dc_compute, T_dc_kv) + β3·T_weight + β4·T_tp
 *      + β5·L + β6·(#prefill + #decode requests) + β7
 */
import type { Basis, BasisContext } from './types.js';
import { defineBasis, type BatchFn } from './define.js';
import type { Step } from '../steps/step.js';
import { decodeContextSum } from '../steps/batch-row.js';

const idiv = (a: number, b: number): number => Math.floor(a / b);

/** Constants of the seed formulas for one (model, GPU, TP). */
export interface SeedConsts {
  L: number;
  d: number;
  Htp: number;
  kvHtp: number;
  dh: number;
  dkv: number;
  dff: number;
  N: number;
  k: number;
  kEff: number;
  tp: number;
  F: number;
  BW: number;
  NV: number;
}

export function seedConsts(ctx: BasisContext): SeedConsts {
  const { arch, gpu, tp } = ctx;
  const dh = idiv(arch.hiddenSize, arch.numHeads);
  return {
    L: arch.numLayers,
    d: arch.hiddenSize,
    Htp: idiv(arch.numHeads, tp),
    kvHtp: idiv(arch.numKvHeads, tp),
    dh,
    dkv: arch.numKvHeads * dh,
    dff: arch.intermediateSize,
    N: arch.numExperts,
    k: arch.expertsPerToken,
    kEff: Math.max(1, arch.expertsPerToken),
    tp,
    F: gpu.fp16DenseTflops,
    BW: gpu.memBandwidthTBs,
    NV: gpu.scaleUpGBs,
  };
}

/**
 * Prefill compute (µs):
 * T_pf_compute = [L·2·T_pf·d·(2d+2d_kv)/TP + L·Σ_i 4·(H/TP)·t_i·(S_i + t_i/2)·d_h + L·T_pf·k_eff·6·d·d_ff/TP] / (F·10⁶)
 * with t_i the new tokens and S_i the total prompt length of prefill request i.
 */
export function seedPrefillCompute(c: SeedConsts, step: Step): number {
  if (step.prefill.length === 0) return 0;
  let T = 0;
  let attn = 0;
  for (const ch of step.prefill) {
    T += ch.tokens;
    attn += chunkAttn(c, ch.tokens, ch.prompt);
  }
  return prefillComputeUs(c, T, attn);
}

/** One prefill chunk's attention term 4·(H/TP)·t·(S + t/2)·d_h. */
const chunkAttn = (c: SeedConsts, t: number, prompt: number): number => 4 * c.Htp * t * (prompt + t / 2) * c.dh;

/** T_pf_compute of T prefill tokens whose chunks' attention terms sum to `attn`. */
function prefillComputeUs(c: SeedConsts, T: number, attn: number): number {
  const proj = (c.L * 2 * T * c.d * (2 * c.d + 2 * c.dkv)) / c.tp;
  const mlp = (c.L * T * c.kEff * 6 * c.d * c.dff) / c.tp;
  return (proj + c.L * attn + mlp) / (c.F * 1e6);
}

/** `seedPrefillCompute` of every row of a batch. */
export const seedPrefillComputeBatch: BatchFn<SeedConsts> = (c, x, out, o, stride) => {
  const { prefillOffsets: off, prefillTokens: tk, prefillPrompt: pm } = x.b;
  for (let r = 0, q = o; r < x.n; r++, q += stride) {
    const p0 = off[r]!;
    const p1 = off[r + 1]!;
    if (p1 === p0) {
      out[q] = 0;
      continue;
    }
    let T = 0;
    let attn = 0;
    for (let i = p0; i < p1; i++) {
      T += tk[i]!;
      attn += chunkAttn(c, tk[i]!, pm[i]!);
    }
    out[q] = prefillComputeUs(c, T, attn);
  }
};

/**
 * Decode compute (µs):
 * T_dc_compute = [L·2·T_dc·d·(2d+2d_kv)/TP + L·4·(H/TP)·Σ_j c_j·d_h + L·T_dc·k_eff·6·d·d_ff/TP] / (F·10⁶)
 */
export function seedDecodeCompute(c: SeedConsts, step: Step): number {
  return decodeComputeUs(c, step.decode.length, step.decode.length === 0 ? 0 : decodeContextSum(step));
}

/** T_dc_compute of T decode requests whose contexts sum to ctxSum (0 when T = 0). */
function decodeComputeUs(c: SeedConsts, T: number, ctxSum: number): number {
  if (T === 0) return 0;
  const proj = (c.L * 2 * T * c.d * (2 * c.d + 2 * c.dkv)) / c.tp;
  const attn = c.L * 4 * c.Htp * ctxSum * c.dh;
  const mlp = (c.L * T * c.kEff * 6 * c.d * c.dff) / c.tp;
  return (proj + attn + mlp) / (c.F * 1e6);
}

/** Prefill KV write (µs): T_pf_kv = L·2·(kvH/TP)·d_h·T_pf·2 / (BW·10⁶) */
export function seedPrefillKv(c: SeedConsts, step: Step): number {
  let T = 0;
  for (const ch of step.prefill) T += ch.tokens;
  return prefillKvUs(c, T);
}

const prefillKvUs = (c: SeedConsts, T: number): number => (c.L * 2 * c.kvHtp * c.dh * T * 2) / (c.BW * 1e6);

/** Decode KV read+write (µs): T_dc_kv = L·2·(kvH/TP)·d_h·2·(Σ_j c_j + T_dc) / (BW·10⁶) */
export function seedDecodeKv(c: SeedConsts, step: Step): number {
  return decodeKvUs(c, step.decode.length, step.decode.length === 0 ? 0 : decodeContextSum(step));
}

const decodeKvUs = (c: SeedConsts, T: number, ctxSum: number): number => (T === 0 ? 0 : (c.L * 2 * c.kvHtp * c.dh * 2 * (ctxSum + T)) / (c.BW * 1e6));

/**
 * Weight loading (µs): T_weight = [L·d·(2d+2d_kv)·2/TP + L·N_eff·3·d·d_ff·2/TP] / (BW·10⁶),
 * N_eff = 1 for dense, min(N, max(k, B·k)) for MoE, B = T_pf + T_dc.
 */
export function seedWeight(c: SeedConsts, step: Step): number {
  return weightUs(c, tokensOf(step));
}

function weightUs(c: SeedConsts, B: number): number {
  const nEff = c.N > 0 ? Math.min(c.N, Math.max(c.k, B * c.k)) : 1;
  return ((c.L * c.d * (2 * c.d + 2 * c.dkv) * 2) / c.tp + (c.L * nEff * 3 * c.d * c.dff * 2) / c.tp) / (c.BW * 1e6);
}

/** TP communication (µs): 0 at TP=1; msg = B·d·2 bytes; L·2·msg/(NV·10³) at TP=2; L·4·msg/(NV·10³) at TP≥4. */
export function seedTp(c: SeedConsts, step: Step): number {
  return tpUs(c, tokensOf(step));
}

function tpUs(c: SeedConsts, B: number): number {
  if (c.tp === 1) return 0;
  const msg = B * c.d * 2;
  return (c.L * (c.tp === 2 ? 2 : 4) * msg) / (c.NV * 1e3);
}

/** B = T_pf + T_dc: the step's tokens. */
function tokensOf(step: Step): number {
  let B = step.decode.length;
  for (const ch of step.prefill) B += ch.tokens;
  return B;
}

const batchSize = (_c: SeedConsts, s: Step): number => s.prefill.length + s.decode.length;

/** Column-batch forms of the terms above (same scalar formulas over the batch's per-row sums). */
const seedBatch = {
  prefillKv: ((c, x, out, o, st) => {
    const T = x.prefillTokens();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = prefillKvUs(c, T[r]!);
  }) as BatchFn<SeedConsts>,
  decodeCompute: ((c, x, out, o, st) => {
    const T = x.decodeCount();
    const cs = x.contextSum();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = decodeComputeUs(c, T[r]!, cs[r]!);
  }) as BatchFn<SeedConsts>,
  decodeKv: ((c, x, out, o, st) => {
    const T = x.decodeCount();
    const cs = x.contextSum();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = decodeKvUs(c, T[r]!, cs[r]!);
  }) as BatchFn<SeedConsts>,
  /** max(T_pf_compute, T_pf_kv): the compute column, then the max with the KV write. */
  prefill: ((c, x, out, o, st) => {
    seedPrefillComputeBatch(c, x, out, o, st);
    const T = x.prefillTokens();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = Math.max(out[q]!, prefillKvUs(c, T[r]!));
  }) as BatchFn<SeedConsts>,
  decode: ((c, x, out, o, st) => {
    const T = x.decodeCount();
    const cs = x.contextSum();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = Math.max(decodeComputeUs(c, T[r]!, cs[r]!), decodeKvUs(c, T[r]!, cs[r]!));
  }) as BatchFn<SeedConsts>,
  weight: ((c, x, out, o, st) => {
    const B = x.tokens();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = weightUs(c, B[r]!);
  }) as BatchFn<SeedConsts>,
  tp: ((c, x, out, o, st) => {
    const B = x.tokens();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = tpUs(c, B[r]!);
  }) as BatchFn<SeedConsts>,
  batchSize: ((_c, x, out, o, st) => {
    const p = x.prefillCount();
    const d = x.decodeCount();
    for (let r = 0, q = o; r < x.n; r++, q += st) out[q] = p[r]! + d[r]!;
  }) as BatchFn<SeedConsts>,
};

export const seedBasis: Basis = defineBasis<SeedConsts>({
  name: 'seed',
  version: 1,
  description: 'Published inference-sim crossmodel seven-term formulation (compatibility basis).',
  consts: (ctx) => seedConsts(ctx),
  terms: [
    {
      name: 'prefill',
      unit: 'us',
      prior: 1,
      meaning: 'prefill runs at 1/β of its roofline bound max(compute, KV write)',
      compute: (c, s) => Math.max(seedPrefillCompute(c, s), seedPrefillKv(c, s)),
      batch: seedBatch.prefill,
      columns: [
        { name: 't_pf_compute', compute: seedPrefillCompute, batch: seedPrefillComputeBatch },
        { name: 't_pf_kv', compute: seedPrefillKv, batch: seedBatch.prefillKv },
      ],
    },
    {
      name: 'decode',
      unit: 'us',
      prior: 1,
      meaning: 'decode runs at 1/β of its roofline bound max(compute, KV read)',
      compute: (c, s) => Math.max(seedDecodeCompute(c, s), seedDecodeKv(c, s)),
      batch: seedBatch.decode,
      columns: [
        { name: 't_dc_compute', compute: seedDecodeCompute, batch: seedBatch.decodeCompute },
        { name: 't_dc_kv', compute: seedDecodeKv, batch: seedBatch.decodeKv },
      ],
    },
    {
      name: 'weight',
      unit: 'us',
      prior: 1,
      meaning: 'weights stream at 1/β of peak memory bandwidth',
      compute: seedWeight,
      batch: seedBatch.weight,
      columns: [{ name: 't_weight', compute: seedWeight, batch: seedBatch.weight }],
    },
    {
      name: 'tp',
      unit: 'us',
      prior: 1,
      meaning: 'TP all-reduce runs at 1/β of peak NVLink bandwidth',
      compute: seedTp,
      batch: seedBatch.tp,
      columns: [{ name: 't_tp', compute: seedTp, batch: seedBatch.tp }],
    },
    {
      name: 'layers',
      unit: 'count',
      prior: 0,
      meaning: 'µs of fixed overhead per layer (kernel launches)',
      compute: (c) => c.L,
      perStep: false,
      columns: [{ name: 'num_layers', count: true, compute: (c) => c.L, perStep: false }],
    },
    {
      name: 'batch',
      unit: 'count',
      prior: 0,
      meaning: 'µs per request in the batch (scheduling, sampling)',
      compute: batchSize,
      batch: seedBatch.batchSize,
      columns: [{ name: 'batch_size', count: true, compute: batchSize, batch: seedBatch.batchSize }],
    },
    { name: 'constant', unit: 'count', prior: 0, meaning: 'µs of fixed overhead per step', compute: () => 1, perStep: false },
  ],
});
