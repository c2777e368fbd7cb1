/**
 * Serving metrics for a steady workload of identical requests (input I tokens, output O tokens).
 *
 * Aggregated (prefill and decode on the same GPUs, vLLM chunked prefill): a deterministic
 * step-by-step replay of one engine replica. Each step runs every decoding request (one token
 * each) and fills the rest of the token budget (`chunkTokens`, decodes count one token each) with
 * prefill chunks, oldest request first; its duration is the engine step time. Closed loop: a
 * finished request is replaced at once (`concurrency` in flight); open loop: arrivals every 1/rate
 * seconds, admitted while fewer than the concurrency cap are in flight. Phases start staggered,
 * a warm-up is discarded, then TTFT = first token − arrival, TPOT = (last − first token)/(O − 1),
 * throughput = tokens emitted / window time are averaged over the measured completions.
 * The concurrency cap is min(max_num_seqs, ⌊KV tokens / (I + O)⌋) (no preemption).
 * DP replicas multiply throughput. PP: `pp` micro-batches (virtual engines) overlap in the
 * pipeline, each carrying concurrency/pp requests and advancing one step per step latency.
 *
 * Disaggregated (separate prefill and decode pools, KV handed off over a link):
 *   prefill service time t_p = time of the prefill steps of one batch of ⌊chunk/I⌋ prompts (≥ 1);
 *   prefill capacity = instances·batch/t_p req/s; TTFT = t_p·(1 + ρ/(2(1−ρ))) (M/D/1 wait, ρ = λ/capacity);
 *   KV handoff = 10 µs + I·L·kvBytesPerToken(model)/(prefill TP · link GB/s · 0.7);
 *   TPOT = decode step time with c_d = concurrency/decode instances requests at contexts spread over [I, I+O];
 *   throughput = min(prefill capacity·O, decode instances·c_d/TPOT) tokens/s.
 */
import type { Step } from '../steps/step.js';
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { InputError } from '../io/errors.js';
import { compileEngine, type Engine, type EngineOptions } from './context.js';
import { engineStepBreakdown } from './step.js';
import { engineMemory, type MemoryResult } from './memory.js';

export interface Workload {
  inputTokens: number;
  outputTokens: number;
  /** Requests in flight (closed loop). Default: the concurrency cap. */
  concurrency?: number;
  /** Arrival rate, requests/s (open loop). */
  ratePerS?: number;
  /** Chunked-prefill token budget per step (max_num_batched_tokens), default 2048. */
  chunkTokens?: number;
  /** max_num_seqs, default 256. */
  maxSeqs?: number;
  /** gpu_memory_utilization, default 0.9. */
  gpuMemUtil?: number;
}

export interface DisaggOptions {
  prefillTp: number;
  prefillInstances: number;
  decodeInstances: number;
  /** KV handoff bandwidth per GPU per direction, GB/s (default: the inter-node figure). */
  kvLinkGBs?: number;
}

export interface ServeResult {
  readonly deployment: string;
  readonly gpus: number;
  /** Requests in flight across the deployment. */
  readonly concurrency: number;
  readonly limitedBy?: string;
  readonly ttftMs: number;
  readonly tpotMs: number;
  readonly e2eS: number;
  readonly outputTokensPerS: number;
  readonly outputTokensPerSPerGpu: number;
  readonly requestsPerS: number;
  /** Requests/s at the concurrency cap (the deployment's capacity). */
  readonly capacityRequestsPerS: number;
  /** Open loop: whether the offered rate is below capacity. */
  readonly keepsUp?: boolean;
  readonly kvHandoffMs?: number;
  readonly meanStepMs: number;
  readonly memory: MemoryResult;
}

interface Slot {
  arrival: number;
  prefilled: number;
  generated: number;
  firstToken: number;
  active: boolean;
}

interface ReplayResult {
  ttftS: number;
  tpotS: number;
  e2eS: number;
  tokensPerS: number;
  requestsPerS: number;
  meanStepS: number;
  queueGrows: boolean;
}

/**
 * Replay one engine (virtual engine under PP) with `n` concurrent slots (closed loop) or arrivals
 * every 1/rate s (open loop, at most `n` in flight). Deterministic.
 */
export function replay(e: Engine, I: number, O: number, n: number, chunk: number, rate?: number): ReplayResult {
  if (n < 1) throw new InputError('concurrency must be at least 1');
  const stepUs = (s: Step): number => engineStepBreakdown(s, e, false).us;
  const slots: Slot[] = [];
  const open = rate !== undefined && rate > 0;
  let now = 0;
  // closed loop: staggered phases (request i is i/n of the way through its decode)
  if (!open) {
    for (let i = 0; i < n; i++) {
      const g = Math.floor((i * O) / n);
      slots.push(g === 0 ? { arrival: 0, prefilled: 0, generated: 0, firstToken: NaN, active: true } : { arrival: -Infinity, prefilled: I, generated: g, firstToken: -Infinity, active: true });
    }
  }
  const queue: number[] = [];
  let nextArrival = 0;
  const warm = Math.max(n, 20);
  const measure = Math.max(2 * n, 40);
  let completed = 0;
  let tStart = NaN;
  let tokensInWindow = 0;
  let doneInWindow = 0;
  let steps = 0;
  let stepTime = 0;
  const ttft: number[] = [];
  const tpot: number[] = [];
  const e2e: number[] = [];
  const maxSteps = 400_000;
  let arrivals = 0;
  while (completed < warm + measure && steps < maxSteps) {
    if (open) {
      while (nextArrival <= now) {
        queue.push(nextArrival);
        nextArrival += 1 / rate!;
        arrivals++;
      }
      for (let i = 0; i < slots.length && queue.length; i++) if (!slots[i]!.active) slots[i] = { arrival: queue.shift()!, prefilled: 0, generated: 0, firstToken: NaN, active: true };
      while (slots.length < n && queue.length) slots.push({ arrival: queue.shift()!, prefilled: 0, generated: 0, firstToken: NaN, active: true });
      if (!slots.some((s) => s.active)) {
        now = nextArrival;
        continue;
      }
    }
    const decode: number[] = [];
    const prefill: { tokens: number; prior: number; prompt: number }[] = [];
    const pfSlots: number[] = [];
    for (const s of slots) if (s.active && s.prefilled >= I) decode.push(I + s.generated - 1 + 0);
    let budget = chunk - decode.length;
    // oldest first
    const waiting = slots
      .map((s, i) => ({ s, i }))
      .filter((x) => x.s.active && x.s.prefilled < I)
      .sort((a, b) => a.s.arrival - b.s.arrival);
    for (const { s, i } of waiting) {
      if (budget <= 0) break;
      const t = Math.min(budget, I - s.prefilled);
      prefill.push({ tokens: t, prior: s.prefilled, prompt: I });
      pfSlots.push(i);
      budget -= t;
    }
    if (decode.length === 0 && prefill.length === 0) break;
    // the measurement window opens at the end of the step that completes the warm-up; only steps
    // that start inside it count toward throughput
    const windowOpen = Number.isFinite(tStart);
    const dt = stepUs({ experiment: 'serve', step: steps, prefill, decode }) / 1e6;
    now += dt;
    steps++;
    stepTime += dt;
    let emitted = decode.length;
    pfSlots.forEach((i, j) => {
      const s = slots[i]!;
      s.prefilled += prefill[j]!.tokens;
      if (s.prefilled >= I) {
        s.generated = 1;
        s.firstToken = now;
        emitted++;
      }
    });
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (!s.active || s.prefilled < I) continue;
      if (s.firstToken === now && s.generated === 1 && O > 1) continue; // just got its first token this step
      if (decode.length && s.firstToken !== now) s.generated++;
      if (s.generated >= O) {
        completed++;
        if (windowOpen) doneInWindow++;
        if (completed > warm && Number.isFinite(s.arrival)) {
          ttft.push(s.firstToken - s.arrival);
          if (O > 1) tpot.push((now - s.firstToken) / (O - 1));
          e2e.push(now - s.arrival);
        }
        if (completed === warm) tStart = now;
        slots[i] = open ? { arrival: 0, prefilled: 0, generated: 0, firstToken: NaN, active: false } : { arrival: now, prefilled: 0, generated: 0, firstToken: NaN, active: true };
      }
    }
    if (windowOpen) tokensInWindow += emitted;
  }
  const window = now - (Number.isFinite(tStart) ? tStart : 0);
  const mean = (a: number[]): number => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
  return {
    ttftS: mean(ttft),
    tpotS: O > 1 ? mean(tpot) : 0,
    e2eS: mean(e2e),
    tokensPerS: window > 0 ? tokensInWindow / window : 0,
    requestsPerS: window > 0 ? doneInWindow / window : 0,
    meanStepS: steps ? stepTime / steps : 0,
    queueGrows: open && queue.length > n,
  };
}

/** Serving metrics (see file comment). `ctx` = {arch, gpu, tp}; `opts` engine options (pp, ep, dp, dtypes, efficiency). */
export function serveMetrics(ctx: { arch: Architecture; gpu: GpuSpec; tp: number }, opts: EngineOptions, w: Workload, disagg?: DisaggOptions): ServeResult {
  const I = w.inputTokens;
  const O = w.outputTokens;
  if (!(I >= 1 && O >= 1)) throw new InputError(`input and output lengths must be ≥ 1 token (got ${I}, ${O})`);
  const chunk = w.chunkTokens ?? 2048;
  const maxSeqs = w.maxSeqs ?? 256;
  const util = w.gpuMemUtil ?? 0.9;
  if (!disagg) {
    const e = compileEngine(ctx, opts);
    const mem = engineMemory(e, { maxModelLen: I + O, gpuMemUtil: util, maxBatchedTokens: chunk, maxSeqs });
    if (!mem.fits) throw new InputError(`does not fit: ${mem.reason}`);
    const dp = e.dp;
    const memCap = Math.floor(mem.maxKvTokens / (I + O));
    const cap = Math.min(maxSeqs * e.pp, memCap) * dp;
    let limitedBy: string | undefined;
    let C = w.concurrency ?? cap;
    if (C > cap) {
      limitedBy = cap === maxSeqs * e.pp * dp ? 'max-seqs' : 'KV-cache memory';
      C = cap;
    }
    if (w.concurrency === undefined && w.ratePerS === undefined) limitedBy = cap === maxSeqs * e.pp * dp ? 'max-seqs' : 'KV-cache memory';
    const perVirtual = Math.max(1, Math.floor(C / dp / e.pp));
    const virtuals = dp * e.pp;
    const capRun = replay(e, I, O, Math.max(1, Math.floor(cap / dp / e.pp)), chunk);
    const capacity = capRun.requestsPerS * virtuals;
    const run = w.ratePerS ? replay(e, I, O, Math.max(1, Math.floor(cap / dp / e.pp)), chunk, w.ratePerS / virtuals) : replay(e, I, O, perVirtual, chunk);
    const gpus = e.tp * e.pp * dp;
    const tokensPerS = run.tokensPerS * virtuals;
    return {
      deployment: `aggregated TP${e.tp}${e.pp > 1 ? ` PP${e.pp}` : ''}${e.ep > 1 ? ` EP${e.ep}` : ''}${dp > 1 ? ` DP${dp}` : ''}`,
      gpus,
      concurrency: w.ratePerS ? Math.round(w.ratePerS * run.e2eS) : perVirtual * virtuals,
      ...(limitedBy ? { limitedBy } : {}),
      ttftMs: run.ttftS * 1e3,
      tpotMs: run.tpotS * 1e3,
      e2eS: run.e2eS,
      outputTokensPerS: tokensPerS,
      outputTokensPerSPerGpu: tokensPerS / gpus,
      requestsPerS: run.requestsPerS * virtuals,
      capacityRequestsPerS: capacity,
      ...(w.ratePerS ? { keepsUp: w.ratePerS < capacity && !run.queueGrows } : {}),
      meanStepMs: run.meanStepS * 1e3,
      memory: mem,
    };
  }
  // ---- disaggregated ----
  const pe = compileEngine({ ...ctx, tp: disagg.prefillTp }, { ...opts, pp: 1, dp: 1 });
  const de = compileEngine(ctx, { ...opts, dp: 1 });
  const pMem = engineMemory(pe, { maxModelLen: I, gpuMemUtil: util, maxBatchedTokens: chunk, maxSeqs });
  if (!pMem.fits) throw new InputError(`prefill pool does not fit: ${pMem.reason}`);
  const dMem = engineMemory(de, { maxModelLen: I + O, gpuMemUtil: util, maxBatchedTokens: Math.min(chunk, maxSeqs), maxSeqs });
  if (!dMem.fits) throw new InputError(`decode pool does not fit: ${dMem.reason}`);
  // prefill service: one batch of b prompts, chunked by the token budget
  const b = Math.max(1, Math.floor(chunk / I));
  let tp = 0;
  if (b > 1) {
    tp = engineStepBreakdown({ experiment: 'p', step: 0, prefill: Array.from({ length: b }, () => ({ tokens: I, prior: 0, prompt: I })), decode: [] }, pe).us / 1e6;
  } else {
    for (let done = 0; done < I; done += chunk) {
      const t = Math.min(chunk, I - done);
      tp += engineStepBreakdown({ experiment: 'p', step: 0, prefill: [{ tokens: t, prior: done, prompt: I }], decode: [] }, pe).us / 1e6;
    }
  }
  const prefillCap = (disagg.prefillInstances * b) / tp;
  // KV handoff
  const kvModelBytesPerToken = de.arch.numLayers * (de.mla ? de.kvBytesPerTokenLayer : 2 * de.arch.numKvHeads * de.headDim * de.kvBytes);
  const linkGBs = disagg.kvLinkGBs ?? opts.interNodeGBs ?? 50;
  const handoffS = 10e-6 + (I * kvModelBytesPerToken) / (disagg.prefillTp * linkGBs * 1e9 * 0.7);
  // decode pool
  const memCap = Math.floor(dMem.maxKvTokens / (I + O));
  const dCap = Math.min(maxSeqs * de.pp, memCap);
  let limitedBy: string | undefined;
  const Ctot = w.concurrency ?? dCap * disagg.decodeInstances;
  let cd = Math.max(1, Math.floor(Ctot / disagg.decodeInstances));
  if (cd > dCap) {
    cd = dCap;
    limitedBy = dCap === maxSeqs * de.pp ? 'max-seqs' : 'KV-cache memory';
  }
  const perVirtual = Math.max(1, Math.floor(cd / de.pp));
  const contexts = Array.from({ length: perVirtual }, (_, i) => Math.round(I + ((i + 0.5) * O) / perVirtual));
  const tpot = engineStepBreakdown({ experiment: 'd', step: 0, prefill: [], decode: contexts }, de).us / 1e6;
  const decodeTokPerS = (disagg.decodeInstances * cd) / tpot;
  const decodeReqPerS = decodeTokPerS / O;
  const capacityReq = Math.min(prefillCap, decodeReqPerS);
  const ttftAt = (lambda: number): number => {
    const rho = Math.min(0.99, lambda / prefillCap);
    return tp * (1 + rho / (2 * (1 - rho)));
  };
  const e2eAt = (lambda: number): number => ttftAt(lambda) + handoffS + (O - 1) * tpot;
  let lambda: number;
  if (w.ratePerS !== undefined) {
    lambda = Math.min(w.ratePerS, capacityReq);
  } else {
    // closed loop: Little's law λ·e2e(λ) = concurrency, solved by bisection on (0, capacity]
    const C = cd * disagg.decodeInstances;
    let lo = 0;
    let hi = capacityReq;
    if (hi * e2eAt(hi) <= C) lo = hi;
    else
      for (let i = 0; i < 60; i++) {
        const mid = (lo + hi) / 2;
        if (mid * e2eAt(mid) < C) lo = mid;
        else hi = mid;
      }
    lambda = lo;
  }
  const ttft = ttftAt(lambda);
  const reqPerS = lambda;
  const gpus = disagg.prefillTp * disagg.prefillInstances + de.tp * de.pp * disagg.decodeInstances;
  const tokensPerS = reqPerS * O;
  return {
    deployment: `disaggregated: ${disagg.prefillInstances}× prefill TP${disagg.prefillTp} + ${disagg.decodeInstances}× decode TP${de.tp}${de.pp > 1 ? ` PP${de.pp}` : ''}`,
    gpus,
    concurrency: cd * disagg.decodeInstances,
    ...(limitedBy ? { limitedBy } : {}),
    ttftMs: ttft * 1e3,
    tpotMs: tpot * 1e3,
    e2eS: ttft + handoffS + (O - 1) * tpot,
    outputTokensPerS: tokensPerS,
    outputTokensPerSPerGpu: tokensPerS / gpus,
    requestsPerS: reqPerS,
    capacityRequestsPerS: capacityReq,
    ...(w.ratePerS ? { keepsUp: w.ratePerS < capacityReq } : {}),
    kvHandoffMs: handoffS * 1e3,
    meanStepMs: tpot * 1e3,
    memory: dMem,
  };
}
