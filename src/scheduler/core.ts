/**
 * The one chunked-prefill scheduler core (vLLM V1 semantics as stated in
 * ../shared/docs/vllm-otlp-trace.md and vLLM's vllm/v1/core/sched/scheduler.py). Pure state machine
 * over the running and waiting queues and a KV block pool; no clock, no timing model, no I/O —
 * callers add their own clock (simulator, trace generators, replays).
 *
 * One step (`schedule`):
 * 1. every running request whose (re)compute is done decodes one token, in running order;
 * 2. running requests still prefilling get chunks min(remaining, budget left), in running order
 *    (= order of their latest admission; a resumed request sits at the back);
 * 3. waiting requests (preempted ones first, then arrivals in order) are admitted while budget is
 *    left, the running set is below `maxNumSeqs` and the KV blocks for their first chunk are free
 *    (full-sequence admission: the first chunk's blocks must all be free; no eviction for it).
 *    A step that preempted admits none (vLLM V1: `if not preempted_reqs:`).
 * When a running request needs a KV block and none is free, the most recently admitted running
 * request not yet placed in this step is preempted (else the request itself): recompute
 * preemption — its KV is freed, it goes to the front of the waiting queue and on resume prefills
 * prompt + generated tokens again. A prefix-cache hit (`cachedTokens`) counts as already computed
 * at first admission only.
 * `complete` applies the step's forward pass (tokens computed, a token sampled when the
 * (re)compute is done) and `finish` releases a finished request's blocks.
 */

export interface SchedulerLimits {
  /** Token budget per step (vLLM `max_num_batched_tokens`). */
  maxNumBatchedTokens: number;
  /** Running requests at most (vLLM `max_num_seqs`). */
  maxNumSeqs: number;
  /** KV block size, tokens. */
  blockSize: number;
  /** KV blocks in the pool (GPU). */
  numGpuBlocks: number;
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
  /** Prefix-cache hit at first admission, tokens (0: none). */
  cachedTokens: number;
}

export interface PlannedChunk<R> {
  req: R;
  chunk: number;
}

export interface StepPlan<R> {
  /** Requests decoding one token, in running order. */
  decodes: R[];
  /** Prefill chunks: running prefills in running order, then admissions. */
  prefills: PlannedChunk<R>[];
  preempted: R[];
  admitted: { req: R; resume: boolean }[];
}

export interface ScheduleHooks<R> {
  /** May shorten a chunk (an unmodelled engine limit); called once per planned chunk, in plan order. */
  chunk?: (req: R, chunk: number) => number;
  onPreempt?: (req: R) => void;
  onAdmit?: (req: R, resume: boolean, computedBefore: number) => void;
}

/** Tokens a request must (re)compute before it samples: prompt + output tokens so far. */
export const prefillTarget = (r: SchedRequest): number => r.promptTokens + r.outputs;

export function newSchedRequest(promptTokens: number, cachedTokens = 0): SchedRequest {
  return { promptTokens, outputs: 0, computed: 0, prefilling: true, blocks: 0, preemptions: 0, admittedOnce: false, cachedTokens };
}

export class SchedulerCore<R extends SchedRequest> {
  readonly running: R[] = [];
  readonly waiting: R[] = [];
  free: number;

  constructor(readonly limits: SchedulerLimits) {
    if (limits.maxNumSeqs > limits.maxNumBatchedTokens) {
      throw new Error(`scheduler: maxNumSeqs (${limits.maxNumSeqs}) must not exceed maxNumBatchedTokens (${limits.maxNumBatchedTokens})`);
    }
    this.free = limits.numGpuBlocks;
  }

  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.limits.blockSize);
  }

  /** A new arrival joins the back of the waiting queue. */
  enqueue(r: R): void {
    this.waiting.push(r);
  }

  get idle(): boolean {
    return this.running.length === 0 && this.waiting.length === 0;
  }

  /** Plan one step and apply its admissions, preemptions and KV allocations. */
  schedule(hooks: ScheduleHooks<R> = {}): StepPlan<R> {
    const running = this.running;
    const waiting = this.waiting;
    let budget = this.limits.maxNumBatchedTokens;
    const plan: StepPlan<R> = { decodes: [], prefills: [], preempted: [], admitted: [] };
    const inStep = new Set<R>();
    const preempt = (victim: R): void => {
      running.splice(running.indexOf(victim), 1);
      this.free += victim.blocks;
      victim.blocks = 0;
      victim.computed = 0;
      victim.prefilling = true;
      victim.preemptions++;
      waiting.unshift(victim);
      plan.preempted.push(victim);
      hooks.onPreempt?.(victim);
    };
    const reserve = (g: R, need: number): boolean => {
      while (this.free < need) {
        let victim = g;
        for (let i = running.length - 1; i >= 0; i--) {
          const c = running[i]!;
          if (c === g || !inStep.has(c)) {
            victim = c;
            break;
          }
        }
        preempt(victim);
        if (victim === g) return false;
      }
      this.free -= need;
      g.blocks += need;
      return true;
    };
    // 1. decodes, in running order
    for (const g of [...running]) {
      if (g.prefilling || !running.includes(g) || budget === 0) continue;
      if (!reserve(g, Math.max(0, this.blocksFor(g.computed + 1) - g.blocks))) continue;
      plan.decodes.push(g);
      inStep.add(g);
      budget -= 1;
    }
    // 2. running prefills, in running order
    for (const g of [...running]) {
      if (!g.prefilling || !running.includes(g) || budget === 0) continue;
      let chunk = Math.min(prefillTarget(g) - g.computed, budget);
      if (hooks.chunk) chunk = hooks.chunk(g, chunk);
      if (!reserve(g, Math.max(0, this.blocksFor(g.computed + chunk) - g.blocks))) continue;
      plan.prefills.push({ req: g, chunk });
      inStep.add(g);
      budget -= chunk;
    }
    // 3. admissions (none in a step that preempted)
    while (plan.preempted.length === 0 && budget > 0 && waiting.length > 0 && running.length < this.limits.maxNumSeqs) {
      const g = waiting[0]!;
      const resume = g.admittedOnce;
      const done = resume ? 0 : g.cachedTokens;
      let chunk = Math.min(prefillTarget(g) - done, budget);
      if (hooks.chunk) chunk = hooks.chunk(g, chunk);
      const need = this.blocksFor(done + chunk);
      if (need > this.free) break;
      waiting.shift();
      this.free -= need;
      g.blocks = need;
      g.computed = done;
      g.prefilling = true;
      running.push(g);
      hooks.onAdmit?.(g, resume, done);
      g.admittedOnce = true;
      plan.admitted.push({ req: g, resume });
      plan.prefills.push({ req: g, chunk });
      inStep.add(g);
      budget -= chunk;
    }
    return plan;
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

  /** A finished request leaves the running queue and frees its KV blocks. */
  finish(g: R): void {
    const i = this.running.indexOf(g);
    if (i >= 0) this.running.splice(i, 1);
    this.free += g.blocks;
    g.blocks = 0;
  }
}
