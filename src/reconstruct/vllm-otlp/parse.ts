/**
 * Pass 1 of the vLLM OTLP reader: one JSON line (an OTLP/JSON export request) → compact records.
 * Pure: no I/O. Problems are returned as messages (the caller decides: fail or skip).
 */
import type { ApiRec, JourneyRec, SnapshotRec, StepRec, SummaryRec } from './records.js';
import { jsonErrorDetail } from '../../io/errors.js';
import type { JourneyKind } from '../../scheduler/schedule-log.js';

export interface ParsedLine {
  readonly recs: StepRec[];
  readonly api: ApiRec[];
  /** Events or spans that were skipped, with why (file:line prefix added by the caller). */
  readonly bad: string[];
  /** Spans of scopes this reader does not use. */
  readonly ignoredSpans: number;
}

type Attrs = Map<string, unknown>;

interface OtlpAttr {
  key?: unknown;
  value?: unknown;
}

/** Decode an OTLP attribute value: intValue comes as a string (or a number from some exporters). */
function attrValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if ('intValue' in o) {
    const x = o['intValue'];
    return typeof x === 'string' ? Number(x) : x;
  }
  if ('doubleValue' in o) return o['doubleValue'];
  if ('stringValue' in o) return o['stringValue'];
  if ('boolValue' in o) return o['boolValue'];
  return undefined;
}

function attrs(list: unknown): Attrs {
  const m: Attrs = new Map();
  if (!Array.isArray(list)) return m;
  for (const a of list as OtlpAttr[]) {
    if (a && typeof a.key === 'string') m.set(a.key, attrValue(a.value));
  }
  return m;
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const optNum = (m: Attrs, k: string): number | undefined => {
  const v = m.get(k);
  return isNum(v) ? v : undefined;
};

const JOURNEY = new Set<JourneyKind>(['QUEUED', 'SCHEDULED', 'FIRST_TOKEN', 'PREEMPTED', 'FINISHED']);

/** Monotonic ns of an event: ts.monotonic_ns, else ts.monotonic (s) × 1e9. */
function eventTs(m: Attrs): number | undefined {
  const ns = optNum(m, 'ts.monotonic_ns');
  if (ns !== undefined) return ns;
  const s = optNum(m, 'ts.monotonic');
  return s === undefined ? undefined : Math.round(s * 1e9);
}

const badId = (id: string): boolean => /[\t\n\r]/.test(id);

function coreSpan(span: Record<string, unknown>, out: StepRec[], bad: string[], line: number): void {
  const sa = attrs(span['attributes']);
  const req = sa.get('gen_ai.request.id');
  if (typeof req !== 'string' || req === '' || badId(req)) {
    bad.push(`llm_core span ${JSON.stringify(span['spanId'] ?? '?')}: attribute 'gen_ai.request.id': expected a request id string`);
    return;
  }
  const events = Array.isArray(span['events']) ? (span['events'] as Record<string, unknown>[]) : [];
  for (const ev of events) {
    const name = typeof ev?.['name'] === 'string' ? (ev['name'] as string) : '';
    if (!name.startsWith('journey.')) continue;
    const kind = name.slice(8) as JourneyKind;
    if (!JOURNEY.has(kind)) continue;
    const m = attrs(ev['attributes']);
    const step = m.get('scheduler.step');
    if (!isNum(step) || !Number.isInteger(step) || step < 0) {
      bad.push(`request ${req}: event ${name}: attribute 'scheduler.step': expected a non-negative integer, got ${step === undefined ? 'nothing' : JSON.stringify(step)}`);
      continue;
    }
    const ts = eventTs(m);
    if (ts === undefined) {
      bad.push(`request ${req}: event ${name} at step ${step}: attribute 'ts.monotonic_ns' or 'ts.monotonic': expected a number`);
      continue;
    }
    let r: JourneyRec;
    switch (kind) {
      case 'SCHEDULED': {
        const sk = m.get('schedule.kind');
        const total = optNum(m, 'prefill.total_tokens');
        if (total === undefined || total <= 0) {
          bad.push(`request ${req}: event ${name} at step ${step}: attribute 'prefill.total_tokens': expected a positive integer (the prompt length)`);
          continue;
        }
        r = { t: 'J', step, line, ts, kind, req, tag: sk === 'RESUME' ? 'RESUME' : 'FIRST', pDone: optNum(m, 'prefill.done_tokens') ?? 0, total, count: optNum(m, 'decode.done_tokens') };
        break;
      }
      case 'FIRST_TOKEN':
        r = { t: 'J', step, line, ts, kind, req, pDone: optNum(m, 'prefill.done_tokens'), count: optNum(m, 'decode.done_tokens') };
        break;
      case 'PREEMPTED':
        r = { t: 'J', step, line, ts, kind, req, count: optNum(m, 'num_preemptions') };
        break;
      case 'FINISHED': {
        const st = m.get('finish.status');
        r = {
          t: 'J',
          step,
          line,
          ts,
          kind,
          req,
          ...(typeof st === 'string' && !badId(st) && st !== '' ? { tag: st } : {}),
          count: optNum(m, 'decode.done_tokens'),
          total: optNum(m, 'decode.max_tokens'),
        };
        break;
      }
      default:
        r = { t: 'J', step, line, ts, kind, req };
    }
    out.push(r);
  }
}

function stepSpan(span: Record<string, unknown>, out: StepRec[], bad: string[], line: number): void {
  const events = Array.isArray(span['events']) ? (span['events'] as Record<string, unknown>[]) : [];
  for (const ev of events) {
    const name = ev?.['name'];
    if (name !== 'step.BATCH_SUMMARY' && name !== 'step.REQUEST_SNAPSHOT') continue;
    const m = attrs(ev['attributes']);
    const step = m.get('step.id');
    if (!isNum(step) || !Number.isInteger(step) || step < 0) {
      bad.push(`event ${name}: attribute 'step.id': expected a non-negative integer, got ${step === undefined ? 'nothing' : JSON.stringify(step)}`);
      continue;
    }
    if (name === 'step.BATCH_SUMMARY') {
      const r: SummaryRec = {
        t: 'S',
        step,
        line,
        start: optNum(m, 'step.ts_start_ns'),
        end: optNum(m, 'step.ts_end_ns'),
        durUs: optNum(m, 'step.duration_us'),
        nPf: optNum(m, 'batch.num_prefill_reqs'),
        nDc: optNum(m, 'batch.num_decode_reqs'),
        pfTok: optNum(m, 'batch.prefill_tokens'),
        dcTok: optNum(m, 'batch.decode_tokens'),
        running: optNum(m, 'queue.running_depth'),
        waiting: optNum(m, 'queue.waiting_depth'),
        kvTotal: optNum(m, 'kv.blocks_total_gpu'),
        kvFree: optNum(m, 'kv.blocks_free_gpu'),
      };
      out.push(r);
      continue;
    }
    const req = m.get('request.id');
    const phase = m.get('request.phase');
    if (typeof req !== 'string' || req === '' || badId(req)) {
      bad.push(`event ${name} at step ${step}: attribute 'request.id': expected a request id string`);
      continue;
    }
    if (phase !== 'PREFILL' && phase !== 'DECODE') {
      bad.push(`event ${name} at step ${step} (request ${req}): attribute 'request.phase': expected PREFILL or DECODE, got ${JSON.stringify(phase)}`);
      continue;
    }
    const need = ['request.num_prompt_tokens', 'request.num_computed_tokens', 'request.num_output_tokens', 'request.scheduled_tokens_this_step'] as const;
    const missing = need.find((k) => {
      const v = optNum(m, k);
      return v === undefined || v < 0 || !Number.isInteger(v);
    });
    if (missing) {
      bad.push(`event ${name} at step ${step} (request ${req}): attribute '${missing}': expected a non-negative integer`);
      continue;
    }
    const r: SnapshotRec = {
      t: 'R',
      step,
      line,
      req,
      phase,
      prompt: optNum(m, 'request.num_prompt_tokens')!,
      computed: optNum(m, 'request.num_computed_tokens')!,
      outputs: optNum(m, 'request.num_output_tokens')!,
      preemptions: optNum(m, 'request.num_preemptions') ?? 0,
      scheduled: optNum(m, 'request.scheduled_tokens_this_step')!,
    };
    out.push(r);
  }
}

function apiSpan(span: Record<string, unknown>, out: ApiRec[], bad: string[]): void {
  const sa = attrs(span['attributes']);
  const id = sa.get('gen_ai.request.id');
  if (typeof id !== 'string' || id === '' || badId(id)) {
    bad.push(`llm_request span: attribute 'gen_ai.request.id': expected a request id string`);
    return;
  }
  const events = Array.isArray(span['events']) ? (span['events'] as Record<string, unknown>[]) : [];
  for (const ev of events) {
    const name = ev?.['name'];
    if (name !== 'api.ARRIVED' && name !== 'api.DEPARTED' && name !== 'api.ABORTED') continue;
    const m = attrs(ev['attributes']);
    const s = optNum(m, 'event.ts.monotonic') ?? optNum(m, 'ts.monotonic');
    if (s === undefined) {
      bad.push(`request ${id}: event ${name}: attribute 'event.ts.monotonic': expected a number (seconds)`);
      continue;
    }
    out.push({ id, kind: (name as string).slice(4) as ApiRec['kind'], ts: Math.round(s * 1e9) });
  }
}

/**
 * Parse one OTLP export line. Throws only for a line that is not an export request at all
 * (the message names what was expected); event-level problems go to `bad`.
 */
export function parseOtlpLine(text: string, line: number): ParsedLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`not valid JSON (${jsonErrorDetail(e)})`);
  }
  if (v === null || typeof v !== 'object' || !Array.isArray((v as Record<string, unknown>)['resourceSpans'])) {
    throw new Error(`expected an OTLP/JSON export request: an object with a 'resourceSpans' array`);
  }
  const recs: StepRec[] = [];
  const api: ApiRec[] = [];
  const bad: string[] = [];
  let ignoredSpans = 0;
  for (const rs of (v as { resourceSpans: unknown[] }).resourceSpans) {
    const scopeSpans = (rs as Record<string, unknown> | null)?.['scopeSpans'];
    if (!Array.isArray(scopeSpans)) continue;
    for (const ss of scopeSpans as Record<string, unknown>[]) {
      const scope = ((ss?.['scope'] as Record<string, unknown> | undefined)?.['name'] as string | undefined) ?? '';
      const spans = Array.isArray(ss?.['spans']) ? (ss['spans'] as Record<string, unknown>[]) : [];
      for (const span of spans) {
        if (span === null || typeof span !== 'object') continue;
        const name = span['name'];
        if (scope === 'vllm.scheduler' || name === 'llm_core') coreSpan(span, recs, bad, line);
        else if (scope === 'vllm.scheduler.step') stepSpan(span, recs, bad, line);
        else if (scope === 'vllm.api' || name === 'llm_request') apiSpan(span, api, bad);
        else ignoredSpans++;
      }
    }
  }
  return { recs, api, bad, ignoredSpans };
}
