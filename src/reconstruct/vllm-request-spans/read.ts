/**
 * `vllm-request-spans` reader: upstream vLLM `llm_request` spans (see attributes.ts) in OTLP JSON
 * Lines as an OpenTelemetry Collector `file` exporter (or `stepfit collect`) writes them, optionally
 * gzipped; a file or a directory of `*.jsonl` / `*.jsonl.gz` files (read in name order).
 * Streams line by line. Each span becomes one logged request in engine-consistent seconds:
 *   firstToken = start + time_to_first_token, scheduled = firstToken − time_in_model_prefill,
 *   lastToken = firstToken + time_in_model_decode, queued = scheduled − time_in_queue
 * (the engine-side intervals are exact; only the arrival→queue offset, API time, is not used), then
 * the request-log replay (upstream/replay.ts) gives implied steps and prefill/decode targets.
 * Spans that are not request spans (no `gen_ai.latency.e2e`) are skipped and counted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../../io/errors.js';
import { readLines } from '../../io/lines.js';
import { ATTR } from '../../steps/otlp-attributes.js';
import type { UpstreamRequest } from '../upstream/replay.js';

export interface SpanReadResult {
  requests: UpstreamRequest[];
  records: number;
  otherSpans: number;
  bad: { count: number; examples: string[] };
  model?: string;
}

/** Input files of a path: the file itself, or a directory's *.jsonl[.gz] / *.json[.gz] files in name order. */
export function spanFiles(input: string): string[] {
  if (!fs.existsSync(input)) throw new InputError(`${input}: span file or directory not found`);
  if (!fs.statSync(input).isDirectory()) return [input];
  const fs_ = fs
    .readdirSync(input)
    .filter((f) => /\.jsonl?(\.gz)?$/.test(f))
    .sort()
    .map((f) => path.join(input, f));
  if (fs_.length === 0) throw new InputError(`${input}: directory has no *.jsonl or *.jsonl.gz span files`);
  return fs_;
}

type AnyValue = { stringValue?: unknown; intValue?: unknown; doubleValue?: unknown };

function attrMap(span: Record<string, unknown>): Map<string, AnyValue> | string {
  const a = span['attributes'] ?? [];
  if (!Array.isArray(a)) return `field 'attributes': expected an array of {key, value}`;
  const m = new Map<string, AnyValue>();
  for (const kv of a) {
    if (kv && typeof kv === 'object' && typeof (kv as { key?: unknown }).key === 'string') m.set((kv as { key: string }).key, ((kv as { value?: unknown }).value ?? {}) as AnyValue);
  }
  return m;
}

const numOf = (v: AnyValue | undefined): number | undefined => {
  if (!v) return undefined;
  const x = v.doubleValue ?? v.intValue;
  const n = typeof x === 'string' ? Number(x) : x;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};

/** Parse one span into a request (times relative to `base`, seconds), or an error message. */
export function parseRequestSpan(span: unknown, base: { ns?: bigint }): UpstreamRequest | string | null {
  if (!span || typeof span !== 'object' || Array.isArray(span)) return 'expected a span object';
  const o = span as Record<string, unknown>;
  const m = attrMap(o);
  if (typeof m === 'string') return m;
  if (!m.has(ATTR.e2e) && !m.has(ATTR.ttft)) return null; // not a request span
  const idv = m.get(ATTR.requestId)?.stringValue;
  const id = typeof idv === 'string' && idv !== '' ? idv : typeof o['spanId'] === 'string' ? `span-${o['spanId']}` : '';
  if (id === '') return `attribute '${ATTR.requestId}': expected a non-empty string (or a spanId)`;
  const start = o['startTimeUnixNano'];
  if (!(typeof start === 'string' && /^\d+$/.test(start)) && !(typeof start === 'number' && Number.isInteger(start) && start >= 0)) {
    return `request ${id}: field 'startTimeUnixNano': expected an integer ns timestamp (decimal string), got ${JSON.stringify(start)}`;
  }
  const startNs = BigInt(start);
  base.ns ??= startNs;
  const arrivalNs = Number(startNs - base.ns);
  const need = (k: string, int: boolean): number | string => {
    const x = numOf(m.get(k));
    if (x === undefined) return `request ${id}: attribute '${k}': expected a number${int ? ' (token count)' : ' (seconds)'}, got ${JSON.stringify(m.get(k) ?? null)}`;
    if (x < 0 || (int && !Number.isInteger(x))) return `request ${id}: attribute '${k}': expected a ${int ? 'non-negative integer' : 'non-negative number of seconds'}, got ${x}`;
    return x;
  };
  const vals: Record<string, number> = {};
  for (const [k, int] of [
    [ATTR.promptTokens, true],
    [ATTR.completionTokens, true],
    [ATTR.ttft, false],
    [ATTR.timeInQueue, false],
    [ATTR.prefill, false],
    [ATTR.decode, false],
  ] as const) {
    const x = need(k, int);
    if (typeof x === 'string') return x;
    vals[k] = x;
  }
  if (vals[ATTR.promptTokens]! < 1) return `request ${id}: attribute '${ATTR.promptTokens}': expected a positive integer, got ${vals[ATTR.promptTokens]}`;
  if (vals[ATTR.completionTokens]! < 1)
    return `request ${id}: attribute '${ATTR.completionTokens}': expected a positive integer (a request with no output has no steps to place), got ${vals[ATTR.completionTokens]}`;
  // in whole ns (the clocks' resolution), so equal instants of different requests compare equal
  const ns = (sec: number): number => Math.round(sec * 1e9);
  const firstToken = arrivalNs + ns(vals[ATTR.ttft]!);
  const scheduled = firstToken - ns(vals[ATTR.prefill]!);
  const queued = scheduled - ns(vals[ATTR.timeInQueue]!);
  const lastToken = firstToken + ns(vals[ATTR.decode]!);
  return {
    id,
    line: 0,
    prompt: vals[ATTR.promptTokens]!,
    outputs: vals[ATTR.completionTokens]!,
    queued: queued / 1e9,
    scheduled: scheduled / 1e9,
    firstToken: firstToken / 1e9,
    lastToken: lastToken / 1e9,
    hasEngineSplit: true,
  };
}

export async function readRequestSpans(input: string, skipBad: boolean): Promise<SpanReadResult> {
  const res: SpanReadResult = { requests: [], records: 0, otherSpans: 0, bad: { count: 0, examples: [] } };
  const base: { ns?: bigint } = {};
  const ids = new Set<string>();
  const fail = (msg: string) => {
    if (!skipBad) throw new InputError(msg);
    res.bad.count++;
    if (res.bad.examples.length < 20) res.bad.examples.push(msg);
  };
  for (const file of spanFiles(input)) {
    for await (const { text, lineNo } of readLines(file)) {
      res.records++;
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (e) {
        fail(`${file}:${lineNo}: not valid JSON (${(e as Error).message})`);
        continue;
      }
      const rs = (v as { resourceSpans?: unknown } | null)?.resourceSpans;
      if (!Array.isArray(rs)) {
        fail(`${file}:${lineNo}: field 'resourceSpans': expected an array (OTLP JSON TracesData, one object per line)`);
        continue;
      }
      let k = 0;
      for (const r of rs) {
        const ss = (r as { scopeSpans?: unknown } | null)?.scopeSpans ?? [];
        if (!Array.isArray(ss)) {
          fail(`${file}:${lineNo}: field 'resourceSpans[].scopeSpans': expected an array`);
          continue;
        }
        for (const sc of ss) {
          const spans = (sc as { spans?: unknown } | null)?.spans ?? [];
          if (!Array.isArray(spans)) {
            fail(`${file}:${lineNo}: field 'scopeSpans[].spans': expected an array`);
            continue;
          }
          for (const sp of spans) {
            const p = parseRequestSpan(sp, base);
            k++;
            if (p === null) {
              res.otherSpans++;
              continue;
            }
            if (typeof p === 'string') {
              fail(`${file}:${lineNo}: span ${k}: ${p}`);
              continue;
            }
            if (ids.has(p.id)) {
              fail(`${file}:${lineNo}: span ${k}: request ${p.id}: duplicate ${ATTR.requestId}`);
              continue;
            }
            ids.add(p.id);
            res.requests.push({ ...p, line: lineNo });
            const mv = attrMap(sp as Record<string, unknown>);
            if (res.model === undefined && typeof mv !== 'string') {
              const model = mv.get(ATTR.model)?.stringValue;
              if (typeof model === 'string') res.model = model;
            }
          }
        }
      }
    }
  }
  // the replay takes requests in queue order
  res.requests.sort((a, b) => a.queued - b.queued || a.scheduled - b.scheduled);
  return { ...res, requests: res.requests.map((r, i) => ({ ...r, line: i + 1 })) };
}
