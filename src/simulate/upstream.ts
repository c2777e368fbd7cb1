/**
 * Record what an upstream (stock) vLLM server would expose about a simulated run: per-request
 * spans (`llm_request`) and a `vllm bench serve` result with per-token gaps. Fed from the
 * simulator's schedule log (StepView.schedule, so run it with `scheduleLog`); pure bookkeeping.
 * A scheduled entry produces a token when it completes the request's sequence
 * (computed_before + scheduled ≥ prompt + outputs so far), at the step's end time.
 */
import type { ScheduleRequest } from '../scheduler/schedule-log.js';
import type { RequestResult, StepView } from './simulator.js';
import type { SpanRequest } from '../reconstruct/vllm-request-spans/emit.js';
import type { BenchRequest } from '../reconstruct/vllm-bench/emit.js';

export class UpstreamRecorder {
  private readonly prompt = new Map<string, number>();
  private readonly tokens = new Map<string, number[]>();

  /** Register a request at arrival (engine id and prompt length). */
  arrival(r: ScheduleRequest): void {
    this.prompt.set(r.id, r.promptTokens);
  }

  /** Record the tokens a step produced (times: the StepView's endNs, simulator ns). */
  step(v: StepView): void {
    if (!v.schedule) throw new Error("UpstreamRecorder needs the simulator's scheduleLog");
    for (const e of v.schedule.entries) {
      const p = this.prompt.get(e.request);
      if (p === undefined) continue;
      if (e.computedBefore + e.scheduled < p + e.outputBefore) continue;
      const wid = e.request.replace(/-0-[0-9a-f]{8}$/, '');
      let ts = this.tokens.get(wid);
      if (!ts) this.tokens.set(wid, (ts = []));
      ts.push(v.endNs);
    }
  }

  /** Token times of a workload request id (simulator ns). */
  tokenTimes(id: string): readonly number[] {
    return this.tokens.get(id) ?? [];
  }

  /** Finished requests as spans (the simulator has no API layer: queued = arrival). */
  spans(results: readonly RequestResult[]): SpanRequest[] {
    return results
      .filter((r) => r.status === 'finished')
      .map((r) => ({
        id: r.id,
        arrivalNs: r.arrivalNs,
        queuedNs: r.arrivalNs,
        scheduledNs: r.firstScheduledNs,
        firstTokenNs: r.firstTokenNs,
        lastTokenNs: r.finishNs,
        promptTokens: r.input,
        completionTokens: r.generated,
        maxTokens: r.output,
      }));
  }

  /** Every request as the bench client saw it (dropped ones with no tokens: failed). */
  bench(results: readonly RequestResult[]): BenchRequest[] {
    return results.map((r) => ({ arrivalNs: r.arrivalNs, promptTokens: r.input, tokenNs: r.status === 'finished' ? this.tokenTimes(r.id) : [] }));
  }
}
