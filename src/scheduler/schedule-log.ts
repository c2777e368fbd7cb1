/**
 * The "schedule log": a plain, engine-neutral record of what a chunked-prefill scheduler did,
 * step by step. It is the input of the vLLM OTLP trace emitter (`emit.ts`) and the thing a
 * round trip must recover. Producers: the round-trip generator (`generate.ts`) and the serving
 * simulator (src/simulate/). All times are monotonic **nanoseconds** (plain numbers: a
 * monotonic clock in ns stays far below 2^53 for ~104 days of uptime).
 *
 * Conventions (the same ones `vllm-otlp-trace.md` states for real traces):
 * - Step ids are the engine step counter: strictly increasing, normally consecutive
 *   (a gap means the engine was idle; no step record exists for an idle counter value).
 * - A request appears in a step's `entries` iff it is computed in that step's forward pass
 *   (prefill chunk or one decode token). A running request that got no budget (0 tokens) is
 *   simply absent from `entries` that step.
 * - Token accounting of an entry:
 *     PREFILL: `computedBefore` tokens are already in KV; `scheduled` new tokens are computed.
 *              Completes the (re)compute when computedBefore + scheduled = prompt + outputBefore;
 *              that step samples a new output token.
 *     DECODE:  `scheduled` = 1; `computedBefore` = prompt + outputBefore − 1 (the newest sampled
 *              token is computed in this step); the step samples one more output token.
 * - Journey events carry the step they happened at (`scheduler.step`): SCHEDULED and PREEMPTED
 *   while step `step` is being built (the request is in that step's batch after SCHEDULED, and
 *   absent from it after PREEMPTED); FIRST_TOKEN and FINISHED after its forward pass. QUEUED
 *   carries the counter of the next step to be built when the request entered the queue.
 */

/** One request as the API server received it. */
export interface ScheduleRequest {
  /** Engine request id, e.g. `cmpl-<uuid>-0-<hash>`. The API span uses the id without a trailing `-0-<hash>`. */
  readonly id: string;
  /** API arrival, monotonic ns (api.ARRIVED). */
  readonly arrivalNs: number;
  /** Prompt length in tokens (`prefill.total_tokens`). */
  readonly promptTokens: number;
  /** Output limit (`decode.max_tokens`). */
  readonly maxTokens: number;
  /** API departure, monotonic ns (api.DEPARTED); default: the FINISHED event's time. */
  readonly departNs?: number;
  /** True when the client aborted it (api.ABORTED instead of DEPARTED). */
  readonly aborted?: boolean;
}

export type RequestPhase = 'PREFILL' | 'DECODE';

/** What one request computed in one step (becomes a step.REQUEST_SNAPSHOT). */
export interface StepEntry {
  readonly request: string;
  readonly phase: RequestPhase;
  /** Tokens in the KV cache before this step (`request.num_computed_tokens`). */
  readonly computedBefore: number;
  /** Tokens computed in this step (`request.scheduled_tokens_this_step`), ≥ 1. */
  readonly scheduled: number;
  /** Output tokens generated before this step (`request.num_output_tokens`). */
  readonly outputBefore: number;
  /** Times this request was preempted so far (`request.num_preemptions`). */
  readonly preemptions: number;
  /** KV blocks allocated to it after this step's allocation (`kv.blocks_allocated_gpu`); default 0. */
  readonly kvBlocks?: number;
  /** Of those, prefix-cache hits (`kv.blocks_cached_gpu`); default 0. */
  readonly kvCachedBlocks?: number;
}

export type JourneyKind = 'QUEUED' | 'SCHEDULED' | 'FIRST_TOKEN' | 'PREEMPTED' | 'FINISHED';

/** One `journey.*` event of a request. Optional fields are derived by the emitter when omitted. */
export interface JourneyEvent {
  readonly request: string;
  readonly kind: JourneyKind;
  /** Event time, monotonic ns. */
  readonly tsNs: number;
  /** `scheduler.step`; default: the id of the step record that lists the event. */
  readonly step?: number;
  /** SCHEDULED only: FIRST (first admission) or RESUME (after a preemption). Default FIRST for the first SCHEDULED, RESUME after. */
  readonly scheduleKind?: 'FIRST' | 'RESUME';
  /** SCHEDULED: tokens already computed at admission (prefix-cache hit for FIRST, 0 for RESUME). Default 0. */
  readonly prefillDoneTokens?: number;
  /** SCHEDULED(RESUME), FIRST_TOKEN, FINISHED: output tokens generated so far. Default: tracked from the step entries. */
  readonly decodeDoneTokens?: number;
  /** PREEMPTED: preemption count including this one. Default: tracked. */
  readonly numPreemptions?: number;
  /** FINISHED: finish status. Default 'LENGTH' when decode.done = max tokens, else 'STOPPED'. */
  readonly finishStatus?: string;
}

/** One scheduler iteration. */
export interface ScheduleStep {
  /** Engine step counter (`step.id`, `scheduler.step`). */
  readonly step: number;
  /** Step start / end, monotonic ns (`step.ts_start_ns`, `step.ts_end_ns`). */
  readonly startNs: number;
  readonly endNs: number;
  /** `step.duration_us` as the build reports it; default (endNs − startNs)/1000. */
  readonly durationUs?: number;
  /** Requests computed this step, in batch order (decodes first, then prefill chunks, by convention). */
  readonly entries: readonly StepEntry[];
  /** Journey events with `scheduler.step` = this step (QUEUED of arrivals before it may be listed here too). */
  readonly events: readonly JourneyEvent[];
  /** `queue.running_depth` / `queue.waiting_depth` after scheduling; default: entries count / 0. */
  readonly runningDepth?: number;
  readonly waitingDepth?: number;
  /** `kv.blocks_total_gpu` / `kv.blocks_free_gpu`; default 0 / 0. */
  readonly kvBlocksTotal?: number;
  readonly kvBlocksFree?: number;
}

/** Engine limits, written to an experiment directory's exp-config.yaml by `writeExperimentDir`. */
export interface ScheduleConfig {
  readonly model?: string;
  readonly tensorParallelism?: number;
  readonly maxModelLen?: number;
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs?: number;
  readonly blockSize?: number;
  readonly numGpuBlocks?: number;
}

/** A whole schedule log (small logs; large producers use the streaming emitter directly). */
export interface ScheduleLog {
  readonly config?: ScheduleConfig;
  readonly requests: readonly ScheduleRequest[];
  /** In increasing step order. */
  readonly steps: readonly ScheduleStep[];
}

/** True when this entry completes the request's (re)compute and samples a token (see the conventions above). */
export function entrySamplesToken(e: StepEntry, promptTokens: number): boolean {
  return e.phase === 'DECODE' || e.computedBefore + e.scheduled >= promptTokens + e.outputBefore;
}

/**
 * Canonical form of one request's work in a step (shared by the exact path, the inferred path
 * and the round-trip tests, so that all three classify alike):
 * - a decode iff it has output tokens, computes exactly one token, and that token is the newest
 *   sampled one: outputBefore ≥ 1, scheduled = 1, computedBefore = prompt + outputBefore − 1
 *   → decode context = computedBefore;
 * - otherwise a prefill chunk {tokens: scheduled, prior: computedBefore, prompt: prompt + outputBefore}
 *   (a resumed request recomputes prompt + generated tokens, so its "prompt" is that length).
 */
export function canonicalEntry(promptTokens: number, computedBefore: number, scheduled: number, outputBefore: number): { decode: number } | { tokens: number; prior: number; prompt: number } {
  if (outputBefore >= 1 && scheduled === 1 && computedBefore === promptTokens + outputBefore - 1) return { decode: computedBefore };
  return { tokens: scheduled, prior: computedBefore, prompt: Math.max(promptTokens + outputBefore, computedBefore + scheduled) };
}

/**
 * The canonical steps a schedule log describes (the ground truth of a round trip). Duration:
 * `durationOf(step)` when given (e.g. the next step's start − this start), else none.
 */
export function scheduleToSteps(
  log: ScheduleLog,
  experiment: string,
  durationOf?: (s: ScheduleStep, next: ScheduleStep | undefined) => number | undefined,
): { experiment: string; step: number; durationUs?: number; prefill: { tokens: number; prior: number; prompt: number }[]; decode: number[] }[] {
  const prompt = new Map(log.requests.map((r) => [r.id, r.promptTokens] as const));
  return log.steps.map((s, i) => {
    const prefill: { tokens: number; prior: number; prompt: number }[] = [];
    const decode: number[] = [];
    for (const e of s.entries) {
      const p = prompt.get(e.request);
      if (p === undefined) throw new Error(`scheduleToSteps: step ${s.step} refers to unknown request '${e.request}'`);
      const c = canonicalEntry(p, e.computedBefore, e.scheduled, e.outputBefore);
      if ('decode' in c) decode.push(c.decode);
      else prefill.push(c);
    }
    const d = durationOf?.(s, log.steps[i + 1]);
    return { experiment, step: s.step, ...(d !== undefined ? { durationUs: d } : {}), prefill, decode };
  });
}
