/**
 * The KV-cache side of the scheduler core: how many blocks are free, how a request's blocks grow
 * to hold its scheduled tokens, what it frees, and its prefix-cache hits at admission (vLLM V1
 * `KVCacheManager.allocate_slots` / `get_computed_blocks` / `free` in vllm/v1/core/kv_cache_manager.py).
 *
 * Two implementations:
 * - `CountingKv`: a free-block counter (no block ids, no prefix cache); hits come from the request's
 *   own `cachedTokens` at first admission (the trace generator's model).
 * - `PagedKv`: the block pool of src/scheduler/kv.ts with block ids, LRU eviction and prefix caching;
 *   the caller names each block's content key (shared prompt prefixes, or private keys that only the
 *   request itself hits when it resumes after a preemption).
 */
import type { BlockPool } from './kv.js';
import type { SchedRequest } from './core.js';

export interface KvCache<R extends SchedRequest> {
  /** Free blocks (cached-but-unreferenced blocks included: they can be evicted). */
  readonly free: number;
  /** Usable blocks in all. */
  readonly usable: number;
  /** Allocate blocks so that r holds ⌈tokens / blockSize⌉ (caller checked `free`); register the blocks that become full. */
  grow(r: R, tokens: number): void;
  /** r releases all its blocks (tail first: its prefix stays cached longest). */
  release(r: R): void;
  /**
   * Prefix-cache hit of r before admission with `total` tokens to (re)compute: whole blocks from
   * block 0, at most ⌊(total − 1)/blockSize⌋ (vLLM keeps one token to compute). `freeHits` is set to
   * how many of them sit in the free queue (taking them lowers `free`).
   */
  lookup(r: R, total: number): number;
  readonly freeHits: number;
  /** Take the `hit` blocks found by the last `lookup` of r. */
  takeHit(r: R, hit: number): void;
  /** r finished: forget its blocks for good (after `release`). */
  drop?(r: R): void;
}

/** Free-block counter: r.blocks blocks held, no ids, no prefix cache. */
export class CountingKv<R extends SchedRequest> implements KvCache<R> {
  free: number;
  readonly freeHits = 0;

  constructor(
    readonly usable: number,
    private readonly blockSize: number,
  ) {
    this.free = usable;
  }

  grow(r: R, tokens: number): void {
    const need = Math.ceil(tokens / this.blockSize) - r.blocks;
    if (need <= 0) return;
    this.free -= need;
    r.blocks += need;
  }

  release(r: R): void {
    this.free += r.blocks;
    r.blocks = 0;
  }

  lookup(): number {
    return 0;
  }

  takeHit(): void {}
}

/** Per-request state of the paged KV cache. */
export interface PagedReq extends SchedRequest {
  /** Block ids; entries at and past `blocks` are those held before the last release (self hits on resume). Grown by the cache. */
  table: Int32Array;
  /** Whole blocks hit from the prefix cache at the last (re)admission. */
  hitBlocks: number;
}

/** Content key of block i of a request, and whether other requests can hit it (shared prefix). */
export interface BlockKeys<R> {
  key(r: R, i: number): number;
  shared(r: R, i: number): boolean;
}

const EMPTY = new Int32Array(0);

/** A request's initial (empty) block table. */
export const emptyTable = (): Int32Array => EMPTY;

export class PagedKv<R extends PagedReq> implements KvCache<R> {
  freeHits = 0;
  private scratch: number[] = [];

  constructor(
    readonly pool: BlockPool,
    private readonly blockSize: number,
    private readonly keys: BlockKeys<R>,
    /** Blocks a request's table should have room for at its first allocation (e.g. its whole sequence). */
    private readonly tableHint: (r: R) => number = () => 0,
    /** forgetStale: a release forgets table entries past the blocks held (a resume hits only the blocks of its last run). */
    private readonly opts: { forgetStale?: boolean } = {},
  ) {}

  get free(): number {
    return this.pool.free;
  }
  get usable(): number {
    return this.pool.usable;
  }

  grow(r: R, tokens: number): void {
    const bs = this.blockSize;
    const pool = this.pool;
    const need = Math.ceil(tokens / bs);
    let nb = r.blocks;
    // blocks that become full with this chunk (vLLM caches them when it schedules the chunk)
    const full = pool.caching ? Math.floor(tokens / bs) : 0;
    const from = pool.caching ? Math.max(r.hitBlocks, Math.floor(r.computed / bs)) : 0;
    if (nb >= need && full <= from) return;
    let bt = r.table;
    if (bt.length < need) {
      const t = new Int32Array(Math.max(need, 2 * bt.length, this.tableHint(r)));
      t.set(bt);
      r.table = bt = t;
    }
    while (nb < need) bt[nb++] = pool.allocate();
    r.blocks = nb;
    for (let i = from; i < full; i++) pool.register(bt[i]!, this.keys.key(r, i), this.keys.shared(r, i));
  }

  release(r: R): void {
    const bt = r.table;
    if (this.opts.forgetStale) bt.fill(0, r.blocks);
    for (let i = r.blocks - 1; i >= 0; i--) this.pool.release(bt[i]!);
    r.blocks = 0;
    r.hitBlocks = 0;
  }

  /** The cached block holding block i of r, or −1 (shared: the pool's map; private: the block r held there before). */
  private cached(r: R, i: number): number {
    if (this.keys.shared(r, i)) return this.pool.lookup(this.keys.key(r, i));
    const b = i < r.table.length ? r.table[i]! : -1;
    return b > 0 && this.pool.keyOf(b) === this.keys.key(r, i) ? b : -1;
  }

  lookup(r: R, total: number): number {
    this.freeHits = 0;
    if (!this.pool.caching) return 0;
    const maxHit = Math.floor((total - 1) / this.blockSize);
    let hit = 0;
    while (hit < maxHit) {
      const b = this.cached(r, hit);
      if (b < 0) break;
      if (this.pool.isFreeCached(b)) this.freeHits++;
      this.scratch[hit++] = b;
    }
    return hit;
  }

  takeHit(r: R, hit: number): void {
    if (r.table.length < hit) {
      const t = new Int32Array(hit);
      t.set(r.table.subarray(0, Math.min(hit, r.table.length)));
      r.table = t;
    }
    for (let h = 0; h < hit; h++) {
      const b = this.scratch[h]!;
      this.pool.touch(b);
      r.table[h] = b;
    }
    r.blocks = hit;
    r.hitBlocks = hit;
  }

  drop(r: R): void {
    r.table = EMPTY;
  }
}
