/**
 * `vllm-request-spans` reader: upstream vLLM's per-request `llm_request` spans, as written by an
 * OpenTelemetry Collector `file` exporter (OTLP JSON, one ExportTraceServiceRequest per line,
 * optionally gzipped) → the request-log path (scheduler replay → implied steps + targets).
 *
 * Attribute names are vLLM's `SpanAttributes` (vllm/tracing.py up to 0.10, vllm/tracing/utils.py
 * from 0.11; unchanged across V1 releases): gen_ai.request.id, gen_ai.usage.prompt_tokens,
 * gen_ai.usage.completion_tokens, gen_ai.latency.time_in_queue (scheduled − queued),
 * gen_ai.latency.time_to_first_token (first token − arrival), gen_ai.latency.time_in_model_prefill
 * (first token − scheduled), gen_ai.latency.time_in_model_decode (last token − first token), all in
 * seconds. The span starts at the request's arrival (wall clock, ns). The engine's own monotonic
 * timestamps are not in the span, so they are rebuilt on the arrival clock:
 *   first = start + ttft; scheduled = first − prefill; queued = scheduled − queue; last = first + decode.
 * Other spans (names other than llm_request) are ignored and counted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../../io/errors.js';
import { readLines } from '../../io/lines.js';
import { emptySummary } from '../summary.js';
import { readMeta, replayLoggedRequests, type Meta, type RequestLogOptions, type RequestLogOutput } from '../request-log/read.js';
import type { LoggedRequest } from '../request-log/simulate.js';

export const SPAN_NAME = 'llm_request';
export const ATTR = {
  id: 'gen_ai.request.id',
  prompt: 'gen_ai.usage.prompt_tokens',
  completion: 'gen_ai.usage.completion_tokens',
  queue: 'gen_ai.latency.time_in_queue',
  ttft: 'gen_ai.latency.time_to_first_token',
  e2e: 'gen_ai.latency.e2e',
  prefill: 'gen_ai.latency.time_in_model_prefill',
  decode: 'gen_ai.latency.time_in_model_decode',
} as const;

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
interface OtlpSpan { name?: unknown; startTimeUnixNano?: unknown; attributes?: unknown }

/** Value of an OTLP JSON attribute (intValue is a decimal string in OTLP JSON). */
function attrValue(v: AnyValue | undefined): string | number | boolean | undefined {
  if (!v || typeof v !== 'object') return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.boolValue !== undefined) return v.boolValue;
  return undefined;
}

/** One `llm_request` span → a logged request (seconds on the arrival clock), or an error message. */
export function spanToRequest(span: OtlpSpan, line: number): LoggedRequest | string {
  const attrs = new Map<string, unknown>();
  if (!Array.isArray(span.attributes)) return `span ${SPAN_NAME}: field 'attributes': expected an array`;
  for (const a of span.attributes as { key?: unknown; value?: AnyValue }[]) if (a && typeof a.key === 'string') attrs.set(a.key, attrValue(a.value));
  const id = attrs.get(ATTR.id);
  if (typeof id !== 'string' || id === '') return `span ${SPAN_NAME}: attribute '${ATTR.id}': expected a non-empty string`;
  const num = (k: string): number | string => {
    const x = attrs.get(k);
    return typeof x === 'number' && Number.isFinite(x) ? x : `request ${id}: attribute '${k}': expected a number, got ${JSON.stringify(x)}`;
  };
  const start = typeof span.startTimeUnixNano === 'string' || typeof span.startTimeUnixNano === 'number' ? Number(span.startTimeUnixNano) : NaN;
  if (!Number.isFinite(start) || start <= 0) return `request ${id}: field 'startTimeUnixNano': expected a positive integer (ns), got ${JSON.stringify(span.startTimeUnixNano)}`;
  const vals: Record<string, number> = {};
  for (const k of [ATTR.prompt, ATTR.completion, ATTR.queue, ATTR.ttft, ATTR.prefill, ATTR.decode]) {
    const x = num(k);
    if (typeof x === 'string') return x;
    vals[k] = x;
  }
  const prompt = vals[ATTR.prompt]!, outputs = vals[ATTR.completion]!;
  if (!Number.isInteger(prompt) || prompt < 1) return `request ${id}: attribute '${ATTR.prompt}': expected a positive integer`;
  if (!Number.isInteger(outputs) || outputs < 1) return `request ${id}: attribute '${ATTR.completion}': expected a positive integer`;
  for (const k of [ATTR.queue, ATTR.ttft, ATTR.prefill, ATTR.decode]) if (vals[k]! < 0) return `request ${id}: attribute '${k}': expected seconds ≥ 0, got ${vals[k]}`;
  const firstToken = start / 1e9 + vals[ATTR.ttft]!;
  const scheduled = firstToken - vals[ATTR.prefill]!;
  const queued = scheduled - vals[ATTR.queue]!;
  return { id, line, prompt, outputs, queued, scheduled, firstToken, lastToken: firstToken + vals[ATTR.decode]! };
}

/** Every span of one OTLP JSON line (ExportTraceServiceRequest), or an error message. */
export function spansOfLine(text: string): OtlpSpan[] | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not valid JSON (${(e as Error).message})`;
  }
  const rs = (v as { resourceSpans?: unknown } | null)?.resourceSpans;
  if (!Array.isArray(rs)) return `field 'resourceSpans': expected an array (one OTLP JSON ExportTraceServiceRequest per line)`;
  const out: OtlpSpan[] = [];
  for (const r of rs as { scopeSpans?: unknown }[]) {
    if (!Array.isArray(r?.scopeSpans)) return `field 'resourceSpans[].scopeSpans': expected an array`;
    for (const s of r.scopeSpans as { spans?: unknown }[]) {
      if (!Array.isArray(s?.spans)) return `field 'scopeSpans[].spans': expected an array`;
      out.push(...(s.spans as OtlpSpan[]));
    }
  }
  return out;
}

export async function reconstructRequestSpans(o: RequestLogOptions): Promise<RequestLogOutput> {
  if (!fs.existsSync(o.input)) throw new InputError(`${o.input}: span file not found`);
  if (fs.statSync(o.input).isDirectory()) throw new InputError(`${o.input}: is a directory, expected an OTLP JSON Lines file (.jsonl or .jsonl.gz)`);
  const file = o.input;
  const metaFile = path.join(path.dirname(file), 'meta.json');
  const meta: Meta = fs.existsSync(metaFile) ? readMeta(metaFile) : {};
  if ((o.maxNumBatchedTokens ?? meta.maxNumBatchedTokens) === undefined) throw new InputError(`${file}: max_num_batched_tokens unknown: give --max-num-batched-tokens or a meta.json with engine_kwargs.max_num_batched_tokens`);
  const experiment = o.experiment ?? path.basename(file).replace(/\.gz$/, '').replace(/\.jsonl?$/, '').toLowerCase();
  const sum = emptySummary('vllm-request-spans', o.input);
  const reqs: LoggedRequest[] = [];
  const ids = new Set<string>();
  let otherSpans = 0;
  const bad = (msg: string) => {
    if (!o.skipBad) throw new InputError(msg);
    sum.bad.count++;
    if (sum.bad.examples.length < 20) sum.bad.examples.push(msg);
  };
  for await (const { text, lineNo } of readLines(file)) {
    sum.records++;
    const spans = spansOfLine(text);
    if (typeof spans === 'string') { bad(`${file}:${lineNo}: ${spans}`); continue; }
    for (const s of spans) {
      if (s?.name !== SPAN_NAME) { otherSpans++; continue; }
      let r = spanToRequest(s, lineNo);
      if (typeof r !== 'string' && ids.has(r.id)) r = `request ${r.id}: duplicate ${ATTR.id}`;
      if (typeof r === 'string') { bad(`${file}:${lineNo}: ${r}`); continue; }
      ids.add(r.id);
      reqs.push(r);
    }
  }
  const out = replayLoggedRequests(reqs, o, { file, experiment, meta, summary: sum });
  if (otherSpans > 0) out.summary.notes.push(`${otherSpans} spans not named ${SPAN_NAME} ignored`);
  out.summary.notes.push('engine timestamps rebuilt from span start (arrival) + gen_ai.latency.* attributes; API-server time before queueing is inside TTFT and not separable here');
  return out;
}

/** OTLP JSON line holding the given requests as `llm_request` spans (the simulator's writer; arrival = queued). */
export function requestsToSpansLine(reqs: readonly LoggedRequest[], model = 'simulated'): string {
  const ns = (s: number): string => BigInt(Math.round(s * 1e9)).toString();
  const dbl = (key: string, x: number) => ({ key, value: { doubleValue: x } });
  const int = (key: string, x: number) => ({ key, value: { intValue: String(x) } });
  const spans = reqs.map((r, i) => ({
    traceId: (i + 1).toString(16).padStart(32, '0'), spanId: (i + 1).toString(16).padStart(16, '0'), name: SPAN_NAME, kind: 2,
    startTimeUnixNano: ns(r.queued), endTimeUnixNano: ns(r.lastToken),
    attributes: [
      { key: ATTR.id, value: { stringValue: r.id } }, { key: 'gen_ai.response.model', value: { stringValue: model } },
      int(ATTR.prompt, r.prompt), int(ATTR.completion, r.outputs),
      dbl(ATTR.queue, r.scheduled - r.queued), dbl(ATTR.ttft, r.firstToken - r.queued), dbl(ATTR.e2e, r.lastToken - r.queued),
      dbl(ATTR.prefill, r.firstToken - r.scheduled), dbl(ATTR.decode, r.lastToken - r.firstToken),
    ],
  }));
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'vllm' } }] }, scopeSpans: [{ scope: { name: 'vllm.llm_engine' }, spans }] }] });
}
