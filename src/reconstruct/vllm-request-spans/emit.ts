/**
 * Write upstream vLLM `llm_request` spans as an OpenTelemetry Collector file exporter writes them
 * (OTLP JSON, one `TracesData` object per line: resourceSpans → scopeSpans → spans). Used by
 * `stepfit simulate --emit-request-spans` so the reader has an exact round trip.
 */
import { ATTR, SPAN_NAME } from '../../steps/otlp-attributes.js';

/** One finished request, times in ns of one clock (the simulator's). */
export interface SpanRequest {
  readonly id: string;
  readonly arrivalNs: number;
  readonly queuedNs: number;
  readonly scheduledNs: number;
  readonly firstTokenNs: number;
  readonly lastTokenNs: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly maxTokens?: number;
}

export interface SpanEmitOptions {
  /** Wall-clock epoch ns of clock 0 (default 2026-01-01T00:00:00Z). */
  readonly epochNs?: bigint;
  readonly model?: string;
  /** Spans per line (the collector batches; default 64). */
  readonly perLine?: number;
}

const DEFAULT_EPOCH = 1_767_225_600_000_000_000n;
const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0').slice(-len);

type Attr = { key: string; value: { stringValue: string } | { intValue: string } | { doubleValue: number } };
const s = (key: string, v: string): Attr => ({ key, value: { stringValue: v } });
const i = (key: string, v: number): Attr => ({ key, value: { intValue: String(v) } });
const d = (key: string, v: number): Attr => ({ key, value: { doubleValue: v } });

/** One span object (OTLP JSON mapping: ids hex, times as decimal strings, kind 2 = SERVER). */
export function requestSpan(r: SpanRequest, k: number, o: SpanEmitOptions = {}): Record<string, unknown> {
  const epoch = o.epochNs ?? DEFAULT_EPOCH;
  const ns = (t: number): string => (epoch + BigInt(Math.round(t))).toString();
  const sec = (a: number, b: number): number => (b - a) / 1e9;
  const attrs: Attr[] = [
    s(ATTR.requestId, r.id),
    ...(o.model ? [s(ATTR.model, o.model)] : []),
    ...(r.maxTokens !== undefined ? [i(ATTR.maxTokens, r.maxTokens)] : []),
    i(ATTR.promptTokens, r.promptTokens),
    i(ATTR.completionTokens, r.completionTokens),
    d(ATTR.ttft, sec(r.arrivalNs, r.firstTokenNs)),
    d(ATTR.e2e, sec(r.arrivalNs, r.lastTokenNs)),
    d(ATTR.timeInQueue, sec(r.queuedNs, r.scheduledNs)),
    d(ATTR.prefill, sec(r.scheduledNs, r.firstTokenNs)),
    d(ATTR.decode, sec(r.firstTokenNs, r.lastTokenNs)),
    d(ATTR.inference, sec(r.scheduledNs, r.lastTokenNs)),
  ];
  return {
    traceId: hex(k + 1, 16).padStart(32, '0'),
    spanId: hex(k + 1, 16),
    name: SPAN_NAME,
    kind: 2,
    startTimeUnixNano: ns(r.arrivalNs),
    endTimeUnixNano: ns(r.lastTokenNs),
    attributes: attrs,
    status: {},
  };
}

/** The JSON Lines text for all requests (in the order given). */
export function requestSpanLines(reqs: readonly SpanRequest[], o: SpanEmitOptions = {}): string {
  const per = o.perLine ?? 64;
  let out = '';
  for (let a = 0; a < reqs.length; a += per) {
    const spans = reqs.slice(a, a + per).map((r, j) => requestSpan(r, a + j, o));
    out +=
      JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [s('service.name', 'vllm')] },
            scopeSpans: [{ scope: { name: 'vllm.llm_engine' }, spans }],
          },
        ],
      }) + '\n';
  }
  return out;
}
