/**
 * A small chunked-prefill scheduler that produces schedule logs (schedule.ts) with a known step
 * sequence, for round-trip tests and benchmarks of the vLLM OTLP reader.
 *
 * Scheduling rule: the scheduler core's (src/scheduler/core.ts, vLLM V1 `Scheduler.schedule()`):
 * running requests in running-queue order (a decode 1 token, an unfinished prefill min(remaining,
 * budget left)), then waiting requests (preempted ones first, then arrivals in order) while budget is
 * left, the running set is below maxNumSeqs and the KV blocks of their first chunk are free (none in a
 * step that preempted); when KV blocks run out the last running request is preempted (recompute: its
 * KV is freed; on RESUME it prefills prompt + generated tokens). Its KV cache is a free-block counter.
 *
 * `ruleViolationRate` shortens a prefill chunk at random (an unmodelled engine limit), so that the
 * reconstructor's mismatch reporting can be tested; 0 (default) follows the rule exactly.
 */
import { makeRng } from '../../util/rng.js';
import { SchedulerCore, newSchedRequest, type SchedRequest } from '../../scheduler/core.js';
import type { JourneyEvent, ScheduleConfig, ScheduleLog, ScheduleRequest, ScheduleStep, StepEntry } from '../../scheduler/schedule-log.js';

export interface GenerateOptions {
  seed: number;
  /** Number of requests to generate (the log ends when all have finished). */
  requests: number;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  blockSize?: number;
  /** KV blocks on the GPU; small values force preemptions. */
  numGpuBlocks?: number;
  /** Mean inter-arrival time, ms. */
  meanInterArrivalMs?: number;
  /** Prompt lengths: uniform in [minPrompt, maxPrompt]. */
  minPrompt?: number;
  maxPrompt?: number;
  /** Output lengths: uniform in [1, maxOutput]; max_tokens = maxOutput. */
  maxOutput?: number;
  /** Fraction of prefill chunks shortened at random (default 0). */
  ruleViolationRate?: number;
  /** Fraction of requests with a prefix-cache hit at admission (prefill.done_tokens > 0), default 0. */
  prefixHitRate?: number;
}

interface GReq extends SchedRequest {
  r: ScheduleRequest;
  outputLen: number;
}

export type GeneratedItem = { kind: 'request'; request: ScheduleRequest } | { kind: 'step'; step: ScheduleStep };

const blocksFor0 = (tokens: number, bs: number): number => Math.ceil(tokens / bs);

const hexOf = (rng: ReturnType<typeof makeRng>, n: number): string => {
  let s = '';
  for (let i = 0; i < n; i++) s += ((rng.next() * 16) | 0).toString(16);
  return s;
};

/** The engine limits a generator run uses (for exp-config.yaml). */
export function generatorConfig(o: GenerateOptions): ScheduleConfig {
  return {
    model: 'synthetic',
    tensorParallelism: 1,
    maxNumBatchedTokens: o.maxNumBatchedTokens ?? 512,
    maxNumSeqs: o.maxNumSeqs ?? 32,
    blockSize: o.blockSize ?? 16,
    numGpuBlocks: o.numGpuBlocks ?? 4096,
    maxModelLen: (o.maxPrompt ?? 2000) + (o.maxOutput ?? 200),
  };
}

/** The generator's limits and workload parameters (defaults filled), checked for a feasible schedule. */
function generatorParams(o: GenerateOptions) {
  const cfg = generatorConfig(o);
  const p = {
    B: cfg.maxNumBatchedTokens,
    S: cfg.maxNumSeqs!,
    bs: cfg.blockSize!,
    K: cfg.numGpuBlocks!,
    meanIa: (o.meanInterArrivalMs ?? 20) * 1e6,
    minP: o.minPrompt ?? 16,
    maxP: o.maxPrompt ?? 2000,
    maxOut: o.maxOutput ?? 200,
    viol: o.ruleViolationRate ?? 0,
    prefixRate: o.prefixHitRate ?? 0,
  };
  if (p.S > p.B) throw new Error(`generateSchedule: maxNumSeqs (${p.S}) must not exceed maxNumBatchedTokens (${p.B})`);
  if (blocksFor0(p.maxP + p.maxOut, p.bs) > p.K) throw new Error(`generateSchedule: numGpuBlocks (${p.K}) cannot hold one request of ${p.maxP + p.maxOut} tokens`);
  return p;
}

/** A step's batch entries: decodes first, then prefill chunks (the snapshot order); only requests still running. */
function batchEntries(decodes: readonly GReq[], prefills: readonly { g: GReq; chunk: number }[], running: readonly GReq[], blocksFor: (tokens: number) => number): StepEntry[] {
  const entries: StepEntry[] = [];
  for (const g of decodes) {
    if (!running.includes(g)) continue;
    entries.push({ request: g.r.id, phase: 'DECODE', computedBefore: g.computed, scheduled: 1, outputBefore: g.outputs, preemptions: g.preemptions, kvBlocks: g.blocks });
  }
  for (const { g, chunk } of prefills) {
    if (!running.includes(g)) continue;
    entries.push({
      request: g.r.id,
      phase: 'PREFILL',
      computedBefore: g.computed,
      scheduled: chunk,
      outputBefore: g.outputs,
      preemptions: g.preemptions,
      kvBlocks: g.blocks,
      kvCachedBlocks: !g.preemptions && g.computed > 0 && g.computed === g.cachedTokens ? blocksFor(g.cachedTokens) : 0,
    });
  }
  return entries;
}

/** The forward pass: advance every entry, emit FIRST_TOKEN / FINISHED (stamped by `late`), release finished requests; how many finished. */
function forwardPass(core: SchedulerCore<GReq>, entries: readonly StepEntry[], events: JourneyEvent[], late: () => number, maxOut: number): number {
  let finished = 0;
  for (const e of entries) {
    const g = core.running.find((x) => x.r.id === e.request)!;
    if (!core.advance(g, e.scheduled)) continue;
    if (g.outputs === 1) events.push({ request: g.r.id, kind: 'FIRST_TOKEN', tsNs: late() });
    if (g.outputs >= g.outputLen) {
      events.push({ request: g.r.id, kind: 'FINISHED', tsNs: late(), finishStatus: g.outputs >= maxOut ? 'LENGTH' : 'STOPPED' });
      core.finish(g);
      finished++;
    }
  }
  return finished;
}

/** Build one step with the core; PREEMPTED / SCHEDULED events stamped by `tick`; with `viol` > 0 some chunks are cut short at random (rule violations). */
function scheduleStep(core: SchedulerCore<GReq>, rng: ReturnType<typeof makeRng>, viol: number, events: JourneyEvent[], tick: () => number) {
  return core.schedule({
    chunk: (_g, chunk) => (viol > 0 && chunk > 1 && rng.next() < viol ? rng.int(1, chunk - 1) : chunk),
    onPreempt: (victim) => {
      events.push({ request: victim.r.id, kind: 'PREEMPTED', tsNs: tick(), numPreemptions: victim.preemptions });
    },
    onAdmit: (g, resume, done) => {
      events.push({
        request: g.r.id,
        kind: 'SCHEDULED',
        tsNs: tick(),
        scheduleKind: resume ? 'RESUME' : 'FIRST',
        prefillDoneTokens: done,
        ...(resume ? { decodeDoneTokens: g.outputs } : {}),
      });
    },
  });
}

/**
 * Stream a schedule: each request is yielded before the first step that mentions it, then steps
 * in order. Memory: the in-flight requests only.
 */
export function* generateSchedule(o: GenerateOptions): Generator<GeneratedItem> {
  const { B, S, bs, K, meanIa, minP, maxP, maxOut, viol, prefixRate } = generatorParams(o);
  const rng = makeRng(o.seed);

  let t = 1e12; // monotonic ns
  let nextArrival = t + rng.exp(meanIa);
  let made = 0;
  let finished = 0;
  let step = 0;
  const core = new SchedulerCore<GReq>({ maxNumBatchedTokens: B, maxNumSeqs: S, blockSize: bs, numGpuBlocks: K });
  const running = core.running;
  const waiting = core.waiting;
  const blocksFor = (tokens: number): number => Math.ceil(tokens / bs);

  while (finished < o.requests) {
    // Idle: jump to the next arrival.
    if (core.idle && t < nextArrival) t = nextArrival;
    const events: JourneyEvent[] = [];
    // Arrivals up to now are queued (QUEUED carries the counter of the step about to be built).
    while (made < o.requests && nextArrival <= t) {
      const prompt = rng.int(minP, maxP);
      const r: ScheduleRequest = { id: `cmpl-${hexOf(rng, 32)}-0-${hexOf(rng, 8)}`, arrivalNs: Math.round(nextArrival), promptTokens: prompt, maxTokens: maxOut };
      const outputLen = rng.int(1, maxOut);
      const g: GReq = { ...newSchedRequest(prompt, rng.next() < prefixRate ? Math.min(prompt - 1, bs * rng.int(1, 4)) : 0), r, outputLen };
      made++;
      yield { kind: 'request', request: r };
      events.push({ request: r.id, kind: 'QUEUED', tsNs: r.arrivalNs + 50_000 });
      core.enqueue(g);
      nextArrival += rng.exp(meanIa);
    }
    if (core.idle) continue;

    const startNs = Math.round(t);
    let evT = startNs + 20_000; // scheduling-time event clock
    const tick = (): number => (evT += 1_000 + rng.int(0, 2_000));
    const plan = scheduleStep(core, rng, viol, events, tick);
    const decodes = plan.decodes;
    const prefills = plan.prefills.map(({ req, chunk }) => ({ g: req, chunk }));
    if (decodes.length + prefills.length === 0) throw new Error(`generateSchedule: step ${step} is empty (numGpuBlocks too small for one request?)`);

    const entries = batchEntries(decodes, prefills, running, blocksFor);
    const pfTok = entries.reduce((a, e) => a + (e.phase === 'PREFILL' ? e.scheduled : 0), 0);
    // Synthetic forward time: 4 ms + 25 µs per prefill token + 60 µs per decode, ±5 %.
    const durNs = Math.round((4e6 + 25e3 * pfTok + 60e3 * decodes.length) * (1 + 0.05 * (rng.next() * 2 - 1)));
    const endNs = startNs + durNs;
    let lateT = endNs + 5_000;
    const late = (): number => (lateT += 500 + rng.int(0, 1_000));
    // Forward pass: advance state, emit FIRST_TOKEN / FINISHED.
    finished += forwardPass(core, entries, events, late, maxOut);
    yield {
      kind: 'step',
      step: {
        step,
        startNs,
        endNs,
        durationUs: Math.round((endNs - startNs - 15_000) / 100) / 10,
        entries,
        events: events.map((e) => (e.kind === 'QUEUED' ? { ...e, step } : e)),
        runningDepth: running.length,
        waitingDepth: waiting.length,
        kvBlocksTotal: K,
        kvBlocksFree: core.free,
      },
    };
    step++;
    // CPU gap before the next step: 0.1–0.4 ms.
    t = lateT + 100_000 + rng.int(0, 300_000);
  }
}

/** Collect a whole schedule log (small runs: tests). */
export function generateScheduleLog(o: GenerateOptions): ScheduleLog {
  const requests: ScheduleRequest[] = [];
  const steps: ScheduleStep[] = [];
  for (const it of generateSchedule(o)) {
    if (it.kind === 'request') requests.push(it.request);
    else steps.push(it.step);
  }
  return { config: generatorConfig(o), requests, steps };
}
