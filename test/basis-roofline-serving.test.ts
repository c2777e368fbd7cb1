/**
 * The `serving` basis (the default): every term against hand-computed values.
 *
 * Llama-2-7b (L 32, d 4096, 32 heads, MHA, d_h 128, d_ff 11008, V 32000, FP16) on H100 SXM
 * (F 989.5 TFLOPS, BW 3.35 TB/s, NVLink 900 GB/s → 450 GB/s per direction), TP 2:
 *   per GPU: attention params 4096·16·128·2 + 4096·16·128·2 = 33,554,432; MLP 3·4096·11008/2 = 67,633,152
 *   linear FLOPs per token = 2·32·(33,554,432 + 67,633,152) = 6,476,005,376; LM head 2·4096·32000/2 = 131,072,000
 * Step: one prefill chunk of 512 new tokens (prior 0, prompt 512) + decodes at contexts 300 and 600.
 *   prefill_gemm  = (512·6,476,005,376 + 131,072,000) / 989.5e6            = 3351.0317 µs
 *   decode_gemm   = 2·(6,476,005,376 + 131,072,000) / 989.5e6              = 13.3544 µs
 *   prefill_attn  = 32·4·16·128·512·(0 + 513/2) / 989.5e6                   = 34.7922 µs
 *   kv            = 32·(512 + 301 + 601)·(2·16·128·2 B) / 3.35e6            = 110.6482 µs
 *   weight        = (2·32·101,187,584 + 2·65,536,000) B / 3.35e6             = 1972.2619 µs
 *   tp_comm       = 32·2·(2·1/2)·514·4096·2 B / 450e3                       = 598.8534 µs
 *   tp_comm_large = tp_comm per token · (√(514² + T₀²) − T₀), T₀ = 2.63 MiB / (4096·2 B) = 336.64 tok = 323.6472 µs
 *   tp_hops       = 2·32·2·(2−1) = 128 (× 450/450)
 */
import { describe, it, expect } from 'vitest';
import { servingBasis, servingConsts, svTpCommLarge, commKneeTokens, deviceLatencyScale, COMM_KNEE_BYTES } from '../src/basis/serving.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu, parseGpuSpec } from '../src/hardware/gpu.js';
import { getBasis, DEFAULT_BASIS } from '../src/basis/registry.js';
import { physicalBounds } from '../src/basis/types.js';
import type { Step } from '../src/steps/step.js';

const arch = loadArchitecture('llama-2-7b');
const h100 = loadGpu('h100-sxm');
const a100 = loadGpu('a100-sxm-80gb');
const mixed: Step = { experiment: 't', step: 0, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: [300, 600] };
const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

function row(step: Step, gpu = h100, tp = 2): Record<string, number> {
  const out = new Float64Array(servingBasis.terms.length);
  servingBasis.compile({ arch, gpu, tp }).row(step, out);
  return Object.fromEntries(servingBasis.terms.map((t, j) => [t.name, out[j]!]));
}

describe('serving basis: hand values', () => {
  it('GPU-work terms of a mixed step at TP 2 on H100', () => {
    const r = row(mixed);
    const want: Record<string, number> = {
      prefill_gemm: 3351.03166,
      decode_gemm: 13.354376,
      prefill_attn: 34.792165,
      kv: 110.648244,
      weight: 1972.261903,
      tp_comm: 598.853404,
      tp_comm_large: 323.647162,
    };
    for (const [k, v] of Object.entries(want)) expect(rel(r[k]!, v), k).toBeLessThan(1e-6);
  });

  it('count terms: ring hops, per-phase layers, requests, constant (H100: latency scale 1)', () => {
    const r = row(mixed);
    expect(r['tp_hops']).toBe(128);
    expect(r['prefill_layers']).toBe(32);
    expect(r['decode_layers']).toBe(0);
    expect(r['requests']).toBe(3);
    expect(r['constant']).toBe(1);
    const dec = row({ experiment: 't', step: 1, prefill: [], decode: [100] });
    expect(dec['prefill_layers']).toBe(0);
    expect(dec['decode_layers']).toBe(32);
    expect(dec['prefill_gemm']).toBe(0);
    expect(dec['prefill_attn']).toBe(0);
  });

  it('A100 TP 1: no TP terms, counts scaled by the SM clock 1980/1410 = 1.404255, decode work at A100 peaks', () => {
    const r = row({ experiment: 't', step: 0, prefill: [], decode: [1000, 1000, 1000, 1000] }, a100, 1);
    expect(r['tp_comm']).toBe(0);
    expect(r['tp_comm_large']).toBe(0);
    expect(r['tp_hops']).toBe(0);
    expect(rel(r['constant']!, 1.4042553)).toBeLessThan(1e-6);
    expect(rel(r['decode_layers']!, 32 * 1.4042553)).toBeLessThan(1e-6);
    expect(rel(r['requests']!, 4 * 1.4042553)).toBeLessThan(1e-6);
    // 4·(2·32·(2·4096·32·128·2 + 3·4096·11008) + 2·4096·32000)/312e6; 32·4·1001·(2·32·128·2)/2.039e6; weights + LM head / 2.039e6
    expect(rel(r['decode_gemm']!, 169.41224)).toBeLessThan(1e-6);
    expect(rel(r['kv']!, 1029.54838)).toBeLessThan(1e-6);
    expect(rel(r['weight']!, 6480.70365)).toBeLessThan(1e-6);
  });

  it('a chunk that does not finish its prompt samples no token (no LM-head FLOPs)', () => {
    const c = servingConsts({ arch, gpu: h100, tp: 2 });
    const full = row(mixed)['prefill_gemm']!;
    const partial = row({ ...mixed, prefill: [{ tokens: 512, prior: 0, prompt: 2048 }] })['prefill_gemm']!;
    expect(rel(full - partial, c.lmFlops / (h100.fp16DenseTflops * 1e6))).toBeLessThan(1e-9);
  });

  it('tp_comm_large ≈ T²/(2T₀) of the per-token comm time for small steps and T − T₀ for large ones', () => {
    const c = servingConsts({ arch, gpu: h100, tp: 4 });
    const perTok = (T: number): number => svTpCommLarge(c, { experiment: 't', step: 0, prefill: [{ tokens: T, prior: 0, prompt: T }], decode: [] });
    const T0 = commKneeTokens(c);
    expect(T0).toBeCloseTo(COMM_KNEE_BYTES / (4096 * 2), 9); // knee in bytes: one token's message is d bf16 activations
    const unit = perTok(1e6) / (1e6 - T0); // comm µs per token
    expect(rel(perTok(4), (unit * 16) / (2 * T0))).toBeLessThan(1e-3);
    expect(rel(perTok(200000), unit * (200000 - T0))).toBeLessThan(1e-4);
  });

  it('features() carries unscaled counts and the latency scale; row() = features with counts × scale', () => {
    const cb = servingBasis.compile({ arch, gpu: a100, tp: 2 });
    const f = new Float64Array(servingBasis.terms.length);
    const r = new Float64Array(servingBasis.terms.length);
    cb.features(mixed, f);
    cb.row(mixed, r);
    const s = f[11]!;
    expect(rel(s, 1.4042553)).toBeLessThan(1e-6);
    expect(f[7]).toBe(128);
    expect(rel(r[7]!, (128 * 450) / 300)).toBeLessThan(1e-12); // A100 NVLink 600 GB/s → 300 per direction
    expect(rel(r[8]!, 32 * s)).toBeLessThan(1e-12);
    for (let j = 0; j < 7; j++) expect(r[j]).toBe(f[j]);
  });
});

describe('serving basis: registry and physical bounds', () => {
  it('is registered and is the default basis of stepfit fit', () => {
    expect(getBasis('serving')).toBe(servingBasis);
    expect(DEFAULT_BASIS).toBe('serving');
  });

  it('roofline-time terms are bounded below by 1, the rest by 0', () => {
    const b = physicalBounds(servingBasis);
    for (const t of ['prefill_gemm', 'decode_gemm', 'prefill_attn', 'kv', 'weight', 'tp_comm']) expect(b[t]).toEqual([1, null]);
    for (const t of ['tp_comm_large', 'tp_hops', 'prefill_layers', 'decode_layers', 'requests', 'constant']) expect(b[t]).toEqual([0, null]);
  });
});

describe('serving basis v4: device-latency scale from the SM clock', () => {
  it('s = 1980 MHz / datasheet boost clock: H100 SXM 1, A100 1.404255, H100 PCIe 1.128205, L40S / RTX 4090 0.785714, MI300X 0.942857', () => {
    const want: Record<string, number> = {
      'h100-sxm': 1,
      h200: 1,
      'a100-sxm-80gb': 1980 / 1410,
      'a100-pcie-80gb': 1980 / 1410,
      'h100-pcie': 1.1282051,
      'h100-nvl': 1.1092437,
      l40s: 0.7857143,
      'rtx-4090': 0.7857143,
      mi300x: 0.9428571,
      'rtx-pro-6000-blackwell': 0.7565915,
    };
    for (const [id, v] of Object.entries(want)) {
      const s = deviceLatencyScale(loadGpu(id));
      expect(s.from, id).toBe('clock');
      expect(rel(s.scale, v), id).toBeLessThan(1e-6);
      expect(servingConsts({ arch, gpu: loadGpu(id), tp: 1 }).latencyScale, id).toBe(s.scale);
    }
  });

  it('falls back to (989.5/F)^(1/3) only when the datasheet has no clock (B200; crossmodel layout)', () => {
    const b200 = deviceLatencyScale(loadGpu('b200'));
    expect(b200.from).toBe('tflops');
    expect(rel(b200.scale, Math.cbrt(989.5 / 2250))).toBeLessThan(1e-12); // 0.760354
    const xm = parseGpuSpec({ compute: { fp16_tensor_core: 624 }, memory: { bandwidth_tb_s: 2.039 } }, 'A100.json');
    expect(xm.boostClockMHz).toBeNull();
    const s = deviceLatencyScale(xm);
    expect(s.from).toBe('tflops');
    expect(rel(s.scale, 1.4692208)).toBeLessThan(1e-6); // v3's A100 value
    const cb = servingBasis.compile({ arch, gpu: xm, tp: 1 });
    const out = new Float64Array(servingBasis.terms.length);
    cb.row({ experiment: 't', step: 0, prefill: [], decode: [10] }, out);
    expect(rel(out[11]!, 1.4692208)).toBeLessThan(1e-6);
  });

  it('is version 4', () => {
    expect(servingBasis.version).toBe(4);
  });
});
