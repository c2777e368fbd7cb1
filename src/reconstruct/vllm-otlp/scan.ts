/**
 * Fast path of the vLLM OTLP line parser (pass 1): walks the bytes of one ASCII JSON line with a
 * cursor and writes only the compact records, packed (packed.ts) as they are read — never the
 * line's text, the OTLP object tree or an object per record. Irrelevant values (trace and
 * span ids, resource attributes, spans of other scopes) are skipped and checked for JSON validity
 * without being built.
 *
 * It handles the well-formed case only. On anything unexpected — invalid JSON, an escape inside a
 * string it keeps, a duplicate key, an attribute value it would have to interpret, an event the
 * full parser would report as bad — it gives up (returns undefined) and the caller runs the full
 * parser (parse.ts) on the line, so results and error messages are exactly the full parser's.
 */
import type { JourneyKind } from '../../scheduler/schedule-log.js';
import { GIVE_UP } from './json-cursor.js';
import { A, AttrCursor, type Bag, SPAN_SLOT, W } from './otlp-attrs.js';
import { RecPacker, unpackSeg } from './packed.js';
import type { ParsedLine } from './parse.js';
import type { ApiRec, StepRec } from './records.js';

const JOURNEY_KINDS: readonly JourneyKind[] = ['QUEUED', 'SCHEDULED', 'FIRST_TOKEN', 'PREEMPTED', 'FINISHED'];

const badId = (id: string): boolean => /[\t\n\r]/.test(id);
const PREFILL = Buffer.from('PREFILL');
const DECODE = Buffer.from('DECODE');

type SpanKind = 'core' | 'step' | 'api' | 'other';

class Scanner extends AttrCursor {
  line = 0;
  /** Where the records go, as they are read. */
  pk = new RecPacker(1);
  api: ApiRec[] = [];
  ignored = 0;

  line1(b: Buffer, start: number, end: number, line: number, pk: RecPacker): ParsedLine {
    this.pk = pk;
    this.setBytes(b);
    this.p = start;
    this.n = end;
    this.line = line;
    this.api = [];
    this.ignored = 0;
    this.expect(123);
    let seen = false;
    for (let k = this.key(true); k !== -2; k = this.key(false)) {
      if (k !== W.resourceSpans) {
        this.skip();
        continue;
      }
      if (seen) throw GIVE_UP;
      seen = true;
      this.expect(91);
      for (let f = true; this.more(f); f = false) this.resourceSpans();
    }
    this.ws();
    if (!seen || this.p !== end) throw GIVE_UP;
    return { recs: [], api: this.api, bad: [], ignoredSpans: this.ignored };
  }

  resourceSpans(): void {
    this.expect(123);
    let seen = false;
    for (let k = this.key(true); k !== -2; k = this.key(false)) {
      if (k !== W.scopeSpans) {
        this.skip();
        continue;
      }
      if (seen) throw GIVE_UP;
      seen = true;
      this.expect(91);
      for (let f = true; this.more(f); f = false) this.scopeSpans();
    }
  }

  scopeSpans(): void {
    this.expect(123);
    let scope = '';
    let seen = 0;
    for (let k = this.key(true); k !== -2; k = this.key(false)) {
      if (k === W.scope) {
        if (seen & 3) throw GIVE_UP; // twice, or after spans: the full parser handles it
        seen |= 1;
        scope = this.scopeName();
      } else if (k === W.spans) {
        if (seen & 2) throw GIVE_UP;
        seen |= 2;
        this.expect(91);
        for (let f = true; this.more(f); f = false) this.span(scope);
      } else this.skip();
    }
  }

  scopeName(): string {
    this.expect(123);
    let name: string | undefined;
    for (let k = this.key(true); k !== -2; k = this.key(false)) {
      if (k === W.name) {
        if (name !== undefined) throw GIVE_UP;
        name = this.str();
      } else this.skip();
    }
    return name ?? '';
  }

  span(scope: string): void {
    this.expect(123);
    let name: string | undefined;
    let kind: SpanKind | undefined;
    let seen = 0;
    this.spanBag.clear();
    for (let k = this.key(true); k !== -2; k = this.key(false)) {
      if (k === W.name) {
        if (seen & 1) throw GIVE_UP;
        seen |= 1;
        name = this.str();
      } else if (k === W.attributes) {
        if (seen & 6) throw GIVE_UP; // twice, or after events
        seen |= 2;
        this.attrs(this.spanBag, SPAN_SLOT);
      } else if (k === W.events) {
        if (seen & 4 || !(seen & 1)) throw GIVE_UP; // twice, or before the name
        seen |= 4;
        kind = spanKind(scope, name);
        this.events(kind);
      } else this.skip();
    }
    kind ??= spanKind(scope, name);
    if (kind === 'other') this.ignored++;
    else if (kind !== 'step' && !(seen & 4)) this.spanId(); // a request span without events still needs a valid id
  }

  spanId(): string {
    const req = this.spanBag.str(A['gen_ai.request.id']);
    if (req === undefined || req === '' || badId(req)) throw GIVE_UP;
    return req;
  }

  events(kind: SpanKind): void {
    if (kind === 'other') {
      this.skip();
      return;
    }
    const req = kind === 'step' ? '' : this.spanId();
    this.expect(91);
    for (let f = true; this.more(f); f = false) {
      const name = this.event();
      if (kind === 'core') this.journey(name, req);
      else if (kind === 'step') this.stepEvent(name);
      else this.apiEvent(name, req);
    }
  }

  journey(name: number, req: string): void {
    const j = name - W['journey.QUEUED'];
    if (j < 0 || j >= JOURNEY_KINDS.length) return;
    const kind = JOURNEY_KINDS[j]!;
    const m = this.bag;
    const step = m.num(A['scheduler.step']);
    if (step === undefined || !Number.isInteger(step) || step < 0) throw GIVE_UP;
    let ts = m.num(A['ts.monotonic_ns']);
    if (ts === undefined) {
      const sec = m.num(A['ts.monotonic']);
      if (sec === undefined) throw GIVE_UP;
      ts = Math.round(sec * 1e9);
    }
    const line = this.line;
    switch (kind) {
      case 'SCHEDULED': {
        const total = m.num(A['prefill.total_tokens']);
        if (total === undefined || total <= 0) throw GIVE_UP;
        const tag = m.str(A['schedule.kind']) === 'RESUME' ? 'RESUME' : 'FIRST';
        this.pk.journey(kind, step, line, ts, req, tag, m.num(A['prefill.done_tokens']) ?? 0, total, m.num(A['decode.done_tokens']));
        return;
      }
      case 'FIRST_TOKEN':
        this.pk.journey(kind, step, line, ts, req, undefined, m.num(A['prefill.done_tokens']), undefined, m.num(A['decode.done_tokens']));
        return;
      case 'PREEMPTED':
        this.pk.journey(kind, step, line, ts, req, undefined, undefined, undefined, m.num(A.num_preemptions));
        return;
      case 'FINISHED': {
        const st = m.str(A['finish.status']);
        const tag = st !== undefined && !badId(st) && st !== '' ? st : undefined;
        this.pk.journey(kind, step, line, ts, req, tag, undefined, m.num(A['decode.max_tokens']), m.num(A['decode.done_tokens']));
        return;
      }
      default:
        this.pk.journey(kind, step, line, ts, req, undefined);
    }
  }

  stepEvent(name: number): void {
    if (name !== W['step.BATCH_SUMMARY'] && name !== W['step.REQUEST_SNAPSHOT']) return;
    const m = this.bag;
    const step = m.num(A['step.id']);
    if (step === undefined || !Number.isInteger(step) || step < 0) throw GIVE_UP;
    const line = this.line;
    if (name === W['step.BATCH_SUMMARY']) {
      this.pk.summary(
        step,
        line,
        m.num(A['step.ts_start_ns']),
        m.num(A['step.ts_end_ns']),
        m.num(A['step.duration_us']),
        m.num(A['batch.num_prefill_reqs']),
        m.num(A['batch.num_decode_reqs']),
        m.num(A['batch.prefill_tokens']),
        m.num(A['batch.decode_tokens']),
        m.num(A['queue.running_depth']),
        m.num(A['queue.waiting_depth']),
        m.num(A['kv.blocks_total_gpu']),
        m.num(A['kv.blocks_free_gpu']),
      );
      return;
    }
    // the request id is interned from its bytes (no string per snapshot); it cannot hold a tab or
    // newline (badId): the cursor's strings have no control bytes
    const rid = A['request.id'];
    if (m.strLen(rid) <= 0) throw GIVE_UP;
    const ph = A['request.phase'];
    const phase = m.strIs(ph, PREFILL) ? 'PREFILL' : m.strIs(ph, DECODE) ? 'DECODE' : undefined;
    if (phase === undefined) throw GIVE_UP;
    const prompt = count(m, A['request.num_prompt_tokens']);
    const computed = count(m, A['request.num_computed_tokens']);
    const outputs = count(m, A['request.num_output_tokens']);
    const scheduled = count(m, A['request.scheduled_tokens_this_step']);
    this.pk.snapshotAt(step, line, this.pk.strAt(m.src, m.from[rid]!, m.to[rid]!), phase, prompt, computed, outputs, m.num(A['request.num_preemptions']) ?? 0, scheduled);
  }

  apiEvent(name: number, id: string): void {
    const kind = name === W['api.ARRIVED'] ? 'ARRIVED' : name === W['api.DEPARTED'] ? 'DEPARTED' : name === W['api.ABORTED'] ? 'ABORTED' : undefined;
    if (kind === undefined) return;
    const s = this.bag.num(A['event.ts.monotonic']) ?? this.bag.num(A['ts.monotonic']);
    if (s === undefined) throw GIVE_UP;
    this.api.push({ id, kind, ts: Math.round(s * 1e9) });
  }
}

function spanKind(scope: string, name: string | undefined): SpanKind {
  if (scope === 'vllm.scheduler' || name === 'llm_core') return 'core';
  if (scope === 'vllm.scheduler.step') return 'step';
  if (scope === 'vllm.api' || name === 'llm_request') return 'api';
  return 'other';
}

/** A non-negative integer attribute (snapshot token counts), else give up. */
function count(m: Bag, k: number): number {
  const v = m.num(k);
  if (v === undefined || v < 0 || !Number.isInteger(v)) throw GIVE_UP;
  return v;
}

const scanner = new Scanner();

/**
 * Parse one OTLP export line (bytes start..end of `b`, all ASCII: check with `isAscii` first) on
 * the fast path, its records written to `pk` as they are read (and taken back if it gives up);
 * undefined when the line needs the full parser (`parseOtlpLine`), which then gives the same
 * records or the right error messages. The result's `recs` is empty: the records are in `pk`.
 */
export function scanOtlpLineInto(b: Buffer, start: number, end: number, line: number, pk: RecPacker): ParsedLine | undefined {
  pk.mark();
  try {
    return scanner.line1(b, start, end, line, pk);
  } catch (e) {
    if (e === GIVE_UP) {
      pk.rollback();
      return undefined;
    }
    throw e;
  }
}

/** `scanOtlpLineInto` with the records returned as objects (as records.ts `decodeRec` gives them). */
export function scanOtlpLine(b: Buffer, start: number, end: number, line: number): ParsedLine | undefined {
  const pk = new RecPacker(2 ** 52);
  const p = scanOtlpLineInto(b, start, end, line, pk);
  if (!p) return undefined;
  const { data, segs, strs } = pk.finish();
  const recs: StepRec[] = [];
  for (let i = 0; i < segs.length; i += 4) unpackSeg({ data: data.subarray(segs[i + 1]!, segs[i + 2]!), strs, lineBase: 0, count: segs[i + 3]! }, recs);
  return { ...p, recs };
}
