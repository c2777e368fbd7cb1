/**
 * The `seed` basis: the published inference-sim "crossmodel" seven-term formulation, kept exactly
 * (integer divisions H/TP, kvH/TP and d/H; FP16 2 bytes/element; 3-matrix MLP; TP cases 1 / 2 / ≥4)
 * so that coefficients fitted elsewhere can be reproduced.
 *
 * step = β1·max(T_pf_compute, T_pf_kv) + β2·max(T_dc_compute, T_dc_kv) + β3·T_weight + β4·T_tp
 *      + β5·L + β6·(#prefill + #decode requests) + β7
 */
import type { Basis, BasisContext } from './types.js';
import { defineBasis } from './define.js';
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
    attn += 4 * c.Htp * ch.tokens * (ch.prompt + ch.tokens / 2) * c.dh;
  }
  const proj = (c.L * 2 * T * c.d * (2 * c.d + 2 * c.dkv)) / c.tp;
  const mlp = (c.L * T * c.kEff * 6 * c.d * c.dff) / c.tp;
  return (proj + c.L * attn + mlp) / (c.F * 1e6);
}

/**
 * Decode compute (µs):
 * T_dc_compute = [L·2·T_dc·d·(2d+2d_kv)/TP + L·4·(H/TP)·Σ_j c_j·d_h + L·T_dc·k_eff·6·d·d_ff/TP] / (F·10⁶)
 */
export function seedDecodeCompute(c: SeedConsts, step: Step): number {
  const T = step.decode.length;
  if (T === 0) return 0;
  const ctxSum = decodeContextSum(step);
  const proj = (c.L * 2 * T * c.d * (2 * c.d + 2 * c.dkv)) / c.tp;
  const attn = c.L * 4 * c.Htp * ctxSum * c.dh;
  const mlp = (c.L * T * c.kEff * 6 * c.d * c.dff) / c.tp;
  return (proj + attn + mlp) / (c.F * 1e6);
}

/** Prefill KV write (µs): T_pf_kv = L·2·(kvH/TP)·d_h·T_pf·2 / (BW·10⁶) */
export function seedPrefillKv(c: SeedConsts, step: Step): number {
  let T = 0;
  for (const ch of step.prefill) T += ch.tokens;
  return (c.L * 2 * c.kvHtp * c.dh * T * 2) / (c.BW * 1e6);
}

/** Decode KV read+write (µs): T_dc_kv = L·2·(kvH/TP)·d_h·2·(Σ_j c_j + T_dc) / (BW·10⁶) */
export function seedDecodeKv(c: SeedConsts, step: Step): number {
  if (step.decode.length === 0) return 0;
  const ctxSum = decodeContextSum(step);
  return (c.L * 2 * c.kvHtp * c.dh * 2 * (ctxSum + step.decode.length)) / (c.BW * 1e6);
}

/**
 * Weight loading (µs): T_weight = [L·d·(2d+2d_kv)·2/TP + L·N_eff·3·d·d_ff·2/TP] / (BW·10⁶),
 * N_eff = 1 for dense, min(N, max(k, B·k)) for MoE, B = T_pf + T_dc.
 */
export function seedWeight(c: SeedConsts, step: Step): number {
  let B = step.decode.length;
  for (const ch of step.prefill) B += ch.tokens;
  const nEff = c.N > 0 ? Math.min(c.N, Math.max(c.k, B * c.k)) : 1;
  return ((c.L * c.d * (2 * c.d + 2 * c.dkv) * 2) / c.tp + (c.L * nEff * 3 * c.d * c.dff * 2) / c.tp) / (c.BW * 1e6);
}

/** TP communication (µs): 0 at TP=1; msg = B·d·2 bytes; L·2·msg/(NV·10³) at TP=2; L·4·msg/(NV·10³) at TP≥4. */
export function seedTp(c: SeedConsts, step: Step): number {
  if (c.tp === 1) return 0;
  let B = step.decode.length;
  for (const ch of step.prefill) B += ch.tokens;
  const msg = B * c.d * 2;
  return (c.L * (c.tp === 2 ? 2 : 4) * msg) / (c.NV * 1e3);
}

const batchSize = (_c: SeedConsts, s: Step): number => s.prefill.length + s.decode.length;

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
      columns: [
        { name: 't_pf_compute', compute: seedPrefillCompute },
        { name: 't_pf_kv', compute: seedPrefillKv },
      ],
    },
    {
      name: 'decode',
      unit: 'us',
      prior: 1,
      meaning: 'decode runs at 1/β of its roofline bound max(compute, KV read)',
      compute: (c, s) => Math.max(seedDecodeCompute(c, s), seedDecodeKv(c, s)),
      columns: [
        { name: 't_dc_compute', compute: seedDecodeCompute },
        { name: 't_dc_kv', compute: seedDecodeKv },
      ],
    },
    { name: 'weight', unit: 'us', prior: 1, meaning: 'weights stream at 1/β of peak memory bandwidth', compute: seedWeight, columns: [{ name: 't_weight', compute: seedWeight }] },
    { name: 'tp', unit: 'us', prior: 1, meaning: 'TP all-reduce runs at 1/β of peak NVLink bandwidth', compute: seedTp, columns: [{ name: 't_tp', compute: seedTp }] },
    {
      name: 'layers',
      unit: 'count',
      prior: 0,
      meaning: 'µs of fixed overhead per layer (kernel launches)',
      compute: (c) => c.L,
      perStep: false,
      columns: [{ name: 'num_layers', count: true, compute: (c) => c.L, perStep: false }],
    },
    { name: 'batch', unit: 'count', prior: 0, meaning: 'µs per request in the batch (scheduling, sampling)', compute: batchSize, columns: [{ name: 'batch_size', count: true, compute: batchSize }] },
    { name: 'constant', unit: 'count', prior: 0, meaning: 'µs of fixed overhead per step', compute: () => 1, perStep: false },
  ],
});
