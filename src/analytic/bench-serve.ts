/**
 * Closed-loop benchmark model: what `vllm bench serve --max-concurrency c` (request rate inf,
 * fixed input length I and output length O) measures on one vLLM engine, as a steady-state fixed point.
 *
 * Protocol assumptions (docs/serving.md): c clients, each sending its next request as soon as the
 * previous one finishes; over a long run their phases spread out (arrivals do not stay in lock-step:
 * the API server, tokenization and chunked prefill break up the first burst), so the engine sees a
 * steady stream λ of new requests. vLLM V1's scheduler admits at most `maxNumSeqs` running requests
 * and as many as the KV cache holds (a running request occupies I + O/2 tokens on average); clients
 * beyond that wait in vLLM's queue and their TTFT includes the wait — nothing is clamped.
 * Each step runs every decoding request plus prefill tokens up to the token budget B
 * (max_num_batched_tokens), oldest first.
 *
 * Fixed point (all times s; `step(P, n)` = engine step time with P prefill tokens and n decodes at
 * the mean context I + O/2, plus the per-step host time h):
 *   n_run = min(c, cap),  cap = min(maxNumSeqs, ⌊KV tokens / (I + O/2)⌋)
 *   n_d   = n_run · D / (D + F)                 decoding share of the running requests, D = (O−1)·T
 *   a     = max(1, B − n_d),  k = ⌈I / a⌉,  b = max(1, ⌊a / I⌋)   (budget left, chunk steps, prefills per step)
 *   F     = (1 − ρ)·step(0, n_d)/2 + ρ·S₁/(2(1 − ρ)) + S₁,  S₁ = k·step(I/k, n_d),  ρ = λ·S₁/b·(c−1)/c
 *                                               (prefill queue, M/D/1 seen by an arriving client)
 *   cycle = α₀ + F + D + α₁ + α₂·O  (one client's request); λ = min(c / cycle, n_run / (F + D), a/(I·T))
 *   T     = lumpy mean step (`lumpyMeanStep`): prefill steps (m = min(b, 1 + λ·S₁) prefills each) at
 *           λ·k/m per second, decode-only steps in the remaining time — prefills are lumps, not spread
 *           over every step (that would load every MoE expert in every step)
 *   wait  = c/λ − cycle (≥ 0): time queued when c exceeds the capacity (slots, KV or token budget)
 *   TTFT  = α₀ + wait + F, averaged with the first wave (`burstTtftS`) over the benchmark's prompts;
 *   TPOT  = T + (α₁ + α₂·O)/(O − 1);  output tokens/s = λ·O
 * `prefillQueue: false` gives the fluid variant (F = T/2 + k·step, T = step(λ·I·T, n_d)) for the ablation.
 * Solved by damped iteration (≤ 60 rounds, a handful of step evaluations each): microseconds per
 * scenario, so a sweep of thousands of scenarios takes seconds.
 */
import type { Step } from '../steps/step.js';
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { InputError } from '../io/errors.js';
import { compileEngine, type Engine, type EngineOptions } from './context.js';
import { engineMemory } from './memory.js';
import { vllmDefaultLimits } from './vllm-defaults.js';
import { engineStepBreakdown } from './step.js';
import type { HostCosts } from './host-costs.js';

export interface BenchInput {
  /** Input (prompt) tokens per request. */
  readonly isl: number;
  /** Output tokens per request. */
  readonly osl: number;
  /** Clients (requests in flight) on this engine. */
  readonly clients: number;
  /** max_num_batched_tokens. */
  readonly budget: number;
  /** max_num_seqs. */
  readonly maxSeqs: number;
  /** Tokens the KV cache holds. */
  readonly kvTokens: number;
  /**
   * Prompts the benchmark sends in all (`vllm bench serve --num-prompts`, default 1000 there), spread
   * over the DP ranks. The first `clients` of them arrive together at t = 0 (the burst); their mean
   * TTFT is the burst's, the rest see the steady state. Infinity = steady state only.
   */
  readonly numPrompts: number;
  /**
   * Prefill queueing (default true): a new request waits for the prefills ahead of it (M/D/1 with
   * the arriving client's view of the other c − 1 clients); false = it only waits half a step (fluid).
   */
  readonly prefillQueue?: boolean;
}

export interface BenchResult {
  readonly ttftS: number;
  readonly tpotS: number;
  readonly e2eS: number;
  /** Requests/s and output tokens/s of this engine. */
  readonly requestsPerS: number;
  readonly outputTokensPerS: number;
  /** Mean engine step, s (host time included). */
  readonly meanStepS: number;
  /** Requests running in the engine; the rest of the clients queue. */
  readonly running: number;
  /** Mean time a request waits in vLLM's queue, s. */
  readonly queueS: number;
  /** What bounds the running set / throughput: 'clients', 'max-num-seqs', 'KV-cache memory' or 'token budget'. */
  readonly limitedBy: 'clients' | 'max-num-seqs' | 'KV-cache memory' | 'token budget';
  /** Running-request capacity: min(max_num_seqs, KV tokens / (I + O/2)). */
  readonly capacity: number;
  /** Mean TTFT of the first wave (all clients arriving at t = 0), s, and of the steady state. */
  readonly burstTtftS: number;
  readonly steadyTtftS: number;
}

/**
 * The first wave: `n` requests arrive together; each step prefills up to `budget` tokens of them in
 * arrival order (chunked), while those already prefilled decode. Returns the mean time to first token, s.
 */
export function burstTtftS(n: number, I: number, budget: number, stepS: (P: number, nDecode: number) => number): number {
  if (n <= 0) return 0;
  let t = 0;
  let done = 0;
  let left = n * I;
  let sum = 0;
  let partial = 0;
  for (let guard = 0; left > 0 && guard < 1e6; guard++) {
    const avail = Math.max(1, budget - done);
    const P = Math.min(avail, left);
    t += stepS(P, done);
    left -= P;
    // requests whose prefill completed this step
    const finished = Math.min(n, Math.floor((n * I - left) / I)) - done;
    partial = finished;
    sum += finished * t;
    done += finished;
  }
  void partial;
  return sum / n;
}

/** Step time, µs, with P prefill tokens (chunks of at most I from fresh prompts) and n decodes at context ctx. */
export function mixedStepUs(e: Engine, P: number, I: number, n: number, ctx: number): number {
  const prefill: Step['prefill'][number][] = [];
  let left = Math.round(P);
  while (left > 0) {
    const t = Math.min(I, left);
    prefill.push({ tokens: t, prior: I - t, prompt: I });
    left -= t;
  }
  const nd = Math.max(0, Math.round(n));
  const decode = nd > 0 ? new Array<number>(nd).fill(Math.round(ctx)) : [];
  if (prefill.length === 0 && decode.length === 0) return 0;
  return engineStepBreakdown({ experiment: 'bench', step: 0, prefill, decode }, e, false).us;
}

/**
 * Mean step with prefills as lumps (not spread over every step: for an MoE model a few prefill
 * tokens in every step would load every expert every step). Prefills arrive at λ/s, each needs k
 * chunk steps; m = min(b, 1 + λ·S) of them share a prefill step of length S = step(m·I/k, n_d).
 * Prefill steps per second r = λ·k/m take the time fraction φ = r·S; decode-only steps fill the
 * rest: mean step = 1 / (r + (1 − φ)/T_d), or S when prefills fill every step.
 */
export function lumpyMeanStep(lambda: number, I: number, k: number, b: number, nd: number, step: (P: number, n: number) => number): number {
  const Td = step(0, nd);
  if (!(lambda > 0)) return Td > 0 ? Td : step(I / k, 0);
  const S1 = step(I / k, nd);
  const m = Math.min(b, 1 + lambda * S1);
  const S = m > 1 ? step((m * I) / k, nd) : S1;
  const r = (lambda * k) / m;
  const phi = r * S;
  if (phi >= 1 || !(Td > 0)) return S;
  return 1 / (r + (1 - phi) / Td);
}

/** The closed-loop fixed point of one engine (see file comment). */
export function benchServe(e: Engine, w: BenchInput, host: HostCosts): BenchResult {
  const I = w.isl;
  const O = w.osl;
  const c = w.clients;
  const B = w.budget;
  const ctx = I + O / 2;
  const kvCap = Math.max(1, Math.floor(w.kvTokens / ctx));
  const capacity = Math.min(w.maxSeqs, kvCap);
  const nRun = Math.min(c, capacity);
  const h = host.stepHostUs / 1e6;
  const a0 = host.apiOverheadUs / 1e6;
  const post = (host.postDecodeFixedUs + host.postDecodePerTokenUs * O) / 1e6;
  const step = (P: number, n: number): number => mixedStepUs(e, P, I, n, ctx) / 1e6 + h;
  let T = step(0, nRun);
  let F = step(I, 0);
  let lambda = 0;
  let P = 0;
  let nd = nRun;
  let wait = 0;
  let bound: BenchResult['limitedBy'] = c > capacity ? (w.maxSeqs <= kvCap ? 'max-num-seqs' : 'KV-cache memory') : 'clients';
  for (let it = 0; it < 60; it++) {
    const D = Math.max(0, O - 1) * T;
    nd = D + F > 0 ? (nRun * D) / (D + F) : 0;
    const avail = Math.max(1, B - nd);
    const k = Math.ceil(I / avail);
    let Fnew: number;
    if (w.prefillQueue === false) {
      const mine = Math.min(k * avail, I + P) / k;
      Fnew = T / 2 + k * step(mine, nd);
    } else {
      // prefill as a queue: service S1 = this request's k chunk steps (decodes ride along), up to
      // b = ⌊a/I⌋ prefills share a step; utilization seen by an arriving client ρ = λ·S1/b·(c−1)/c;
      // wait Wq = ρ·S1/(2(1−ρ)) (M/D/1, includes the residual of a prefill in progress); otherwise the
      // residual of a decode step.
      const S1 = k * step(I / k, nd);
      const b = Math.max(1, Math.floor(avail / I));
      const rho = Math.min(0.95, (((lambda * S1) / b) * (c - 1)) / c);
      const Td = step(0, nd);
      Fnew = ((1 - rho) * Td) / 2 + (rho * S1) / (2 * (1 - rho)) + S1;
    }
    const cycle = a0 + Fnew + D + post;
    const byClients = c / cycle;
    const bySlots = nRun / (Fnew + D);
    const byBudget = avail / (I * T);
    let lam = Math.min(byClients, bySlots, byBudget);
    bound = lam === byClients ? 'clients' : lam === bySlots ? (c > capacity ? (w.maxSeqs <= kvCap ? 'max-num-seqs' : 'KV-cache memory') : 'clients') : 'token budget';
    if (!(lam > 0)) lam = byClients;
    const Pnew = Math.min(avail, lam * I * T);
    const Tnew = w.prefillQueue === false ? step(Pnew, nd) : lumpyMeanStep(lam, I, k, Math.max(1, Math.floor(avail / I)), nd, step);
    const damp = it < 5 ? 1 : 0.5;
    T = T + damp * (Tnew - T);
    F = F + damp * (Fnew - F);
    P = P + damp * (Pnew - P);
    lambda = lambda === 0 ? lam : lambda + damp * (lam - lambda);
    wait = Math.max(0, c / lam - cycle);
  }
  const D = Math.max(0, O - 1) * T;
  const steady = a0 + wait + F;
  const nBurst = Math.min(nRun, w.numPrompts);
  const burst = Number.isFinite(w.numPrompts) ? a0 + burstTtftS(nBurst, I, B, step) : steady;
  const ttft = Number.isFinite(w.numPrompts) ? (nBurst * burst + Math.max(0, w.numPrompts - nBurst) * steady) / Math.max(w.numPrompts, nBurst) : steady;
  const tpot = O > 1 ? T + post / (O - 1) : 0;
  return {
    ttftS: ttft,
    tpotS: tpot,
    e2eS: ttft + D + post,
    requestsPerS: lambda,
    outputTokensPerS: lambda * O,
    meanStepS: T,
    running: nRun,
    queueS: wait,
    limitedBy: bound,
    capacity,
    burstTtftS: burst,
    steadyTtftS: steady,
  };
}

export interface BenchDeployment {
  readonly isl: number;
  readonly osl: number;
  /** Total client concurrency across the deployment (spread evenly over DP ranks). */
  readonly concurrency: number;
  /** vLLM limits (undefined = vLLM's defaults for the GPU, analytic/vllm-defaults.ts). */
  readonly maxNumBatchedTokens?: number;
  readonly maxNumSeqs?: number;
  readonly gpuMemUtil?: number;
}

export interface BenchDeploymentResult extends BenchResult {
  readonly gpus: number;
  readonly concurrency: number;
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  readonly limitsSource: string;
  readonly outputTokensPerSPerGpu: number;
  readonly kvTokensPerEngine: number;
}

/** vLLM's `vllm bench serve` default for --num-prompts (vllm/benchmarks/serve.py). */
export const BENCH_DEFAULT_NUM_PROMPTS = 1000;

export interface BenchProtocol {
  /** Prompts sent in all (default 1000, `vllm bench serve`'s default); Infinity = steady state only. */
  readonly numPrompts?: number;
  /** Prefill queueing (default true; false = fluid, for the ablation). */
  readonly prefillQueue?: boolean;
}

/**
 * Closed-loop benchmark of a deployment: the clients are spread evenly over the DP ranks (each an
 * engine, PP = 1) and each rank is solved with `benchServe`. Limits default to vLLM's own
 * (`vllmDefaultLimits`). Throws InputError when the model does not fit.
 */
export function benchServeDeployment(
  ctx: { arch: Architecture; gpu: GpuSpec; tp: number },
  opts: EngineOptions,
  w: BenchDeployment,
  host: HostCosts,
  protocol: BenchProtocol = {},
  compiled?: Engine,
): BenchDeploymentResult {
  const I = w.isl;
  const O = w.osl;
  if (!(Number.isInteger(I) && I >= 1 && Number.isInteger(O) && O >= 1)) throw new InputError(`input and output lengths must be whole numbers ≥ 1 token (got ${I}, ${O})`);
  if (!(Number.isInteger(w.concurrency) && w.concurrency >= 1)) throw new InputError(`concurrency must be a whole number ≥ 1 (got ${w.concurrency})`);
  const defaults = vllmDefaultLimits(ctx.gpu);
  const budget = w.maxNumBatchedTokens ?? defaults.maxNumBatchedTokens;
  const maxSeqs = w.maxNumSeqs ?? defaults.maxNumSeqs;
  const util = w.gpuMemUtil ?? defaults.gpuMemoryUtilization;
  const e = compiled ?? compileEngine(ctx, opts);
  if (e.pp > 1) throw new InputError('the closed-loop benchmark model covers PP = 1 (use --protocol replay for pipeline parallelism)');
  const mem = engineMemory(e, { maxModelLen: I + O, gpuMemUtil: util, maxBatchedTokens: budget, maxSeqs });
  if (!mem.fits) throw new InputError(`does not fit: ${mem.reason}`);
  const dp = e.dp;
  const clients = w.concurrency / dp;
  const numPrompts = (protocol.numPrompts ?? BENCH_DEFAULT_NUM_PROMPTS) / dp;
  const r = benchServe(e, { isl: I, osl: O, clients, budget, maxSeqs, kvTokens: mem.maxKvTokens, numPrompts, prefillQueue: protocol.prefillQueue ?? true }, host);
  const gpus = e.tp * dp;
  const given = w.maxNumBatchedTokens !== undefined || w.maxNumSeqs !== undefined;
  return {
    ...r,
    requestsPerS: r.requestsPerS * dp,
    outputTokensPerS: r.outputTokensPerS * dp,
    gpus,
    concurrency: w.concurrency,
    maxNumBatchedTokens: budget,
    maxNumSeqs: maxSeqs,
    limitsSource: given ? 'given' : defaults.source,
    outputTokensPerSPerGpu: (r.outputTokensPerS * dp) / gpus,
    kvTokensPerEngine: mem.maxKvTokens,
  };
}
