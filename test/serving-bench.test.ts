import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { loadArchitecture } from '../src/model/load.js';
import { parseArchitecture } from '../src/model/arch.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { compileEngine } from '../src/analytic/context.js';
import { vllmDefaultLimits } from '../src/analytic/vllm-defaults.js';
import { benchServe, benchServeDeployment, burstTtftS } from '../src/analytic/bench-serve.js';
import { NO_HOST_COSTS, DEFAULT_HOST_COSTS } from '../src/analytic/host-costs.js';
import { readScenarios, predictScenarios } from '../src/analytic/scenarios.js';
import { runServingSuite, SERVING_THRESHOLDS, servingFailures } from '../src/validate/serving.js';

const h100 = loadGpu('h100-sxm');
const SHARED = path.resolve(__dirname, '..', 'data', 'vendor'); // the bundled real-data subsets (data/vendor/README.md)

describe('vLLM default limits (vllm/engine/arg_utils.py get_batch_defaults)', () => {
  it('≥ 70 GiB non-A100 GPUs get 8192 tokens / 1024 seqs for vllm serve, others 2048 / 256', () => {
    expect(vllmDefaultLimits(h100)).toMatchObject({ maxNumBatchedTokens: 8192, maxNumSeqs: 1024, gpuMemoryUtilization: 0.9 });
    expect(vllmDefaultLimits(h100, 'llm-class').maxNumBatchedTokens).toBe(16384);
    expect(vllmDefaultLimits(loadGpu('a100-sxm-80gb'))).toMatchObject({ maxNumBatchedTokens: 2048, maxNumSeqs: 256 });
    expect(vllmDefaultLimits(loadGpu('l40s'))).toMatchObject({ maxNumBatchedTokens: 2048, maxNumSeqs: 256 });
  });
});

describe('closed-loop benchmark model', () => {
  it('first wave: hand value with a constant 1 s step', () => {
    // 2 requests × 100 tokens, budget 100: request 1 done after step 1 (t = 1); then it decodes (1 budget
    // token), so request 2 takes 99 + 1 tokens over steps 2 and 3 (t = 3): mean 2
    expect(burstTtftS(2, 100, 100, () => 1)).toBeCloseTo(2, 12);
    // budget 101: step 1 = request 1 + 1 token of request 2; step 2 = its 99 left + 1 decode: mean 1.5
    expect(burstTtftS(2, 100, 101, () => 1)).toBeCloseTo(1.5, 12);
    // budget 200: both in one step
    expect(burstTtftS(2, 100, 200, () => 1)).toBeCloseTo(1, 12);
  });

  const e = compileEngine({ arch: loadArchitecture('qwen3-32b'), gpu: h100, tp: 2 }, { efficiency: 'default' });
  const base = { isl: 1024, osl: 256, budget: 8192, maxSeqs: 1024, kvTokens: 1e6, numPrompts: Infinity };

  it('α₀ adds to TTFT one for one at low load; TTFT and TPOT grow with concurrency', () => {
    const a = benchServe(e, { ...base, clients: 1 }, NO_HOST_COSTS);
    const b = benchServe(e, { ...base, clients: 1 }, { ...NO_HOST_COSTS, apiOverheadUs: 20000 });
    expect(b.ttftS - a.ttftS).toBeCloseTo(0.02, 3);
    const c = benchServe(e, { ...base, clients: 64 }, NO_HOST_COSTS);
    expect(c.ttftS).toBeGreaterThan(a.ttftS);
    expect(c.tpotS).toBeGreaterThan(a.tpotS);
    expect(c.queueS).toBeLessThan(1e-9);
  });

  it('beyond the KV capacity requests queue and TTFT includes the wait (never clamped)', () => {
    const kvTokens = 16 * (1024 + 128); // room for 16 running requests at I + O/2
    const r = benchServe(e, { ...base, kvTokens, clients: 64 }, NO_HOST_COSTS);
    expect(r.capacity).toBe(16);
    expect(r.running).toBe(16);
    expect(r.limitedBy).toBe('KV-cache memory');
    // 48 of 64 clients wait: about 3 request lifetimes of the 16 running ones
    expect(r.queueS).toBeGreaterThan(2 * (r.e2eS - r.ttftS));
    expect(r.ttftS).toBeGreaterThan(r.queueS);
  });

  it('deployment: vLLM defaults unless given; per-step host time adds to TPOT', () => {
    const ctx = { arch: loadArchitecture('qwen3-32b'), gpu: h100, tp: 2 };
    const d = benchServeDeployment(ctx, { efficiency: 'default' }, { isl: 1024, osl: 128, concurrency: 8 }, DEFAULT_HOST_COSTS);
    expect(d.maxNumBatchedTokens).toBe(8192);
    expect(d.limitsSource).toMatch(/arg_utils/);
    const g = benchServeDeployment(ctx, { efficiency: 'default' }, { isl: 1024, osl: 128, concurrency: 8, maxNumBatchedTokens: 2048 }, DEFAULT_HOST_COSTS);
    expect(g.maxNumBatchedTokens).toBe(2048);
    expect(g.limitsSource).toBe('given');
    const h = benchServeDeployment(ctx, { efficiency: 'default' }, { isl: 1024, osl: 128, concurrency: 8 }, { ...DEFAULT_HOST_COSTS, stepHostUs: DEFAULT_HOST_COSTS.stepHostUs + 1000 });
    expect(h.tpotS).toBeGreaterThan(d.tpotS + 0.0009);
  });
});

describe('HF configs: quantization and per-layer attention', () => {
  const base = { model_type: 'llama', num_hidden_layers: 4, hidden_size: 256, num_attention_heads: 4, intermediate_size: 512, vocab_size: 1000 };
  it('compressed-tensors bit width under config_groups', () => {
    const q = (num_bits: number, type: string) =>
      parseArchitecture({ ...base, quantization_config: { quant_method: 'compressed-tensors', config_groups: { group_0: { weights: { num_bits, type } } } } }, 'x.json').weightDtype;
    expect(q(4, 'int')).toBe('int4');
    expect(q(4, 'float')).toBe('fp4');
    expect(q(8, 'float')).toBe('fp8');
    expect(q(8, 'int')).toBe('int8');
  });
  it('layer_types: the window applies to the sliding layers only', () => {
    const a = parseArchitecture({ ...base, sliding_window: 128, layer_types: ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'] }, 'x.json');
    expect(a.slidingWindow).toBe(128);
    expect(a.slidingLayers).toBe(2);
    const all = parseArchitecture({ ...base, model_type: 'mistral', sliding_window: 128 }, 'y.json');
    expect(all.slidingLayers).toBe(4);
    // decode at a long context costs more with 2 full-attention layers than with all 4 sliding
    const stepUs = (arch: typeof a): number =>
      benchServe(
        compileEngine({ arch, gpu: h100, tp: 1 }, { efficiency: 'default' }),
        { isl: 8000, osl: 2, clients: 8, budget: 8192, maxSeqs: 1024, kvTokens: 1e7, numPrompts: Infinity },
        NO_HOST_COSTS,
      ).tpotS;
    expect(stepUs(a)).toBeGreaterThan(stepUs({ ...all, modelType: 'llama' }));
  });
});

describe('scenario batches', () => {
  it('predicts every row, carries a note for rows that do not fit, and names file:line:field on bad input', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-scen-'));
    const f = path.join(dir, 's.csv');
    fs.writeFileSync(f, 'model,gpu,dtype,tp,ep,dp,isl,osl,concurrency\nqwen3-32b,h100-sxm,,2,1,1,1024,128,8\nllama-3.1-70b,h100-sxm,,1,1,1,1024,128,8\n');
    const { rows, columns } = readScenarios(f);
    const out = predictScenarios(rows, columns, { efficiency: 'default' }, DEFAULT_HOST_COSTS, {}, f);
    expect(out.predicted).toBe(1);
    const lines = out.csv.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/does not fit/);
    fs.writeFileSync(f, 'model,gpu,tp,isl,osl,concurrency\nqwen3-32b,h100-sxm,two,1024,128,8\n');
    expect(() => readScenarios(f)).toThrow(/s\.csv:2: field 'tp'/);
  });
});

describe.skipIf(!fs.existsSync(SHARED))('validate --suite serving (real H100 deployments)', () => {
  it('leave-one-model-out and in-sample accuracy hold at the measured values', () => {
    const r = runServingSuite(SHARED);
    expect(r.rows).toBe(237);
    expect(r.fitted.folds).toHaveLength(4);
    expect(servingFailures(r)).toEqual([]);
    expect(r.leaveOneModelOut.overall.ttft.mape).toBeLessThanOrEqual(SERVING_THRESHOLDS.lomoTtftMape);
    // the host terms matter: GPU-only TTFT is far worse
    expect(r.ablation[0]!.overall.ttft.mape).toBeGreaterThan(r.inSample.overall.ttft.mape + 10);
  });
});
