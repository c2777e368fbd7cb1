/**
 * Validation of the engine on real measurements (../shared/data), uncalibrated (documented
 * default curves) and calibrated (configs/efficiency/<gpu>.json):
 * (b) composed per-layer timings of Llama-3.1-8B (TP1) and Llama-3.1-70B (TP4) on H100 against
 *     LLMServingSim's measured per-layer op tables (profiler/v0 layers.csv, one prefill of n tokens,
 *     n = 1..2048);
 * (c) prefill and decode step times against the Splitwise batch sweeps (Llama-2-70B A100/H100
 *     TP2/4/8, BLOOM-176B TP8): prompt_time = one prefill step of batch_size × prompt_size,
 *     token_time = one decode step of batch_size requests at context prompt_size + token_size/2.
 *     Splitwise measured a 2023 vLLM without CUDA graphs: the 'eager execution' variants add the
 *     per-kernel host launch floor (analytic/context.ts `launchUs`, derived from AIConfigurator's
 *     eager vs graph all-reduce microbenchmarks, not from these sweeps) and eager all-reduce.
 * MAPE thresholds are set from the measured values with a small margin; the values are printed.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { haveShared, sharedPath } from './support/shared.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { engineModel, type EngineModel } from '../src/analytic/model.js';
import { gemmOpUs } from '../src/analytic/step.js';
import { engineMemory } from '../src/analytic/memory.js';
import type { EngineOptions } from '../src/analytic/context.js';

const mape = (e: number[]): number => e.reduce((s, x) => s + Math.abs(x), 0) / e.length;
const bias = (e: number[]): number => e.reduce((s, x) => s + x, 0) / e.length;
const pct = (p: number, t: number): number => ((p - t) / t) * 100;

// ---------------- (b) LLMServingSim per-layer tables ----------------
const LSS = 'casys-kaist__LLMServingSim/profiler/v0/perf_models/H100/meta-llama';
const LAYER_OPS = ['input_layernorm', 'q_proj', 'k_proj', 'v_proj', 'rope', 'attn', 'o_proj', 'post_layernorm', 'gate_proj', 'up_proj', 'act_fn', 'down_proj'];

interface LayerErrors {
  gemm: number[];
  attention: number[];
  gemmAttn: number[];
  elementwise: number[];
  layer: number[];
}

function layerErrors(model: string, tp: number, dir: string, efficiency: string): LayerErrors {
  const rows = parse(fs.readFileSync(sharedPath(`${LSS}/${dir}/layers.csv`)), { columns: true }) as Record<string, string>[];
  const meas = new Map<number, Record<string, number>>();
  for (const r of rows) {
    const n = Number(r['input']);
    const m = meas.get(n) ?? {};
    m[r['layer_name']!] = Number(r['latency(ns)']) / 1000;
    meas.set(n, m);
  }
  const em = engineModel({ arch: loadArchitecture(model), gpu: loadGpu('h100-sxm'), tp }, { efficiency, lmHead: false });
  const e = em.engine;
  const { d, headDim: dh, headsPerGpu: H, kvHeadsPerGpu: kv, denseWidth: f } = e;
  // LLMServingSim profiles the unfused projections: evaluate the engine's GEMM model on those shapes
  const shapes: Record<string, [number, number]> = { q_proj: [H * dh, d], k_proj: [kv * dh, d], v_proj: [kv * dh, d], o_proj: [d, H * dh], gate_proj: [f, d], up_proj: [f, d], down_proj: [d, f] };
  const out: LayerErrors = { gemm: [], attention: [], gemmAttn: [], elementwise: [], layer: [] };
  for (const [n, m] of meas) {
    expect(
      LAYER_OPS.every((o) => m[o]! > 0),
      `row input=${n}`,
    ).toBe(true);
    const b = em.breakdown({ experiment: 'lss', step: 0, prefill: [{ tokens: n, prior: 0, prompt: n }], decode: [] });
    const per = (op: string): number => (b.ops.find((o) => o.op === op)?.us ?? 0) / e.L;
    let gemmP = 0;
    let gemmT = 0;
    for (const [op, [nn, kk]] of Object.entries(shapes)) {
      gemmP += gemmOpUs(e, n, nn, kk);
      gemmT += m[op]!;
    }
    const attnP = per('attn_prefill');
    const ewP = per('norm') + per('rope') + per('act');
    const ewT = m['input_layernorm']! + m['post_layernorm']! + m['rope']! + m['act_fn']!;
    out.gemm.push(pct(gemmP, gemmT));
    out.attention.push(pct(attnP, m['attn']!));
    out.gemmAttn.push(pct(gemmP + attnP, gemmT + m['attn']!));
    out.elementwise.push(pct(ewP, ewT));
    out.layer.push(pct(gemmP + attnP + ewP, gemmT + m['attn']! + ewT));
  }
  return out;
}

/** MAPE thresholds (%) for (b): [uncalibrated, calibrated]. */
const B_MAX = { gemm: [12, 12], attention: [70, 35], gemmAttn: [8, 13.2], layer: [30, 35] } as const;

describe('(b) composed per-layer timings vs LLMServingSim (H100)', () => {
  const cases = [
    ['llama-3.1-8b', 1, 'Llama-3.1-8B/tp1'],
    ['llama-3.1-70b', 4, 'Llama-3.1-70B/tp4'],
  ] as const;
  for (const [model, tp, dir] of cases) {
    it.skipIf(!haveShared(`${LSS}/${dir}/layers.csv`))(`${model} TP${tp}: GEMMs, attention, GEMM+attention and the whole layer`, () => {
      const lines: string[] = [];
      (['default', 'auto'] as const).forEach((eff, k) => {
        const r = layerErrors(model, tp, dir, eff);
        expect(r.layer.length).toBe(2048);
        const label = eff === 'default' ? 'uncalibrated' : 'calibrated';
        lines.push(
          `${model} TP${tp} ${label}: GEMMs ${mape(r.gemm).toFixed(1)}% (bias ${bias(r.gemm).toFixed(1)}), attention ${mape(r.attention).toFixed(1)}% (bias ${bias(r.attention).toFixed(1)}), ` +
            `GEMM+attention ${mape(r.gemmAttn).toFixed(1)}%, elementwise ${mape(r.elementwise).toFixed(1)}% (bias ${bias(r.elementwise).toFixed(1)}), layer ${mape(r.layer).toFixed(1)}% (bias ${bias(r.layer).toFixed(1)})`,
        );
        expect(mape(r.gemm)).toBeLessThan(B_MAX.gemm[k]);
        expect(mape(r.attention)).toBeLessThan(B_MAX.attention[k]);
        expect(mape(r.gemmAttn)).toBeLessThan(B_MAX.gemmAttn[k]);
        expect(mape(r.layer)).toBeLessThan(B_MAX.layer[k]);
        // the profiled norms/rotary are HF-style unfused eager ops (several kernels, FP32 intermediates):
        // the engine's fused vLLM kernels are always faster than them
        expect(bias(r.elementwise)).toBeLessThan(0);
      });
      console.log(lines.join('\n'));
    });
  }
});

// ---------------- (c) Splitwise batch sweeps ----------------
const SPLITWISE = 'Mutinifni__splitwise-sim/data/perf_model.csv';
const HW: Record<string, string> = { 'a100-80gb': 'a100-sxm-80gb', 'h100-80gb': 'h100-sxm' };
const MODEL: Record<string, string> = { 'llama2-70b': 'llama-2-70b', 'bloom-176b': 'bloom-176b' };

interface SweepPoint {
  config: string;
  model: string;
  gpu: string;
  tp: number;
  bs: number;
  prompt: number;
  output: number;
  promptMs: number;
  tokenMs: number;
}

function sweepPoints(): SweepPoint[] {
  const rows = parse(fs.readFileSync(sharedPath(SPLITWISE)), { columns: true }) as Record<string, string>[];
  const g = new Map<string, { r: Record<string, string>; p: number[]; t: number[] }>();
  for (const r of rows) {
    if (!HW[r['hardware']!]) continue; // the power-capped H100 runs are not a datasheet GPU
    const k = ['model', 'hardware', 'tensor_parallel', 'prompt_size', 'batch_size', 'token_size'].map((c) => r[c]).join('|');
    const e = g.get(k) ?? { r, p: [], t: [] };
    e.p.push(Number(r['prompt_time']));
    e.t.push(Number(r['token_time']));
    g.set(k, e);
  }
  return [...g.values()].map(({ r, p, t }) => ({
    config: `${r['model']} ${r['hardware']} TP${r['tensor_parallel']}`,
    model: MODEL[r['model']!]!,
    gpu: HW[r['hardware']!]!,
    tp: Number(r['tensor_parallel']),
    bs: Number(r['batch_size']),
    prompt: Number(r['prompt_size']),
    output: Number(r['token_size']),
    promptMs: p.reduce((a, b) => a + b, 0) / p.length,
    tokenMs: t.reduce((a, b) => a + b, 0) / t.length,
  }));
}

function sweepErrors(points: SweepPoint[], opts: EngineOptions): { prefill: number[]; decode: number[]; excluded: string[]; byConfig: Map<string, { prefill: number[]; decode: number[] }> } {
  const models = new Map<string, EngineModel>();
  const out = { prefill: [] as number[], decode: [] as number[], excluded: [] as string[], byConfig: new Map<string, { prefill: number[]; decode: number[] }>() };
  for (const p of points) {
    let m = models.get(p.config);
    if (!m) {
      m = engineModel({ arch: loadArchitecture(p.model), gpu: loadGpu(p.gpu), tp: p.tp }, opts);
      models.set(p.config, m);
    }
    // batches whose KV cache cannot fit were run by vLLM in waves: not a single step, not comparable
    const mem = engineMemory(m.engine, { maxModelLen: p.prompt + p.output });
    if (p.bs * (p.prompt + p.output) > mem.maxKvTokens) {
      out.excluded.push(`${p.config} bs ${p.bs} × (${p.prompt}+${p.output}) > ${mem.maxKvTokens} KV tokens`);
      continue;
    }
    const pf = m.predictUs({ experiment: 'sw', step: 0, prefill: Array.from({ length: p.bs }, () => ({ tokens: p.prompt, prior: 0, prompt: p.prompt })), decode: [] }) / 1000;
    const dc = m.predictUs({ experiment: 'sw', step: 0, prefill: [], decode: new Array<number>(p.bs).fill(Math.round(p.prompt + p.output / 2)) }) / 1000;
    const c = out.byConfig.get(p.config) ?? { prefill: [], decode: [] };
    c.prefill.push(pct(pf, p.promptMs));
    c.decode.push(pct(dc, p.tokenMs));
    out.byConfig.set(p.config, c);
    out.prefill.push(pct(pf, p.promptMs));
    out.decode.push(pct(dc, p.tokenMs));
  }
  return out;
}

/** MAPE thresholds (%) for (c), [prefill, decode]. */
const C_MAX: Record<string, [number, number]> = {
  // calibrated rows at measured × 1.1 + 0.5 since the GEMM tables and the NCCL path above 8 MiB (they
  // make the 2023 Splitwise prefills, run by NCCL-only vLLM, look faster than they were: 22.6 → 27.3 %)
  uncalibrated: [34, 45],
  calibrated: [30.5, 46.1],
  'calibrated, eager all-reduce': [29.4, 36.5],
  'calibrated, NCCL all-reduce': [33.5, 37.1],
  'uncalibrated, eager execution': [31, 35],
  'calibrated, eager execution': [28.8, 30.1],
  'calibrated, 1-D GEMM curve': [31.7, 44],
  'calibrated, NCCL all-reduce, eager execution': [32.6, 31.2],
};

describe('(c) step times vs Splitwise batch sweeps (A100/H100, TP 2/4/8)', () => {
  it.skipIf(!haveShared(SPLITWISE))('prefill and decode MAPE, uncalibrated and calibrated', () => {
    const points = sweepPoints();
    expect(points.length).toBe(152); // 8 configurations × 19 grid points
    const variants: [string, EngineOptions][] = [
      ['uncalibrated', { efficiency: 'default' }],
      ['calibrated', { efficiency: 'auto' }],
      ['calibrated, eager all-reduce', { efficiency: 'auto', allreduce: 'eager' }],
      ['calibrated, NCCL all-reduce', { efficiency: 'auto', allreduce: 'nccl' }],
      ['uncalibrated, eager execution', { efficiency: 'default', execution: 'eager' }],
      ['calibrated, eager execution', { efficiency: 'auto', execution: 'eager' }],
      ['calibrated, 1-D GEMM curve', { efficiency: 'auto', gemmModel: 'curve' }],
      ['calibrated, NCCL all-reduce, eager execution', { efficiency: 'auto', allreduce: 'nccl', execution: 'eager' }],
    ];
    const lines: string[] = [];
    const res: Record<string, { prefill: number; decode: number }> = {};
    for (const [name, opts] of variants) {
      const r = sweepErrors(points, opts);
      expect(r.excluded.length).toBe(2); // Llama-2-70B TP2 at batch 64: 64 × 640 tokens exceed the KV cache
      lines.push(
        `${name}: prefill MAPE ${mape(r.prefill).toFixed(1)}% (bias ${bias(r.prefill).toFixed(1)}), decode MAPE ${mape(r.decode).toFixed(1)}% (bias ${bias(r.decode).toFixed(1)}), n ${r.prefill.length}`,
      );
      for (const [cfg, e] of r.byConfig) lines.push(`   ${cfg.padEnd(28)} prefill ${mape(e.prefill).toFixed(1).padStart(5)}%  decode ${mape(e.decode).toFixed(1).padStart(5)}%`);
      res[name] = { prefill: mape(r.prefill), decode: mape(r.decode) };
    }
    lines.push(`excluded: ${sweepErrors(points, { efficiency: 'default' }).excluded.join('; ')}`);
    console.log(lines.join('\n'));
    for (const [name] of variants) {
      expect(res[name]!.prefill, `${name} prefill`).toBeLessThan(C_MAX[name]![0]);
      expect(res[name]!.decode, `${name} decode`).toBeLessThan(C_MAX[name]![1]);
    }
    // calibration must help prefill (compute-bound GEMMs and attention are what the tables measure)
    expect(res['calibrated']!.prefill).toBeLessThan(res['uncalibrated']!.prefill);
    // eager execution (2023 vLLM had no CUDA graphs; launch time from the all-reduce microbenchmarks,
    // not from these sweeps) must beat graph execution on decode, calibrated and not
    expect(res['calibrated, eager execution']!.decode).toBeLessThan(res['calibrated, eager all-reduce']!.decode);
    expect(res['uncalibrated, eager execution']!.decode).toBeLessThan(res['uncalibrated']!.decode);
  });
});
