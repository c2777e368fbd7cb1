/**
 * The one KV-capacity formula (src/analytic/memory.ts `kvCacheBlocks`, used by `engine memory/serve`
 * and the simulator) against the KV block counts vLLM logged in the four real runs of
 * LLMServingSim (bench/examples/*\/vllm/meta.json). Only the RTX 4090 run logs `num_gpu_blocks`
 * (kv_cache.num_gpu_blocks = 2588); the three RTX PRO 6000 runs' meta.json carry no kv_cache
 * section (and their timeseries kv_cache_pct is always 0), so they can only be predicted, not
 * checked: the test prints the prediction and asserts that the missing count stays missing, so that
 * a data update that adds them makes this test fail until they are compared.
 * The formula's runtime reserve was calibrated on that same RTX 4090 run, so its error is in-sample.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { haveShared, sharedPath } from './support/shared.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { compileEngine } from '../src/analytic/context.js';
import { kvCacheBlocks, activationBytes, weightBytesPerGpu, RUNTIME_RESERVED_BYTES, NCCL_RESERVED_BYTES, GIB } from '../src/analytic/memory.js';

const BASE = 'casys-kaist__LLMServingSim/bench/examples';
const RUNS = [
  { dir: 'RTX4090/Llama-3.1-8B', model: 'llama-3.1-8b', gpu: 'rtx-4090' },
  { dir: 'RTXPRO6000/Llama-3.1-8B', model: 'llama-3.1-8b', gpu: 'rtx-pro-6000-blackwell' },
  { dir: 'RTXPRO6000/Qwen3-32B', model: 'qwen3-32b', gpu: 'rtx-pro-6000-blackwell' },
  { dir: 'RTXPRO6000/Qwen3-30B-A3B-Instruct-2507', model: 'qwen3-30b-a3b', gpu: 'rtx-pro-6000-blackwell' },
] as const;

describe('KV-cache capacity formula', () => {
  it('hand-computed: Llama-3.1-70B TP4 on H100 (80 GiB, util 0.9, 8192 batched tokens)', () => {
    const e = compileEngine({ arch: loadArchitecture('llama-3.1-70b'), gpu: loadGpu('h100-sxm'), tp: 4 }, { efficiency: 'default' });
    const kv = 80 * GIB * 0.9 - weightBytesPerGpu(e) - activationBytes(e, 8192, 256) - RUNTIME_RESERVED_BYTES - NCCL_RESERVED_BYTES;
    // 80 layers · 2 · (8/4) KV heads · 128 · 2 B = 81,920 B per token per GPU
    expect(kvCacheBlocks(e, { blockSize: 16 })).toBe(Math.floor(kv / (16 * 81920)));
    expect(kvCacheBlocks(e, { blockSize: 16, gpuMemUtil: 0.3 })).toBe(0); // weights alone exceed 24 GiB
  });

  it.skipIf(!haveShared(`${BASE}/RTX4090/Llama-3.1-8B/vllm/meta.json`))('against the block counts the four real vLLM runs logged', () => {
    const lines: string[] = [];
    let compared = 0;
    for (const run of RUNS) {
      const meta = JSON.parse(fs.readFileSync(sharedPath(path.join(BASE, run.dir, 'vllm/meta.json')), 'utf8'));
      const ek = meta.engine_kwargs;
      const tp: number = ek.tensor_parallel_size;
      const dp: number = ek.data_parallel_size ?? 1;
      const ep = ek.enable_expert_parallel ? tp * dp : 1;
      const e = compileEngine({ arch: loadArchitecture(run.model), gpu: loadGpu(run.gpu), tp }, { efficiency: 'default', ep, dp });
      const blocks = kvCacheBlocks(e, {
        blockSize: meta.kv_cache?.block_size ?? 16,
        gpuMemUtil: meta.kv_cache?.gpu_memory_utilization ?? 0.9,
        maxBatchedTokens: ek.max_num_batched_tokens,
        maxSeqs: ek.max_num_seqs,
      });
      const logged: number | undefined = meta.kv_cache?.num_gpu_blocks ?? undefined;
      if (logged !== undefined) {
        const err = ((blocks - logged) / logged) * 100;
        lines.push(
          `${run.dir} TP${tp}${dp > 1 ? ` DP${dp} EP${ep}` : ''}: predicted ${blocks} blocks, logged ${logged} (${err >= 0 ? '+' : ''}${err.toFixed(2)}%, in-sample: the reserve was calibrated here)`,
        );
        expect(Math.abs(err)).toBeLessThan(1);
        compared++;
      } else {
        lines.push(`${run.dir} TP${tp}${dp > 1 ? ` DP${dp} EP${ep}` : ''}: predicted ${blocks} blocks, not logged (meta.json has no kv_cache)`);
        expect(blocks).toBeGreaterThan(1000);
      }
    }
    console.log(lines.join('\n'));
    expect(compared).toBe(1); // only the RTX 4090 run logs num_gpu_blocks (see the file comment)
  });
});
