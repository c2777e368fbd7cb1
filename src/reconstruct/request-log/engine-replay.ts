/**
 * One engine of the request-log replay (see simulate.ts for the model): the scheduling rule over the
 * logged requests, the KV block pool, and the clock that places admissions and token stamps.
 */
import { canonicalEntry } from '../../scheduler/schedule-log.js';
import { BlockPool, blocksFor } from '../../scheduler/kv.js';
import { InputError } from '../../io/errors.js';
import type { EngineLimits, LoggedRequest, SimStep } from './types.js';
import { type ClockModel, RowSums, clockRow, clockTime, median } from './clock.js';

/** Replay state of one logged request. */
export interface R {
  q: LoggedRequest;
  engine: number;
  /** Index within its engine (private prefix-cache keys). */
  idx: number;
  computed: number;
  outputs: number;
  prefilling: boolean;
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
  /** KV: block ids held, in order; ids held before the last preemption (self prefix-cache hits); whole blocks hit at the last (re)admission. */
  bt: number[];
  oldBt: number[];
  hit: number;
  preemptions: number;
  /** Preemptions before its first token. */
  preemptionsBeforeFirst: number;
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
const blockKey = (idx: number, i: number): number => (idx + 1) * KEY_SPAN + i;

/** Simulate one engine with a clock model. Step numbers start at 0. */
export function simulateEngine(engine: number, reqs: R[], lim: EngineLimits, m: ClockModel): EngineRun {
  for (const r of reqs) {
    r.computed = 0;
    r.outputs = 0;
    r.prefilling = true;
    r.firstStep = undefined;
    r.admit = undefined;
    r.due = undefined;
    r.pf = [];
    r.dc = [];
    r.zeroBudget = false;
    r.ftRes = undefined;
    r.ltRes = undefined;
    r.bt = [];
    r.oldBt = [];
    r.hit = 0;
    r.preemptions = 0;
    r.preemptionsBeforeFirst = 0;
  }
  const kv = lim.kv;
  const bs = kv?.blockSize ?? 16;
  const pool = kv ? new BlockPool(kv.numGpuBlocks, kv.prefixCaching ?? true) : undefined;
  const wmBlocks = kv ? Math.floor((kv.watermark ?? 0.01) * kv.numGpuBlocks) : 0;
  const fullIsl = kv?.reserveFullIsl ?? true;
  if (pool) {
    for (const r of reqs) {
      const need = blocksFor(r.q.prompt + r.q.outputs, bs);
      if (need > pool.usable) {
        throw new InputError(
          `request ${r.q.id} (line ${r.q.line}): ${r.q.prompt} + ${r.q.outputs} tokens need ${need} KV blocks of ${bs}, but the engine has ${pool.usable} usable (num_gpu_blocks ${kv!.numGpuBlocks} − 1): the block count does not belong to this log`,
        );
      }
    }
  }
  /** Grow r's blocks to hold `upTo` tokens; register blocks that become full (self prefix-cache hits later). Caller checked the pool. */
  const grow = (r: R, upTo: number): void => {
    if (!pool) return;
    const need = blocksFor(upTo, bs);
    while (r.bt.length < need) r.bt.push(pool.allocate());
    if (pool.caching) {
      const full = Math.floor(upTo / bs);
      for (let i = Math.max(r.hit, Math.floor(r.computed / bs)); i < full; i++) pool.register(r.bt[i]!, blockKey(r.idx, i), false);
    }
  };
  const freeBlocks = (r: R): void => {
    if (!pool) return;
    for (let i = r.bt.length - 1; i >= 0; i--) pool.release(r.bt[i]!);
    r.oldBt = r.bt;
    r.bt = [];
  };

  const pending = [...reqs].sort((a, b) => a.q.scheduled - b.q.scheduled || a.q.line - b.q.line);
  let pi = 0;
  /** Running requests in (re)admission order. */
  let running: R[] = [];
  /** Preempted requests waiting to resume (front first). */
  const resumeQ: R[] = [];
  /** Requests whose logged scheduled_ts has passed, not yet admitted (in order). */
  const dueQ: R[] = [];
  /** Requests between their admission and the step stamping their last token (targets list these steps). */
  let live: R[] = [];
  let k = 0;
  let ePrev = -Infinity;
  let seqDelays = 0,
    kvDelays = 0,
    preemptions = 0;
  const steps: SimStep[] = [];
  const rows = new Map<number, number[]>();
  const anchorRes: EngineRun['anchorRes'] = [];
  const slack = 0.5 * m.a;
  const lag = lim.outputLagSteps ?? 0;
  let tails: { r: R; left: number }[] = [];
  let observe: { at: number; r: R; kind: 'first' | 'last'; t: number }[] = [];
  while (pi < pending.length || running.length > 0 || resumeQ.length > 0 || dueQ.length > 0) {
    if (running.length === 0 && resumeQ.length === 0 && dueQ.length === 0) {
      ePrev = Math.max(ePrev, pending[pi]!.q.scheduled);
      tails = [];
      observe = [];
      live = [];
    }
    // Requests stamped SCHEDULED while this step was being built (before about half a base step after the previous end).
    while (pi < pending.length && pending[pi]!.q.scheduled <= ePrev + slack) {
      const r = pending[pi++]!;
      r.due = k;
      dueQ.push(r);
    }
    // 1. Running requests: decodes first, then prefill chunks, in (re)admission order; KV blocks, preempting the latest admitted.
    let budget = lim.maxNumBatchedTokens;
    const work: { r: R; tokens: number }[] = [];
    const inWork = new Map<R, number>();
    let preemptedNow = 0;
    const preempt = (v: R): void => {
      running.pop();
      freeBlocks(v);
      const w = inWork.get(v);
      if (w !== undefined) {
        budget += work[w]!.tokens;
        work.splice(w, 1);
        inWork.clear();
        work.forEach((x, i) => inWork.set(x.r, i));
      }
      v.computed = 0;
      v.hit = 0;
      v.prefilling = true;
      v.preemptions++;
      if (v.firstStep === undefined) v.preemptionsBeforeFirst++;
      preemptions++;
      preemptedNow++;
      resumeQ.unshift(v);
    };
    const order = [...running.filter((r) => !r.prefilling), ...running.filter((r) => r.prefilling)];
    for (const r of order) {
      if (!running.includes(r)) continue; // preempted earlier in this step
      const tokens = r.prefilling ? Math.max(0, Math.min(r.q.prompt + r.outputs - r.computed, budget)) : 1;
      if (tokens === 0) {
        if (r.admit === k) r.zeroBudget = true;
        continue;
      }
      if (pool) {
        let self = false;
        while (blocksFor(r.computed + tokens, bs) - r.bt.length > pool.free) {
          const v = running[running.length - 1]!;
          preempt(v);
          if (v === r) {
            self = true;
            break;
          }
        }
        if (self) break;
        grow(r, r.computed + tokens);
      }
      inWork.set(r, work.length);
      work.push({ r, tokens });
      budget -= tokens;
    }
    // 2. Waiting queue (none in a step that preempted): preempted requests first, then new ones due by their logged time.
    const blocked = { seq: false, kv: false };
    if (preemptedNow === 0) {
      while (resumeQ.length > 0 && budget > 0) {
        if (running.length >= lim.maxNumSeqs) {
          blocked.seq = true;
          break;
        }
        const r = resumeQ[0]!;
        const total = r.q.prompt + r.outputs;
        let hit = 0,
          hitFree = 0;
        if (pool!.caching) {
          const maxHit = Math.floor((total - 1) / bs);
          while (hit < maxHit && hit < r.oldBt.length) {
            const b = r.oldBt[hit]!;
            if (!(b > 0 && pool!.keyOf(b) === blockKey(r.idx, hit))) break;
            if (pool!.isFreeCached(b)) hitFree++;
            hit++;
          }
        }
        const start = hit * bs;
        const n = Math.min(total - start, budget);
        const wm = work.length > 0 ? wmBlocks : 0;
        if (fullIsl && blocksFor(total, bs) - hit + hitFree + wm > pool!.free) {
          blocked.kv = true;
          break;
        }
        if (blocksFor(start + n, bs) - hit + hitFree + wm > pool!.free) {
          blocked.kv = true;
          break;
        }
        resumeQ.shift();
        r.bt = r.oldBt.slice(0, hit);
        for (const b of r.bt) pool!.touch(b);
        r.hit = hit;
        r.computed = start;
        grow(r, start + n);
        running.push(r);
        inWork.set(r, work.length);
        work.push({ r, tokens: n });
        budget -= n;
      }
      while (resumeQ.length === 0 && dueQ.length > 0) {
        if (running.length >= lim.maxNumSeqs) {
          blocked.seq = true;
          break;
        }
        const r = dueQ[0]!;
        // The log says it was scheduled by now: admitted even when the replay has no budget left (counted), never beyond KV.
        const n = Math.min(r.q.prompt, Math.max(0, budget));
        if (pool) {
          const wm = work.length > 0 ? wmBlocks : 0;
          if ((fullIsl && blocksFor(r.q.prompt, bs) + wm > pool.free) || blocksFor(n, bs) + wm > pool.free) {
            blocked.kv = true;
            break;
          }
        }
        dueQ.shift();
        r.admit = k;
        running.push(r);
        live.push(r);
        if (n === 0) {
          r.zeroBudget = true;
          continue;
        }
        grow(r, n);
        inWork.set(r, work.length);
        work.push({ r, tokens: n });
        budget -= n;
      }
    }
    if (dueQ.length > 0 && (preemptedNow > 0 || resumeQ.length > 0 || blocked.kv)) kvDelays++;
    else if (dueQ.length > 0 && blocked.seq) seqDelays++;
    if (work.length === 0) {
      // Only a step that preempted everything it had may be empty; the next one resumes into the freed pool.
      if (preemptedNow === 0) throw new Error(`simulateEngine: step ${k} of engine ${engine} schedules nothing (internal)`);
      continue;
    }
    const kvUsed = pool ? pool.usable - pool.free : undefined;
    // Target membership: every live request (running or preempted) takes this step.
    for (const r of live) (r.firstStep === undefined || k <= r.firstStep + lag ? r.pf : r.dc).push(k);
    for (const t of tails) {
      t.r.dc.push(k);
      t.left--;
    }
    tails = tails.filter((t) => t.left > 0);
    const prefill: SimStep['prefill'] = [];
    const decode: number[] = [];
    const finished = new Set<R>();
    const anchors: { r: R; kind: 'first' | 'last'; t: number }[] = [];
    let pfTok = 0,
      ctx = 0;
    // canonical order: decodes, then prefill chunks (the step record does not depend on it)
    work.sort((x, y) => Number(x.r.prefilling) - Number(y.r.prefilling));
    for (const { r, tokens } of work) {
      const c = canonicalEntry(r.q.prompt, r.computed, tokens, r.outputs);
      if ('decode' in c) {
        decode.push(c.decode);
        ctx += c.decode;
      } else {
        prefill.push(c);
        pfTok += c.tokens;
      }
      r.computed += tokens;
      if (r.prefilling) {
        if (r.computed < r.q.prompt + r.outputs) continue;
        r.prefilling = false;
        r.outputs++;
        if (r.firstStep === undefined) {
          r.firstStep = k;
          observe.push({ at: k + lag, r, kind: 'first', t: r.q.firstToken });
        }
      } else {
        r.outputs++;
      }
      if (r.outputs >= r.q.outputs) {
        finished.add(r);
        if (r.q.outputs > 1) observe.push({ at: k + lag, r, kind: 'last', t: r.q.lastToken });
        if (lag > 0 && r.q.outputs > 1) tails.push({ r, left: lag });
      }
    }
    for (const o of observe) if (o.at === k) anchors.push(o);
    observe = observe.filter((o) => o.at > k);
    const row = clockRow(pfTok, decode.length, ctx);
    rows.set(k, row);
    const pred = (Number.isFinite(ePrev) ? ePrev : (anchors[0]?.t ?? 0) - clockTime(m, row)) + clockTime(m, row);
    for (const a of anchors) {
      const us = (pred - a.t) * 1e6;
      anchorRes.push({ kind: a.kind, us });
      if (a.kind === 'first') a.r.ftRes = us;
      else a.r.ltRes = us;
    }
    const endK = anchors.length > 0 ? Math.max(Number.isFinite(ePrev) ? ePrev : -Infinity, median(anchors.map((a) => a.t))) : pred;
    steps.push({ engine, step: k, prefill, decode, endEstimate: endK, ...(kvUsed !== undefined ? { kvBlocksUsed: kvUsed, preempted: preemptedNow } : {}) });
    if (finished.size > 0) {
      for (const r of finished) freeBlocks(r);
      running = running.filter((r) => !finished.has(r));
      live = live.filter((r) => !finished.has(r));
    }
    ePrev = endK;
    k++;
  }
  // A request preempted before its first token: the replay's first-token step is not reliably the engine's
  // (the log does not say whether the engine preempted it too, and where it did not, the replay's span has up to
  // several times the steps its logged prefill allows). Its targets are placed by the clock instead: prefill =
  // the steps from the one built after its logged scheduled_ts through the first whose clock end reaches its
  // logged first_token_ts; decode = the steps after that through its last-token step.
  for (const r of reqs) {
    if (r.preemptionsBeforeFirst === 0 || r.due === undefined || r.dc.length === 0) continue;
    const last = r.dc[r.dc.length - 1]!;
    let f = r.due;
    while (f < last - 1 && !(steps[f]!.endEstimate! >= r.q.firstToken)) f++;
    r.pf = range(r.due, f);
    r.dc = range(f + 1, last);
  }
  return { steps, rows, cum: new RowSums(rows, k), seqDelays, kvDelays, preemptions, anchorRes };
}

/** [a, a+1, …, b] */
const range = (a: number, b: number): number[] => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
