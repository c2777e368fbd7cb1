/**
 * The one chunked-prefill scheduler core, following vLLM V1's `Scheduler.schedule()`
 * (vllm/v1/core/sched/scheduler.py) and `KVCacheManager.allocate_slots()` (vllm/v1/core/kv_cache_manager.py).
 * Pure state machine over the running and waiting queues and a KV cache (src/scheduler/kv-cache.ts);
 * no clock, no timing model, no I/O — callers add their own clock (simulator, serving estimate,
 * trace generator, replays).
 *
 * One step (`schedule`):
 * 1. Running requests in running-queue order (decodes and unfinished prefills as they sit in the
 *    queue; `schedule()`, "First, schedule the RUNNING requests"), while token budget is left: each
 *    gets n = min(num_tokens − num_computed_tokens, long_prefill_token_threshold, budget left) — 1
 *    for a decode. A request with n = 0 is skipped. Its KV blocks grow to ⌈(computed + n)/block⌉;
 *    while the cache is short, the LAST running request is preempted by recompute (`self.running.pop()`
 *    then `_preempt_request`: blocks freed, num_computed_tokens = 0, pushed to the front of the
 *    waiting queue) until the allocation fits; if the request preempted itself, the running pass stops.
 * 2. Only if nothing was preempted in this step (`if not preempted_reqs`): waiting requests from the
 *    front while budget is left and the running queue is below max_num_seqs: prefix-cache hit
 *    (`get_computed_blocks`, whole blocks, at most num_tokens − 1 tokens) counts as computed;
 *    n = min(num_tokens − computed, threshold, budget left) — num_tokens includes the outputs
 *    sampled so far, so a resumed request recomputes prompt + outputs; admission needs the blocks of
 *    computed + n (`allocate_slots` returns None → `break`: FCFS, the first that does not fit stops
 *    admission). The admitted request joins the back of the running queue.
 * Options beyond vLLM's defaults (off unless set): `reserveFullIsl` (admission also needs the blocks
 * of the full sequence so far) and `watermarkBlocks` (blocks kept free when admitting while the step
 * already schedules something) — the simulator's and the request-log replay's admission guards.
 * Not modelled: speculative decoding, encoder inputs, KV connectors, priority scheduling,
 * async-scheduling placeholders, max_model_len truncation (callers cap outputs at arrival).
 * `advance` applies a step's forward pass (tokens computed; a token sampled when the (re)compute
 * reaches num_tokens, `_update_after_schedule` + `update_from_output`), `finish` releases a
 * finished request.
 */
import { Deque } from './deque.js';
import { CountingKv, emptyTable, type KvCache, type PagedReq } from './kv-cache.js';

export interface SchedulerLimits {
  /** Token budget per step (vLLM `max_num_batched_tokens`). */
  maxNumBatchedTokens: number;
  /** Running requests at most (vLLM `max_num_seqs`). */
  maxNumSeqs: number;
  /** KV block size, tokens. */
  blockSize: number;
  /** KV blocks in the pool (GPU); the counting cache's capacity when no cache is given. */
  numGpuBlocks: number;
  /** vLLM `long_prefill_token_threshold`: tokens per request per step at most (0 or absent: no cap). */
  longPrefillTokenThreshold?: number;
  /** Admission also needs free blocks for the full sequence so far (prompt + outputs); default false. */
  reserveFullIsl?: boolean;
  /** Blocks kept free when admitting while the step already schedules something; default 0. */
  watermarkBlocks?: number;
}

/** Scheduler state of one request; callers extend it with their own fields. */
export interface SchedRequest {
  promptTokens: number;
  /** Output tokens sampled so far. */
  outputs: number;
  /** Tokens in KV (num_computed_tokens). */
  computed: number;
  /** True while the (re)compute of prompt + outputs is not done. */
  prefilling: boolean;
  /** KV blocks held. */
  blocks: number;
  preemptions: number;
  admittedOnce: boolean;
  /** Prefix-cache hit at first admission, tokens (0: none; the counting cache's hit model). */
  cachedTokens: number;
}

/** One scheduled request of a step. */
export interface PlannedChunk<R> {
  req: R;
  /** Tokens scheduled (num_scheduled_tokens). */
  chunk: number;
}

export interface PlannedEntry<R> extends PlannedChunk<R> {
  /** num_computed_tokens before the step. */
  computedBefore: number;
  /** A decode: it computes exactly its newest sampled token (schedule-log.ts `canonicalEntry`). */
  decode: boolean;
  /** The request was (re)computing its prompt (+ outputs) when planned (`prefilling`). */
  prefill: boolean;
}

/** One step's plan. Reused by the core's next `schedule` call: read it before scheduling again. */
export class StepPlan<R> {
  /** Every scheduled request in schedule order (running queue, then admissions). */
  readonly entries: PlannedEntry<R>[] = [];
  readonly preempted: R[] = [];
  readonly admitted: { req: R; resume: boolean }[] = [];
  /** Admission stopped by max_num_seqs / by the KV cache while requests were waiting with budget left. */
  blockedBySeqs = false;
  blockedByKv = false;
  /** Entries written so far (the core's cursor while planning). */
  count = 0;

  /** Running requests past their (re)compute (one token each), in running order. */
  get decodes(): R[] {
    return this.entries.filter((e) => !e.prefill).map((e) => e.req);
  }
  /** The other entries: running (re)computes in running order, then admissions. */
  get prefills(): PlannedChunk<R>[] {
    return this.entries.filter((e) => e.prefill);
  }
}

export interface ScheduleHooks<R> {
  /** May shorten a (re)compute chunk (an unmodelled engine limit); called once per planned prefill chunk, in plan order. */
  chunk?: (req: R, chunk: number) => number;
  onPreempt?: (req: R) => void;
  /** After admission: `computedBefore` = the prefix-cache hit counted as computed; `chunk` = tokens scheduled now. */
  onAdmit?: (req: R, resume: boolean, computedBefore: number, chunk: number) => void;
  /**
   * Admit the waiting request at the head even when no budget is left (it gets 0 tokens this step).
   * Not vLLM: the request-log replay uses it where the log says a request was scheduled by now.
   */
  admitWithoutBudget?: (req: R) => boolean;
}

/** Tokens a request must (re)compute before it samples: prompt + output tokens so far (vLLM num_tokens). */
export const prefillTarget = (r: SchedRequest): number => r.promptTokens + r.outputs;

export function newSchedRequest(promptTokens: number, cachedTokens = 0): SchedRequest {
  return { promptTokens, outputs: 0, computed: 0, prefilling: true, blocks: 0, preemptions: 0, admittedOnce: false, cachedTokens };
}

/** A fresh request for a paged cache (kv-cache.ts `PagedKv`): `newSchedRequest` plus an empty block table and no prefix hits. */
export function newPagedRequest(promptTokens: number, cachedTokens = 0): PagedReq {
  return { ...newSchedRequest(promptTokens, cachedTokens), table: emptyTable(), hitBlocks: 0 };
}

export class SchedulerCore<R extends SchedRequest> {
  readonly running: R[] = [];
  readonly waiting = new Deque<R>();
  readonly kv: KvCache<R>;
  private readonly threshold: number;
  private readonly plan = new StepPlan<R>();
  private readonly entryPool: PlannedEntry<R>[] = [];

  constructor(
    readonly limits: SchedulerLimits,
    kv?: KvCache<R>,
  ) {
    if (limits.maxNumSeqs > limits.maxNumBatchedTokens) {
      throw new Error(`scheduler: maxNumSeqs (${limits.maxNumSeqs}) must not exceed maxNumBatchedTokens (${limits.maxNumBatchedTokens})`);
    }
    this.kv = kv ?? new CountingKv<R>(limits.numGpuBlocks, limits.blockSize);
    this.threshold = limits.longPrefillTokenThreshold ?? 0;
  }

  /** Free KV blocks. */
  get free(): number {
    return this.kv.free;
  }

  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.limits.blockSize);
  }

  /** A new arrival joins the back of the waiting queue. */
  enqueue(r: R): void {
    this.waiting.pushBack(r);
  }

  get idle(): boolean {
    return this.running.length === 0 && this.waiting.length === 0;
  }

  /**
   * Plan one step and apply its admissions, preemptions and KV allocations. The returned plan (its
   * arrays and entry objects) is reused by the next call: read it before scheduling again.
   */
  schedule(hooks: ScheduleHooks<R> = {}): StepPlan<R> {
    const plan = this.plan;
    plan.count = 0;
    if (plan.preempted.length > 0) plan.preempted.length = 0;
    if (plan.admitted.length > 0) plan.admitted.length = 0;
    plan.blockedBySeqs = false;
    plan.blockedByKv = false;
    const budget = this.scheduleRunning(plan, hooks, this.limits.maxNumBatchedTokens);
    if (plan.preempted.length === 0) this.scheduleWaiting(plan, hooks, budget);
    // written by index and trimmed once, so that the array keeps its storage from step to step
    if (plan.entries.length !== plan.count) plan.entries.length = plan.count;
    return plan;
  }

  private cap(n: number, budget: number): number {
    return Math.min(this.threshold > 0 && n > this.threshold ? this.threshold : n, budget);
  }

  private add(plan: StepPlan<R>, g: R, n: number): void {
    const decode = n === 1 && g.outputs >= 1 && g.computed === prefillTarget(g) - 1;
    const k = plan.count++;
    let e = this.entryPool[k];
    if (e === undefined) this.entryPool[k] = e = { req: g, chunk: n, computedBefore: g.computed, decode, prefill: g.prefilling };
    else {
      e.req = g;
      e.chunk = n;
      e.computedBefore = g.computed;
      e.decode = decode;
      e.prefill = g.prefilling;
    }
    plan.entries[k] = e;
  }

  /** `_preempt_request`: free its KV, num_computed_tokens = 0, to the front of the waiting queue. */
  private preempt(plan: StepPlan<R>, hooks: ScheduleHooks<R>, victim: R): void {
    this.kv.release(victim);
    victim.computed = 0;
    victim.prefilling = true;
    victim.preemptions++;
    this.waiting.pushFront(victim);
    plan.preempted.push(victim);
    hooks.onPreempt?.(victim);
  }

  /** Step 1: the running queue in order. Returns the budget left. */
  private scheduleRunning(plan: StepPlan<R>, hooks: ScheduleHooks<R>, budget: number): number {
    const running = this.running;
    const kv = this.kv;
    let i = 0;
    while (i < running.length && budget > 0) {
      const g = running[i]!;
      let n = this.cap(prefillTarget(g) - g.computed, budget);
      if (g.prefilling && hooks.chunk) n = hooks.chunk(g, n);
      if (n <= 0) {
        i++;
        continue;
      }
      let self = false;
      while (this.blocksFor(g.computed + n) - g.blocks > kv.free) {
        const victim = running.pop()!; // FCFS: the last running request
        this.preempt(plan, hooks, victim);
        if (victim === g) {
          self = true;
          break;
        }
      }
      if (self) break;
      kv.grow(g, g.computed + n);
      this.add(plan, g, n);
      budget -= n;
      i++;
    }
    return budget;
  }

  /** Step 2: admissions from the front of the waiting queue. */
  private scheduleWaiting(plan: StepPlan<R>, hooks: ScheduleHooks<R>, budget: number): void {
    const kv = this.kv;
    const bs = this.limits.blockSize;
    const wmBlocks = this.limits.watermarkBlocks ?? 0;
    const fullIsl = this.limits.reserveFullIsl ?? false;
    while (this.waiting.length > 0 && (budget > 0 || hooks.admitWithoutBudget?.(this.waiting.peek()!))) {
      if (this.running.length >= this.limits.maxNumSeqs) {
        plan.blockedBySeqs = true;
        break;
      }
      const g = this.waiting.peek()!;
      const resume = g.admittedOnce;
      const total = prefillTarget(g);
      const hit = kv.lookup(g, total);
      const freeHits = kv.freeHits;
      const start = Math.max(hit * bs, resume ? 0 : g.cachedTokens);
      let n = this.cap(total - start, Math.max(0, budget));
      if (hooks.chunk && n > 0) n = hooks.chunk(g, n);
      const wm = plan.count > 0 ? wmBlocks : 0;
      if ((fullIsl && this.blocksFor(total) - hit + freeHits + wm > kv.free) || this.blocksFor(start + n) - hit + freeHits + wm > kv.free) {
        plan.blockedByKv = true;
        break;
      }
      this.waiting.popFront();
      kv.takeHit(g, hit);
      g.computed = start;
      g.prefilling = true;
      kv.grow(g, start + n);
      this.running.push(g);
      hooks.onAdmit?.(g, resume, start, n);
      g.admittedOnce = true;
      plan.admitted.push({ req: g, resume });
      if (n > 0) this.add(plan, g, n);
      budget -= n;
    }
  }

  /**
   * The forward pass of one scheduled entry: `tokens` computed; true when the (re)compute is done
   * and a token was sampled (outputs + 1).
   */
  advance(g: R, tokens: number): boolean {
    g.computed += tokens;
    if (g.prefilling && g.computed < prefillTarget(g)) return false;
    g.prefilling = false;
    g.outputs++;
    return true;
  }

  /** Apply a whole plan's forward pass; `onSample` gets each request that sampled a token, in plan order. */
  complete(plan: StepPlan<R>, onSample?: (g: R) => void): void {
    for (const e of plan.entries) if (this.advance(e.req, e.chunk)) onSample?.(e.req);
  }

  /** A finished request leaves the running queue and frees its KV blocks. */
  finish(g: R): void {
    const i = this.running.lastIndexOf(g);
    if (i >= 0) this.running.splice(i, 1);
    this.kv.release(g);
    this.kv.drop?.(g);
  }

  /** Finish several requests at once (one pass over the running queue), releasing their blocks in the given order. */
  finishAll(done: readonly R[], isDone: (g: R) => boolean): void {
    if (done.length === 0) return;
    let w = 0;
    const running = this.running;
    for (let k = 0; k < running.length; k++) {
      const g = running[k]!;
      if (!isDone(g)) running[w++] = g;
    }
    running.length = w;
    for (const g of done) {
      this.kv.release(g);
      this.kv.drop?.(g);
    }
  }
}
