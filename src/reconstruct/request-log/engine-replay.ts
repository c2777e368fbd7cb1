/**
 * One engine of the request-log replay (see simulate.ts for the model): the scheduler core
 * (src/scheduler/core.ts) over the logged requests — with the log's admission times and, when the
 * block count is known, a paged KV cache whose only prefix hits are a resumed request's own blocks —
 * and the clock that places admissions and token stamps.
 */
import { canonicalEntry } from '../../scheduler/schedule-log.js';
import { BlockPool, blocksFor } from '../../scheduler/kv.js';
import { SchedulerCore, newPagedRequest, type ScheduleHooks } from '../../scheduler/core.js';
import { CountingKv, PagedKv, type KvCache, type PagedReq } from '../../scheduler/kv-cache.js';
import { InputError } from '../../io/errors.js';
import type { EngineLimits, LoggedRequest, SimStep } from './types.js';
import { type ClockModel, RowSums, clockRow, clockTime, median } from './clock.js';

/** Replay state of one logged request (scheduler state: promptTokens, outputs, computed, KV blocks). */
export interface R extends PagedReq {
  q: LoggedRequest;
  engine: number;
  /** Index within its engine (private prefix-cache keys). */
  idx: number;
  firstStep?: number;
  /** Step of the first admission. */
  admit?: number;
  /** Step at which its logged scheduled_ts had passed by the replay clock. */
  due?: number;
  pf: number[];
  dc: number[];
  ftRes?: number;
  ltRes?: number;
  zeroBudget: boolean;
  /** Preemptions before its first token. */
  preemptionsBeforeFirst: number;
}

/** A request as the replay first sees it. */
export function newR(q: LoggedRequest, engine: number, idx: number): R {
  return {
    q,
    engine,
    idx,
    ...newPagedRequest(q.prompt),
    pf: [],
    dc: [],
    zeroBudget: false,
    preemptionsBeforeFirst: 0,
  };
}

export interface EngineRun {
  steps: SimStep[];
  rows: Map<number, number[]>;
  cum: RowSums;
  seqDelays: number;
  kvDelays: number;
  preemptions: number;
  anchorRes: { kind: 'first' | 'last'; us: number }[];
}

/** Private prefix-cache key of block i of a request (index idx in its engine): only that request can hit it (on resume). */
const KEY_SPAN = 2 ** 22;
const KEYS = { key: (r: R, i: number): number => (r.idx + 1) * KEY_SPAN + i, shared: (): boolean => false };

/** The engine's scheduler: paged KV when the block count is known (checked against every request), else unbounded. */
function engineCore(reqs: readonly R[], lim: EngineLimits): SchedulerCore<R> {
  const kv = lim.kv;
  const bs = kv?.blockSize ?? 16;
  let cache: KvCache<R> = new CountingKv<R>(Number.MAX_SAFE_INTEGER, bs);
  if (kv) {
    const pool = new BlockPool(kv.numGpuBlocks, kv.prefixCaching ?? true);
    for (const r of reqs) {
      const need = blocksFor(r.q.prompt + r.q.outputs, bs);
      if (need > pool.usable) {
        throw new InputError(
          `request ${r.q.id} (line ${r.q.line}): ${r.q.prompt} + ${r.q.outputs} tokens need ${need} KV blocks of ${bs}, but the engine has ${pool.usable} usable (num_gpu_blocks ${kv.numGpuBlocks} − 1): the block count does not belong to this log`,
        );
      }
    }
    // a resumed request hits only the blocks it held at its last preemption
    cache = new PagedKv<R>(pool, bs, KEYS, () => 0, { forgetStale: true });
  }
  return new SchedulerCore<R>(
    {
      maxNumBatchedTokens: lim.maxNumBatchedTokens,
      maxNumSeqs: lim.maxNumSeqs,
      blockSize: bs,
      numGpuBlocks: kv?.numGpuBlocks ?? Number.MAX_SAFE_INTEGER,
      reserveFullIsl: kv ? (kv.reserveFullIsl ?? true) : false,
      watermarkBlocks: kv ? Math.floor((kv.watermark ?? 0.01) * kv.numGpuBlocks) : 0,
    },
    cache,
  );
}

/** Simulate one engine with a clock model. Step numbers start at 0. */
export function simulateEngine(engine: number, reqs: R[], lim: EngineLimits, m: ClockModel): EngineRun {
  // every pass starts afresh (simulateRequestLog reruns the replay with a refitted clock)
  for (const r of reqs) Object.assign(r, newR(r.q, r.engine, r.idx), { firstStep: undefined, admit: undefined, due: undefined, ftRes: undefined, ltRes: undefined });
  const core = engineCore(reqs, lim);
  const pending = [...reqs].sort((a, b) => a.q.scheduled - b.q.scheduled || a.q.line - b.q.line);
  let pi = 0;
  /** Requests between their admission and the step stamping their last token (targets list these steps). */
  let live: R[] = [];
  let k = 0;
  let ePrev = -Infinity;
  let seqDelays = 0,
    kvDelays = 0,
    preemptions = 0,
    preemptedNow = 0;
  const steps: SimStep[] = [];
  const rows = new Map<number, number[]>();
  const anchorRes: EngineRun['anchorRes'] = [];
  const slack = 0.5 * m.a;
  const lag = lim.outputLagSteps ?? 0;
  let tails: { r: R; left: number }[] = [];
  let observe: Anchor[] = [];
  const hooks: ScheduleHooks<R> = {
    // the log says a due request was scheduled by now: admitted even when the replay has no budget left (counted)
    admitWithoutBudget: (r) => !r.admittedOnce,
    onPreempt: (v) => {
      if (v.firstStep === undefined) v.preemptionsBeforeFirst++;
      preemptions++;
      preemptedNow++;
    },
    onAdmit: (r, resume, _done, chunk) => {
      if (resume) return;
      r.admit = k;
      live.push(r);
      if (chunk === 0) r.zeroBudget = true;
    },
  };
  while (pi < pending.length || !core.idle) {
    if (core.idle) {
      ePrev = Math.max(ePrev, pending[pi]!.q.scheduled);
      tails = [];
      observe = [];
      live = [];
    }
    // Requests stamped SCHEDULED while this step was being built (before about half a base step after the previous end).
    while (pi < pending.length && pending[pi]!.q.scheduled <= ePrev + slack) {
      const r = pending[pi++]!;
      r.due = k;
      core.enqueue(r);
    }
    preemptedNow = 0;
    const plan = core.schedule(hooks);
    const delay = delayKind(core, plan, preemptedNow);
    if (delay === 'kv') kvDelays++;
    else if (delay === 'seqs') seqDelays++;
    if (plan.entries.length === 0) {
      // Only a step that preempted everything it had may be empty; the next one resumes into the freed pool.
      if (preemptedNow === 0) throw new Error(`simulateEngine: step ${k} of engine ${engine} schedules nothing (internal)`);
      continue;
    }
    // canonical order: decodes, then prefill chunks (stable; the step record does not depend on it)
    const work = plan.entries.map((e) => ({ r: e.req, tokens: e.chunk, prefill: e.prefill })).sort((x, y) => Number(x.prefill) - Number(y.prefill));
    const kvUsed = lim.kv ? core.kv.usable - core.kv.free : undefined;
    // Target membership: every live request (running or preempted) takes this step.
    tails = takeStep(live, tails, k, lag);
    const { prefill, decode, finished, pfTok, ctx } = runWork(core, work, k, lag, observe, tails);
    const anchors = observe.filter((o) => o.at === k);
    observe = observe.filter((o) => o.at > k);
    const row = clockRow(pfTok, decode.length, ctx);
    rows.set(k, row);
    const endK = clockEnd(m, row, ePrev, anchors, anchorRes);
    steps.push({ engine, step: k, prefill, decode, endEstimate: endK, ...(kvUsed !== undefined ? { kvBlocksUsed: kvUsed, preempted: preemptedNow } : {}) });
    live = finish(core, live, finished);
    ePrev = endK;
    k++;
  }
  placeByClock(reqs, steps);
  return { steps, rows, cum: new RowSums(rows, k), seqDelays, kvDelays, preemptions, anchorRes };
}

/** Step k joins the targets of every live request (prefill until `lag` steps after its first token) and of the finished ones' lagging tails; the tails still open. */
function takeStep(live: readonly R[], tails: readonly { r: R; left: number }[], k: number, lag: number): { r: R; left: number }[] {
  for (const r of live) (r.firstStep === undefined || k <= r.firstStep + lag ? r.pf : r.dc).push(k);
  for (const t of tails) {
    t.r.dc.push(k);
    t.left--;
  }
  return tails.filter((t) => t.left > 0);
}

/** Release the finished requests from the core; the live requests that remain. */
function finish(core: SchedulerCore<R>, live: R[], finished: readonly R[]): R[] {
  if (finished.length === 0) return live;
  const done = new Set(finished);
  core.finishAll(finished, (r) => done.has(r));
  return live.filter((r) => !done.has(r));
}

type Anchor = { at: number; r: R; kind: 'first' | 'last'; t: number };

/** Why due requests wait this step: KV (a preemption, resumes waiting, or the pool), max_num_seqs, or nothing. */
function delayKind(core: SchedulerCore<R>, plan: { blockedByKv: boolean; blockedBySeqs: boolean }, preemptedNow: number): 'kv' | 'seqs' | null {
  let due = 0;
  let resumes = 0;
  for (const r of core.waiting)
    if (r.admittedOnce) resumes++;
    else due++;
  if (due > 0 && (preemptedNow > 0 || resumes > 0 || plan.blockedByKv)) return 'kv';
  if (due > 0 && plan.blockedBySeqs) return 'seqs';
  return null;
}

/**
 * Run step k's scheduled work through the core: the canonical prefill chunks and decode contexts, the
 * requests that finished, and the token stamps to observe `lag` steps later (pushed onto `observe`;
 * finished multi-token requests stay in targets for `lag` more steps via `tails`).
 */
function runWork(core: SchedulerCore<R>, work: readonly { r: R; tokens: number }[], k: number, lag: number, observe: Anchor[], tails: { r: R; left: number }[]) {
  const prefill: SimStep['prefill'] = [];
  const decode: number[] = [];
  const finished: R[] = [];
  let pfTok = 0;
  let ctx = 0;
  for (const { r, tokens } of work) {
    const c = canonicalEntry(r.q.prompt, r.computed, tokens, r.outputs);
    if ('decode' in c) {
      decode.push(c.decode);
      ctx += c.decode;
    } else {
      prefill.push(c);
      pfTok += c.tokens;
    }
    if (!core.advance(r, tokens)) continue;
    if (r.firstStep === undefined) {
      r.firstStep = k;
      observe.push({ at: k + lag, r, kind: 'first', t: r.q.firstToken });
    }
    if (r.outputs >= r.q.outputs) {
      finished.push(r);
      if (r.q.outputs > 1) observe.push({ at: k + lag, r, kind: 'last', t: r.q.lastToken });
      if (lag > 0 && r.q.outputs > 1) tails.push({ r, left: lag });
    }
  }
  return { prefill, decode, finished, pfTok, ctx };
}

/**
 * The step's end by the clock: previous end + the clock model's step time; the residuals of the token
 * stamps observed at this step are recorded (µs), and with stamps the end is their median (never before
 * the previous end).
 */
function clockEnd(m: ClockModel, row: number[], ePrev: number, anchors: readonly Anchor[], anchorRes: EngineRun['anchorRes']): number {
  const pred = (Number.isFinite(ePrev) ? ePrev : (anchors[0]?.t ?? 0) - clockTime(m, row)) + clockTime(m, row);
  for (const a of anchors) {
    const us = (pred - a.t) * 1e6;
    anchorRes.push({ kind: a.kind, us });
    if (a.kind === 'first') a.r.ftRes = us;
    else a.r.ltRes = us;
  }
  return anchors.length > 0 ? Math.max(Number.isFinite(ePrev) ? ePrev : -Infinity, median(anchors.map((a) => a.t))) : pred;
}

/**
 * A request preempted before its first token: the replay's first-token step is not reliably the engine's
 * (the log does not say whether the engine preempted it too, and where it did not, the replay's span has up to
 * several times the steps its logged prefill allows). Its targets are placed by the clock instead: prefill =
 * the steps from the one built after its logged scheduled_ts through the first whose clock end reaches its
 * logged first_token_ts; decode = the steps after that through its last-token step.
 */
function placeByClock(reqs: readonly R[], steps: readonly SimStep[]): void {
  for (const r of reqs) {
    if (r.preemptionsBeforeFirst === 0 || r.due === undefined || r.dc.length === 0) continue;
    const last = r.dc[r.dc.length - 1]!;
    let f = r.due;
    while (f < last - 1 && !(steps[f]!.endEstimate! >= r.q.firstToken)) f++;
    r.pf = range(r.due, f);
    r.dc = range(f + 1, last);
  }
}

/** [a, a+1, …, b] */
const range = (a: number, b: number): number[] => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
