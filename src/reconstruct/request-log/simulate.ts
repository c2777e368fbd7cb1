/**
 * Step reconstruction from per-request engine timestamps (no steps logged): replay vLLM's
 * chunked-prefill scheduler over the logged requests and derive the implied steps.
 *
 * Pure: plain records in, plain records out.
 *
 * Model, per engine (data-parallel ranks are independent engines; requests are assigned by least
 * in-flight load at queue time, since the log does not say which rank served them):
 * - Each step: the scheduler core (src/scheduler/core.ts, vLLM V1 `schedule()`; engine-replay.ts):
 *   running requests in running-queue order (a decode one token, a request still prefilling
 *   min(remaining, left) of `max_num_batched_tokens`); then the waiting queue is served (below).
 *   A request finishes after its `output_toks`-th token.
 * - KV cache (when `numGpuBlocks` is known, e.g. meta.json `kv_cache.num_gpu_blocks`): a paged block
 *   pool (`BlockPool` of src/scheduler/kv.ts via `PagedKv`, as the simulator's; block 0 is the null block) of
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
import type { EngineLimits, LoggedRequest, SimRequest, SimResult } from './types.js';
import { type ClockModel, clockTime, fitClock, median } from './clock.js';
import { newR, simulateEngine, type EngineRun, type R } from './engine-replay.js';

export type { EngineLimits, KvLimits, LoggedRequest, SimRequest, SimResult, SimStep } from './types.js';
export { clockRow, clockTime, type ClockModel } from './clock.js';

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

export function simulateRequestLog(reqs: readonly LoggedRequest[], lim: EngineLimits, iterations = 4): SimResult {
  const engines = assignEngines(reqs, lim.dataParallel);
  const nE = Math.max(1, lim.dataParallel);
  const counts = new Array<number>(nE).fill(0);
  const rs: R[] = reqs.map((q, i) => newR(q, engines[i]!, counts[engines[i]!]!++));
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
