/**
 * One data-parallel rank of the serving simulator: the scheduler core (src/scheduler/core.ts) over a
 * paged KV cache with prefix caching, the simulated request state, and the step record built from
 * each step's plan. The simulator (engine.ts) adds the clock.
 */
import type { PrefillChunk } from '../steps/step.js';
import type { JourneyEvent, StepEntry } from '../scheduler/schedule-log.js';
import { SchedulerCore, newPagedRequest, prefillTarget, type StepPlan, type SchedulerLimits } from '../scheduler/core.js';
import { PagedKv, type BlockKeys, type PagedReq } from '../scheduler/kv-cache.js';
import { BlockPool } from '../scheduler/kv.js';
import { Status, type RequestResult } from './sim-types.js';

/** A simulated request: the scheduler state (promptTokens, outputs = generated, computed, KV blocks) plus the simulator's. */
export interface SimReq extends PagedReq {
  /** Issue index. */
  readonly idx: number;
  readonly id: string;
  engineId: string | undefined;
  readonly arrivalNs: number;
  /** Output tokens asked for (after capping at max_model_len). */
  maxOut: number;
  readonly prefixGroup: number;
  readonly prefixTokens: number;
  status: number;
  rank: number;
  firstSchedNs: number;
  firstTokenNs: number;
  lastTokenNs: number;
  finishNs: number;
  itlMaxNs: number;
  /** Prompt tokens served from the prefix cache at first admission. */
  hitTokens: number;
  /** Tokens computed again after preemptions. */
  recomputed: number;
  dropReason: string;
  truncated: boolean;
}

export function newSimReq(idx: number, w: { id: string; input: number; output: number; prefixGroup: number; prefixTokens: number }, arrivalNs: number): SimReq {
  return {
    ...newPagedRequest(w.input),
    idx,
    id: w.id,
    engineId: undefined,
    arrivalNs,
    maxOut: w.output,
    prefixGroup: w.prefixGroup,
    prefixTokens: w.prefixTokens,
    status: Status.Pending,
    rank: 0,
    firstSchedNs: NaN,
    firstTokenNs: NaN,
    lastTokenNs: NaN,
    finishNs: NaN,
    itlMaxNs: NaN,
    hitTokens: 0,
    recomputed: 0,
    dropReason: '',
    truncated: false,
  };
}

/** The outcome of a simulated request. */
export function simResult(q: SimReq): RequestResult {
  return {
    id: q.id,
    rank: q.rank,
    arrivalNs: q.arrivalNs,
    input: q.promptTokens,
    output: q.maxOut,
    generated: q.outputs,
    status: q.status === Status.Finished ? 'finished' : q.status === Status.Dropped ? 'dropped' : 'unfinished',
    reason: q.status === Status.Dropped ? q.dropReason : q.truncated ? 'output capped at max_model_len' : '',
    firstScheduledNs: q.firstSchedNs,
    firstTokenNs: q.firstTokenNs,
    finishNs: q.finishNs,
    itlMaxNs: q.itlMaxNs,
    preemptions: q.preemptions,
    cachedTokens: q.hitTokens,
    recomputedTokens: q.recomputed,
  };
}

const KEY_SPAN = 2 ** 22;

/**
 * Content keys of the simulator's blocks: block i inside a request's shared prefix (its group's
 * first `prefixTokens` tokens, whole blocks) is (group + 1)·2²² + i, any other block (base + idx)·2²² + i
 * (private: only the request itself hits it, when it resumes).
 */
export function simBlockKeys(blockSize: number, privateKeyBase: number): BlockKeys<SimReq> {
  const shared = (r: SimReq, i: number): boolean => r.prefixGroup >= 0 && (i + 1) * blockSize <= r.prefixTokens;
  return {
    shared,
    key: (r, i) => (shared(r, i) ? (r.prefixGroup + 1) * KEY_SPAN + i : (privateKeyBase + r.idx) * KEY_SPAN + i),
  };
}

/** Largest private key base for which (base + n)·2²² stays exact. */
export const keySpaceFits = (base: number, n: number): boolean => (base + n) * KEY_SPAN <= Number.MAX_SAFE_INTEGER;

export class Rank {
  readonly core: SchedulerCore<SimReq>;
  readonly kv: PagedKv<SimReq>;
  plan: StepPlan<SimReq> | undefined;
  nPreempted = 0;
  nFinished = 0;
  predictedUs = 0;
  events: JourneyEvent[] = [];
  readonly step: { experiment: string; step: number; durationUs: number | undefined; prefill: PrefillChunk[]; decode: number[] };
  private readonly chunkPool: { tokens: number; prior: number; prompt: number }[] = [];

  constructor(limits: SchedulerLimits, caching: boolean, keys: BlockKeys<SimReq>, experiment: string) {
    const bs = limits.blockSize;
    this.kv = new PagedKv<SimReq>(new BlockPool(limits.numGpuBlocks, caching), bs, keys, (r) => Math.ceil((r.promptTokens + r.maxOut) / bs));
    this.core = new SchedulerCore<SimReq>(limits, this.kv);
    this.step = { experiment, step: 0, durationUs: undefined, prefill: [], decode: [] };
  }

  get busy(): boolean {
    return this.plan !== undefined && this.plan.entries.length > 0;
  }

  /** The canonical step record of the planned batch: decodes (context = tokens in KV), then prefill chunks, each in schedule order. */
  buildRecord(stepId: number): void {
    const s = this.step;
    s.step = stepId;
    const dec = s.decode;
    const pf = s.prefill;
    dec.length = 0;
    pf.length = 0;
    for (const e of this.plan!.entries) {
      if (e.decode) {
        dec.push(e.computedBefore);
        continue;
      }
      let c = this.chunkPool[pf.length];
      if (!c) this.chunkPool[pf.length] = c = { tokens: 0, prior: 0, prompt: 0 };
      c.tokens = e.chunk;
      c.prior = e.computedBefore;
      // prompt of this (re)compute: the tokens the request must have in KV before it samples
      c.prompt = prefillTarget(e.req);
      pf.push(c);
    }
  }

  /** Entries of the batch for the schedule log (before the step's state update): decodes, then prefills. */
  scheduleEntries(engineId: (r: SimReq) => string): StepEntry[] {
    const out: StepEntry[] = [];
    const mk = (r: SimReq, chunk: number, phase: 'PREFILL' | 'DECODE'): StepEntry => ({
      request: engineId(r),
      phase,
      computedBefore: r.computed,
      scheduled: chunk,
      outputBefore: r.outputs,
      preemptions: r.preemptions,
      kvBlocks: r.blocks,
      kvCachedBlocks: r.hitBlocks,
    });
    for (const e of this.plan!.entries) if (e.decode) out.push(mk(e.req, e.chunk, 'DECODE'));
    for (const e of this.plan!.entries) if (!e.decode) out.push(mk(e.req, e.chunk, 'PREFILL'));
    return out;
  }
}

/** vLLM's DP load balancer: the rank with the least 4·waiting + running (ties: lowest rank). */
export function pickRank(ranks: readonly Rank[]): number {
  let best = 0;
  let bestScore = Infinity;
  for (let k = 0; k < ranks.length; k++) {
    const c = ranks[k]!.core;
    const s = 4 * c.waiting.length + c.running.length;
    if (s < bestScore) {
      bestScore = s;
      best = k;
    }
  }
  return best;
}
