/**
 * Step reconstruction from per-request engine timestamps (no steps logged): replay vLLM's
 * chunked-prefill scheduler over the logged requests and derive the implied steps.
 *
 * Pure: plain records in, plain records out.
 *
 * Model, per engine (data-parallel ranks are independent engines; requests are assigned by least
 * in-flight load at queue time, since the log does not say which rank served them):
 * - Each step (vLLM V1 `schedule()`): every running request past its (re)compute decodes one token,
 *   then the rest of `max_num_batched_tokens` goes to running requests still prefilling, in
 *   admission order (min(remaining, left)); then the waiting queue is served (below).
 *   A request finishes after its `output_toks`-th token.
 * - KV cache (when `numGpuBlocks` is known, e.g. meta.json `kv_cache.num_gpu_blocks`): a paged block
 *   pool (`BlockPool` of src/simulate/kv.ts, the simulator's; block 0 is the null block) of
 *   `blockSize`-token blocks. A scheduled request's blocks grow to ⌈(computed + n)/blockSize⌉; when the
 *   pool is short, the *latest-admitted* running request is preempted by recompute (blocks freed,
 *   computed = 0, pushed to the front of the waiting queue; if it was already scheduled in this step it
 *   is taken out and its tokens return to the budget) until the allocation fits or the request
 *   preempted itself (vLLM V1 `running.pop()`). In a step that preempted, nothing is admitted.
 *   Otherwise the waiting queue is served in order: preempted requests first (a resume recomputes
 *   prompt + generated tokens as prefill, less whole blocks of its own still cached when prefix
 *   caching is on: the log has no token ids, so prefixes shared between requests cannot be known and
 *   only these self-hits are modelled), then new requests whose logged `scheduled_ts` has passed;
 *   each needs free blocks for its full sequence (scheduler_reserve_full_isl) plus a watermark
 *   (default 1 % of the blocks) when something is already scheduled in the step; the first that
 *   does not fit stops admission (FCFS), as does max_num_seqs. A finished request frees its blocks
 *   (tail first, so its prefix stays cached longest). Without a block count, KV is not modelled.
 * - Clock: step k ends at end(k−1) + t(k), with t from a 4-term clock model (ClockModel); at steps
 *   where a logged token time is observed (a first or last token, `outputLagSteps` steps after the
 *   forward pass that produced it) the clock is reset to it (median if several).
 * - Admission: a new request may join the first step built after its logged `scheduled_ts`, i.e.
 *   when scheduled_ts ≤ end(k−1) + a/2 (half the model's per-step constant), subject to the limits
 *   above (a delay is counted). A preempted request resumes when the rule above lets it: the log
 *   records no preemption, so resumes are inferred.
 * - Targets under preemption: a request's prefill target lists every step of its engine from its
 *   first admission (the replay's placement of `scheduled_ts`) through the step that stamps its first token, and its
 *   decode target every step after that through the step that stamps its last token — including
 *   steps it sat out while preempted and the steps recomputing it. The log has no preemption
 *   timestamps, so a preempted interval cannot be subtracted from the logged time; but an engine's
 *   steps are serial, so the wall time of the interval is exactly the sum of all its steps, and the
 *   target stays an equation (Σ step times = logged time). Without preemption these are the steps
 *   the request ran in (as before). Exception: a request the replay preempted before its first token
 *   has both targets placed by the clock (see the end of simulateEngine), since the replay's
 *   first-token step for it is not reliably the engine's.
 * - The clock model is refitted (NNLS, relative errors, Huber-weighted: fitClock) to the request-level sums — Σ over a
 *   request's prefill steps = first_token − scheduled, Σ over its decode steps = last − first — and
 *   the replay rerun; 4 passes, starting from a constant step time (the median logged decode step).
 * Residuals (implied − logged) check the reconstruction: Σ of the final clock model over each
 * request's implied steps vs its logged prefill and decode times, and the clock just before each
 * reset vs the logged token time.
 */
import { fcnnlsVector } from 'ml-fcnnls';
import { canonicalEntry } from '../../scheduler/schedule-log.js';
import { BlockPool, blocksFor } from '../../scheduler/kv.js';
import { InputError } from '../../io/errors.js';

export interface LoggedRequest {
  readonly id: string;
  readonly line: number;
  readonly prompt: number;
  readonly outputs: number;
  /** Engine monotonic seconds. */
  readonly queued: number;
  readonly scheduled: number;
  readonly firstToken: number;
  readonly lastToken: number;
}

/** The engine's KV cache (vLLM `kv_cache` of meta.json). */
export interface KvLimits {
  /** num_gpu_blocks per engine (block 0 is the reserved null block). */
  readonly numGpuBlocks: number;
  /** Tokens per block (default 16). */
  readonly blockSize?: number;
  /** Automatic prefix caching (default true, as vLLM V1): a resumed request can hit its own blocks still cached. */
  readonly prefixCaching?: boolean;
  /** Fraction of blocks kept free when admitting while something is scheduled in the step (default 0.01, as the simulator). */
  readonly watermark?: number;
  /** Admit only when the full sequence fits (vLLM scheduler_reserve_full_isl, default true). */
  readonly reserveFullIsl?: boolean;
}

export interface EngineLimits {
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  /** Data-parallel engines (each request goes to one; assignment simulated by least load at queue time). */
  readonly dataParallel: number;
  /**
   * Steps between the forward pass that produces a token and the timestamp the log gives it
   * (vLLM's async scheduling processes step k's outputs while step k+1 runs): 0 or 1.
   */
  readonly outputLagSteps?: number;
  /** KV cache per engine; absent: not modelled (unbounded). */
  readonly kv?: KvLimits;
}

export interface SimStep {
  readonly engine: number;
  readonly step: number;
  readonly prefill: { tokens: number; prior: number; prompt: number }[];
  readonly decode: number[];
  /** Estimated end time (engine seconds); undefined where no clock was available. */
  readonly endEstimate?: number;
  /** KV blocks held during the step (after its allocations, before finished requests free theirs); with a KV model only. */
  readonly kvBlocksUsed?: number;
  /** Requests preempted while building this step. */
  readonly preempted?: number;
}

export interface SimRequest {
  readonly id: string;
  readonly engine: number;
  /** Engine steps from its first admission through the step stamping its first token (preempted steps included). */
  readonly prefillSteps: number[];
  /** Engine steps after those through the step stamping its last token (preempted and recompute steps included). */
  readonly decodeSteps: number[];
  /** Logged prefill time (first_token − scheduled) and decode time (last_token − first_token), µs. */
  readonly prefillUs: number;
  readonly decodeUs: number;
  /** Σ of the fitted clock model over the prefill / decode steps, µs (the implied times). */
  readonly prefillPredUs: number;
  readonly decodePredUs: number;
  /** Clock (previous step end + model time of the step) at the step where the rule completes the prefill − logged first_token_ts, µs. */
  readonly firstTokenResidualUs?: number;
  /** Same at the request's last decode step − logged last_token_ts, µs. */
  readonly lastTokenResidualUs?: number;
  /** Steps from admission to first token: implied (rule) vs count of logged-clock steps, when known. */
  readonly admittedAtBudgetZero: boolean;
  /** Times the replay preempted it (recompute), and how many of those came before its first token. */
  readonly preemptions: number;
  readonly preemptionsBeforeFirstToken: number;
  /** Steps its first admission came after the step its logged scheduled_ts falls in (KV blocks, a preempted request ahead, max_num_seqs). */
  readonly admissionDelaySteps: number;
}

export interface SimResult {
  readonly steps: SimStep[];
  readonly requests: SimRequest[];
  /** Steps at which an admission due by its logged time was held back because max_num_seqs was reached. */
  readonly seqLimitDelays: number;
  /** Steps at which an admission due by its logged time was held back by the KV cache (no room, or a preempted request waiting ahead of it). */
  readonly kvDelays: number;
  /** Preemptions in the replay (all engines). */
  readonly preemptions: number;
  /** Usable KV blocks per engine (num_gpu_blocks − 1), when modelled. */
  readonly kvBlocksUsable?: number;
  /** The clock model fitted to the request-level times (seconds; see ClockModel). */
  readonly clock: ClockModel;
}

interface R {
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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Assign requests to data-parallel engines: least in-flight (by logged times) at queue time. */
export function assignEngines(reqs: readonly LoggedRequest[], dp: number): number[] {
  const out = new Array<number>(reqs.length).fill(0);
  if (dp <= 1) return out;
  const order = reqs.map((_, i) => i).sort((a, b) => reqs[a]!.queued - reqs[b]!.queued);
  const inflight: number[][] = Array.from({ length: dp }, () => []);
  for (const i of order) {
    const t = reqs[i]!.queued;
    let best = 0;
    let bestLoad = Infinity;
    for (let e = 0; e < dp; e++) {
      inflight[e] = inflight[e]!.filter((j) => reqs[j]!.lastToken > t);
      if (inflight[e]!.length < bestLoad) {
        bestLoad = inflight[e]!.length;
        best = e;
      }
    }
    inflight[best]!.push(i);
    out[i] = best;
  }
  return out;
}

/**
 * A 4-term step-time model used only as the replay's clock and as its consistency check
 * (seconds): t = a + b·(prefill tokens/1000) + c·(decodes/100) + d·(Σ decode context/1e5).
 */
export interface ClockModel {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

/** Regressor row of one step for the clock model (scaled so the coefficients are of similar size). */
export function clockRow(pfTok: number, nDec: number, ctx: number): [number, number, number, number] {
  return [1, pfTok / 1000, nDec / 100, ctx / 1e5];
}

export function clockTime(m: ClockModel, row: readonly number[]): number {
  return Math.max(1e-6, m.a * row[0]! + m.b * row[1]! + m.c * row[2]! + m.d * row[3]!);
}

interface EngineRun {
  steps: SimStep[];
  rows: Map<number, number[]>;
  cum: RowSums;
  seqDelays: number;
  kvDelays: number;
  preemptions: number;
  anchorRes: { kind: 'first' | 'last'; us: number }[];
}

/** Prefix sums of the clock rows by step, so that a request's (contiguous) step range sums in O(1). */
class RowSums {
  private readonly c: Float64Array;
  constructor(rows: Map<number, number[]>, n: number) {
    this.c = new Float64Array((n + 1) * 4);
    for (let k = 0; k < n; k++) {
      const row = rows.get(k);
      for (let i = 0; i < 4; i++) this.c[(k + 1) * 4 + i] = this.c[k * 4 + i]! + (row ? row[i]! : 0);
    }
  }
  /** Σ rows over the steps of `ks` (increasing and contiguous). */
  sum(ks: readonly number[]): number[] {
    if (ks.length === 0) return [0, 0, 0, 0];
    const a = ks[0]!,
      b = ks[ks.length - 1]!;
    if (b - a + 1 !== ks.length) throw new Error('RowSums: steps not contiguous (internal)');
    return [0, 1, 2, 3].map((i) => this.c[(b + 1) * 4 + i]! - this.c[a * 4 + i]!);
  }
}

/** Private prefix-cache key of block i of a request (index idx in its engine): only that request can hit it (on resume). */
const KEY_SPAN = 2 ** 22;
const blockKey = (idx: number, i: number): number => (idx + 1) * KEY_SPAN + i;

/** Simulate one engine with a clock model. Step numbers start at 0. */
function simulateEngine(engine: number, reqs: R[], lim: EngineLimits, m: ClockModel): EngineRun {
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

/**
 * Fit the clock model to the request-level sums: Σ rows over a request's prefill (decode) steps = its
 * logged time, in relative terms (row and target divided by the target), by NNLS made robust with
 * Huber IRLS: residual e_i = x_i·K − 1, scale s = 1.4826·median|e|, weight w_i = min(1, 1.345·s/|e_i|),
 * rows scaled by √w_i, 6 rounds. Robustness matters where the replay departs from the engine (a
 * request the replay preempted but the engine did not has a target with many more steps than its
 * logged time allows, and one such row would otherwise outweigh hundreds of consistent ones).
 */
function fitClock(runs: { reqs: R[]; cum: RowSums }[]): ClockModel | undefined {
  const X: number[][] = [];
  for (const { reqs, cum } of runs) {
    for (const r of reqs) {
      const add = (ks: number[], t: number) => {
        if (ks.length === 0 || !(t > 0)) return;
        X.push(cum.sum(ks).map((v) => v / t));
      };
      add(r.pf, r.q.firstToken - r.q.scheduled);
      add(r.dc, r.q.lastToken - r.q.firstToken);
    }
  }
  if (X.length < 4) return undefined;
  let w = new Array<number>(X.length).fill(1);
  let K: number[] = [];
  for (let round = 0; round < 6; round++) {
    const sw = w.map(Math.sqrt);
    K = fcnnlsVector(
      X.map((x, i) => x.map((v) => v * sw[i]!)),
      sw,
    ).K.to1DArray();
    const e = X.map((x) => x.reduce((acc, v, j) => acc + v * K[j]!, 0) - 1);
    const s = 1.4826 * median(e.map(Math.abs));
    if (!(s > 0)) break;
    const k = 1.345 * s;
    w = e.map((ei) => (Math.abs(ei) <= k ? 1 : k / Math.abs(ei)));
  }
  const [a, b, c, d] = K as [number, number, number, number];
  return a > 0 || b > 0 ? { a, b, c, d } : undefined;
}

export function simulateRequestLog(reqs: readonly LoggedRequest[], lim: EngineLimits, iterations = 4): SimResult {
  const engines = assignEngines(reqs, lim.dataParallel);
  const nE = Math.max(1, lim.dataParallel);
  const counts = new Array<number>(nE).fill(0);
  const rs: R[] = reqs.map((q, i) => ({
    q,
    engine: engines[i]!,
    idx: counts[engines[i]!]!++,
    computed: 0,
    outputs: 0,
    prefilling: true,
    pf: [],
    dc: [],
    zeroBudget: false,
    bt: [],
    oldBt: [],
    hit: 0,
    preemptions: 0,
    preemptionsBeforeFirst: 0,
  }));
  const byEngine = Array.from({ length: nE }, (_, e) => rs.filter((r) => r.engine === e));
  // Initial clock: every step takes the median logged decode-step time.
  const deltas = reqs.filter((q) => q.outputs > 1).map((q) => (q.lastToken - q.firstToken) / (q.outputs - 1));
  let model: ClockModel = { a: deltas.length ? median(deltas) : 0.02, b: 0, c: 0, d: 0 };
  let runs: EngineRun[] = [];
  for (let it = 0; it < iterations; it++) {
    runs = byEngine.map((rr, e) => simulateEngine(e, rr, lim, model));
    if (it === iterations - 1) break;
    const fit = fitClock(byEngine.map((rr, e) => ({ reqs: rr, cum: runs[e]!.cum })));
    if (!fit) break;
    model = fit;
  }
  const steps = runs.flatMap((r) => r.steps);
  const predOf = (e: number, ks: number[]): number => (ks.length ? clockTime(model, runs[e]!.cum.sum(ks)) : 0);
  const requests: SimRequest[] = rs.map((r) => {
    const prefillUs = (r.q.firstToken - r.q.scheduled) * 1e6;
    const decodeUs = (r.q.lastToken - r.q.firstToken) * 1e6;
    return {
      id: r.q.id,
      engine: r.engine,
      prefillSteps: r.pf,
      decodeSteps: r.dc,
      prefillUs,
      decodeUs,
      prefillPredUs: predOf(r.engine, r.pf) * 1e6,
      decodePredUs: predOf(r.engine, r.dc) * 1e6,
      ...(r.ftRes !== undefined ? { firstTokenResidualUs: r.ftRes } : {}),
      ...(r.ltRes !== undefined ? { lastTokenResidualUs: r.ltRes } : {}),
      admittedAtBudgetZero: r.zeroBudget,
      preemptions: r.preemptions,
      preemptionsBeforeFirstToken: r.preemptionsBeforeFirst,
      admissionDelaySteps: (r.admit ?? 0) - (r.due ?? 0),
    };
  });
  return {
    steps,
    requests,
    clock: model,
    seqLimitDelays: runs.reduce((a, r) => a + r.seqDelays, 0),
    kvDelays: runs.reduce((a, r) => a + r.kvDelays, 0),
    preemptions: runs.reduce((a, r) => a + r.preemptions, 0),
    ...(lim.kv ? { kvBlocksUsable: lim.kv.numGpuBlocks - 1 } : {}),
  };
}
