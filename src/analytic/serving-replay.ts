/**
 * The serving estimate's replay of one engine replica (virtual engine under PP): the scheduler core
 * (src/scheduler/core.ts, vLLM V1 rules) with `max_num_seqs` = the concurrency and no KV limit (the
 * concurrency cap already keeps every request's KV in memory, so nothing is preempted), plus this
 * file's clock: each step lasts the analytical engine's step time.
 * Closed loop: `n` requests in flight; phases start staggered (request i is i/n of the way through its
 * decode) and a finished request is replaced at once. Open loop: arrivals every 1/rate s.
 * A warm-up of max(n, 20) completions is discarded; then TTFT = first token − arrival,
 * TPOT = (last − first token)/(O − 1), E2E, and throughput = tokens emitted / window time over the
 * next max(2n, 40) completions. Completions within a step are taken in slot order (a request keeps
 * the slot of the one it replaced), so the warm-up boundary is deterministic.
 */
import type { Step } from '../steps/step.js';
import { InputError } from '../io/errors.js';
import { SchedulerCore, newSchedRequest, type SchedRequest, type StepPlan } from '../scheduler/core.js';
import { CountingKv } from '../scheduler/kv-cache.js';
import type { Engine } from './context.js';
import { engineStepBreakdown } from './step.js';

export interface ReplayResult {
  ttftS: number;
  tpotS: number;
  e2eS: number;
  tokensPerS: number;
  requestsPerS: number;
  meanStepS: number;
  queueGrows: boolean;
}

/** A request of the replay (`id`: issue order). */
export interface ReplayReq extends SchedRequest {
  id: number;
  arrival: number;
  firstToken: number;
  slot: number;
}

type Req = ReplayReq;

export interface ReplayOptions {
  /** Closed loop: start the n requests staggered through their decode (default true) or all fresh at time 0. */
  staggered?: boolean;
  /** Sees every step's plan (before its forward pass) and the step's end time, s. */
  observe?: (plan: StepPlan<ReplayReq>, endS: number) => void;
}

const newReq = (I: number, arrival: number, slot: number, id: number): Req => ({
  id,
  ...newSchedRequest(I),
  arrival,
  firstToken: NaN,
  slot,
});

/** A closed-loop request already `g` tokens into its decode at time 0 (not measured: arrival −∞). */
const decodingReq = (I: number, g: number, slot: number): Req => ({
  ...newReq(I, -Infinity, slot, slot),
  outputs: g,
  computed: I + g - 1,
  prefilling: false,
  admittedOnce: true,
  firstToken: -Infinity,
});

class Window {
  completed = 0;
  tStart = NaN;
  tokensInWindow = 0;
  doneInWindow = 0;
  readonly ttft: number[] = [];
  readonly tpot: number[] = [];
  readonly e2e: number[] = [];
  constructor(
    readonly warm: number,
    readonly measure: number,
    readonly O: number,
  ) {}
  get open(): boolean {
    return Number.isFinite(this.tStart);
  }
  get full(): boolean {
    return this.completed >= this.warm + this.measure;
  }
  /** A completion at `now`; `open` = the window was open when the step started. */
  done(r: Req, now: number, open: boolean): void {
    this.completed++;
    if (open) this.doneInWindow++;
    if (this.completed > this.warm && Number.isFinite(r.arrival)) {
      this.ttft.push(r.firstToken - r.arrival);
      if (this.O > 1) this.tpot.push((now - r.firstToken) / (this.O - 1));
      this.e2e.push(now - r.arrival);
    }
    if (this.completed === this.warm) this.tStart = now;
  }
}

/**
 * Replay one engine (virtual engine under PP) with `n` concurrent requests (closed loop) or arrivals
 * every 1/rate s (open loop, at most `n` in flight). Deterministic.
 */
export function replay(e: Engine, I: number, O: number, n: number, chunk: number, rate?: number, opts: ReplayOptions = {}): ReplayResult {
  if (n < 1) throw new InputError('concurrency must be at least 1');
  const open = rate !== undefined && rate > 0;
  const core = new SchedulerCore<Req>(
    { maxNumBatchedTokens: chunk, maxNumSeqs: Math.min(n, chunk), blockSize: 16, numGpuBlocks: Number.MAX_SAFE_INTEGER },
    new CountingKv<Req>(Number.MAX_SAFE_INTEGER, 16),
  );
  /** Request in each slot (closed loop: all n; open loop: grows to n, null = free). */
  const slots: (Req | null)[] = [];
  /** Open loop: arrivals not yet given a slot. */
  const queue: Req[] = [];
  if (!open) {
    for (let i = 0; i < n; i++) {
      const g = opts.staggered === false ? 0 : Math.floor((i * O) / n);
      const r = g === 0 ? newReq(I, 0, i, i) : decodingReq(I, g, i);
      slots.push(r);
      if (g === 0) core.enqueue(r);
      else core.running.push(r);
    }
  }
  const win = new Window(Math.max(n, 20), Math.max(2 * n, 40), O);
  let now = 0;
  let nextArrival = 0;
  let nextId = slots.length;
  let steps = 0;
  let stepTime = 0;
  const finished: Req[] = [];
  while (!win.full && steps < 400_000) {
    if (open) {
      while (nextArrival <= now) {
        queue.push(newReq(I, nextArrival, -1, nextId++));
        nextArrival += 1 / rate!;
      }
      fillSlots(slots, queue, n, core);
      if (core.idle) {
        now = nextArrival;
        continue;
      }
    }
    const plan = core.schedule();
    if (plan.entries.length === 0) break;
    const windowOpen = win.open;
    const dt = stepSeconds(e, plan, steps);
    now += dt;
    steps++;
    stepTime += dt;
    opts.observe?.(plan, now);
    let emitted = 0;
    finished.length = 0;
    for (const x of plan.entries) {
      const r = x.req;
      if (!core.advance(r, x.chunk)) continue;
      emitted++;
      if (r.outputs === 1) r.firstToken = now;
      if (r.outputs >= O) finished.push(r);
    }
    finished.sort((a, b) => a.slot - b.slot);
    for (const r of finished) {
      core.finish(r);
      win.done(r, now, windowOpen);
      if (open) slots[r.slot] = null;
      else core.enqueue((slots[r.slot] = newReq(I, now, r.slot, nextId++)));
    }
    if (windowOpen) win.tokensInWindow += emitted;
  }
  const window = now - (win.open ? win.tStart : 0);
  const mean = (a: number[]): number => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
  return {
    ttftS: mean(win.ttft),
    tpotS: O > 1 ? mean(win.tpot) : 0,
    e2eS: mean(win.e2e),
    tokensPerS: window > 0 ? win.tokensInWindow / window : 0,
    requestsPerS: window > 0 ? win.doneInWindow / window : 0,
    meanStepS: steps ? stepTime / steps : 0,
    queueGrows: open && queue.length > n,
  };
}

/** Open loop: queued arrivals take free slots (lowest first), then new slots up to n, and join the scheduler's waiting queue. */
function fillSlots(slots: (Req | null)[], queue: Req[], n: number, core: SchedulerCore<Req>): void {
  const take = (slot: number): Req => {
    const r = queue.shift()!;
    r.slot = slot;
    core.enqueue(r);
    return r;
  };
  for (let i = 0; i < slots.length && queue.length; i++) if (slots[i] === null) slots[i] = take(i);
  while (slots.length < n && queue.length) slots.push(take(slots.length));
}

/** The step record of a plan (decodes: context = tokens in KV; prefill chunks in plan order) and its engine time, s. */
function stepSeconds(e: Engine, plan: StepPlan<Req>, step: number): number {
  const s: Step = { experiment: 'serve', step, prefill: [], decode: [] };
  for (const x of plan.entries) {
    if (x.decode) (s.decode as number[]).push(x.computedBefore);
    else (s.prefill as { tokens: number; prior: number; prompt: number }[]).push({ tokens: x.chunk, prior: x.computedBefore, prompt: x.req.promptTokens + x.req.outputs });
  }
  return engineStepBreakdown(s, e, false).us / 1e6;
}
