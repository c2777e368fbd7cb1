/**
 * Serving metrics for a steady workload of identical requests (input I tokens, output O tokens).
 *
 * Aggregated (prefill and decode on the same GPUs, vLLM chunked prefill): a deterministic
 * step-by-step replay of one engine replica (serving-replay.ts) on the scheduler core
 * (src/scheduler/core.ts, vLLM V1 rules: running queue in order — decodes one token each, the
 * unfinished prefill its chunk — then waiting requests oldest first with the budget left,
 * `chunkTokens`); its duration is the engine step time. Closed loop: a finished request is replaced
 * at once (`concurrency` in flight); open loop: arrivals every 1/rate seconds, admitted while fewer
 * than the concurrency cap are in flight. Phases start staggered,
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
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { InputError } from '../io/errors.js';
import { compileEngine, type Engine, type EngineOptions } from './context.js';
import { engineStepBreakdown } from './step.js';
import { engineMemory, type MemoryResult } from './memory.js';
import { replay } from './serving-replay.js';

export { replay, type ReplayResult } from './serving-replay.js';

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

interface Limits {
  I: number;
  O: number;
  chunk: number;
  maxSeqs: number;
  util: number;
}
type Ctx = { arch: Architecture; gpu: GpuSpec; tp: number };

/** Serving metrics (see file comment). `ctx` = {arch, gpu, tp}; `opts` engine options (pp, ep, dp, dtypes, efficiency). */
export function serveMetrics(ctx: Ctx, opts: EngineOptions, w: Workload, disagg?: DisaggOptions): ServeResult {
  const I = w.inputTokens;
  const O = w.outputTokens;
  if (!(I >= 1 && O >= 1)) throw new InputError(`input and output lengths must be ≥ 1 token (got ${I}, ${O})`);
  const lim: Limits = { I, O, chunk: w.chunkTokens ?? 2048, maxSeqs: w.maxSeqs ?? 256, util: w.gpuMemUtil ?? 0.9 };
  return disagg ? disaggregated(ctx, opts, w, disagg, lim) : aggregated(ctx, opts, w, lim);
}

/** Aggregated: replays of one virtual engine at the concurrency cap (capacity) and at the workload. */
function aggregated(ctx: Ctx, opts: EngineOptions, w: Workload, { I, O, chunk, maxSeqs, util }: Limits): ServeResult {
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

/** Disaggregated: prefill pool as an M/D/1 queue, KV handoff, decode pool at its concurrency. */
function disaggregated(ctx: Ctx, opts: EngineOptions, w: Workload, disagg: DisaggOptions, { I, O, chunk, maxSeqs, util }: Limits): ServeResult {
  const pe = compileEngine({ ...ctx, tp: disagg.prefillTp }, { ...opts, pp: 1, dp: 1 });
  const de = compileEngine(ctx, { ...opts, dp: 1 });
  const pMem = engineMemory(pe, { maxModelLen: I, gpuMemUtil: util, maxBatchedTokens: chunk, maxSeqs });
  if (!pMem.fits) throw new InputError(`prefill pool does not fit: ${pMem.reason}`);
  const dMem = engineMemory(de, { maxModelLen: I + O, gpuMemUtil: util, maxBatchedTokens: Math.min(chunk, maxSeqs), maxSeqs });
  if (!dMem.fits) throw new InputError(`decode pool does not fit: ${dMem.reason}`);
  // prefill service: one batch of b prompts, chunked by the token budget
  const { b, tp } = prefillService(pe, I, chunk);
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
  const lambda = w.ratePerS !== undefined ? Math.min(w.ratePerS, capacityReq) : littleLambda(cd * disagg.decodeInstances, capacityReq, e2eAt);
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

/** Prefill service of the prefill pool: one batch of b = ⌊chunk/I⌋ prompts (≥ 1), chunked by the token budget; its time tp, s. */
function prefillService(pe: Engine, I: number, chunk: number): { b: number; tp: number } {
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
  return { b, tp };
}

/** Closed loop: Little's law λ·e2e(λ) = C, solved by bisection on (0, capacity]. */
function littleLambda(C: number, capacityReq: number, e2eAt: (lambda: number) => number): number {
  let lo = 0;
  let hi = capacityReq;
  if (hi * e2eAt(hi) <= C) return hi;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (mid * e2eAt(mid) < C) lo = mid;
    else hi = mid;
  }
  return lo;
}
