import { describe, it, expect } from 'vitest';
import { loadArchitecture } from '../src/model/load.js';
import { parseGpuSpec, type GpuSpec } from '../src/hardware/gpu.js';
import { seedBasis } from '../src/basis/seed.js';
import type { Step } from '../src/steps/step.js';
import { makeRng } from '../src/util/rng.js';

const gpu = (F: number, BW: number, NV: number): GpuSpec =>
  parseGpuSpec(
    {
      id: 't',
      name: 't',
      fp16DenseTflops: { value: F, source: 'test' },
      memCapacityGB: { value: 80, source: 'test' },
      memBandwidthTBs: { value: BW, source: 'test' },
      scaleUpGBs: { value: NV, source: 'test' },
    },
    'test',
  );
const H100 = gpu(989.5, 3.35, 900);
const A100 = gpu(312, 2.039, 600);
const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

function features(model: string, g: GpuSpec, tp: number, s: Step): Record<string, number> {
  const c = seedBasis.compile({ arch: loadArchitecture(model), gpu: g, tp });
  const f = new Float64Array(seedBasis.featureColumns.length);
  c.features(s, f);
  return Object.fromEntries(seedBasis.featureColumns.map((k, i) => [k, f[i]!]));
}

describe('seed basis: hand-computed values', () => {
  it('Llama-2-7B, H100 SXM, TP1: one 512-token prefill + decodes at 300 and 600 (design.md values)', () => {
    const f = features('llama-2-7b', H100, 1, { experiment: 'x', step: 0, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: [300, 600] });
    // [32·2·512·4096·16384 + 32·4·32·512·(512+256)·128 + 32·512·6·4096·11008] / 989.5e6
    const pf = (32 * 2 * 512 * 4096 * 16384 + 32 * 4 * 32 * 512 * 768 * 128 + 32 * 512 * 6 * 4096 * 11008) / 989.5e6;
    expect(rel(f.t_pf_compute!, pf)).toBeLessThan(1e-9);
    expect(f.t_pf_compute).toBeCloseTo(6910.14, 1);
    expect(f.t_dc_compute).toBeCloseTo(26.656, 2);
    expect(f.t_pf_kv).toBeCloseTo(80.13, 2);
    expect(f.t_dc_kv).toBeCloseTo(141.167, 2);
    expect(f.t_weight).toBeCloseTo(3866.27, 1);
    expect(rel(f.t_weight!, (32 * 4096 * 16384 * 2 + 32 * 3 * 4096 * 11008 * 2) / 3.35e6)).toBeLessThan(1e-9);
    expect(f.t_tp).toBe(0);
    expect(f.num_layers).toBe(32);
    expect(f.batch_size).toBe(3);
  });

  it('Mixtral-8x7B (MoE), H100, TP2: prefill 100 + one decode at 50', () => {
    const f = features('mixtral-8x7b', H100, 2, { experiment: 'x', step: 0, prefill: [{ tokens: 100, prior: 0, prompt: 100 }], decode: [50] });
    // values computed independently (python) from the design.md formulas: k_eff = 2, N_eff = min(8, max(2, 101·2)) = 8
    const want = {
      t_pf_compute: 1279.0083913087417,
      t_dc_compute: 12.763591341081355,
      t_pf_kv: 1.9562985074626866,
      t_dc_kv: 0.9977122388059702,
      t_weight: 13862.487727761194,
      t_tp: 58.83676444444445,
    };
    for (const [k, v] of Object.entries(want)) expect(rel(f[k]!, v), k).toBeLessThan(1e-9);
  });

  it('Llama-2-70B, A100, TP4 and TP8: chunk with prompt 4096 (seed uses the whole prompt S) + decodes 1000, 3000', () => {
    const s: Step = { experiment: 'x', step: 0, prefill: [{ tokens: 2048, prior: 2048, prompt: 4096 }], decode: [1000, 3000] };
    const want: Record<number, number[]> = {
      4: [246685.30110358974, 227.79641435897435, 82.28158901422266, 160.78658165767533, 16785.44415890142, 17913.173333333332],
      8: [123342.65055179487, 113.89820717948717, 41.14079450711133, 80.39329082883766, 8392.72207945071, 17913.173333333332],
    };
    for (const tp of [4, 8]) {
      const f = features('llama-2-70b', A100, tp, s);
      const w = want[tp]!;
      ['t_pf_compute', 't_dc_compute', 't_pf_kv', 't_dc_kv', 't_weight', 't_tp'].forEach((k, i) => expect(rel(f[k]!, w[i]!), `${k} tp${tp}`).toBeLessThan(1e-9));
    }
  });

  it('integer division kvH/TP: kvH < TP gives 0 KV traffic (the published behaviour, kept for compatibility)', () => {
    const f = features('llama-2-70b', A100, 16 as number, { experiment: 'x', step: 0, prefill: [], decode: [100] });
    expect(f.t_dc_kv).toBe(0);
  });
});

describe('seed basis: properties', () => {
  const rng = makeRng(7);
  const randomStep = (): Step => {
    const np = rng.int(0, 3);
    const nd = np === 0 ? rng.int(1, 20) : rng.int(0, 20);
    return {
      experiment: 'p',
      step: 0,
      prefill: Array.from({ length: np }, () => {
        const t = rng.int(1, 2000);
        const prior = rng.int(0, 3000);
        return { tokens: t, prior, prompt: prior + t + rng.int(0, 100) };
      }),
      decode: Array.from({ length: nd }, () => rng.int(0, 8000)),
    };
  };
  it('every term ≥ 0; phase terms vanish without their phase; t_tp = 0 at TP 1', () => {
    for (const model of ['llama-2-7b', 'mixtral-8x7b', 'llama-3.1-70b']) {
      for (const tp of [1, 2, 4, 8]) {
        const c = seedBasis.compile({ arch: loadArchitecture(model), gpu: H100, tp });
        const f = new Float64Array(8);
        const r = new Float64Array(7);
        for (let i = 0; i < 300; i++) {
          const s = randomStep();
          c.features(s, f);
          c.row(s, r);
          for (const x of f) expect(x).toBeGreaterThanOrEqual(0);
          if (s.prefill.length === 0) {
            expect(f[0]).toBe(0);
            expect(f[1]).toBe(0);
            expect(r[0]).toBe(0);
          }
          if (s.decode.length === 0) {
            expect(f[2]).toBe(0);
            expect(f[3]).toBe(0);
            expect(r[1]).toBe(0);
          }
          if (tp === 1) expect(f[5]).toBe(0);
          expect(r[0]).toBe(Math.max(f[0]!, f[1]!));
          expect(r[6]).toBe(1);
        }
      }
    }
  });
  it('compute and weight terms scale as 1/TP for dense models when heads divide evenly', () => {
    const s: Step = { experiment: 'x', step: 0, prefill: [{ tokens: 256, prior: 0, prompt: 256 }], decode: [100, 200] };
    const f1 = features('llama-3.1-70b', H100, 1, s);
    const f4 = features('llama-3.1-70b', H100, 4, s);
    expect(rel(f4.t_pf_compute! * 4, f1.t_pf_compute!)).toBeLessThan(1e-12);
    expect(rel(f4.t_weight! * 4, f1.t_weight!)).toBeLessThan(1e-12);
  });
});
