/**
 * Paged KV cache: the block pool of a vLLM V1 engine, with optional prefix caching, and the
 * number of blocks a GPU's memory yields.
 *
 * Pool semantics (vLLM V1 `BlockPool`): block 0 is the reserved null block, so `numBlocks − 1` are
 * usable. Free blocks sit in an LRU queue; with prefix caching a freed block keeps its content key
 * (it stays a cache hit) until it is taken from the head of the queue for a new allocation
 * (eviction). A request frees its blocks tail first, so its prefix survives longest. Cache hits are
 * whole blocks of a chain from block 0 (a hit on block i needs hits on 0..i−1).
 *
 * Content keys: blocks that other requests can hit (shared prompt prefixes) are indexed in a map;
 * a request's private blocks can only be hit by that request itself (when it resumes after a
 * preemption), so the caller keeps their ids and checks `keyOf(b)` instead — the key is cleared
 * when the block is evicted, which makes that check exact without a map update per block.
 */
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { InputError } from '../io/errors.js';
import { compileEngine } from '../engine/context.js';
import { kvCacheBlocks, kvCacheBudget } from '../engine/memory.js';

export { BlockPool, blocksFor } from '../scheduler/kv-pool.js';

/**
 * Blocks vLLM would give the KV cache (num_gpu_blocks): the engine's one KV-capacity formula
 * (`kvCacheBlocks` in src/engine/memory.ts, whose doc comment has the formula and its calibration):
 *   ⌊(capacity · util − weights − activations(maxNumBatchedTokens, maxNumSeqs) − reserved) / (blockSize · KV bytes per token)⌋
 * `reserveGB` replaces activations + reserved with a fixed figure. `ep` > TP spreads the routed
 * experts over data-parallel replicas (vLLM --enable-expert-parallel, EP = TP·DP).
 */
export function gpuBlocksFromMemory(o: {
  arch: Architecture; gpu: GpuSpec; tp: number; ep?: number; blockSize: number; utilization: number; reserveGB?: number; kvBytes?: number;
  maxNumBatchedTokens?: number; maxNumSeqs?: number;
}): number {
  const ep = o.ep ?? 1;
  const e = compileEngine({ arch: o.arch, gpu: o.gpu, tp: o.tp }, {
    efficiency: 'default', ep, dp: ep > o.tp ? ep / o.tp : 1, ...(o.kvBytes === 1 ? { kvDtype: 'fp8' as const } : {}),
  });
  const mo = {
    blockSize: o.blockSize, gpuMemUtil: o.utilization, maxBatchedTokens: o.maxNumBatchedTokens ?? 2048, maxSeqs: o.maxNumSeqs ?? 256,
    ...(o.reserveGB !== undefined ? { reservedBytes: o.reserveGB * 1e9 } : {}),
  };
  const blocks = kvCacheBlocks(e, mo);
  if (blocks < 2) {
    const b = kvCacheBudget(e, mo);
    throw new InputError(`${o.arch.name} on ${o.gpu.id} at TP ${o.tp}${ep > 1 ? ` EP ${ep}` : ''}: no memory left for the KV cache (${(b.usable / 1e9).toFixed(1)} GB usable at utilization ${o.utilization}, weights ${(b.weights / 1e9).toFixed(1)} GB, activations + reserved ${((b.act + b.reserved) / 1e9).toFixed(1)} GB per GPU); raise --tp or --gpu-memory-utilization, or pass --num-gpu-blocks`);
  }
  return blocks;
}
