/**
 * `vllm-otlp` reader: a scheduler trace (JSON Lines of OTLP export requests, `.gz` accepted, lines
 * in any order) or an experiment directory (`exp-config.yaml` + `traces.json[.gz]`) → canonical
 * steps, request-level targets and per-request labels.
 *
 * Memory: lines arrive out of order, so pass 1 parses each line into compact records and groups
 * them by step bucket (in memory up to a cap, then spilled to temp files: an external bucket sort);
 * pass 2 replays the buckets in step order holding only the in-flight requests (replay.ts).
 * API arrival/departure times (no step number) are joined to finished requests through hash
 * partitions of the request id, one partition in memory at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { InputError } from '../../io/errors.js';
import { readLines } from '../../io/lines.js';
import type { Step } from '../../steps/step.js';
import type { RequestTarget } from '../../steps/targets.js';
import { emptySummary, type ReconstructSummary } from '../summary.js';
import { parseOtlpLine } from './parse.js';
import { compareRecs, decodeRec, encodeRec, type StepRec } from './records.js';
import { DEFAULT_DURATION, OtlpReplay, type DurationSource, type RequestResult } from './replay.js';
import { SpillBuckets, fnv1a } from './spill.js';
import { apiRequestId } from './emit.js';
import { prefillUs, decodeUs, requestLabel, type RequestLabel, type RequestTimes } from './labels.js';

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
  /** Tuning of the external sort (defaults suit multi-GB traces). */
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

export interface ResolvedOtlpInput {
  traceFile: string;
  experiment: string;
  config: Record<string, unknown>;
  maxNumBatchedTokens?: number;
}

const TRACE_NAMES = ['traces.json', 'traces.json.gz', 'traces.jsonl', 'traces.jsonl.gz'];

/** Resolve a file or experiment directory; reads exp-config.yaml when present. */
export function resolveOtlpInput(input: string): ResolvedOtlpInput {
  if (!fs.existsSync(input)) throw new InputError(`${input}: trace file or experiment directory not found`);
  if (!fs.statSync(input).isDirectory()) {
    const experiment = path
      .basename(input)
      .replace(/\.gz$/, '')
      .replace(/\.(jsonl|json)$/, '');
    const cfgFile = path.join(path.dirname(input), 'exp-config.yaml');
    const config = fs.existsSync(cfgFile) ? readExpConfig(cfgFile) : {};
    const m = config['max_num_batched_tokens'];
    return { traceFile: input, experiment, config, ...(typeof m === 'number' ? { maxNumBatchedTokens: m } : {}) };
  }
  const cfgFile = path.join(input, 'exp-config.yaml');
  if (!fs.existsSync(cfgFile)) throw new InputError(`${input}: experiment directory has no exp-config.yaml`);
  const config = readExpConfig(cfgFile);
  const name = TRACE_NAMES.find((n) => fs.existsSync(path.join(input, n)));
  if (!name) throw new InputError(`${input}: experiment directory has no trace file (expected one of ${TRACE_NAMES.join(', ')})`);
  const m = config['max_num_batched_tokens'];
  if (m !== undefined && (typeof m !== 'number' || !Number.isInteger(m) || m <= 0)) {
    throw new InputError(`${cfgFile}: field 'max_num_batched_tokens': expected a positive integer, got ${JSON.stringify(m)}`);
  }
  return { traceFile: path.join(input, name), experiment: path.basename(path.resolve(input)), config, ...(typeof m === 'number' ? { maxNumBatchedTokens: m } : {}) };
}

function readExpConfig(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new InputError(`${file}: expected a YAML mapping (model, max_num_batched_tokens, ...)`);
  return doc as Record<string, unknown>;
}

const API_PARTS = 16;

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

export async function reconstructOtlp(o: OtlpOptions, sinks: ReconstructSinks): Promise<ReconstructSummary> {
  const inp = resolveOtlpInput(o.input);
  const file = inp.traceFile;
  const experiment = o.experiment ?? inp.experiment;
  const budget = o.maxNumBatchedTokens ?? inp.maxNumBatchedTokens;
  if (budget === undefined) {
    throw new InputError(`${o.input}: max_num_batched_tokens unknown: give --max-num-batched-tokens, or an exp-config.yaml next to the trace`);
  }
  const duration = o.duration ?? DEFAULT_DURATION;
  const skipBad = o.skipBad ?? false;
  const sum = emptySummary('vllm-otlp', o.input);
  sum.experiments = [experiment];
  const bad = (msg: string): void => {
    if (!skipBad) throw new InputError(msg);
    sum.bad.count++;
    if (sum.bad.examples.length < 20) sum.bad.examples.push(msg);
  };

  const perBucket = o.stepsPerBucket ?? 1024;
  const steps = new SpillBuckets('otlp-steps', o.memCapBytes, o.tmpDir);
  const api = new SpillBuckets('otlp-api', Math.max(1 << 20, (o.memCapBytes ?? 32 << 20) >> 3), o.tmpDir);
  const labels = new SpillBuckets('otlp-labels', Math.max(1 << 20, (o.memCapBytes ?? 32 << 20) >> 3), o.tmpDir);
  let ignoredSpans = 0;
  let journeyRecs = 0,
    summaryRecs = 0,
    snapshotRecs = 0;
  try {
    // ---- pass 1: parse, spill by step bucket ----
    try {
      for await (const { text, lineNo } of readLines(file)) {
        sum.records++;
        let parsed: ReturnType<typeof parseOtlpLine>;
        try {
          parsed = parseOtlpLine(text, lineNo);
        } catch (e) {
          bad(`${file}:${lineNo}: ${(e as Error).message}`);
          continue;
        }
        ignoredSpans += parsed.ignoredSpans;
        for (const m of parsed.bad) bad(`${file}:${lineNo}: ${m}`);
        for (const r of parsed.recs) {
          if (r.t === 'J') journeyRecs++;
          else if (r.t === 'S') summaryRecs++;
          else snapshotRecs++;
          steps.add(Math.floor(r.step / perBucket), encodeRec(r));
        }
        for (const a of parsed.api) api.add(fnv1a(a.id) % API_PARTS, `${a.kind}\t${a.id}\t${a.ts}`);
      }
    } catch (e) {
      // A truncated or corrupt gzip stream: everything read so far is kept under --skip-bad.
      if (!(e instanceof InputError) || !skipBad || !/gzip/.test(e.message)) throw e;
      bad(e.message);
      sum.notes.push('input ended early (corrupt or truncated gzip): the trace was processed up to that point');
    }

    // ---- pass 2: replay in step order ----
    let outSteps: Step[] = [];
    let outTargets: RequestTarget[] = [];
    let nTargets = 0;
    const replay = new OtlpReplay(
      { experiment, maxNumBatchedTokens: budget, duration, file, skipBad, ...(o.keepUncertain ? { keepUncertain: true } : {}) },
      {
        step: (s) => {
          outSteps.push(s);
        },
        request: (r) => {
          for (const t of requestTargets(experiment, r)) outTargets.push(t);
          labels.add(fnv1a(apiRequestId(r.id)) % API_PARTS, JSON.stringify([r.id, r.prompt, r.outputs, r.preemptions, r.finished, r.times]));
        },
        bad: (m) => bad(m),
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
    for (const key of steps.keys()) {
      const recs: StepRec[] = steps.take(key).map(decodeRec);
      recs.sort(compareRecs);
      let i = 0;
      while (i < recs.length) {
        const s = recs[i]!.step;
        let j = i;
        while (j < recs.length && recs[j]!.step === s) j++;
        replay.processStep(s, recs.slice(i, j));
        i = j;
      }
      await flush();
    }
    replay.finish();
    await flush();

    // ---- join API times to requests, one hash partition at a time ----
    let nLabels = 0;
    for (let p = 0; p < API_PARTS; p++) {
      const times = new Map<string, { arr?: number; dep?: number }>();
      for (const line of api.take(p)) {
        const [kind, id, ts] = line.split('\t') as [string, string, string];
        const t = times.get(id) ?? {};
        if (kind === 'ARRIVED') t.arr = Number(ts);
        else t.dep = Number(ts);
        times.set(id, t);
      }
      const batch: RequestLabel[] = [];
      for (const line of labels.take(p)) {
        const [id, prompt, outputs, preemptions, finished, rt] = JSON.parse(line) as [string, number, number, number, boolean, RequestTimes];
        const a = times.get(apiRequestId(id)) ?? times.get(id);
        const t: RequestTimes = { ...rt, ...(a?.arr !== undefined ? { arrivalNs: a.arr } : {}), ...(a?.dep !== undefined ? { departedNs: a.dep } : {}) };
        batch.push(requestLabel(experiment, id, prompt, outputs, preemptions, finished, t));
      }
      nLabels += batch.length;
      if (sinks.labels && batch.length) await sinks.labels(batch);
    }

    const st = replay.stats;
    sum.steps = st.steps;
    sum.stepsExact = st.exact;
    sum.stepsInferred = st.inferred;
    sum.stepsWithDuration = st.withDuration;
    sum.durationSource =
      duration === 'ts-delta'
        ? 'ts-delta (step.ts_start_ns of the next step − of this one, both traced and adjacent)'
        : duration === 'ts-span'
          ? 'ts-span (step.ts_end_ns − step.ts_start_ns of a traced step)'
          : 'duration-us (step.duration_us of a traced step)';
    sum.requests = st.requestsSeen;
    sum.targets = nTargets;
    if (Number.isFinite(st.firstNs)) sum.timeCoveredS = (st.lastNs - st.firstNs) / 1e9;
    sum.dropped = { ...st.dropped };
    sum.mismatches = { count: st.mismatches, examples: st.mismatchExamples };
    sum.detail = {
      max_num_batched_tokens: budget,
      'journey events': journeyRecs,
      'step summaries (traced steps)': summaryRecs,
      'request snapshots': snapshotRecs,
      'inferred steps checked against batch.* counts': st.inferredChecked,
      'inferred steps with prefill total pinned by batch.prefill_tokens': st.inferredAdjusted,
      'snapshot steps where the journey inference agreed': st.snapshotAgree,
      'snapshot steps where the journey inference disagreed': st.snapshotDisagree,
      'requests finished': st.requestsFinished,
      'requests unfinished at end of trace': st.requestsUnfinished,
      'request labels': nLabels,
      'max requests in flight': st.maxInFlight,
      'spilled to disk (MiB)': Math.round((steps.spilledBytes / 2 ** 20) * 10) / 10,
    };
    if (ignoredSpans) sum.notes.push(`${ignoredSpans} spans of other scopes ignored`);
    return sum;
  } finally {
    steps.dispose();
    api.dispose();
    labels.dispose();
  }
}
