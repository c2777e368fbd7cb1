import { describe, it, expect } from 'vitest';
import { parseArchitecture } from '../src/model/arch.js';
import { loadArchitecture } from '../src/model/load.js';
import { parseGpuSpec, loadGpu, type GpuSpec } from '../src/hardware/gpu.js';
import { curveEff, saturatingCurve, defaultTables, loadEfficiency, type EfficiencyTables, type Curve } from '../src/analytic/efficiency.js';
import { rooflineUs, plainRooflineUs, gemmWork } from '../src/analytic/roofline.js';
import { ringAllReduceUs, treeAllReduceUs, hierarchicalAllReduceUs, allToAllUs, p2pUs, bubbleFraction, ringTrafficFactor } from '../src/analytic/collectives.js';
import { causalPairs, prefillAttnWork, decodeAttnWork } from '../src/analytic/work.js';
import { compileEngine } from '../src/analytic/context.js';
import { engineStepBreakdown, engineStepUs, gemmOpUs, allReduceCallUs } from '../src/analytic/step.js';
import { engineModel } from '../src/analytic/model.js';
import { engineMemory, weightBytesPerGpu, kvBytesPerTokenPerGpu, GIB } from '../src/analytic/memory.js';
import { decoderParams } from '../src/model/arch.js';
import type { Step } from '../src/steps/step.js';
import { makeRng } from '../src/util/rng.js';

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);
const flat: Curve = { x: [1], eff: [1] };
/** Efficiency 1 everywhere: the engine reduces to the textbook roofline. */
const FLAT: EfficiencyTables = {
  origin: 'test',
  gpu: 't',
  calibrated: [],
  ops: Object.fromEntries(
    ['gemm.bf16', 'gemm.fp8', 'attn_prefill.bf16', 'attn_prefill.fp8kv', 'attn_decode.bf16', 'attn_decode.fp8kv', 'elementwise'].map((k) => [k, { compute: flat, memory: flat }]),
  ) as EfficiencyTables['ops'],
  allreduce: { graph: {}, eager: {}, nccl: {} },
};
const gpu = (F: number, BW: number, extra: Record<string, unknown> = {}): GpuSpec =>
  parseGpuSpec(
    {
      id: 'test-gpu',
      name: 't',
      fp16DenseTflops: { value: F, source: 't' },
      memCapacityGB: { value: 80, source: 't' },
      memBandwidthTBs: { value: BW, source: 't' },
      scaleUpGBs: { value: 900, source: 't' },
      tdpW: { value: 700, source: 't' },
      ...extra,
    },
    'test-gpu.json',
  );
/** Tiny Llama-like model: d 1024, 8 heads of 128, 2 layers, d_ff 4096, vocab 1000. */
const TINY = parseArchitecture(
  { model_type: 'llama', num_hidden_layers: 2, hidden_size: 1024, num_attention_heads: 8, num_key_value_heads: 8, intermediate_size: 4096, vocab_size: 1000, torch_dtype: 'bfloat16' },
  'tiny.json',
  'tiny',
);

describe('efficiency curves', () => {
  const c: Curve = { x: [1e3, 1e5], eff: [0.1, 0.4] };
  it('interpolates log-efficiency linearly in log-size', () => {
    expect(curveEff(c, 1e4)).toBeCloseTo(Math.sqrt(0.1 * 0.4), 12); // midpoint in log-size → geometric mean
    expect(curveEff(c, 1e3)).toBeCloseTo(0.1, 12);
    expect(curveEff(c, 1e5)).toBeCloseTo(0.4, 12);
  });
  it('holds time constant below the first knot and efficiency constant above the last', () => {
    expect(curveEff(c, 500)).toBeCloseTo(0.05, 12); // eff₀·x/x₀ → time = x/(P·eff) constant
    expect(curveEff(c, 1e9)).toBe(0.4);
  });
  it('saturating default curve is time = t₀ + x/(effMax·peak)', () => {
    const s = saturatingCurve(0.7, 4, 1e6, 2 ** 10, 2 ** 30);
    for (const x of [2 ** 12, 2 ** 20, 2 ** 28]) {
      const t = x / (1e6 * curveEff(s, x));
      expect(rel(t, 4 + x / (0.7 * 1e6))).toBeLessThan(1e-9);
    }
  });
});

describe('roofline bound (hand-computed)', () => {
  it('max(F/(P·e_c), B/(BW·e_m)) with constant efficiencies', () => {
    // 2 TFLOP at 1000 TFLOPS·0.5 = 4000 µs; 1 GB at 2 TB/s·0.8 = 625 µs → compute-bound 4000 µs
    const curves = { compute: { x: [1], eff: [0.5] }, memory: { x: [1], eff: [0.8] } };
    const r = rooflineUs(2e12, 1e9, 1000e6, 2e6, curves);
    expect(r.computeUs).toBeCloseTo(4000, 9);
    expect(r.memoryUs).toBeCloseTo(625, 9);
    expect(r.us).toBeCloseTo(4000, 9);
    expect(plainRooflineUs(2e12, 1e9, 1000e6, 2e6, 0.5, 0.8)).toBeCloseTo(4000, 9);
    // per-item term adds items·τ
    expect(rooflineUs(2e12, 1e9, 1000e6, 2e6, { ...curves, perItemUs: 0.5 }, 10).us).toBeCloseTo(4005, 9);
  });
  it('GEMM work: 2mnk FLOPs; m·k·a + k·n·w + m·n·o bytes', () => {
    const w = gemmWork(8, 4096, 1024, 2, 0.5, 2); // INT4 weights
    expect(w.flops).toBe(2 * 8 * 4096 * 1024);
    expect(w.bytes).toBe(8 * 1024 * 2 + 1024 * 4096 * 0.5 + 8 * 4096 * 2);
  });
  it('a compute-bound GEMM on flat efficiency runs at peak: 4096³ at 100 TFLOPS = 1374.39 µs', () => {
    const e = compileEngine({ arch: TINY, gpu: gpu(100, 1), tp: 1 }, { efficiency: FLAT });
    expect(gemmOpUs(e, 4096, 4096, 4096)).toBeCloseTo((2 * 4096 ** 3) / 1e8, 6);
  });
});

describe('collectives (hand-computed)', () => {
  it('ring all-reduce: 2(p−1)·α + 2(p−1)/p·S/BW', () => {
    // 1 MB over 4 GPUs at 450 GB/s (450e3 B/µs), α 1 µs: 6 + 1.5·1e6/450e3 = 9.3333 µs
    expect(ringAllReduceUs(1e6, 4, 450e3, 1)).toBeCloseTo(6 + 1.5e6 / 450e3, 9);
    expect(ringTrafficFactor(8)).toBeCloseTo(1.75, 12);
    expect(ringAllReduceUs(1e6, 1, 450e3, 1)).toBe(0);
  });
  it('tree all-reduce: 2⌈log₂p⌉·α + 2S/BW', () => {
    expect(treeAllReduceUs(1e6, 8, 450e3, 1)).toBeCloseTo(6 + 2e6 / 450e3, 9);
  });
  it('hierarchical all-reduce: intra RS + inter ring of S/g + intra AG', () => {
    const intra = { bytesPerUs: 450e3, latencyUs: 1, eff: 1 };
    const inter = { bytesPerUs: 50e3, latencyUs: 10, eff: 1 };
    // g = 8, n = 2, S = 8 MB: RS = 7·1 + 7/8·8e6/450e3; inter = 2·1·10 + 1·(1e6)/50e3; AG = RS
    const rs = 7 + ((7 / 8) * 8e6) / 450e3;
    expect(hierarchicalAllReduceUs(8e6, 8, 2, intra, inter)).toBeCloseTo(rs + (20 + 1e6 / 50e3) + rs, 9);
  });
  it('all-to-all, p2p, pipeline bubble', () => {
    expect(allToAllUs(4e6, 4, { bytesPerUs: 400e3, latencyUs: 5, eff: 0.5 })).toBeCloseTo(5 + (0.75 * 4e6) / 200e3, 9);
    expect(p2pUs(1e6, { bytesPerUs: 50e3, latencyUs: 10, eff: 1 })).toBeCloseTo(30, 9);
    expect(bubbleFraction(4, 8)).toBeCloseTo(3 / 11, 12);
    expect(bubbleFraction(1, 8)).toBe(0);
    expect(bubbleFraction(8, 1)).toBeCloseTo(7 / 8, 12);
  });
  it('engine all-reduce uses the measured curve for calibrated group sizes and the formula otherwise', () => {
    const g = loadGpu('h100-sxm');
    const arch = loadArchitecture('llama-3.1-70b');
    const cal = compileEngine({ arch, gpu: g, tp: 4 }, { efficiency: 'auto' });
    const def = compileEngine({ arch, gpu: g, tp: 4 }, { efficiency: 'default' });
    const c = cal.tables.allreduce.graph['4']!;
    expect(allReduceCallUs(cal, 1e6, 4)).toBeCloseTo(c.latencyUs + 1.5e6 / (450e3 * curveEff(c.bandwidth, 1e6)), 9);
    // default: 6 µs call + 2(p−1)·0.7 µs hops + traffic at 0.7 of 450 GB/s
    expect(allReduceCallUs(def, 1e6, 4)).toBeCloseTo(6 + 6 * 0.7 + 1.5e6 / (0.7 * 450e3), 9);
    const tree = compileEngine({ arch, gpu: g, tp: 4 }, { efficiency: 'default', algorithm: 'tree' });
    expect(allReduceCallUs(tree, 1e6, 4)).toBeCloseTo(6 + 4 * 0.7 + 2e6 / (0.7 * 450e3), 9);
    const pcie = compileEngine({ arch, gpu: g, tp: 4 }, { efficiency: 'default', link: 'pcie' });
    expect(allReduceCallUs(pcie, 1e6, 4)).toBeCloseTo(6 + 6 * 0.7 + 1.5e6 / (0.7 * 64e3), 9);
    expect(allReduceCallUs(def, 1e6, 16)).toBeGreaterThan(allReduceCallUs(def, 1e6, 8)); // crosses nodes
  });
});

describe('attention work (hand-computed)', () => {
  it('causal pairs over prior context, with and without a sliding window', () => {
    expect(causalPairs(100, 50, 0)).toBe(100 * 50 + (100 * 101) / 2);
    expect(causalPairs(100, 50, 64)).toBe(14 * 50 + (14 * 15) / 2 + 86 * 64);
    expect(causalPairs(10, 500, 64)).toBe(10 * 64);
  });
  it('prefill and decode FLOPs and bytes', () => {
    const pf = prefillAttnWork(8, 128, 4096, 2, [{ tokens: 100, prior: 50 }], 0);
    expect(pf.flops).toBe(4 * 8 * 128 * 10050);
    expect(pf.bytes).toBe(2 * 100 * 8 * 128 * 2 + 150 * 4096);
    const dc = decodeAttnWork(8, 128, 4096, 2, [99, 199], 0);
    expect(dc.ctx).toBe(300);
    expect(dc.bytes).toBe(300 * 4096 + 2 * 2 * 8 * 128 * 2);
  });
});

describe('KV bytes and memory (hand-computed)', () => {
  const h100 = loadGpu('h100-sxm');
  it('KV bytes per token: 2·⌈kvH/TP⌉·d_h·bytes per layer; replicated heads when kvH < TP; FP8 halves', () => {
    const arch = loadArchitecture('llama-3.1-70b'); // 80 layers, kvH 8, d_h 128
    const e4 = compileEngine({ arch, gpu: h100, tp: 4 }, { efficiency: 'default' });
    expect(e4.kvBytesPerTokenLayer).toBe(2 * 2 * 128 * 2);
    expect(kvBytesPerTokenPerGpu(e4)).toBe(80 * 1024);
    const e8 = compileEngine({ arch, gpu: h100, tp: 8 }, { efficiency: 'default' });
    expect(e8.kvBytesPerTokenLayer).toBe(2 * 1 * 128 * 2);
    const fp8 = compileEngine({ arch, gpu: h100, tp: 4 }, { efficiency: 'default', kvDtype: 'fp8' });
    expect(fp8.kvBytesPerTokenLayer).toBe(2 * 2 * 128 * 1);
    const mla = compileEngine({ arch: loadArchitecture('deepseek-v2-lite'), gpu: h100, tp: 2 }, { efficiency: 'default' });
    expect(mla.kvBytesPerTokenLayer).toBe((512 + 64) * 2); // latent + rope, replicated on every rank
  });
  it('weights: Llama-3.1-8B BF16 TP1 = 2 bytes × (decoder params + embeddings + LM head + norms)', () => {
    const arch = loadArchitecture('llama-3.1-8b');
    const e = compileEngine({ arch, gpu: h100, tp: 1 }, { efficiency: 'default' });
    const want = 2 * (decoderParams(arch) + 2 * arch.vocabSize * arch.hiddenSize + (2 * arch.numLayers + 1) * arch.hiddenSize);
    expect(rel(weightBytesPerGpu(e), want)).toBeLessThan(1e-12);
    expect(weightBytesPerGpu(e) / 1e9).toBeCloseTo(16.06, 1);
  });
  it('memory fit: KV = capacity·util − weights − activations − reserved; Llama-3.1-70B does not fit one H100, fits TP4', () => {
    const arch = loadArchitecture('llama-3.1-70b');
    const one = engineMemory(compileEngine({ arch, gpu: h100, tp: 1 }, { efficiency: 'default' }), { maxModelLen: 4096 });
    expect(one.fits).toBe(false);
    expect(one.reason).toMatch(/weights 141\.\d\d GB .* exceed the usable 77\.31 GB \(80 GiB × 0\.9\)/);
    const four = engineMemory(compileEngine({ arch, gpu: h100, tp: 4 }, { efficiency: 'default' }), { maxModelLen: 4096, gpuMemUtil: 0.9 });
    expect(four.fits).toBe(true);
    expect(four.usableBytes).toBeCloseTo(80 * GIB * 0.9, 3);
    expect(four.kvCacheBytes).toBeCloseTo(four.usableBytes - four.weightBytes - four.activationBytes - four.reservedBytes, 3);
    expect(four.maxKvTokens).toBe(Math.floor(four.kvCacheBytes / (80 * 1024) / 16) * 16);
    expect(four.maxSequences).toBe(Math.floor(four.maxKvTokens / 4096));
  });
  it('a KV cache too small for one max-model-len sequence is reported with the numbers', () => {
    const m = engineMemory(compileEngine({ arch: loadArchitecture('llama-2-70b'), gpu: loadGpu('a100-sxm-80gb'), tp: 2 }, { efficiency: 'default' }), { maxModelLen: 1_000_000 });
    expect(m.fits).toBe(false);
    expect(m.reason).toMatch(/cannot hold one sequence of 1000000 tokens/);
  });
});

describe('engine step composition (hand-computed on a tiny model, flat efficiency)', () => {
  const g = gpu(100, 1); // 1e8 FLOPs/µs, 1e6 bytes/µs
  const e = compileEngine({ arch: TINY, gpu: g, tp: 1 }, { efficiency: FLAT });
  it('one decode at context 99: every op memory-bound; total = Σ bytes / BW = 70.201104 µs', () => {
    const b = engineStepBreakdown({ experiment: 't', step: 0, prefill: [], decode: [99] }, e);
    const L = 2;
    const bytes =
      2 * 1024 * 2 + // embed
      2 * L * (4 * 1024 * 2) + // two fused add+norms per layer
      L * (1024 * 2 + 1024 * 3072 * 2 + 3072 * 2) + // qkv m=1 n=(8+16)·128 k=1024
      L * (2 * 16 * 128 * 2) + // rope
      L * (4096 * 2) + // kv write: read K,V + write cache
      L * (100 * 4096 + 2 * 8 * 128 * 2) + // decode attention over 100 cached tokens
      L * (1024 * 2 + 1024 * 1024 * 2 + 1024 * 2) + // o_proj
      L * (1024 * 2 + 1024 * 8192 * 2 + 8192 * 2) + // gate+up
      L * (3 * 4096 * 2) + // silu·mul
      L * (4096 * 2 + 4096 * 1024 * 2 + 1024 * 2) + // down
      2 * 1024 * 2 + // final norm
      (1024 * 2 + 1024 * 1000 * 2 + 1000 * 2) + // lm head
      1000 * 4 * 2; // sampler
    expect(bytes).toBe(70_201_104);
    expect(b.us).toBeCloseTo(bytes / 1e6, 9);
    expect(b.ops.every((o) => o.bound === 'memory')).toBe(true);
    expect(b.ops.find((o) => o.op === 'norm')!.calls).toBe(4);
  });
  it('prefill of 100 tokens after 50 prior: attention compute and memory times', () => {
    const b = engineStepBreakdown({ experiment: 't', step: 0, prefill: [{ tokens: 100, prior: 50, prompt: 150 }], decode: [] }, e);
    const attn = b.ops.find((o) => o.op === 'attn_prefill')!;
    expect(attn.computeUs).toBeCloseTo((2 * 4 * 8 * 128 * 10050) / 1e8, 9);
    expect(attn.memoryUs).toBeCloseTo((2 * (2 * 100 * 8 * 128 * 2 + 150 * 4096)) / 1e6, 9);
    expect(b.sampled).toBe(1);
    // a middle chunk (prompt longer than prior + tokens) samples nothing → no LM head
    const mid = engineStepBreakdown({ experiment: 't', step: 0, prefill: [{ tokens: 100, prior: 0, prompt: 400 }], decode: [] }, e);
    expect(mid.ops.some((o) => o.op === 'lm_head')).toBe(false);
  });
  it('TP > 1 adds 2 all-reduces per layer + 1 for the embedding; PP adds PP−1 sends', () => {
    const arch = loadArchitecture('llama-3.1-8b');
    const h = loadGpu('h100-sxm');
    const b = engineStepBreakdown({ experiment: 't', step: 0, prefill: [], decode: [100, 200] }, compileEngine({ arch, gpu: h, tp: 2 }, { efficiency: 'default' }));
    expect(b.ops.find((o) => o.op === 'tp_allreduce')!.calls).toBe(2 * 32 + 1);
    const p = engineStepBreakdown({ experiment: 't', step: 0, prefill: [], decode: [100, 200] }, compileEngine({ arch, gpu: h, tp: 2 }, { efficiency: 'default', pp: 4 }));
    expect(p.ops.find((o) => o.op === 'pp_p2p')!.calls).toBe(3);
    expect(p.stageUs).toBeLessThan(p.us);
  });
  it('engineStepUs and engineModel agree; empty step is 0', () => {
    const ctx = { arch: TINY, gpu: g, tp: 1 };
    const s: Step = { experiment: 't', step: 0, prefill: [{ tokens: 7, prior: 0, prompt: 7 }], decode: [3, 5] };
    expect(engineStepUs(s, ctx, { efficiency: FLAT })).toBeCloseTo(engineModel(ctx, { efficiency: FLAT }).predictUs(s), 12);
    expect(engineStepBreakdown({ experiment: 't', step: 0, prefill: [], decode: [] }, e).us).toBe(0);
  });
});

describe('invariants', () => {
  const rng = makeRng(11);
  const randomStep = (): Step => {
    const np = rng.int(0, 3);
    const nd = np === 0 ? rng.int(1, 64) : rng.int(0, 64);
    return {
      experiment: 'p',
      step: 0,
      prefill: Array.from({ length: np }, () => {
        const t = rng.int(1, 4096);
        const prior = rng.int(0, 8192);
        return { tokens: t, prior, prompt: prior + t };
      }),
      decode: Array.from({ length: nd }, () => rng.int(0, 16000)),
    };
  };
  it('more GPUs never increase per-GPU weight bytes (TP and PP)', () => {
    for (const id of ['llama-3.1-8b', 'llama-3.1-70b', 'mixtral-8x7b', 'qwen3-30b-a3b', 'deepseek-v2-lite', 'bloom-176b']) {
      const arch = loadArchitecture(id);
      let prevTp = Infinity;
      for (const tp of [1, 2, 4, 8].filter((t) => arch.numHeads % t === 0 && (arch.numKvHeads < t || arch.numKvHeads % t === 0))) {
        let prevPp = Infinity;
        for (const pp of [1, 2, 4].filter((p) => arch.numLayers % p === 0)) {
          const w = weightBytesPerGpu(compileEngine({ arch, gpu: loadGpu('h100-sxm'), tp }, { efficiency: 'default', pp }));
          expect(w, `${id} tp${tp} pp${pp}`).toBeLessThanOrEqual(prevPp);
          prevPp = w;
          if (pp === 1) {
            expect(w, `${id} tp${tp}`).toBeLessThanOrEqual(prevTp);
            prevTp = w;
          }
        }
      }
    }
  });
  it('higher memory bandwidth never slows a memory-bound op, nor any step (default and calibrated curves)', () => {
    const arch = loadArchitecture('llama-3.1-8b');
    for (const which of ['default', 'auto'] as const) {
      for (let i = 0; i < 60; i++) {
        const s = randomStep();
        let prev = Infinity;
        for (const bw of [1, 2, 3.35, 5, 8]) {
          const g = { ...loadGpu('h100-sxm'), memBandwidthTBs: bw };
          const b = engineStepBreakdown(s, compileEngine({ arch, gpu: g, tp: 1 }, { efficiency: which === 'auto' ? loadEfficiency(loadGpu('h100-sxm')) : 'default' }));
          expect(b.us).toBeLessThanOrEqual(prev * (1 + 1e-12));
          prev = b.us;
        }
      }
    }
    // a single decode attention op (memory-bound) gets strictly faster with bandwidth
    const t = (bw: number): number =>
      engineStepBreakdown(
        { experiment: 'x', step: 0, prefill: [], decode: new Array<number>(32).fill(8000) },
        compileEngine({ arch, gpu: { ...loadGpu('h100-sxm'), memBandwidthTBs: bw }, tp: 1 }, { efficiency: 'default' }),
      ).ops.find((o) => o.op === 'attn_decode')!.us;
    expect(t(4)).toBeLessThan(t(2));
  });
  it('more peak FLOPS never slows a step; every op time ≥ 0', () => {
    const arch = loadArchitecture('qwen3-30b-a3b');
    for (let i = 0; i < 40; i++) {
      const s = randomStep();
      const a = engineStepBreakdown(s, compileEngine({ arch, gpu: gpu(500, 2), tp: 2 }, { efficiency: 'default' }));
      const b = engineStepBreakdown(s, compileEngine({ arch, gpu: gpu(1000, 2), tp: 2 }, { efficiency: 'default' }));
      expect(b.us).toBeLessThanOrEqual(a.us * (1 + 1e-12));
      for (const o of a.ops) expect(o.us).toBeGreaterThanOrEqual(0);
    }
  });
  it('FP8 KV never slows decode; INT4 weights never slow a memory-bound decode', () => {
    const arch = loadArchitecture('llama-3.1-70b');
    const h = loadGpu('h100-sxm');
    const s: Step = { experiment: 'x', step: 0, prefill: [], decode: new Array<number>(8).fill(4096) };
    const base = engineStepUs(s, { arch, gpu: h, tp: 4 }, { efficiency: 'default' });
    expect(engineStepUs(s, { arch, gpu: h, tp: 4 }, { efficiency: 'default', kvDtype: 'fp8' })).toBeLessThan(base);
    expect(engineStepUs(s, { arch, gpu: h, tp: 4 }, { efficiency: 'default', weightDtype: 'int4' })).toBeLessThan(base);
    expect(engineStepUs(s, { arch, gpu: h, tp: 4 }, { efficiency: 'default', weightDtype: 'fp8' })).toBeLessThan(base);
  });
  it('MoE: expected distinct experts N·(1−(1−k/N)^T) bound the expert weight reads', () => {
    const arch = loadArchitecture('mixtral-8x7b'); // N 8, k 2
    const h = loadGpu('h100-sxm');
    const e = compileEngine({ arch, gpu: h, tp: 1 }, { efficiency: FLAT });
    const up1 = engineStepBreakdown({ experiment: 'x', step: 0, prefill: [], decode: [10] }, e).ops.find((o) => o.op === 'moe_up')!;
    const w = arch.hiddenSize * 2 * arch.expertIntermediateSize * 2; // one expert's gate+up BF16
    const distinct = 8 * (1 - (1 - 2 / 8) ** 1);
    expect(up1.bytes).toBeCloseTo(32 * (2 * arch.hiddenSize * 2 + distinct * w + 2 * 2 * arch.expertIntermediateSize * 2), 0);
  });
});

describe('bad inputs → clear errors', () => {
  const h = loadGpu('h100-sxm');
  it('TP not dividing heads, PP not dividing layers, EP not dividing experts or TP', () => {
    expect(() => compileEngine({ arch: loadArchitecture('llama-3.1-8b'), gpu: h, tp: 3 })).toThrow(/TP 3 does not divide field 'num_attention_heads' \(32\)/);
    expect(() => compileEngine({ arch: loadArchitecture('llama-3.1-8b'), gpu: h, tp: 1 }, { pp: 3 })).toThrow(/PP 3 does not divide field 'num_hidden_layers' \(32\)/);
    expect(() => compileEngine({ arch: loadArchitecture('mixtral-8x7b'), gpu: h, tp: 4 }, { ep: 3 })).toThrow(/EP 3 does not divide the number of experts \(8\)/);
    expect(() => compileEngine({ arch: loadArchitecture('mixtral-8x7b'), gpu: h, tp: 2 }, { ep: 4 })).toThrow(/EP 4 must divide TP 2/);
    expect(() => compileEngine({ arch: loadArchitecture('llama-3.1-8b'), gpu: h, tp: 2 }, { ep: 2 })).toThrow(/model is dense/);
  });
  it('FP8 weights on a GPU without FP8 tensor cores', () => {
    expect(() => compileEngine({ arch: loadArchitecture('llama-3.1-8b'), gpu: loadGpu('a100-sxm-80gb'), tp: 1 }, { weightDtype: 'fp8' })).toThrow(/GPU 'a100-sxm-80gb' has no FP8 tensor cores/);
  });
  it('a GPU without a calibrated file uses the documented default curves', () => {
    const t = loadEfficiency(loadGpu('mi300x'), 'auto');
    expect(t.origin).toBe('default');
    expect(t.calibrated).toEqual([]);
    expect(loadEfficiency(h, 'auto').calibrated).toContain('gemm.bf16');
  });
  it('the default tables cover every op class', () => {
    const t = defaultTables(h);
    for (const k of Object.keys(FLAT.ops)) expect(t.ops[k as keyof typeof t.ops]).toBeDefined();
  });
});
