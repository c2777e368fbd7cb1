/**
 * Shared back end of the upstream-vLLM readers (`vllm-request-spans`, `vllm-bench`): per-request
 * timestamps → the request-log scheduler replay (simulateRequestLog, its exported entry point) →
 * implied steps (no durations) and request-level targets.
 *
 * Targets:
 * - `prefill` / `decode` request totals, as the request-log reader makes them, where the source
 *   carries the engine-side split (request spans: time in queue, prefill, decode).
 * - per-step targets where the source carries inter-token latencies (bench `itls`): the gap between
 *   output tokens j−1 and j is the wall time of the one engine step that produced token j (steps are
 *   serial), shifted by the output lag. A request's gaps are used only when the replay ran it without
 *   preemption and gave it exactly one decode step per gap (otherwise its decode total is written);
 *   every request decoding in a step measures the same step, so each step gets one target, the
 *   median of its gaps (request field `itl-median:<number of gaps>`).
 */
import { InputError } from '../../io/errors.js';
import type { Step } from '../../steps/step.js';
import type { RequestTarget } from '../../steps/targets.js';
import type { ReconstructSummary } from '../summary.js';
import { simulateRequestLog, type EngineLimits, type LoggedRequest, type SimResult } from '../request-log/simulate.js';

export interface UpstreamLimits {
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  /** KV blocks per engine (vLLM num_gpu_blocks); absent: KV not modelled. */
  numGpuBlocks?: number;
  blockSize?: number;
  /** Fraction of KV blocks kept free when admitting while something is scheduled (vLLM default 0.01). */
  watermark?: number;
  outputLagSteps?: number;
}

/** One request as an upstream source gives it; `itlsS`: inter-token gaps, seconds (bench only). */
export interface UpstreamRequest extends LoggedRequest {
  readonly itlsS?: readonly number[];
  /** False when the source has no engine-side admission time (bench: `scheduled` is the client send time). */
  readonly hasEngineSplit: boolean;
}

export interface UpstreamOutput {
  steps: Step[];
  targets: RequestTarget[];
  sim: SimResult;
  /** Requests whose per-token gaps became one-step targets, and those that fell back to a total. */
  perToken: { requests: number; targets: number; fallback: number };
}

export function replayUpstream(reqs: readonly UpstreamRequest[], lim: UpstreamLimits, experiment: string, source: string): UpstreamOutput {
  if (reqs.length === 0) throw new InputError(`${source}: no usable requests`);
  const B = lim.maxNumBatchedTokens;
  if (B === undefined) throw new InputError(`${source}: max_num_batched_tokens unknown: give --max-num-batched-tokens (the server's --max-num-batched-tokens; the source does not record it)`);
  const lag = lim.outputLagSteps ?? 1;
  const el: EngineLimits = {
    maxNumBatchedTokens: B,
    maxNumSeqs: lim.maxNumSeqs ?? 256,
    dataParallel: 1,
    outputLagSteps: lag,
    ...(lim.numGpuBlocks !== undefined ? { kv: { numGpuBlocks: lim.numGpuBlocks, blockSize: lim.blockSize ?? 16, ...(lim.watermark !== undefined ? { watermark: lim.watermark } : {}) } } : {}),
  };
  const sim = simulateRequestLog([...reqs], el);
  const steps: Step[] = sim.steps.map((s) => ({ experiment, step: s.step, prefill: s.prefill, decode: s.decode }));
  const lastStep = steps.length ? steps[steps.length - 1]!.step : 0;
  const byId = new Map(reqs.map((r) => [r.id, r]));
  const targets: RequestTarget[] = [];
  const perToken = { requests: 0, targets: 0, fallback: 0 };
  /** Inter-token gaps (µs) that measure each step: every request decoding in a step sees the same wall time. */
  const gaps = new Map<number, number[]>();
  for (const r of sim.requests) {
    const src = byId.get(r.id)!;
    if (src.hasEngineSplit && r.prefillSteps.length > 0 && r.prefillUs > 0) targets.push({ experiment, request: r.id, kind: 'prefill', steps: r.prefillSteps, durationUs: r.prefillUs });
    const itl = src.itlsS;
    if (itl && itl.length > 0) {
      const ds = r.decodeSteps;
      const ok = r.preemptions === 0 && ds.length === itl.length && ds.every((s, i) => i === 0 || s === ds[i - 1]! + 1) && ds[ds.length - 1]! + lag <= lastStep;
      if (ok) {
        perToken.requests++;
        for (let j = 0; j < itl.length; j++) {
          if (!(itl[j]! > 0)) continue;
          const k = ds[j]! + lag;
          let g = gaps.get(k);
          if (!g) gaps.set(k, (g = []));
          g.push(itl[j]! * 1e6);
        }
        continue;
      }
      perToken.fallback++;
    }
    if (r.decodeSteps.length > 0 && r.decodeUs > 0) targets.push({ experiment, request: r.id, kind: 'decode', steps: r.decodeSteps, durationUs: r.decodeUs });
  }
  // one target per step: the median of the gaps that measure it (robust to client-side jitter)
  for (const k of [...gaps.keys()].sort((a, b) => a - b)) {
    const g = gaps.get(k)!.sort((a, b) => a - b);
    const med = g.length % 2 ? g[(g.length - 1) >> 1]! : (g[g.length / 2 - 1]! + g[g.length / 2]!) / 2;
    targets.push({ experiment, request: `itl-median:${g.length}`, kind: 'decode', steps: [k], durationUs: med });
    perToken.targets++;
  }
  return { steps, targets, sim, perToken };
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
};

/** Fill the common summary fields of an upstream replay. */
export function summarizeUpstream(sum: ReconstructSummary, reqs: readonly UpstreamRequest[], out: UpstreamOutput, experiment: string, lim: UpstreamLimits): void {
  sum.experiments = [experiment];
  sum.steps = out.steps.length;
  sum.stepsInferred = out.steps.length;
  sum.durationSource = 'none (steps are implied by a scheduler replay; timings are request-level targets)';
  sum.requests = reqs.length;
  sum.targets = out.targets.length;
  sum.timeCoveredS = Math.max(...reqs.map((r) => r.lastToken)) - Math.min(...reqs.map((r) => r.queued));
  const rq = out.sim.requests;
  const rel = (xs: typeof rq, p: (r: (typeof rq)[number]) => number, l: (r: (typeof rq)[number]) => number) => xs.map((r) => Math.abs(p(r) - l(r)) / l(r));
  const dc = rel(
    rq.filter((r) => r.decodeUs > 0 && r.decodeSteps.length > 0),
    (r) => r.decodePredUs,
    (r) => r.decodeUs,
  );
  sum.detail = {
    limits: `max_num_batched_tokens ${lim.maxNumBatchedTokens}, max_num_seqs ${lim.maxNumSeqs ?? 256}, ${lim.numGpuBlocks !== undefined ? `KV ${lim.numGpuBlocks} blocks × ${lim.blockSize ?? 16} tokens` : 'KV cache not modelled (give --num-gpu-blocks)'}, output lag ${lim.outputLagSteps ?? 1} step(s)`,
    'decode time: |implied Σ steps − logged| / logged': `median ${(100 * quantile(dc, 0.5)).toFixed(1)}%, p90 ${(100 * quantile(dc, 0.9)).toFixed(1)}% (n ${dc.length})`,
    'replay preemptions': out.sim.preemptions,
  };
  if (out.perToken.requests + out.perToken.fallback > 0) {
    sum.detail['per-step targets from inter-token gaps (median per step)'] =
      `${out.perToken.targets} steps from ${out.perToken.requests} requests; ${out.perToken.fallback} requests fell back to a decode total (replay preempted them or their gap count differs)`;
  }
}
