/** OTLP/JSON shapes the trace emitter writes (emit.ts): attributes, events, spans. */

export type AttrValue = { intValue: string } | { doubleValue: number } | { stringValue: string } | { boolValue: boolean };
export interface Attr {
  key: string;
  value: AttrValue;
}
export interface OtlpEvent {
  timeUnixNano: string;
  name: string;
  attributes: Attr[];
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attr[];
  events: OtlpEvent[];
}

export const int = (key: string, v: number): Attr => ({ key, value: { intValue: String(Math.round(v)) } });
export const dbl = (key: string, v: number): Attr => ({ key, value: { doubleValue: v } });
export const str = (key: string, v: string): Attr => ({ key, value: { stringValue: v } });

/** The API-side id: the engine id without a trailing `-<n>-<hex>` (vLLM appends `-0-<hash>`). */
export function apiRequestId(engineId: string): string {
  return engineId.replace(/-\d+-[0-9a-f]+$/i, '');
}
