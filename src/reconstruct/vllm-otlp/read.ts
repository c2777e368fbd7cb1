/**
 * `vllm-otlp` reader: a scheduler trace (JSON Lines of OTLP export requests, `.gz` accepted, lines
 * in any order) or an experiment directory (`exp-config.yaml` + `traces.json[.gz]`) → canonical
 * steps, request-level targets and per-request labels.
 *
 * One pass over the file: pass 1 (ingest.ts) parses it in chunks — byte ranges of a plain file
 * (ranges.ts), read by whoever parses them, in this thread or in worker threads; on a fast path
 * that builds only compact records (scan.ts) — and groups the records, packed into flat buffers
 * (packed.ts), by step bucket (in memory up to a cap, then spilled to temp files: an external
 * bucket sort, packed-spill.ts); pass 2 replays the buckets in step order holding only the
 * in-flight requests (replay.ts).
 * API arrival/departure times (no step number) are joined to finished requests through hash
 * partitions of the request id, one partition in memory at a time.
 * Memory is bounded independently of trace length: chunks in flight, the spill cap, one bucket.
 */
import { InputError } from '../../io/errors.js';
import type { Step } from '../../steps/step.js';
import type { RequestTarget } from '../../steps/targets.js';
import { emptySummary, type ReconstructSummary } from '../summary.js';
import { API_PARTS } from './chunks.js';
import { apiRequestId } from './otlp-json.js';
import { ingestTrace, type IngestCounts } from './ingest.js';
import { resolveOtlpInput } from './input.js';
import { decodeUs, prefillUs, requestLabel, type RequestLabel, type RequestTimes } from './labels.js';
import { groupBySteps, stepRecords } from './bucket-steps.js';
import { type PackedSeg, unpackSeg } from './packed.js';
import { PackedBuckets } from './packed-spill.js';
import { compareRecs, type StepRec } from './records.js';
import { DEFAULT_DURATION, OtlpReplay, type DurationSource, type ReplayStats, type RequestResult } from './replay.js';
import { fnv1a, SpillBuckets } from './spill.js';

export { resolveOtlpInput, type ResolvedOtlpInput } from './input.js';

export interface OtlpOptions {
  /** A trace file or an experiment directory. */
  input: string;
  /** Experiment id for the step records (default: directory name, or file name without extensions). */
  experiment?: string;
  /** The engine's token budget (default: exp-config.yaml `max_num_batched_tokens`). */
  maxNumBatchedTokens?: number;
  duration?: DurationSource;
  skipBad?: boolean;
  keepUncertain?: boolean;
  /** Parser threads (default 1). Outputs do not depend on it. */
  workers?: number;
  /** Tuning of the chunked read and the external sort (defaults suit multi-GB traces). */
  chunkBytes?: number;
  stepsPerBucket?: number;
  memCapBytes?: number;
  tmpDir?: string;
}

/** Batched, awaited outputs (the CLI writes them atomically). */
export interface ReconstructSinks {
  steps(batch: Step[]): Promise<void>;
  targets?(batch: RequestTarget[]): Promise<void>;
  labels?(batch: RequestLabel[]): Promise<void>;
}

/** Request-level targets of one request (none when tainted or timings are missing). */
export function requestTargets(experiment: string, r: RequestResult): RequestTarget[] {
  if (r.tainted) return [];
  const out: RequestTarget[] = [];
  const pf = prefillUs(r.times);
  if (pf !== undefined && pf > 0 && r.prefillSteps.length > 0 && r.times.firstTokenNs !== undefined) {
    out.push({ experiment, request: r.id, kind: 'prefill', steps: r.prefillSteps, durationUs: pf });
  }
  const dc = r.finished ? decodeUs(r.times) : undefined;
  if (dc !== undefined && dc > 0 && r.decodeSteps.length > 0) {
    out.push({ experiment, request: r.id, kind: 'decode', steps: r.decodeSteps, durationUs: dc });
  }
  return out;
}

interface Run {
  readonly experiment: string;
  readonly budget: number;
  readonly perBucket: number;
  readonly duration: DurationSource;
  readonly file: string;
  readonly sum: ReconstructSummary;
  readonly bad: (msg: string) => void;
  readonly steps: PackedBuckets;
  readonly api: SpillBuckets;
  readonly labels: SpillBuckets;
}

export async function reconstructOtlp(o: OtlpOptions, sinks: ReconstructSinks): Promise<ReconstructSummary> {
  const inp = resolveOtlpInput(o.input);
  const budget = o.maxNumBatchedTokens ?? inp.maxNumBatchedTokens;
  if (budget === undefined) {
    throw new InputError(`${o.input}: max_num_batched_tokens unknown: give --max-num-batched-tokens, or an exp-config.yaml next to the trace`);
  }
  const sum = emptySummary('vllm-otlp', o.input);
  const experiment = o.experiment ?? inp.experiment;
  sum.experiments = [experiment];
  const bad = (msg: string): void => {
    if (!o.skipBad) throw new InputError(msg);
    sum.bad.count++;
    if (sum.bad.examples.length < 20) sum.bad.examples.push(msg);
  };
  const side = Math.max(1 << 20, (o.memCapBytes ?? 32 << 20) >> 3);
  const run: Run = {
    experiment,
    budget,
    perBucket: o.stepsPerBucket ?? 1024,
    duration: o.duration ?? DEFAULT_DURATION,
    file: inp.traceFile,
    sum,
    bad,
    steps: new PackedBuckets('otlp-steps', o.memCapBytes, o.tmpDir),
    api: new SpillBuckets('otlp-api', side, o.tmpDir),
    labels: new SpillBuckets('otlp-labels', side, o.tmpDir),
  };
  try {
    const ingest = { file: run.file, perBucket: run.perBucket, skipBad: o.skipBad ?? false, ...(o.workers ? { workers: o.workers } : {}), ...(o.chunkBytes ? { chunkBytes: o.chunkBytes } : {}) };
    const counts = await ingestTrace(ingest, run.steps, run.api, bad);
    if (counts.truncated) sum.notes.push('input ended early (corrupt or truncated gzip): the trace was processed up to that point');
    const { stats, targets } = await replaySteps(run, o, sinks);
    const nLabels = await joinLabels(run, sinks);
    fillSummary(run, counts, stats, targets, nLabels);
    return sum;
  } finally {
    run.steps.dispose();
    run.api.dispose();
    run.labels.dispose();
  }
}

/** Pass 2: replay the step buckets in step order; steps and targets go to the sinks in batches. */
async function replaySteps(run: Run, o: OtlpOptions, sinks: ReconstructSinks): Promise<{ stats: ReplayStats; targets: number }> {
  let outSteps: Step[] = [];
  let outTargets: RequestTarget[] = [];
  let nTargets = 0;
  const { experiment } = run;
  const replay = new OtlpReplay(
    { experiment, maxNumBatchedTokens: run.budget, duration: run.duration, file: run.file, skipBad: o.skipBad ?? false, ...(o.keepUncertain ? { keepUncertain: true } : {}) },
    {
      step: (s) => {
        outSteps.push(s);
      },
      request: (r) => {
        for (const t of requestTargets(experiment, r)) outTargets.push(t);
        run.labels.add(fnv1a(apiRequestId(r.id)) % API_PARTS, JSON.stringify([r.id, r.prompt, r.outputs, r.preemptions, r.finished, r.times]));
      },
      bad: (m) => run.bad(m),
    },
  );
  const flush = async (): Promise<void> => {
    if (outSteps.length) {
      await sinks.steps(outSteps);
      outSteps = [];
    }
    if (outTargets.length) {
      nTargets += outTargets.length;
      if (sinks.targets) await sinks.targets(outTargets);
      outTargets = [];
    }
  };
  for (const key of run.steps.keys()) {
    const segs = run.steps.take(key);
    const groups = groupBySteps(segs, key * run.perBucket, run.perBucket);
    if (!groups) {
      replaySorted(replay, segs);
      await flush();
      continue;
    }
    for (let k = 0; k < run.perBucket; k++) {
      const recs = stepRecords(groups, segs, k);
      if (recs.length === 0) continue;
      replay.processStep(recs[0]!.step, recs);
      // written often: the steps and targets of a bucket do not outlive a young-generation collection
      if (outSteps.length >= FLUSH_STEPS) await flush();
    }
    await flush();
  }
  replay.finish();
  await flush();
  return { stats: replay.stats, targets: nTargets };
}

/** Steps written at a time (batches of the sinks). */
const FLUSH_STEPS = 128;

/** A bucket whose steps are not integers in its range (never from the fast path): all its records unpacked and sorted. */
function replaySorted(replay: OtlpReplay, segs: readonly PackedSeg[]): void {
  const recs: StepRec[] = [];
  for (const seg of segs) unpackSeg(seg, recs);
  recs.sort(compareRecs);
  let i = 0;
  while (i < recs.length) {
    const s = recs[i]!.step;
    let j = i;
    while (j < recs.length && recs[j]!.step === s) j++;
    replay.processStep(s, recs.slice(i, j));
    i = j;
  }
}

/** Join API arrival/departure times to the finished requests' labels, one hash partition at a time. */
async function joinLabels(run: Run, sinks: ReconstructSinks): Promise<number> {
  let nLabels = 0;
  for (let p = 0; p < API_PARTS; p++) {
    const times = new Map<string, { arr?: number; dep?: number }>();
    for (const line of run.api.take(p)) {
      const [kind, id, ts] = line.split('\t') as [string, string, string];
      const t = times.get(id) ?? {};
      if (kind === 'ARRIVED') t.arr = Number(ts);
      else t.dep = Number(ts);
      times.set(id, t);
    }
    const batch: RequestLabel[] = [];
    for (const line of run.labels.take(p)) {
      const [id, prompt, outputs, preemptions, finished, rt] = JSON.parse(line) as [string, number, number, number, boolean, RequestTimes];
      const a = times.get(apiRequestId(id)) ?? times.get(id);
      const t: RequestTimes = { ...rt, ...(a?.arr !== undefined ? { arrivalNs: a.arr } : {}), ...(a?.dep !== undefined ? { departedNs: a.dep } : {}) };
      batch.push(requestLabel(run.experiment, id, prompt, outputs, preemptions, finished, t));
    }
    nLabels += batch.length;
    if (sinks.labels && batch.length) await sinks.labels(batch);
  }
  return nLabels;
}

const DURATION_TEXT: Record<DurationSource, string> = {
  'ts-delta': 'ts-delta (step.ts_start_ns of the next step − of this one, both traced and adjacent)',
  'ts-span': 'ts-span (step.ts_end_ns − step.ts_start_ns of a traced step)',
  'duration-us': 'duration-us (step.duration_us of a traced step)',
};

function fillSummary(run: Run, c: IngestCounts, st: ReplayStats, nTargets: number, nLabels: number): void {
  const sum = run.sum;
  sum.records = c.records;
  sum.steps = st.steps;
  sum.stepsExact = st.exact;
  sum.stepsInferred = st.inferred;
  sum.stepsWithDuration = st.withDuration;
  sum.durationSource = DURATION_TEXT[run.duration];
  sum.requests = st.requestsSeen;
  sum.targets = nTargets;
  if (Number.isFinite(st.firstNs)) sum.timeCoveredS = (st.lastNs - st.firstNs) / 1e9;
  sum.dropped = { ...st.dropped };
  sum.mismatches = { count: st.mismatches, examples: st.mismatchExamples };
  sum.detail = {
    max_num_batched_tokens: run.budget,
    'journey events': c.journey,
    'step summaries (traced steps)': c.summaries,
    'request snapshots': c.snapshots,
    'inferred steps checked against batch.* counts': st.inferredChecked,
    'inferred steps with prefill total pinned by batch.prefill_tokens': st.inferredAdjusted,
    'snapshot steps where the journey inference agreed': st.snapshotAgree,
    'snapshot steps where the journey inference disagreed': st.snapshotDisagree,
    'requests finished': st.requestsFinished,
    'requests unfinished at end of trace': st.requestsUnfinished,
    'request labels': nLabels,
    'max requests in flight': st.maxInFlight,
    'spilled to disk (MiB)': Math.round((run.steps.spilledBytes / 2 ** 20) * 10) / 10,
    'lines read by the full parser (the fast path declined them)': c.slowLines,
  };
  if (c.ignoredSpans) sum.notes.push(`${c.ignoredSpans} spans of other scopes ignored`);
}
