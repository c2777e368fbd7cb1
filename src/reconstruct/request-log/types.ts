/** Records of the request-log replay (simulate.ts): logged requests in, implied steps and per-request results out. */
import type { ClockModel } from './clock.js';

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
