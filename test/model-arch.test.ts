import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { parseArchitecture, checkParallelism, decoderParams } from '../src/model/arch.js';
import { loadArchitecture, knownModelIds, MODELS_DIR } from '../src/model/load.js';
import { InputError } from '../src/io/errors.js';

const llama = { model_type: 'llama', hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, vocab_size: 128256, torch_dtype: 'bfloat16' };

describe('HF config.json → Architecture', () => {
  it('dense GQA Llama with gated MLP', () => {
    const a = parseArchitecture(llama, 'cfg.json');
    expect(a).toMatchObject({ numLayers: 32, hiddenSize: 4096, numHeads: 32, numKvHeads: 8, headDim: 128, intermediateSize: 14336, mlpMatrices: 3, numExperts: 0, weightDtype: 'bf16' });
    expect(Object.isFrozen(a)).toBe(true);
  });
  it('MHA default (no num_key_value_heads) and MQA via multi_query', () => {
    const { num_key_value_heads: _, ...mha } = llama;
    expect(parseArchitecture(mha, 'c').numKvHeads).toBe(32);
    expect(parseArchitecture({ ...mha, multi_query: true }, 'c').numKvHeads).toBe(1);
  });
  it('explicit head_dim (Qwen3: 64 heads × 128 ≠ 5120)', () => {
    const a = loadArchitecture('qwen3-32b');
    expect(a.headDim).toBe(128);
    expect(a.headDimExplicit).toBe(true);
    expect(a.hiddenSize).toBe(5120);
    expect(a.numHeads).toBe(64);
  });
  it('BLOOM-style plain 2-matrix MLP with 4·d default width and alternative keys', () => {
    const a = loadArchitecture('bloom-176b');
    expect(a).toMatchObject({ numLayers: 70, hiddenSize: 14336, numHeads: 112, numKvHeads: 112, mlpMatrices: 2, intermediateSize: 57344 });
    const g = parseArchitecture({ model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257 }, 'gpt2.json');
    expect(g).toMatchObject({ hiddenSize: 768, numLayers: 12, numHeads: 12, mlpMatrices: 2, intermediateSize: 3072 });
  });
  it('MoE: Mixtral (num_local_experts) and Qwen3-MoE (num_experts, moe_intermediate_size)', () => {
    const m = loadArchitecture('mixtral-8x7b');
    expect(m).toMatchObject({ numExperts: 8, expertsPerToken: 2, expertIntermediateSize: 14336 });
    const q = loadArchitecture('qwen3-30b-a3b');
    expect(q.numExperts).toBe(128);
    expect(q.expertsPerToken).toBe(8);
    expect(q.expertIntermediateSize).toBe(768);
    const d = parseArchitecture({ ...llama, n_routed_experts: 64, num_experts_per_tok: 6, moe_intermediate_size: 1408, n_shared_experts: 2, first_k_dense_replace: 1 }, 'ds.json');
    expect(d).toMatchObject({ numExperts: 64, expertsPerToken: 6, numSharedExperts: 2, sharedExpertIntermediateSize: 2816, firstDenseLayers: 1 });
  });
  it('alternative key names: num_kv_heads, n_head, n_embd', () => {
    const a = parseArchitecture({ model_type: 'x', n_embd: 2048, n_layers: 24, n_head: 16, num_kv_heads: 4, intermediate_size: 5632 }, 'c');
    expect(a).toMatchObject({ hiddenSize: 2048, numLayers: 24, numHeads: 16, numKvHeads: 4, headDim: 128 });
  });
  it('multimodal text_config nesting', () => {
    const a = parseArchitecture({ model_type: 'llava', torch_dtype: 'float16', text_config: llama, vision_config: { hidden_size: 1024 } }, 'mm.json');
    expect(a.numLayers).toBe(32);
    expect(a.weightDtype).toBe('fp16');
  });
  it('weight dtype from quantization_config', () => {
    expect(parseArchitecture({ ...llama, quantization_config: { quant_method: 'fp8', fmt: 'e4m3' } }, 'c').weightDtype).toBe('fp8');
    expect(parseArchitecture({ ...llama, quantization_config: { quant_method: 'awq', bits: 4 } }, 'c').weightDtype).toBe('int4');
    expect(parseArchitecture({ ...llama, quantization_config: { quant_method: 'modelopt', quant_algo: 'NVFP4' } }, 'c').weightDtype).toBe('fp4');
    expect(parseArchitecture({ ...llama, torch_dtype: 'float16' }, 'c').weightDtype).toBe('fp16');
  });
  it('rejects a missing required field, naming the file and field', () => {
    const { hidden_size: _, ...bad } = llama;
    expect(() => parseArchitecture(bad, 'bad.json')).toThrow(/bad\.json: missing required field 'hidden_size'/);
  });
  it('rejects heads not dividing hidden size without head_dim', () => {
    expect(() => parseArchitecture({ ...llama, num_attention_heads: 30, num_key_value_heads: 10 }, 'h.json')).toThrow(/h\.json: field 'num_attention_heads' \(30\) does not divide 'hidden_size'/);
  });
  it('rejects wrong types with the field name', () => {
    expect(() => parseArchitecture({ ...llama, num_hidden_layers: 'many' }, 'x.json')).toThrow(/x\.json: field 'num_hidden_layers'/);
  });
  it('TP must divide the heads; kvH < TP is allowed (replicated KV heads)', () => {
    const a = parseArchitecture(llama, 'c.json');
    expect(() => checkParallelism(a, 3)).toThrow(InputError);
    expect(() => checkParallelism(a, 3)).toThrow(/TP 3 does not divide field 'num_attention_heads' \(32\)/);
    expect(() => checkParallelism(a, 16)).not.toThrow();
  });
  it('every bundled model config loads; parameter counts match the published sizes', () => {
    const ids = knownModelIds();
    for (const m of ['llama-2-7b', 'llama-2-70b', 'llama-3.1-8b', 'llama-3.1-70b', 'codellama-34b', 'mixtral-8x7b', 'qwen2.5-7b', 'qwen3-32b', 'bloom-176b']) expect(ids).toContain(m);
    for (const id of ids) expect(() => loadArchitecture(id), id).not.toThrow();
    // decoder-only parameter counts (no embeddings), billions
    const b = (id: string): number => decoderParams(loadArchitecture(id)) / 1e9;
    expect(b('llama-2-7b')).toBeCloseTo(6.48, 1);
    expect(b('llama-2-70b')).toBeCloseTo(68.45, 0);
    expect(b('mixtral-8x7b')).toBeCloseTo(46.4, 0);
    expect(b('bloom-176b')).toBeGreaterThan(169);
    expect(b('bloom-176b')).toBeLessThan(174);
    expect(fs.existsSync(path.join(MODELS_DIR, 'llama-2-7b.json'))).toBe(true);
  });
});
