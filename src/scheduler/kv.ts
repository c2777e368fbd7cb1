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
import { compileEngine } from '../analytic/context.js';
import { kvCacheBlocks, kvCacheBudget } from '../analytic/memory.js';

/** ⌈tokens / blockSize⌉ */
export const blocksFor = (tokens: number, blockSize: number): number => Math.ceil(tokens / blockSize);

export class BlockPool {
  readonly numBlocks: number;
  /** References to each block (running requests holding it). */
  private readonly ref: Int32Array;
  /** Content key of a cached block, −1 when none. */
  private readonly key: Float64Array;
  /** Doubly linked LRU free queue over block ids (−1 = none). */
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  private nFree = 0;
  /** Shared content key → block (only keys registered with `shared`). */
  private readonly cache = new Map<number, number>();
  private readonly inMap: Uint8Array;
  /** Blocks evicted from the prefix cache so far. */
  evictions = 0;

  constructor(
    numBlocks: number,
    readonly caching: boolean,
  ) {
    if (!Number.isInteger(numBlocks) || numBlocks < 2) throw new InputError(`KV cache: need at least 2 blocks, got ${numBlocks}`);
    this.numBlocks = numBlocks;
    this.ref = new Int32Array(numBlocks);
    this.key = new Float64Array(numBlocks).fill(-1);
    this.prev = new Int32Array(numBlocks).fill(-1);
    this.next = new Int32Array(numBlocks).fill(-1);
    this.inMap = new Uint8Array(numBlocks);
    this.ref[0] = 1; // the null block is never free
    for (let b = 1; b < numBlocks; b++) this.pushTail(b);
  }

  /** Usable blocks (all but the null block). */
  get usable(): number {
    return this.numBlocks - 1;
  }
  /** Free blocks, cached-but-unreferenced ones included (they can be evicted). */
  get free(): number {
    return this.nFree;
  }

  private pushTail(b: number): void {
    this.prev[b] = this.tail;
    this.next[b] = -1;
    if (this.tail >= 0) this.next[this.tail] = b;
    else this.head = b;
    this.tail = b;
    this.nFree++;
  }

  private unlink(b: number): void {
    const p = this.prev[b]!;
    const n = this.next[b]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.prev[b] = -1;
    this.next[b] = -1;
    this.nFree--;
  }

  /** Take a block from the head of the free queue (evicting its cached content). Caller checks `free` first. */
  allocate(): number {
    const b = this.head;
    if (b < 0) throw new Error('BlockPool.allocate: no free block (caller must check free first)');
    this.unlink(b);
    if (this.key[b]! >= 0) {
      if (this.inMap[b]) {
        this.cache.delete(this.key[b]!);
        this.inMap[b] = 0;
      }
      this.key[b] = -1;
      this.evictions++;
    }
    this.ref[b] = 1;
    return b;
  }

  /** Drop one reference; at zero the block joins the tail of the free queue (keeping its cached content). */
  release(b: number): void {
    if (--this.ref[b]! === 0) this.pushTail(b);
  }

  /** Content key of block b (−1 when it holds nothing cached). */
  keyOf(b: number): number {
    return this.key[b]!;
  }

  /** Cached block holding shared `key`, or −1. */
  lookup(key: number): number {
    if (!this.caching) return -1;
    const b = this.cache.get(key);
    return b === undefined ? -1 : b;
  }

  /** True when the block is cached but unreferenced (a hit on it takes it out of the free queue). */
  isFreeCached(b: number): boolean {
    return this.ref[b] === 0;
  }

  /** Take a reference on a cache hit. */
  touch(b: number): void {
    if (this.ref[b] === 0) this.unlink(b);
    this.ref[b]!++;
  }

  /**
   * Register a full block's content. `shared` keys go into the lookup map (no-op when another block
   * already holds the key); private keys are only stored on the block. No-op without caching.
   */
  register(b: number, key: number, shared: boolean): void {
    if (!this.caching || this.key[b]! >= 0) return;
    if (shared) {
      if (this.cache.has(key)) return;
      this.cache.set(key, b);
      this.inMap[b] = 1;
    }
    this.key[b] = key;
  }

  refCount(b: number): number {
    return this.ref[b]!;
  }
}

/**
 * Blocks vLLM would give the KV cache (num_gpu_blocks): the engine's one KV-capacity formula
 * (`kvCacheBlocks` in src/analytic/memory.ts, whose doc comment has the formula and its calibration):
 *   ⌊(capacity · util − weights − activations(maxNumBatchedTokens, maxNumSeqs) − reserved) / (blockSize · KV bytes per token)⌋
 * `reserveGB` replaces activations + reserved with a fixed figure. `ep` > TP spreads the routed
 * experts over data-parallel replicas (vLLM --enable-expert-parallel, EP = TP·DP).
 */
export function gpuBlocksFromMemory(o: {
  arch: Architecture;
  gpu: GpuSpec;
  tp: number;
  ep?: number;
  blockSize: number;
  utilization: number;
  reserveGB?: number;
  kvBytes?: number;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
}): number {
  const ep = o.ep ?? 1;
  const e = compileEngine(
    { arch: o.arch, gpu: o.gpu, tp: o.tp },
    {
      efficiency: 'default',
      ep,
      dp: ep > o.tp ? ep / o.tp : 1,
      ...(o.kvBytes === 1 ? { kvDtype: 'fp8' as const } : {}),
    },
  );
  const mo = {
    blockSize: o.blockSize,
    gpuMemUtil: o.utilization,
    maxBatchedTokens: o.maxNumBatchedTokens ?? 2048,
    maxSeqs: o.maxNumSeqs ?? 256,
    ...(o.reserveGB !== undefined ? { reservedBytes: o.reserveGB * 1e9 } : {}),
  };
  const blocks = kvCacheBlocks(e, mo);
  if (blocks < 2) {
    const b = kvCacheBudget(e, mo);
    throw new InputError(
      `${o.arch.name} on ${o.gpu.id} at TP ${o.tp}${ep > 1 ? ` EP ${ep}` : ''}: no memory left for the KV cache (${(b.usable / 1e9).toFixed(1)} GB usable at utilization ${o.utilization}, weights ${(b.weights / 1e9).toFixed(1)} GB, activations + reserved ${((b.act + b.reserved) / 1e9).toFixed(1)} GB per GPU); raise --tp or --gpu-memory-utilization, or pass --num-gpu-blocks`,
    );
  }
  return blocks;
}
