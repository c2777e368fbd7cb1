/**
 * Discrete-event model of vLLM V1 continuous batching with chunked prefill.
 *
 * One engine step (`schedule()` then a forward pass), as vLLM V1's FCFS scheduler builds it:
 * 1. Running requests, in running (admission) order, while token budget is left: each gets
 *    n = min(num_tokens − num_computed_tokens, budget) tokens — 1 for a decode, the rest of its
 *    prompt (or recompute) for a prefill. Its KV slots for num_computed + n tokens are allocated;
 *    when the pool is short, the *last* running request is preempted by recompute (blocks freed,
 *    num_computed = 0, pushed to the front of the waiting queue) until the allocation fits or the
 *    request preempted itself. In practice running order puts every decode before the (at most
 *    one) partial prefill, so this equals "decodes get one token each first, then prefill chunks".
 * 2. If nothing was preempted in this step: waiting requests in queue order while budget is left
 *    and fewer than max_num_seqs run: prefix-cache hit (whole cached blocks, at most
 *    num_tokens − 1 tokens), chunk n = min(num_tokens − hit, budget); admission needs the blocks
 *    of the full sequence (scheduler_reserve_full_isl) and of this chunk, plus a watermark when
 *    something is already scheduled; the first request that does not fit stops admission (FCFS).
 * 3. The step lasts predictUs(step)·exp(σ·z) + overhead µs (z ~ N(0,1), seeded). At its end every
 *    scheduled request advances num_computed by n; one whose num_computed reaches num_tokens
 *    samples a token (the first token ends its prefill); one that reached its output length finishes
 *    and frees its blocks. Requests that arrived during the step join the waiting queue.
 * The clock is integer nanoseconds. Data-parallel ranks (`dp` > 1) step in lockstep (vLLM DP with
 * expert parallelism: every rank runs each forward, idle ones a dummy batch), each with its own
 * scheduler and KV pool; a step lasts as long as the slowest rank's.
 */
import type { Step, PrefillChunk } from '../steps/step.js';
import type { StepTimeModel } from '../predict/model.js';
import type { WorkloadRequest, Workload } from './workload.js';
import type { JourneyEvent, ScheduleRequest, ScheduleStep, StepEntry } from '../scheduler/schedule-log.js';
import { BlockPool, blocksFor } from '../scheduler/kv.js';
import { makeRng, type Rng } from '../util/rng.js';
import { InputError } from '../io/errors.js';

export interface EngineLimits {
  /** max_num_seqs: running requests per rank. */
  readonly maxNumSeqs: number;
  /** max_num_batched_tokens: tokens per step per rank. */
  readonly maxNumBatchedTokens: number;
  /** Tokens per KV block. */
  readonly blockSize: number;
  /** KV blocks per rank as vLLM reports num_gpu_blocks (block 0 is the reserved null block). */
  readonly numGpuBlocks: number;
  /** Longest sequence (prompt + output); longer prompts are dropped, outputs are capped. Default: the KV capacity. */
  readonly maxModelLen?: number;
  /** Automatic prefix caching (default true, as vLLM V1). */
  readonly prefixCaching?: boolean;
  /** Admit a request only when its full sequence fits in the free blocks (vLLM scheduler_reserve_full_isl, default true). */
  readonly reserveFullIsl?: boolean;
  /** Fraction of blocks kept free when admitting from the waiting queue while something is scheduled (default 0.01). */
  readonly watermark?: number;
}

export interface SimOptions {
  readonly limits: EngineLimits;
  /** Step time model per rank (one model shared by all ranks when a single one is given). */
  readonly model: StepTimeModel;
  /** Added to every step, µs (CPU scheduling, sampling, detokenisation not in the model). */
  readonly overheadUs?: number;
  /** σ of the multiplicative log-normal noise on the model time. */
  readonly noise?: number;
  readonly seed?: number;
  /** Experiment name written on step records. */
  readonly experiment: string;
  /** Data-parallel ranks stepping in lockstep (default 1). */
  readonly dp?: number;
  /** Build a schedule-log step (ScheduleStep) for each step (for trace emission). */
  readonly scheduleLog?: boolean;
  /** Monotonic ns of simulated time 0 in the schedule log (default 1e12 ns = 1000 s of uptime). */
  readonly monotonicBaseNs?: number;
  /** First engine step id (default 1). */
  readonly firstStepId?: number;
  /** Receives every gap between consecutive output tokens of a request, µs. */
  readonly itlHistogram?: { add(us: number): void };
  /** Called when request r arrives (before any step lists it), e.g. to register it with a trace emitter. */
  readonly onArrival?: (r: number) => void;
}

/** What `advance` reports for each step (objects are reused between calls: copy what you keep). */
export interface StepView {
  readonly rank: number;
  /** The canonical step record (duration_us = the simulated wall time). Arrays are reused. */
  readonly step: Step;
  readonly startNs: number;
  readonly endNs: number;
  /** Model prediction for this rank's batch, µs (before noise and overhead). */
  readonly predictedUs: number;
  readonly runningDepth: number;
  readonly waitingDepth: number;
  readonly kvBlocksTotal: number;
  readonly kvBlocksFree: number;
  readonly numPreempted: number;
  readonly numFinished: number;
  /** The schedule-log record of this step (only with `scheduleLog`). */
  readonly schedule?: ScheduleStep;
}

/** Request status codes (Uint8Array values). */
export const Status = { Pending: 0, Waiting: 1, Running: 2, Finished: 3, Dropped: 4 } as const;

/** Per-request outcome (times in ns from simulated 0; NaN when it never happened). */
export interface RequestResult {
  readonly id: string;
  readonly rank: number;
  readonly arrivalNs: number;
  readonly input: number;
  /** Output tokens asked for (after capping at max_model_len). */
  readonly output: number;
  readonly generated: number;
  readonly status: 'finished' | 'dropped' | 'unfinished';
  readonly reason: string;
  readonly firstScheduledNs: number;
  readonly firstTokenNs: number;
  readonly finishNs: number;
  /** Largest gap between consecutive output tokens, ns (NaN with < 2 tokens). */
  readonly itlMaxNs: number;
  readonly preemptions: number;
  /** Prompt tokens served from the prefix cache at first admission. */
  readonly cachedTokens: number;
  /** Tokens computed again after preemptions (recompute work). */
  readonly recomputedTokens: number;
}

const KEY_SPAN = 2 ** 22;

class Rank {
  running: Int32Array;
  nRunning = 0;
  /** Waiting queue as a ring buffer (push back on arrival, push front on preemption). */
  wq: Int32Array;
  wHead = 0;
  wLen = 0;
  pool: BlockPool;
  // batch of the step being built
  dec: Int32Array;
  nDec = 0;
  pf: Int32Array;
  nPf = 0;
  nPreempted = 0;
  nFinished = 0;
  predictedUs = 0;
  events: JourneyEvent[] = [];
  readonly step: { experiment: string; step: number; durationUs: number | undefined; prefill: PrefillChunk[]; decode: number[] };
  readonly chunkPool: { tokens: number; prior: number; prompt: number }[] = [];

  constructor(
    cap: number,
    readonly maxSeqs: number,
    blocks: number,
    caching: boolean,
    experiment: string,
  ) {
    this.running = new Int32Array(maxSeqs + 1);
    this.wq = new Int32Array(Math.max(16, cap));
    this.pool = new BlockPool(blocks, caching);
    this.dec = new Int32Array(maxSeqs + 1);
    this.pf = new Int32Array(maxSeqs + 1);
    this.step = { experiment, step: 0, durationUs: undefined, prefill: [], decode: [] };
  }

  pushBack(r: number): void {
    this.wq[(this.wHead + this.wLen) % this.wq.length] = r;
    this.wLen++;
  }
  pushFront(r: number): void {
    this.wHead = (this.wHead - 1 + this.wq.length) % this.wq.length;
    this.wq[this.wHead] = r;
    this.wLen++;
  }
  peek(): number {
    return this.wq[this.wHead]!;
  }
  popFront(): number {
    const r = this.wq[this.wHead]!;
    this.wHead = (this.wHead + 1) % this.wq.length;
    this.wLen--;
    return r;
  }
}

export class ServingSimulator {
  readonly total: number;
  // request state (structure of arrays, capacity = workload total)
  readonly ids: string[];
  private readonly engineIds: (string | undefined)[];
  readonly arrivalNs: Float64Array;
  readonly prompt: Int32Array;
  readonly maxOut: Int32Array;
  readonly prefixGroup: Int32Array;
  readonly prefixTokens: Int32Array;
  readonly computed: Int32Array;
  readonly gen: Int32Array;
  readonly status: Uint8Array;
  readonly rankOf: Uint8Array;
  readonly preemptions: Int32Array;
  readonly firstSchedNs: Float64Array;
  readonly firstTokenNs: Float64Array;
  readonly lastTokenNs: Float64Array;
  readonly finishNs: Float64Array;
  readonly itlMaxNs: Float64Array;
  readonly cachedTokens: Int32Array;
  readonly recomputed: Int32Array;
  /** Tokens scheduled for the request in the step being built (0 = not in the batch). */
  readonly schedN: Int32Array;
  /** Prefix-cache hit blocks of the current incarnation. */
  readonly hitBlocks: Int32Array;
  readonly blocks: (Int32Array | null)[];
  readonly nBlocks: Int32Array;
  readonly dropReason: string[];
  readonly truncated: Uint8Array;

  private readonly ranks: Rank[];
  private readonly L: Required<EngineLimits>;
  private readonly model: StepTimeModel;
  private readonly overheadUs: number;
  private readonly noise: number;
  private readonly rng: Rng;
  private readonly watermarkBlocks: number;
  private readonly privateKeyBase: number;
  private readonly traceOn: boolean;
  private readonly baseNs: number;
  private readonly itlHist: { add(us: number): void } | undefined;
  private readonly onArrival: ((r: number) => void) | undefined;

  /** Arrival queue: request indices in arrival order; [arrPos, arrLen) not yet arrived. */
  private readonly arr: Int32Array;
  private arrPos = 0;
  private arrLen = 0;
  private issued = 0;
  private readonly workload: Workload;

  nowNs = 0;
  stepId: number;
  steps = 0;
  /** Steps whose model prediction was ≤ 0 (clamped to 1 µs). */
  nonPositivePredictions = 0;
  totalPreemptions = 0;
  busyNs = 0;
  private doneCount = 0;
  private hitScratch = new Int32Array(1024);
  private idleGap = false;
  /** Scheduler events of one step get distinct times start + 0, 1, 2, … ns (they are emitted one after another). */
  private evSeq = 0;

  constructor(workload: Workload, o: SimOptions) {
    const lim = o.limits;
    const dp = o.dp ?? 1;
    if (!Number.isInteger(dp) || dp < 1 || dp > 255) throw new InputError(`--dp must be an integer in [1, 255], got ${dp}`);
    if (lim.maxNumBatchedTokens < lim.maxNumSeqs) {
      throw new InputError(`max_num_batched_tokens (${lim.maxNumBatchedTokens}) must be ≥ max_num_seqs (${lim.maxNumSeqs}), as vLLM requires`);
    }
    const usableTokens = (lim.numGpuBlocks - 1) * lim.blockSize;
    this.L = {
      maxNumSeqs: lim.maxNumSeqs,
      maxNumBatchedTokens: lim.maxNumBatchedTokens,
      blockSize: lim.blockSize,
      numGpuBlocks: lim.numGpuBlocks,
      maxModelLen: lim.maxModelLen ?? usableTokens,
      prefixCaching: lim.prefixCaching ?? true,
      reserveFullIsl: lim.reserveFullIsl ?? true,
      watermark: lim.watermark ?? 0.01,
    };
    if (this.L.maxModelLen > usableTokens) {
      throw new InputError(`max_model_len ${this.L.maxModelLen} exceeds the KV cache (${lim.numGpuBlocks} blocks × ${lim.blockSize} = ${usableTokens} usable tokens), as vLLM refuses at startup`);
    }
    this.watermarkBlocks = Math.floor(this.L.watermark * lim.numGpuBlocks);
    this.workload = workload;
    this.model = o.model;
    this.overheadUs = o.overheadUs ?? 0;
    this.noise = o.noise ?? 0;
    this.rng = makeRng(o.seed ?? 1);
    this.traceOn = o.scheduleLog ?? false;
    this.baseNs = o.monotonicBaseNs ?? 1e12;
    this.stepId = o.firstStepId ?? 1;
    this.itlHist = o.itlHistogram;
    this.onArrival = o.onArrival;
    const n = workload.total;
    this.total = n;
    this.ids = new Array(n);
    this.engineIds = new Array(n);
    this.arrivalNs = new Float64Array(n);
    this.prompt = new Int32Array(n);
    this.maxOut = new Int32Array(n);
    this.prefixGroup = new Int32Array(n);
    this.prefixTokens = new Int32Array(n);
    this.computed = new Int32Array(n);
    this.gen = new Int32Array(n);
    this.status = new Uint8Array(n);
    this.rankOf = new Uint8Array(n);
    this.preemptions = new Int32Array(n);
    this.firstSchedNs = new Float64Array(n).fill(NaN);
    this.firstTokenNs = new Float64Array(n).fill(NaN);
    this.lastTokenNs = new Float64Array(n).fill(NaN);
    this.finishNs = new Float64Array(n).fill(NaN);
    this.itlMaxNs = new Float64Array(n).fill(NaN);
    this.cachedTokens = new Int32Array(n);
    this.recomputed = new Int32Array(n);
    this.schedN = new Int32Array(n);
    this.hitBlocks = new Int32Array(n);
    this.blocks = new Array(n).fill(null);
    this.nBlocks = new Int32Array(n);
    this.dropReason = new Array(n).fill('');
    this.truncated = new Uint8Array(n);
    this.arr = new Int32Array(n);
    let maxGroup = -1;
    for (const r of workload.open) maxGroup = Math.max(maxGroup, r.prefixGroup);
    this.privateKeyBase = Math.max(1024, maxGroup + 2);
    if ((this.privateKeyBase + n) * KEY_SPAN > Number.MAX_SAFE_INTEGER) throw new InputError(`workload too large for the prefix-cache key space (${n} requests)`);
    this.ranks = [];
    for (let k = 0; k < dp; k++) this.ranks.push(new Rank(n, lim.maxNumSeqs, lim.numGpuBlocks, this.L.prefixCaching, dp > 1 ? `${o.experiment}-dp${k}` : o.experiment));
    for (const r of workload.open) this.register(r);
    if (workload.closed) {
      const c = Math.min(workload.closed.concurrency, n);
      for (let i = 0; i < c; i++) this.register(workload.closed.make(i, 0));
    }
  }

  get limits(): Readonly<Required<EngineLimits>> {
    return this.L;
  }
  get numRanks(): number {
    return this.ranks.length;
  }

  private register(w: WorkloadRequest): void {
    const i = this.issued++;
    if (i >= this.total) throw new Error('workload issued more requests than its total');
    if (i > 0 && Math.round(w.arrivalUs * 1000) < this.arrivalNs[this.arr[this.arrLen - 1]!]!) throw new Error('workload arrivals out of order');
    this.ids[i] = w.id;
    this.arrivalNs[i] = Math.round(w.arrivalUs * 1000);
    this.prompt[i] = w.input;
    this.maxOut[i] = w.output;
    this.prefixGroup[i] = w.prefixGroup;
    this.prefixTokens[i] = w.prefixTokens;
    this.arr[this.arrLen++] = i;
  }

  /** Engine request id in the trace: `<id>-0-<8 hex>` (vLLM appends `-0-<hash>`; the API span keeps `<id>`). */
  engineId(r: number): string {
    let e = this.engineIds[r];
    if (e === undefined) this.engineIds[r] = e = `${this.ids[r]}-0-${((r * 2654435761) >>> 0).toString(16).padStart(8, '0')}`;
    return e;
  }

  /** The schedule-log request record of request r (for the trace emitter). */
  scheduleRequest(r: number): ScheduleRequest {
    return { id: this.engineId(r), arrivalNs: this.baseNs + this.arrivalNs[r]!, promptTokens: this.prompt[r]!, maxTokens: this.maxOut[r]! };
  }

  get done(): boolean {
    return this.doneCount === this.total;
  }
  /** Requests finished or dropped so far. */
  get completed(): number {
    return this.doneCount;
  }

  private numTokens(r: number): number {
    return this.prompt[r]! + this.gen[r]!;
  }

  /** True when block i of request r lies wholly inside its group's shared prefix. */
  private isShared(r: number, i: number): boolean {
    return this.prefixGroup[r]! >= 0 && (i + 1) * this.L.blockSize <= this.prefixTokens[r]!;
  }

  /** Content key of block i of request r: (group + 1)·2²² + i inside a shared prefix, else (base + r)·2²² + i. */
  private blockKey(r: number, i: number): number {
    if (this.isShared(r, i)) return (this.prefixGroup[r]! + 1) * KEY_SPAN + i;
    return (this.privateKeyBase + r) * KEY_SPAN + i;
  }

  /** The cached block holding block i of request r, or −1 (shared: the map; private: the block r held there before). */
  private cachedBlock(pool: BlockPool, r: number, i: number): number {
    if (this.isShared(r, i)) return pool.lookup(this.blockKey(r, i));
    const bt = this.blocks[r];
    if (!bt || i >= bt.length) return -1;
    const b = bt[i]!;
    return b > 0 && pool.keyOf(b) === this.blockKey(r, i) ? b : -1;
  }

  /** Arrivals with arrival ≤ t join a rank's waiting queue (or are dropped). */
  private admitArrivals(t: number): void {
    while (this.arrPos < this.arrLen && this.arrivalNs[this.arr[this.arrPos]!]! <= t) {
      const r = this.arr[this.arrPos++]!;
      const rk = this.pickRank();
      this.rankOf[r] = rk;
      const R = this.ranks[rk]!;
      this.onArrival?.(r);
      if (this.traceOn) R.events.push({ request: this.engineId(r), kind: 'QUEUED', tsNs: this.baseNs + this.arrivalNs[r]! });
      const p = this.prompt[r]!;
      if (p >= this.L.maxModelLen) {
        this.drop(r, `prompt of ${p} tokens ≥ max_model_len ${this.L.maxModelLen}`);
        continue;
      }
      if (blocksFor(p, this.L.blockSize) + this.watermarkBlocks > R.pool.usable) {
        this.drop(r, `prompt of ${p} tokens never fits the KV cache`);
        continue;
      }
      if (p + this.maxOut[r]! > this.L.maxModelLen) {
        this.maxOut[r] = this.L.maxModelLen - p;
        this.truncated[r] = 1;
      }
      this.status[r] = Status.Waiting;
      R.pushBack(r);
    }
  }

  /** vLLM's DP load balancer: the rank with the least 4·waiting + running (ties: lowest rank). */
  private pickRank(): number {
    if (this.ranks.length === 1) return 0;
    let best = 0;
    let bestScore = Infinity;
    for (let k = 0; k < this.ranks.length; k++) {
      const R = this.ranks[k]!;
      const s = 4 * R.wLen + R.nRunning;
      if (s < bestScore) {
        bestScore = s;
        best = k;
      }
    }
    return best;
  }

  private drop(r: number, reason: string): void {
    this.status[r] = Status.Dropped;
    this.dropReason[r] = reason;
    this.doneCount++;
    this.onRequestDone(r, this.nowNs);
  }

  private onRequestDone(_r: number, t: number): void {
    const c = this.workload.closed;
    if (c && this.issued < this.total) this.register(c.make(this.issued, (t + c.thinkUs * 1000) / 1000));
  }

  private freeBlocks(R: Rank, r: number): void {
    const bt = this.blocks[r];
    if (bt) for (let i = this.nBlocks[r]! - 1; i >= 0; i--) R.pool.release(bt[i]!);
    this.nBlocks[r] = 0;
  }

  /** r's block table, sized for its whole sequence (allocated once per request). */
  private table(r: number): Int32Array {
    let bt = this.blocks[r];
    if (!bt) this.blocks[r] = bt = new Int32Array(blocksFor(this.prompt[r]! + this.maxOut[r]!, this.L.blockSize));
    return bt;
  }

  /** Grow r's block table to hold `tokens` and register its blocks that become full. Caller checked the pool. */
  private growBlocks(R: Rank, r: number, tokens: number): void {
    const bs = this.L.blockSize;
    const need = ((tokens + bs - 1) / bs) | 0;
    let nb = this.nBlocks[r]!;
    const pool = R.pool;
    // blocks that become full with this chunk (vLLM caches them when it schedules the chunk)
    const full = pool.caching ? (tokens / bs) | 0 : 0;
    const from = pool.caching ? Math.max(this.hitBlocks[r]!, (this.computed[r]! / bs) | 0) : 0;
    if (nb >= need && full <= from) return;
    const bt = this.table(r);
    while (nb < need) bt[nb++] = pool.allocate();
    this.nBlocks[r] = nb;
    for (let i = from; i < full; i++) pool.register(bt[i]!, this.blockKey(r, i), this.isShared(r, i));
  }

  private preempt(R: Rank, r: number): void {
    this.freeBlocks(R, r);
    this.computed[r] = 0;
    this.hitBlocks[r] = 0;
    this.preemptions[r]!++;
    this.totalPreemptions++;
    this.status[r] = Status.Waiting;
    R.pushFront(r);
    R.nPreempted++;
    if (this.traceOn) R.events.push({ request: this.engineId(r), kind: 'PREEMPTED', tsNs: this.baseNs + this.nowNs + this.evSeq++, step: this.stepId, numPreemptions: this.preemptions[r]! });
  }

  private addToBatch(R: Rank, r: number, n: number): void {
    this.schedN[r] = n;
    // a decode iff it has output tokens and computes exactly its newest sampled token
    // (schedule.ts `canonicalEntry`: a resumed request whose recompute has one token left decodes it)
    if (n === 1 && this.gen[r]! >= 1 && this.computed[r] === this.numTokens(r) - 1) R.dec[R.nDec++] = r;
    else R.pf[R.nPf++] = r;
  }

  /** Build one rank's batch (steps 1 and 2 of the module comment). */
  private schedule(R: Rank): void {
    const bs = this.L.blockSize;
    const pool = R.pool;
    let budget = this.L.maxNumBatchedTokens;
    let preempted = false;
    R.nDec = 0;
    R.nPf = 0;
    R.nPreempted = 0;
    R.nFinished = 0;
    // 1. running requests in order
    let i = 0;
    while (i < R.nRunning && budget > 0) {
      const r = R.running[i]!;
      const n = Math.min(this.numTokens(r) - this.computed[r]!, budget);
      const upTo = this.computed[r]! + n;
      let ok = true;
      for (;;) {
        const need = blocksFor(upTo, bs) - this.nBlocks[r]!;
        if (need <= pool.free) break;
        const victim = R.running[--R.nRunning]!;
        this.preempt(R, victim);
        preempted = true;
        if (victim === r) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      this.growBlocks(R, r, upTo);
      this.addToBatch(R, r, n);
      budget -= n;
      i++;
    }
    // 2. waiting queue (only when nothing was preempted in this step)
    if (!preempted) {
      while (R.wLen > 0 && budget > 0 && R.nRunning < this.L.maxNumSeqs) {
        const r = R.peek();
        const total = this.numTokens(r);
        // prefix-cache hits: a chain of cached blocks from block 0, at most total − 1 tokens
        let hit = 0;
        let hitFree = 0;
        if (pool.caching) {
          const maxHit = Math.floor((total - 1) / bs);
          const scratch = this.hitScratch.length >= maxHit ? this.hitScratch : (this.hitScratch = new Int32Array(maxHit * 2));
          while (hit < maxHit) {
            const b = this.cachedBlock(pool, r, hit);
            if (b < 0) break;
            if (pool.isFreeCached(b)) hitFree++;
            scratch[hit++] = b;
          }
        }
        const start = hit * bs;
        const n = Math.min(total - start, budget);
        const wm = R.nDec + R.nPf > 0 ? this.watermarkBlocks : 0;
        if (this.L.reserveFullIsl && blocksFor(total, bs) - hit + hitFree + wm > pool.free) break;
        if (blocksFor(start + n, bs) - hit + hitFree + wm > pool.free) break;
        R.popFront();
        // take the hit blocks, then allocate the chunk's
        if (hit > 0) {
          const bt = this.table(r);
          for (let h = 0; h < hit; h++) {
            const b = this.hitScratch[h]!;
            pool.touch(b);
            bt[h] = b;
          }
          this.nBlocks[r] = hit;
        }
        this.hitBlocks[r] = hit;
        this.computed[r] = start;
        const resume = this.preemptions[r]! > 0;
        if (resume) this.recomputed[r] += total - start;
        else this.cachedTokens[r] = start;
        this.growBlocks(R, r, start + n);
        this.status[r] = Status.Running;
        R.running[R.nRunning++] = r;
        if (Number.isNaN(this.firstSchedNs[r]!)) this.firstSchedNs[r] = this.nowNs;
        if (this.traceOn) {
          R.events.push({
            request: this.engineId(r),
            kind: 'SCHEDULED',
            tsNs: this.baseNs + this.nowNs + this.evSeq++,
            step: this.stepId,
            scheduleKind: resume ? 'RESUME' : 'FIRST',
            prefillDoneTokens: start,
            ...(resume ? { decodeDoneTokens: this.gen[r]! } : {}),
          });
        }
        this.addToBatch(R, r, n);
        budget -= n;
      }
    }
    // the canonical step record
    const s = R.step;
    s.step = this.stepId;
    const dec = s.decode;
    dec.length = R.nDec;
    for (let k = 0; k < R.nDec; k++) dec[k] = this.computed[R.dec[k]!]!;
    const pf = s.prefill;
    pf.length = R.nPf;
    for (let k = 0; k < R.nPf; k++) {
      const r = R.pf[k]!;
      let c = R.chunkPool[k];
      if (!c) R.chunkPool[k] = c = { tokens: 0, prior: 0, prompt: 0 };
      c.tokens = this.schedN[r]!;
      c.prior = this.computed[r]!;
      // prompt of this (re)compute: the tokens the request must have in KV before it samples
      c.prompt = this.numTokens(r);
      pf[k] = c;
    }
  }

  /** Entries of a rank's batch for the schedule log (before the step's state update). */
  private entries(R: Rank): StepEntry[] {
    const out: StepEntry[] = new Array(R.nDec + R.nPf);
    let j = 0;
    const mk = (r: number, phase: 'PREFILL' | 'DECODE'): StepEntry => ({
      request: this.engineId(r),
      phase,
      computedBefore: this.computed[r]!,
      scheduled: this.schedN[r]!,
      outputBefore: this.gen[r]!,
      preemptions: this.preemptions[r]!,
      kvBlocks: this.nBlocks[r]!,
      kvCachedBlocks: this.hitBlocks[r]!,
    });
    for (let k = 0; k < R.nDec; k++) out[j++] = mk(R.dec[k]!, 'DECODE');
    for (let k = 0; k < R.nPf; k++) out[j++] = mk(R.pf[k]!, 'PREFILL');
    return out;
  }

  /** Apply a finished step to a rank's requests at time t. */
  private complete(R: Rank, t: number): void {
    for (let k = 0; k < R.nDec; k++) this.applyStep(R, R.dec[k]!, t);
    for (let k = 0; k < R.nPf; k++) this.applyStep(R, R.pf[k]!, t);
    if (R.nFinished > 0) {
      let w = 0;
      for (let k = 0; k < R.nRunning; k++) {
        const r = R.running[k]!;
        if (this.status[r] === Status.Running) R.running[w++] = r;
      }
      R.nRunning = w;
    }
  }

  private applyStep(R: Rank, r: number, t: number): void {
    {
      const n = this.schedN[r]!;
      this.schedN[r] = 0;
      this.computed[r] += n;
      if (this.computed[r]! < this.numTokens(r)) return;
      // sampled a token
      const g = ++this.gen[r]!;
      if (g === 1) {
        this.firstTokenNs[r] = t;
        if (this.traceOn) R.events.push({ request: this.engineId(r), kind: 'FIRST_TOKEN', tsNs: this.baseNs + t, step: this.stepId, decodeDoneTokens: 1 });
      } else {
        const gap = t - this.lastTokenNs[r]!;
        if (!(gap <= this.itlMaxNs[r]!)) this.itlMaxNs[r] = gap;
        this.itlHist?.add(gap / 1000);
      }
      this.lastTokenNs[r] = t;
      if (g >= this.maxOut[r]!) {
        this.status[r] = Status.Finished;
        this.finishNs[r] = t;
        this.freeBlocks(R, r);
        this.blocks[r] = null;
        R.nFinished++;
        this.doneCount++;
        if (this.traceOn) {
          R.events.push({ request: this.engineId(r), kind: 'FINISHED', tsNs: this.baseNs + t, step: this.stepId, decodeDoneTokens: g, finishStatus: 'LENGTH' });
        }
        this.engineIds[r] = undefined;
        this.onRequestDone(r, t);
      }
    }
  }

  /**
   * Run up to `maxSteps` engine steps, calling `onStep` for each rank's batch of each step.
   * Returns the number of steps run (0 when the workload is done).
   */
  advance(maxSteps: number, onStep?: (v: StepView) => void): number {
    let ran = 0;
    const dpN = this.ranks.length;
    while (ran < maxSteps && !this.done) {
      if (this.idleGap) {
        this.stepId++;
        this.idleGap = false;
      }
      this.evSeq = 0;
      this.admitArrivals(this.nowNs);
      let busy = false;
      for (const R of this.ranks) {
        this.schedule(R);
        if (R.nDec + R.nPf > 0) busy = true;
      }
      if (!busy) {
        if (this.arrPos < this.arrLen) {
          // idle: jump to the next arrival (QUEUED events stay with the rank for the next step it builds);
          // the step counter skips one value, so idle time never sits between two adjacent step ids
          this.nowNs = Math.max(this.nowNs, this.arrivalNs[this.arr[this.arrPos]!]!);
          if (this.steps > 0) this.idleGap = true;
          continue;
        }
        // nothing runs and nothing will arrive: the head of some queue can never be admitted
        let dropped = false;
        for (const R of this.ranks) {
          if (R.wLen > 0) {
            const r = R.popFront();
            this.drop(r, 'never admitted: the KV cache cannot hold it');
            dropped = true;
          }
        }
        // every request already finished or dropped (e.g. all of them dropped on arrival): done
        if (!dropped && !this.done) throw new Error('simulator stalled with no runnable, waiting or arriving request');
        continue;
      }
      // step duration: the slowest rank (lockstep); noise and overhead once per step
      let predicted = 0;
      for (const R of this.ranks) {
        if (R.nDec + R.nPf === 0) {
          R.predictedUs = 0;
          continue;
        }
        R.predictedUs = this.model.predictUs(R.step);
        if (R.predictedUs > predicted) predicted = R.predictedUs;
      }
      if (!(predicted > 0)) {
        this.nonPositivePredictions++;
        predicted = 1;
      }
      let durUs = predicted;
      if (this.noise > 0) durUs *= Math.exp(this.noise * this.rng.normal());
      durUs += this.overheadUs;
      const durNs = Math.max(1, Math.round(durUs * 1000));
      const start = this.nowNs;
      const end = start + durNs;
      // schedule-log entries need the pre-step state
      const entries: (StepEntry[] | null)[] = this.traceOn ? this.ranks.map((R) => this.entries(R)) : [];
      for (const R of this.ranks) this.complete(R, end);
      this.nowNs = end;
      this.busyNs += durNs;
      for (let k = 0; k < dpN; k++) {
        const R = this.ranks[k]!;
        if (R.nDec + R.nPf === 0) continue;
        R.step.durationUs = durNs / 1000;
        if (onStep) {
          onStep({
            rank: k,
            step: R.step as Step,
            startNs: start,
            endNs: end,
            predictedUs: R.predictedUs,
            runningDepth: R.nRunning,
            waitingDepth: R.wLen,
            kvBlocksTotal: R.pool.usable,
            kvBlocksFree: R.pool.free,
            numPreempted: R.nPreempted,
            numFinished: R.nFinished,
            ...(this.traceOn
              ? {
                  schedule: {
                    step: this.stepId,
                    startNs: this.baseNs + start,
                    endNs: this.baseNs + end,
                    durationUs: durNs / 1000,
                    entries: entries[k]!,
                    events: R.events.slice(),
                    runningDepth: R.nRunning,
                    waitingDepth: R.wLen,
                    kvBlocksTotal: R.pool.usable,
                    kvBlocksFree: R.pool.free,
                  },
                }
              : {}),
          });
        }
      }
      if (this.traceOn) for (const R of this.ranks) if (R.nDec + R.nPf > 0) R.events.length = 0;
      this.stepId++;
      this.steps++;
      ran++;
    }
    return ran;
  }

  /** Run to the end. */
  runAll(onStep?: (v: StepView) => void): void {
    while (!this.done) this.advance(1 << 16, onStep);
  }

  /** QUEUED events not yet attached to a step (requests that arrived after the last step). */
  leftoverEvents(): JourneyEvent[] {
    return this.ranks.flatMap((R) => R.events);
  }

  /** Per-request outcomes in issue order. */
  results(): RequestResult[] {
    const out: RequestResult[] = new Array(this.issued);
    for (let r = 0; r < this.issued; r++) {
      const st = this.status[r]!;
      out[r] = {
        id: this.ids[r]!,
        rank: this.rankOf[r]!,
        arrivalNs: this.arrivalNs[r]!,
        input: this.prompt[r]!,
        output: this.maxOut[r]!,
        generated: this.gen[r]!,
        status: st === Status.Finished ? 'finished' : st === Status.Dropped ? 'dropped' : 'unfinished',
        reason: st === Status.Dropped ? this.dropReason[r]! : this.truncated[r] ? 'output capped at max_model_len' : '',
        firstScheduledNs: this.firstSchedNs[r]!,
        firstTokenNs: this.firstTokenNs[r]!,
        finishNs: this.finishNs[r]!,
        itlMaxNs: this.itlMaxNs[r]!,
        preemptions: this.preemptions[r]!,
        cachedTokens: this.cachedTokens[r]!,
        recomputedTokens: this.recomputed[r]!,
      };
    }
    return out;
  }
}
