/**
 * `vllm-bench` reader: a `vllm bench serve --save-result --save-detailed` result file (format.ts)
 * → logged requests for the request-log replay, with each request's inter-token gaps (`itls`) kept
 * so the replay can turn them into one-step targets (upstream/replay.ts).
 * Per request i: queued = start_times[i] (the client's send time), firstToken = start + ttfts[i],
 * lastToken = firstToken + Σ itls[i]; the bench records no engine-side admission, so scheduled is
 * estimated as the first token time of any request at or after the send time (see the end).
 * Failed requests (non-empty error or no output) are skipped and counted, not errors.
 * The file is one JSON object, so it is read whole (bench results are a few MB).
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { InputError } from '../../io/errors.js';
import type { UpstreamRequest } from '../upstream/replay.js';
import { BenchResultSchema } from './format.js';

export interface BenchReadResult {
  requests: UpstreamRequest[];
  records: number;
  failed: number;
  bad: { count: number; examples: string[] };
  model?: string;
}

export function readBenchResult(file: string, skipBad: boolean): BenchReadResult {
  const b = loadBench(file);
  const n = b.input_lens.length;
  const start_times = b.start_times!;
  const res: BenchReadResult = { requests: [], records: n, failed: 0, bad: { count: 0, examples: [] }, ...(b.model_id ? { model: b.model_id } : {}) };
  const t0 = Math.min(...start_times);
  for (let i = 0; i < n; i++) {
    const err = b.errors?.[i] ?? '';
    if (err !== '' || b.output_lens[i] === 0) {
      res.failed++;
      continue;
    }
    const msg = requestProblem(b, i);
    if (msg) {
      const m = `${file}: request ${i}: ${msg}`;
      if (!skipBad) throw new InputError(m);
      res.bad.count++;
      if (res.bad.examples.length < 20) res.bad.examples.push(m);
      continue;
    }
    res.requests.push(benchRequest(b, i, start_times[i]! - t0));
  }
  res.requests.sort((a, b2) => a.queued - b2.queued);
  res.requests = estimateScheduled(res.requests);
  return res;
}

type BenchResult = ReturnType<typeof BenchResultSchema.parse>;

/** Read (gunzip), parse and validate the result file: every per-request array as long as input_lens, start_times present. */
function loadBench(file: string): BenchResult {
  if (!fs.existsSync(file)) throw new InputError(`${file}: bench result file not found`);
  if (fs.statSync(file).isDirectory()) throw new InputError(`${file}: is a directory, expected the JSON file written by vllm bench serve --save-result --save-detailed`);
  let raw = fs.readFileSync(file);
  if (raw[0] === 0x1f && raw[1] === 0x8b) raw = zlib.gunzipSync(raw);
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const p = BenchResultSchema.safeParse(v);
  if (!p.success) {
    const is = p.error.issues[0]!;
    const field = is.path.join('.');
    const hint =
      ['input_lens', 'output_lens', 'ttfts', 'itls'].includes(String(is.path[0])) && is.code === 'invalid_type' && is.path.length === 1
        ? ' (run vllm bench serve with --save-result --save-detailed)'
        : '';
    throw new InputError(`${file}: field '${field}': ${is.message}${hint}`);
  }
  const b = p.data;
  const n = b.input_lens.length;
  for (const k of ['output_lens', 'ttfts', 'itls', 'start_times', 'errors'] as const) {
    const a = b[k];
    if (a !== undefined && a.length !== n) throw new InputError(`${file}: field '${k}': expected ${n} entries (one per request, as input_lens), got ${a.length}`);
  }
  if (!b.start_times)
    throw new InputError(
      `${file}: field 'start_times' missing: the replay needs each request's send time; this vllm bench serve version does not record it (use a vLLM release whose --save-detailed results include start_times, or the request spans)`,
    );
  return b;
}

/** What is wrong with request i (field and expectation), or undefined. */
function requestProblem(b: BenchResult, i: number): string | undefined {
  const itl = b.itls[i]!;
  const ttft = b.ttfts[i]!;
  const badGap = itl.findIndex((x) => !(Number.isFinite(x) && x >= 0));
  if (!(b.input_lens[i]! > 0)) return `field 'input_lens[${i}]': expected a positive integer, got ${b.input_lens[i]}`;
  if (!(Number.isFinite(ttft) && ttft > 0)) return `field 'ttfts[${i}]': expected a positive number of seconds, got ${ttft}`;
  if (badGap >= 0) return `field 'itls[${i}][${badGap}]': expected a non-negative number of seconds`;
  if (itl.length > b.output_lens[i]! - 1) return `field 'itls[${i}]': ${itl.length} gaps for ${b.output_lens[i]} output tokens (expected at most output_lens − 1)`;
  return undefined;
}

/** Request i as a logged request; `start` its send time (s) from the first send. Scheduled = send time until estimateScheduled. */
function benchRequest(b: BenchResult, i: number, start: number): UpstreamRequest {
  const itl = b.itls[i]!;
  // in whole ns (the clocks' resolution), so equal instants of different requests compare equal
  const ns = (sec: number): number => Math.round(sec * 1e9);
  const startNs = ns(start);
  const firstNs = startNs + ns(b.ttfts[i]!);
  const itlNs = itl.map(ns);
  return {
    id: `bench-${i}`,
    line: i + 1,
    prompt: b.input_lens[i]!,
    outputs: b.output_lens[i]!,
    queued: startNs / 1e9,
    scheduled: startNs / 1e9,
    firstToken: firstNs / 1e9,
    lastToken: (firstNs + itlNs.reduce((a, x) => a + x, 0)) / 1e9,
    ...(itl.length === b.output_lens[i]! - 1 ? { itlsS: itl } : {}),
    hasEngineSplit: false,
  };
}

/**
 * Admission estimate: a request joins the first step built after its send time, and steps are built
 * when the previous one ends; every step that samples a token ends at a token time of some request.
 * So scheduled ≈ the first token time (of any request) at or after the send time, capped at its own
 * first token (the send time itself when the engine was idle). `requests` sorted by send time.
 */
function estimateScheduled(requests: readonly UpstreamRequest[]): UpstreamRequest[] {
  const ends: number[] = [];
  for (const r of requests) {
    let t = Math.round(r.firstToken * 1e9);
    ends.push(t / 1e9);
    for (const x of r.itlsS ?? []) {
      t += Math.round(x * 1e9);
      ends.push(t / 1e9);
    }
  }
  ends.sort((a, b2) => a - b2);
  // busy intervals [send, last token] of the requests, merged: a request sent while none is in
  // flight starts a step at once (scheduled = send time)
  const busyUntil: number[] = [];
  let until = -Infinity;
  for (const r of requests) {
    busyUntil.push(until);
    until = Math.max(until, r.lastToken);
  }
  return requests.map((r, i) => {
    if (busyUntil[i]! < r.queued) return r;
    let lo = 0,
      hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ends[mid]! < r.queued) lo = mid + 1;
      else hi = mid;
    }
    const e = lo < ends.length ? ends[lo]! : r.firstToken;
    return { ...r, scheduled: Math.min(e, r.firstToken) };
  });
}
