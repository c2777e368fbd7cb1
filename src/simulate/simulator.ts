/**
 * Discrete-event model of vLLM V1 continuous batching with chunked prefill.
 *
 * The scheduling rule is the scheduler core's (src/scheduler/core.ts, vLLM V1 `Scheduler.schedule()`)
 * over a paged KV cache with prefix caching (src/scheduler/kv-cache.ts `PagedKv`); this file adds the
 * clock, arrivals, data-parallel ranks and the outputs. One engine step (`schedule()` then a forward pass):
 * 1. Running requests, in running (admission) order, while token budget is left: each gets
 *    n = min(num_tokens − num_computed_tokens, budget) tokens — 1 for a decode, the rest of its
 *    prompt (or recompute) for a prefill. Its KV slots for num_computed + n tokens are allocated;
 *    when the pool is short, the *last* running request is preempted by recompute (blocks freed,
 *    num_computed = 0, pushed to the front of the waiting queue) until the allocation fits or the
 *    request preempted itself.
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
 */ import type { Step } from '../steps/step.js';
import type { StepTimeModel } from '../predict/model.js';
import type { WorkloadRequest, Workload } from './workload.js';
import type { JourneyEvent, ScheduleRequest, StepEntry } from '../scheduler/schedule-log.js';
import type { ScheduleHooks } from '../scheduler/core.js';
import { blocksFor } from '../scheduler/kv.js';
import { makeRng, type Rng } from '../util/rng.js';
import { InputError } from '../io/errors.js';
import { Status, type EngineLimits, type RequestResult, type SimOptions, type StepView } from './sim-types.js';
import { Rank, pickRank, newSimReq, simBlockKeys, keySpaceFits, simResult, type SimReq } from './rank.js';

export { Status, type EngineLimits, type RequestResult, type SimOptions, type StepView } from './sim-types.js';

const isFinished = (q: SimReq): boolean => q.status === Status.Finished;

export class ServingSimulator {
  readonly total: number;
  /** Requests in issue order. */
  private readonly reqs: SimReq[] = [];
  private readonly ranks: Rank[];
  private readonly L: Required<EngineLimits>;
  private readonly model: StepTimeModel;
  private readonly overheadUs: number;
  private readonly noise: number;
  private readonly rng: Rng;
  private readonly watermarkBlocks: number;
  private readonly traceOn: boolean;
  private readonly baseNs: number;
  private readonly itlHist: { add(us: number): void } | undefined;
  private readonly onArrival: ((r: number) => void) | undefined;
  private readonly hooks: ScheduleHooks<SimReq>[];
  private readonly doneScratch: SimReq[] = [];

  /** Arrival queue: requests in arrival order; [arrPos, reqs.length) not yet arrived. */
  private arrPos = 0;
  private readonly workload: Workload;

  nowNs = 0;
  stepId: number;
  steps = 0;
  /** Steps whose model prediction was ≤ 0 (clamped to 1 µs). */
  nonPositivePredictions = 0;
  totalPreemptions = 0;
  busyNs = 0;
  private doneCount = 0;
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
    let maxGroup = -1;
    for (const r of workload.open) maxGroup = Math.max(maxGroup, r.prefixGroup);
    const privateKeyBase = Math.max(1024, maxGroup + 2);
    if (!keySpaceFits(privateKeyBase, n)) throw new InputError(`workload too large for the prefix-cache key space (${n} requests)`);
    const keys = simBlockKeys(lim.blockSize, privateKeyBase);
    const coreLimits = { ...lim, reserveFullIsl: this.L.reserveFullIsl, watermarkBlocks: this.watermarkBlocks };
    this.ranks = [];
    for (let k = 0; k < dp; k++) this.ranks.push(new Rank(coreLimits, this.L.prefixCaching, keys, dp > 1 ? `${o.experiment}-dp${k}` : o.experiment));
    this.hooks = this.ranks.map((R) => this.rankHooks(R));
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
    const i = this.reqs.length;
    if (i >= this.total) throw new Error('workload issued more requests than its total');
    const arrivalNs = Math.round(w.arrivalUs * 1000);
    if (i > 0 && arrivalNs < this.reqs[i - 1]!.arrivalNs) throw new Error('workload arrivals out of order');
    this.reqs.push(newSimReq(i, w, arrivalNs));
  }

  /** Engine request id in the trace: `<id>-0-<8 hex>` (vLLM appends `-0-<hash>`; the API span keeps `<id>`). */
  engineId(r: number): string {
    return this.engineIdOf(this.reqs[r]!);
  }
  private engineIdOf(q: SimReq): string {
    return (q.engineId ??= `${q.id}-0-${((q.idx * 2654435761) >>> 0).toString(16).padStart(8, '0')}`);
  }

  /** The schedule-log request record of request r (for the trace emitter). */
  scheduleRequest(r: number): ScheduleRequest {
    const q = this.reqs[r]!;
    return { id: this.engineIdOf(q), arrivalNs: this.baseNs + q.arrivalNs, promptTokens: q.promptTokens, maxTokens: q.maxOut };
  }

  get done(): boolean {
    return this.doneCount === this.total;
  }
  /** Requests finished or dropped so far. */
  get completed(): number {
    return this.doneCount;
  }

  /** Arrivals with arrival ≤ t join a rank's waiting queue (or are dropped). */
  private admitArrivals(t: number): void {
    while (this.arrPos < this.reqs.length && this.reqs[this.arrPos]!.arrivalNs <= t) {
      const q = this.reqs[this.arrPos++]!;
      const rk = pickRank(this.ranks);
      q.rank = rk;
      const R = this.ranks[rk]!;
      this.onArrival?.(q.idx);
      if (this.traceOn) R.events.push({ request: this.engineIdOf(q), kind: 'QUEUED', tsNs: this.baseNs + q.arrivalNs });
      const p = q.promptTokens;
      if (p >= this.L.maxModelLen) {
        this.drop(q, `prompt of ${p} tokens ≥ max_model_len ${this.L.maxModelLen}`);
        continue;
      }
      if (blocksFor(p, this.L.blockSize) + this.watermarkBlocks > R.kv.usable) {
        this.drop(q, `prompt of ${p} tokens never fits the KV cache`);
        continue;
      }
      if (p + q.maxOut > this.L.maxModelLen) {
        q.maxOut = this.L.maxModelLen - p;
        q.truncated = true;
      }
      q.status = Status.Waiting;
      R.core.enqueue(q);
    }
  }

  private drop(q: SimReq, reason: string): void {
    q.status = Status.Dropped;
    q.dropReason = reason;
    this.doneCount++;
    this.onRequestDone(this.nowNs);
  }

  private onRequestDone(t: number): void {
    const c = this.workload.closed;
    if (c && this.reqs.length < this.total) this.register(c.make(this.reqs.length, (t + c.thinkUs * 1000) / 1000));
  }

  /** The scheduler hooks of a rank: preemption and admission bookkeeping and their journey events. */
  private rankHooks(R: Rank): ScheduleHooks<SimReq> {
    return {
      onPreempt: (q) => {
        q.hitBlocks = 0;
        this.totalPreemptions++;
        q.status = Status.Waiting;
        R.nPreempted++;
        if (this.traceOn) R.events.push({ request: this.engineIdOf(q), kind: 'PREEMPTED', tsNs: this.baseNs + this.nowNs + this.evSeq++, step: this.stepId, numPreemptions: q.preemptions });
      },
      onAdmit: (q, resume, start) => {
        if (resume) q.recomputed += q.promptTokens + q.outputs - start;
        else q.hitTokens = start;
        q.status = Status.Running;
        if (Number.isNaN(q.firstSchedNs)) q.firstSchedNs = this.nowNs;
        if (this.traceOn)
          R.events.push({
            request: this.engineIdOf(q),
            kind: 'SCHEDULED',
            tsNs: this.baseNs + this.nowNs + this.evSeq++,
            step: this.stepId,
            scheduleKind: resume ? 'RESUME' : 'FIRST',
            prefillDoneTokens: start,
            ...(resume ? { decodeDoneTokens: q.outputs } : {}),
          });
      },
    };
  }

  /** Build one rank's batch (steps 1 and 2 of the module comment). */
  private schedule(k: number): void {
    const R = this.ranks[k]!;
    R.nPreempted = 0;
    R.nFinished = 0;
    R.plan = R.core.schedule(this.hooks[k]);
    if (R.plan.entries.length > 0) R.buildRecord(this.stepId);
  }

  /** Apply a finished step to a rank's requests at time t: decodes first, then prefill chunks. */
  private complete(R: Rank, t: number): void {
    const done = this.doneScratch;
    done.length = 0;
    const plan = R.plan!;
    for (const e of plan.entries) if (e.decode) this.applyEntry(R, e.req, e.chunk, t, done);
    for (const e of plan.entries) if (!e.decode) this.applyEntry(R, e.req, e.chunk, t, done);
    R.core.finishAll(done, isFinished);
  }

  private applyEntry(R: Rank, q: SimReq, n: number, t: number, done: SimReq[]): void {
    if (!R.core.advance(q, n)) return;
    // sampled a token
    const g = q.outputs;
    if (g === 1) {
      q.firstTokenNs = t;
      if (this.traceOn) R.events.push({ request: this.engineIdOf(q), kind: 'FIRST_TOKEN', tsNs: this.baseNs + t, step: this.stepId, decodeDoneTokens: 1 });
    } else {
      const gap = t - q.lastTokenNs;
      if (!(gap <= q.itlMaxNs)) q.itlMaxNs = gap;
      this.itlHist?.add(gap / 1000);
    }
    q.lastTokenNs = t;
    if (g < q.maxOut) return;
    q.status = Status.Finished;
    q.finishNs = t;
    R.kv.release(q); // tail first, now (the next finishing request's blocks queue behind these)
    done.push(q);
    R.nFinished++;
    this.doneCount++;
    if (this.traceOn) R.events.push({ request: this.engineIdOf(q), kind: 'FINISHED', tsNs: this.baseNs + t, step: this.stepId, decodeDoneTokens: g, finishStatus: 'LENGTH' });
    q.engineId = undefined;
    this.onRequestDone(t);
  }

  /** Nothing ran: jump to the next arrival, or drop the waiting heads that can never be admitted. */
  private idle(): void {
    if (this.arrPos < this.reqs.length) {
      // idle: jump to the next arrival (QUEUED events stay with the rank for the next step it builds);
      // the step counter skips one value, so idle time never sits between two adjacent step ids
      this.nowNs = Math.max(this.nowNs, this.reqs[this.arrPos]!.arrivalNs);
      if (this.steps > 0) this.idleGap = true;
      return;
    }
    // nothing runs and nothing will arrive: the head of some queue can never be admitted
    let dropped = false;
    for (const R of this.ranks) {
      const q = R.core.waiting.popFront();
      if (q !== undefined) {
        this.drop(q, 'never admitted: the KV cache cannot hold it');
        dropped = true;
      }
    }
    // every request already finished or dropped (e.g. all of them dropped on arrival): done
    if (!dropped && !this.done) throw new Error('simulator stalled with no runnable, waiting or arriving request');
  }

  /** Step duration, ns: the slowest rank's prediction (lockstep), with noise and overhead once per step. */
  private duration(): number {
    let predicted = 0;
    for (const R of this.ranks) {
      R.predictedUs = R.busy ? this.model.predictUs(R.step as Step) : 0;
      if (R.predictedUs > predicted) predicted = R.predictedUs;
    }
    if (!(predicted > 0)) {
      this.nonPositivePredictions++;
      predicted = 1;
    }
    let durUs = predicted;
    if (this.noise > 0) durUs *= Math.exp(this.noise * this.rng.normal());
    durUs += this.overheadUs;
    return Math.max(1, Math.round(durUs * 1000));
  }

  /** Report each busy rank's step to `onStep`. */
  private report(start: number, end: number, entries: (StepEntry[] | null)[], onStep?: (v: StepView) => void): void {
    const durNs = end - start;
    for (let k = 0; k < this.ranks.length; k++) {
      const R = this.ranks[k]!;
      if (!R.busy) continue;
      R.step.durationUs = durNs / 1000;
      if (!onStep) continue;
      const depth = { runningDepth: R.core.running.length, waitingDepth: R.core.waiting.length, kvBlocksTotal: R.kv.usable, kvBlocksFree: R.kv.free };
      onStep({
        rank: k,
        step: R.step as Step,
        startNs: start,
        endNs: end,
        predictedUs: R.predictedUs,
        ...depth,
        numPreempted: R.nPreempted,
        numFinished: R.nFinished,
        ...(this.traceOn
          ? { schedule: { step: this.stepId, startNs: this.baseNs + start, endNs: this.baseNs + end, durationUs: durNs / 1000, entries: entries[k]!, events: R.events.slice(), ...depth } }
          : {}),
      });
    }
  }

  /**
   * Run up to `maxSteps` engine steps, calling `onStep` for each rank's batch of each step.
   * Returns the number of steps run (0 when the workload is done).
   */
  advance(maxSteps: number, onStep?: (v: StepView) => void): number {
    let ran = 0;
    while (ran < maxSteps && !this.done) {
      if (this.idleGap) {
        this.stepId++;
        this.idleGap = false;
      }
      this.evSeq = 0;
      this.admitArrivals(this.nowNs);
      let busy = false;
      for (let k = 0; k < this.ranks.length; k++) {
        this.schedule(k);
        if (this.ranks[k]!.busy) busy = true;
      }
      if (!busy) {
        this.idle();
        continue;
      }
      const durNs = this.duration();
      const start = this.nowNs;
      const end = start + durNs;
      // schedule-log entries need the pre-step state
      const entries = this.traceOn ? this.ranks.map((R) => (R.busy ? R.scheduleEntries((q) => this.engineIdOf(q)) : null)) : [];
      for (const R of this.ranks) if (R.busy) this.complete(R, end);
      this.nowNs = end;
      this.busyNs += durNs;
      this.report(start, end, entries, onStep);
      if (this.traceOn) for (const R of this.ranks) if (R.busy) R.events.length = 0;
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
    return this.reqs.map(simResult);
  }
}
