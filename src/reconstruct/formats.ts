/**
 * Registry of request-level reconstruct formats that share one shape: read requests → request-log
 * replay → step records + targets. `stepfit reconstruct` dispatches on it, so a new format of this
 * kind is one entry here, not a new branch in the CLI.
 */
import path from 'node:path';
import type { Step } from '../steps/step.js';
import type { RequestTarget } from '../steps/targets.js';
import { emptySummary, type ReconstructSummary } from './summary.js';
import type { UpstreamLimits, UpstreamRequest } from './upstream/replay.js';

export interface RequestFormatOptions extends UpstreamLimits {
  input: string;
  experiment?: string;
  skipBad: boolean;
}

export interface RequestFormatOutput {
  summary: ReconstructSummary;
  steps: Step[];
  targets: RequestTarget[];
}

export interface RequestFormat {
  readonly name: 'vllm-request-spans' | 'vllm-bench';
  readonly describe: string;
  /** CLI option keys this format accepts beyond --in/--out/--targets/--experiment/--skip-bad/--json. */
  readonly options: readonly string[];
  run(o: RequestFormatOptions): Promise<RequestFormatOutput>;
}

// beyond --max-num-batched-tokens, which every replaying format takes
const LIMIT_OPTIONS = ['maxNumSeqs', 'numGpuBlocks', 'blockSize', 'outputLagSteps'] as const;

async function finish(
  format: RequestFormat['name'],
  o: RequestFormatOptions,
  reqs: UpstreamRequest[],
  records: number,
  bad: { count: number; examples: string[] },
  notes: string[],
  detail: Record<string, number | string>,
): Promise<RequestFormatOutput> {
  // loaded when used, like the readers (the scheduler replay is not needed by other formats)
  const { replayUpstream, summarizeUpstream } = await import('./upstream/replay.js');
  const experiment =
    o.experiment ??
    path
      .basename(o.input)
      .replace(/\.(jsonl?|json)(\.gz)?$/, '')
      .toLowerCase();
  const out = replayUpstream(reqs, o, experiment, o.input);
  const sum = emptySummary(format, o.input);
  sum.records = records;
  sum.bad = bad;
  summarizeUpstream(sum, reqs, out, experiment, o);
  Object.assign(sum.detail, detail);
  sum.notes.push(...notes);
  return { summary: sum, steps: out.steps, targets: out.targets };
}

export const REQUEST_FORMATS: readonly RequestFormat[] = [
  {
    name: 'vllm-request-spans',
    describe: 'upstream vLLM llm_request spans (OTLP JSON Lines from a collector file exporter or stepfit collect; a file or directory, .gz ok)',
    options: LIMIT_OPTIONS,
    async run(o) {
      const { readRequestSpans } = await import('./vllm-request-spans/read.js');
      const r = await readRequestSpans(o.input, o.skipBad);
      return finish(
        'vllm-request-spans',
        o,
        r.requests,
        r.records,
        r.bad,
        ['request spans carry engine-side time in queue, prefill and decode per request: steps are implied by the replay, timings are per-request totals (no per-step times)'],
        { 'spans that are not request spans (skipped)': r.otherSpans, ...(r.model ? { model: r.model } : {}) },
      );
    },
  },
  {
    name: 'vllm-bench',
    describe: 'vllm bench serve --save-result --save-detailed result JSON (inter-token gaps become one target per step, their median)',
    options: LIMIT_OPTIONS,
    async run(o) {
      const { readBenchResult } = await import('./vllm-bench/read.js');
      const r = readBenchResult(o.input, o.skipBad);
      return finish(
        'vllm-bench',
        o,
        r.requests,
        r.records,
        r.bad,
        [
          "bench times are client-side (HTTP, detokenisation, streaming included); admission is estimated as the first token time of any request after the send time (the next step boundary); each inter-token gap is one step's wall time when the replay runs the request without preemption",
        ],
        { 'failed requests (skipped)': r.failed, ...(r.model ? { model: r.model } : {}) },
      );
    },
  },
];

export const requestFormat = (name: string): RequestFormat | undefined => REQUEST_FORMATS.find((f) => f.name === name);
