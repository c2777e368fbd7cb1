/**
 * Types of the serving simulator (src/simulate/simulator.ts): engine limits, options, the per-step
 * view and the per-request outcome.
 */
import type { Step } from '../steps/step.js';
import type { StepTimeModel } from '../predict/model.js';
import type { ScheduleStep } from '../scheduler/schedule-log.js';

export interface EngineLimits {
  /** max_num_seqs: running requests per rank. */
  readonly maxNumSeqs: number;
  /** max_num_batched_tokens: tokens per step per rank. */
  readonly maxNumBatchedTokens: number;
  /** Tokens per KV block. */
  readonly blockSize: number;
  /** KV blocks per rank as vLLM reports num_gpu_blocks (block 0 is the reserved null block). */
  readonly numGpuBlocks: number;
  /** Longest sequence (prompt + output); longer prompts are dropped, outputs are capped. Default: the KV capacity. */
  readonly maxModelLen?: number;
  /** Automatic prefix caching (default true, as vLLM V1). */
  readonly prefixCaching?: boolean;
  /** Admit a request only when its full sequence fits in the free blocks (vLLM scheduler_reserve_full_isl, default true). */
  readonly reserveFullIsl?: boolean;
  /** Fraction of blocks kept free when admitting from the waiting queue while something is scheduled (default 0.01). */
  readonly watermark?: number;
}

export interface SimOptions {
  readonly limits: EngineLimits;
  /** Step time model per rank (one model shared by all ranks when a single one is given). */
  readonly model: StepTimeModel;
  /** Added to every step, µs (CPU scheduling, sampling, detokenisation not in the model). */
  readonly overheadUs?: number;
  /** σ of the multiplicative log-normal noise on the model time. */
  readonly noise?: number;
  readonly seed?: number;
  /** Experiment name written on step records. */
  readonly experiment: string;
  /** Data-parallel ranks stepping in lockstep (default 1). */
  readonly dp?: number;
  /** Build a schedule-log step (ScheduleStep) for each step (for trace emission). */
  readonly scheduleLog?: boolean;
  /** Monotonic ns of simulated time 0 in the schedule log (default 1e12 ns = 1000 s of uptime). */
  readonly monotonicBaseNs?: number;
  /** First engine step id (default 1). */
  readonly firstStepId?: number;
  /** Receives every gap between consecutive output tokens of a request, µs. */
  readonly itlHistogram?: { add(us: number): void };
  /** Called when request r arrives (before any step lists it), e.g. to register it with a trace emitter. */
  readonly onArrival?: (r: number) => void;
}

/** What `advance` reports for each step (objects are reused between calls: copy what you keep). */
export interface StepView {
  readonly rank: number;
  /** The canonical step record (duration_us = the simulated wall time). Arrays are reused. */
  readonly step: Step;
  readonly startNs: number;
  readonly endNs: number;
  /** Model prediction for this rank's batch, µs (before noise and overhead). */
  readonly predictedUs: number;
  readonly runningDepth: number;
  readonly waitingDepth: number;
  readonly kvBlocksTotal: number;
  readonly kvBlocksFree: number;
  readonly numPreempted: number;
  readonly numFinished: number;
  /** The schedule-log record of this step (only with `scheduleLog`). */
  readonly schedule?: ScheduleStep;
}

/** Request status codes (Uint8Array values). */
export const Status = { Pending: 0, Waiting: 1, Running: 2, Finished: 3, Dropped: 4 } as const;

/** Per-request outcome (times in ns from simulated 0; NaN when it never happened). */
export interface RequestResult {
  readonly id: string;
  readonly rank: number;
  readonly arrivalNs: number;
  readonly input: number;
  /** Output tokens asked for (after capping at max_model_len). */
  readonly output: number;
  readonly generated: number;
  readonly status: 'finished' | 'dropped' | 'unfinished';
  readonly reason: string;
  readonly firstScheduledNs: number;
  readonly firstTokenNs: number;
  readonly finishNs: number;
  /** Largest gap between consecutive output tokens, ns (NaN with < 2 tokens). */
  readonly itlMaxNs: number;
  readonly preemptions: number;
  /** Prompt tokens served from the prefix cache at first admission. */
  readonly cachedTokens: number;
  /** Tokens computed again after preemptions (recompute work). */
  readonly recomputedTokens: number;
}
