/**
 * Fast path of the vLLM OTLP line parser (pass 1): walks the bytes of one ASCII JSON line with a
 * cursor and builds only the compact records (records.ts) — never the line's text or the OTLP
 * object tree. Irrelevant values (trace and
 * span ids, resource attributes, spans of other scopes) are skipped and checked for JSON validity
 * without being built.
 *
 * It handles the well-formed case only. On anything unexpected — invalid JSON, an escape inside a
 * string it keeps, a duplicate key, an attribute value it would have to interpret, an event the
 * full parser would report as bad — it gives up (returns undefined) and the caller runs the full
 * parser (parse.ts) on the line, so results and error messages are exactly the full parser's.
 */
import type { JourneyKind } from '../../scheduler/schedule-log.js';
import type { ParsedLine } from './parse.js';
import type { ApiRec, JourneyRec, StepRec } from './records.js';

/** Thrown (not an Error: no stack to capture) to abandon the fast path. */
const GIVE_UP = { giveUp: true } as const;

const Q = 34; // "
const BS = 92; // \

/** Object keys and names the walker matches in place (no string is built for them). */
const WORDS = [
  'resourceSpans',
  'scopeSpans',
  'scope',
  'spans',
  'name',
  'attributes',
  'events',
  'key',
  'value',
  'intValue',
  'doubleValue',
  'stringValue',
  'boolValue',
  'journey.QUEUED',
  'journey.SCHEDULED',
  'journey.FIRST_TOKEN',
  'journey.PREEMPTED',
  'journey.FINISHED',
  'step.BATCH_SUMMARY',
  'step.REQUEST_SNAPSHOT',
  'api.ARRIVED',
  'api.DEPARTED',
  'api.ABORTED',
] as const;
const W = Object.fromEntries(WORDS.map((w, i) => [w, i])) as { readonly [K in (typeof WORDS)[number]]: number };
const JOURNEY_KINDS: readonly JourneyKind[] = ['QUEUED', 'SCHEDULED', 'FIRST_TOKEN', 'PREEMPTED', 'FINISHED'];

/** Attribute keys the records use; their values go to per-key slots. */
const ATTR_KEYS = [
  'gen_ai.request.id',
  'scheduler.step',
  'ts.monotonic',
  'ts.monotonic_ns',
  'schedule.kind',
  'prefill.done_tokens',
  'prefill.total_tokens',
  'decode.done_tokens',
  'num_preemptions',
  'finish.status',
  'decode.max_tokens',
  'step.id',
  'step.ts_start_ns',
  'step.ts_end_ns',
  'step.duration_us',
  'batch.num_prefill_reqs',
  'batch.num_decode_reqs',
  'batch.prefill_tokens',
  'batch.decode_tokens',
  'queue.running_depth',
  'queue.waiting_depth',
  'kv.blocks_total_gpu',
  'kv.blocks_free_gpu',
  'request.id',
  'request.phase',
  'request.num_prompt_tokens',
  'request.num_computed_tokens',
  'request.num_output_tokens',
  'request.num_preemptions',
  'request.scheduled_tokens_this_step',
  'event.ts.monotonic',
] as const;
const A = Object.fromEntries(ATTR_KEYS.map((w, i) => [w, i])) as { readonly [K in (typeof ATTR_KEYS)[number]]: number };
/** Keys whose string values are kept (the others are only checked). */
const KEEP_STRING = new Set<number>([A['gen_ai.request.id'], A['schedule.kind'], A['finish.status'], A['request.id'], A['request.phase']]);

type WordTable = (readonly [Uint8Array, number])[][];
/** length → [word bytes, id][] for in-place matching. */
function byLength(words: readonly string[]): WordTable {
  const t: WordTable = [];
  words.forEach((w, i) => {
    (t[w.length] ??= []).push([Buffer.from(w, 'latin1'), i] as const);
  });
  return t;
}
const WORDS_BY_LEN = byLength(WORDS);
const ATTRS_BY_LEN = byLength(ATTR_KEYS);

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

const PRE_KEY = Buffer.from('{"key":"');
const PRE_VALUE = Buffer.from('","value":{"');
const INT_VALUE = Buffer.from('intValue":"');
const STRING_VALUE = Buffer.from('stringValue":"');
const DOUBLE_VALUE = Buffer.from('doubleValue":');
const CLOSE2 = Buffer.from('}}');

const badId = (id: string): boolean => /[\t\n\r]/.test(id);

type SpanKind = 'core' | 'step' | 'api' | 'other';

const UNDEF = 0;
const NUM = 1;
const STR = 2;
const OTHER = 3;

/** The values of one attribute array, one slot per known key (later keys win, as in a Map). */
class Bag {
  readonly kind = new Uint8Array(ATTR_KEYS.length);
  readonly nums = new Float64Array(ATTR_KEYS.length);
  readonly strs: (string | undefined)[] = ATTR_KEYS.map(() => undefined);
  clear(): void {
    this.kind.fill(UNDEF);
  }
  /** parse.ts `optNum`: a finite number, else undefined. */
  num(k: number): number | undefined {
    if (this.kind[k] !== NUM) return undefined;
    const v = this.nums[k]!;
    return Number.isFinite(v) ? v : undefined;
  }
  /** A kept string value, else undefined. */
  str(k: number): string | undefined {
    return this.kind[k] === STR ? this.strs[k] : undefined;
  }
}

class Scanner {
  b: Buffer = Buffer.alloc(0);
  p = 0;
  /** End of the line (exclusive). */
  n = 0;
  line = 0;
  readonly bag = new Bag();
  readonly spanBag = new Bag();
  recs: StepRec[] = [];
  api: ApiRec[] = [];
  ignored = 0;

  /** The byte at i, or -1 past the end of the line. */
  at(i: number): number {
    return i < this.n ? this.b[i]! : -1;
  }

  ws(): number {
    let p = this.p;
    let c = this.at(p);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = this.at(++p);
    this.p = p;
    return c;
  }

  expect(c: number): void {
    if (this.ws() !== c) throw GIVE_UP;
    this.p++;
  }

  /** At '"': the index of the closing quote of a string without escapes or control characters (else give up). */
  strEnd(): number {
    const b = this.b;
    const n = this.n;
    let j = this.p + 1;
    for (;;) {
      if (j >= n) throw GIVE_UP;
      const c = b[j]!;
      if (c === Q) return j;
      if (c < 32 || c === BS) throw GIVE_UP;
      j++;
    }
  }

  /** A JSON string without escapes or control characters (else give up). The line is ASCII. */
  str(): string {
    if (this.ws() !== Q) throw GIVE_UP;
    const j = this.strEnd();
    const v = this.b.toString('latin1', this.p + 1, j);
    this.p = j + 1;
    return v;
  }

  /** A string matched against a word table: its id, or -1 for another string. */
  word(table: WordTable): number {
    if (this.ws() !== Q) throw GIVE_UP;
    const j = this.strEnd();
    const from = this.p + 1;
    const cands = table[j - from];
    let id = -1;
    if (cands !== undefined) {
      const b = this.b;
      for (let c = 0; c < cands.length && id < 0; c++) {
        const w = cands[c]![0];
        let k = 0;
        while (k < w.length && b[from + k] === w[k]) k++;
        if (k === w.length) id = cands[c]![1];
      }
    }
    this.p = j + 1;
    return id;
  }

  /** Is the string at the cursor exactly `w` (ASCII)? Consumes it. */
  is(w: Uint8Array): boolean {
    if (this.ws() !== Q) throw GIVE_UP;
    const j = this.strEnd();
    const from = this.p + 1;
    this.p = j + 1;
    if (j - from !== w.length) return false;
    for (let k = 0; k < w.length; k++) if (this.b[from + k] !== w[k]) return false;
    return true;
  }

  /** After '{' or a member: the next key's word id (-1: another key; ':' consumed), or -2 at '}' (consumed). */
  key(first: boolean): number {
    const c = this.ws();
    if (c === 125) {
      this.p++;
      return -2;
    }
    if (!first) {
      if (c !== 44) throw GIVE_UP;
      this.p++;
    }
    const k = this.word(WORDS_BY_LEN);
    this.expect(58);
    return k;
  }

  /** After '[' or an element: true when another element follows (consumes ','), false at ']' (consumed). */
  more(first: boolean): boolean {
    const c = this.ws();
    if (c === 93) {
      this.p++;
      return false;
    }
    if (!first) {
      if (c !== 44) throw GIVE_UP;
      this.p++;
    }
    return true;
  }

  digits(p: number): number {
    let c = this.at(p);
    while (c >= 48 && c <= 57) c = this.at(++p);
    return p;
  }

  /** A JSON number token → its value (JSON grammar checked). */
  number(): number {
    const p0 = this.p;
    let p = p0;
    if (this.at(p) === 45) p++;
    let c = this.at(p);
    if (c === 48) p++;
    else if (c >= 49 && c <= 57) p = this.digits(p);
    else throw GIVE_UP;
    if (this.at(p) === 46) {
      const q = p + 1;
      p = this.digits(q);
      if (p === q) throw GIVE_UP;
    }
    c = this.at(p);
    if (c === 101 || c === 69) {
      p++;
      c = this.at(p);
      if (c === 43 || c === 45) p++;
      const q = p;
      p = this.digits(q);
      if (p === q) throw GIVE_UP;
    }
    this.p = p;
    return Number(this.b.toString('latin1', p0, p));
  }

  /** An intValue string → Number(string), without building the string for plain digits. */
  intString(): number {
    if (this.ws() !== Q) throw GIVE_UP;
    const b = this.b;
    const j = this.strEnd();
    const p0 = this.p + 1;
    let v = 0;
    let p = p0;
    if (j - p0 <= 15 && j > p0) {
      for (; p < j; p++) {
        const d = b[p]! - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
      }
    }
    this.p = j + 1;
    return p === j && j > p0 ? v : Number(b.toString('latin1', p0, j));
  }

  /** Skip any JSON value, checking it is valid JSON. */
  skip(): void {
    const c = this.ws();
    if (c === Q) this.skipStr();
    else if (c === 123) {
      this.p++;
      for (let k = this.key(true); k !== -2; k = this.key(false)) this.skip();
    } else if (c === 91) {
      this.p++;
      for (let f = true; this.more(f); f = false) this.skip();
    } else if (c === 116) this.lit(TRUE);
    else if (c === 102) this.lit(FALSE);
    else if (c === 110) this.lit(NULL);
    else this.number();
  }

  skipStr(): void {
    let j = this.p + 1;
    for (;;) {
      const c = this.at(j);
      if (c === Q) break;
      if (c < 32) throw GIVE_UP; // a control character, or the end of the line
      if (c === BS) {
        const x = this.at(++j);
        if (x === 117) {
          for (let k = 1; k <= 4; k++) {
            const h = this.at(j + k);
            if (!((h >= 48 && h <= 57) || (h >= 65 && h <= 70) || (h >= 97 && h <= 102))) throw GIVE_UP;
          }
          j += 4;
        } else if (!(x === Q || x === BS || x === 47 || x === 98 || x === 102 || x === 110 || x === 114 || x === 116)) throw GIVE_UP;
      }
      j++;
    }
    this.p = j + 1;
  }

  lit(w: Uint8Array): void {
    for (let k = 0; k < w.length; k++) if (this.at(this.p + k) !== w[k]) throw GIVE_UP;
    this.p += w.length;
  }

  /** An attribute value object into slot k of `bag` (what parse.ts `attrValue` returns for it). */
  attrValue(bag: Bag, k: number): void {
    const c = this.ws();
    if (c === 110) {
      this.lit(NULL);
      bag.kind[k] = UNDEF;
      return;
    }
    if (c !== 123) throw GIVE_UP;
    this.p++;
    const t = this.key(true);
    if (t === -2) {
      bag.kind[k] = UNDEF;
      return;
    }
    if (t === W.intValue) {
      bag.nums[k] = this.intString();
      bag.kind[k] = NUM;
    } else if (t === W.doubleValue) {
      if (this.ws() === Q) this.stringValue(bag, k);
      else {
        bag.nums[k] = this.number();
        bag.kind[k] = NUM;
      }
    } else if (t === W.stringValue) this.stringValue(bag, k);
    else if (t === W.boolValue) {
      if (this.ws() === 116) this.lit(TRUE);
      else this.lit(FALSE);
      bag.kind[k] = OTHER;
    } else throw GIVE_UP;
    if (this.key(false) !== -2) throw GIVE_UP;
  }

  stringValue(bag: Bag, k: number): void {
    if (KEEP_STRING.has(k)) bag.strs[k] = this.str();
    else this.str();
    bag.kind[k] = STR;
  }

  /** Does the line have the bytes `w` at i? */
  has(i: number, w: Uint8Array): boolean {
    if (i + w.length > this.n) return false;
    const b = this.b;
    for (let k = 0; k < w.length; k++) if (b[i + k] !== w[k]) return false;
    return true;
  }

  /** Index of the closing quote of a plain string whose body starts at i, or -1 (escape, control byte, end of line). */
  plainEnd(i: number): number {
    const b = this.b;
    const n = this.n;
    for (; i < n; i++) {
      const c = b[i]!;
      if (c === Q) return i;
      if (c < 32 || c === BS) return -1;
    }
    return -1;
  }

  /** Attribute key id of the bytes from..to, or -1. */
  attrKey(from: number, to: number): number {
    const cands = ATTRS_BY_LEN[to - from];
    if (cands === undefined) return -1;
    const b = this.b;
    for (let c = 0; c < cands.length; c++) {
      const w = cands[c]![0];
      let k = 0;
      while (k < w.length && b[from + k] === w[k]) k++;
      if (k === w.length) return cands[c]![1];
    }
    return -1;
  }

  /**
   * The compact shape `{"key":"K","value":{"intValue":"N"}}` (or doubleValue / stringValue) of one
   * attribute at the cursor, read in one go; false (nothing consumed) for any other shape.
   */
  attrCompact(bag: Bag): boolean {
    const p = this.p;
    if (!this.has(p, PRE_KEY)) return false;
    const ke = this.plainEnd(p + PRE_KEY.length);
    if (ke < 0 || !this.has(ke, PRE_VALUE)) return false;
    const k = this.attrKey(p + PRE_KEY.length, ke);
    let i = ke + PRE_VALUE.length;
    if (this.has(i, INT_VALUE)) {
      i += INT_VALUE.length;
      const e = this.plainEnd(i);
      if (e < 0 || !this.has(e + 1, CLOSE2)) return false;
      if (k >= 0) {
        this.p = i - 1;
        bag.nums[k] = this.intString();
        bag.kind[k] = NUM;
      }
      this.p = e + 1 + CLOSE2.length;
      return true;
    }
    if (this.has(i, STRING_VALUE)) {
      i += STRING_VALUE.length;
      const e = this.plainEnd(i);
      if (e < 0 || !this.has(e + 1, CLOSE2)) return false;
      if (k >= 0) {
        if (KEEP_STRING.has(k)) bag.strs[k] = this.b.toString('latin1', i, e);
        bag.kind[k] = STR;
      }
      this.p = e + 1 + CLOSE2.length;
      return true;
    }
    if (this.has(i, DOUBLE_VALUE)) {
      this.p = i + DOUBLE_VALUE.length;
      const c = this.at(this.p);
      if (!(c === 45 || (c >= 48 && c <= 57))) {
        this.p = p;
        return false;
      }
      const v = this.number();
      if (!this.has(this.p, CLOSE2)) {
        this.p = p;
        return false;
      }
      if (k >= 0) {
        bag.nums[k] = v;
        bag.kind[k] = NUM;
      }
      this.p += CLOSE2.length;
      return true;
    }
    return false;
  }

  /** An attribute array into `bag` (cleared first). */
  attrs(bag: Bag): void {
    bag.clear();
    this.expect(91);
    for (let f = true; this.more(f); f = false) {
      this.ws();
      if (this.attrCompact(bag)) continue;
      this.expect(123);
      let key = -2;
      let seen = 0;
      for (let k = this.key(true); k !== -2; k = this.key(false)) {
        if (k === W.key && seen === 0) {
          seen = 1;
          key = this.word(ATTRS_BY_LEN);
        } else if (k === W.value && seen === 1) {
          seen = 2;
          if (key >= 0) this.attrValue(bag, key);
          else this.skip();
        } else if (k === W.key || k === W.value)
          throw GIVE_UP; // value before key, or twice
        else this.skip();
      }
      if (seen === 0) throw GIVE_UP;
      if (seen === 1 && key >= 0) bag.kind[key] = UNDEF; // {key} without a value: Map.set(key, undefined)
    }
  }

  /** One event object: its name's word id (attributes go to `bag`). */
  event(): number {
    this.expect(123);
    let name = -2;
    let seen = 0;
    this.bag.clear();
    for (let k = this.key(true); k !== -2; k = this.key(false)) {
      if (k === W.name) {
        if (seen & 1) throw GIVE_UP;
        seen |= 1;
        name = this.word(WORDS_BY_LEN);
      } else if (k === W.attributes) {
        if (seen & 2) throw GIVE_UP;
        seen |= 2;
        this.attrs(this.bag);
      } else this.skip();
    }
    if (!(seen & 1)) throw GIVE_UP;
    return name;
  }

  line1(b: Buffer, start: number, end: number, line: number): ParsedLine {
    this.b = b;
    this.p = start;
    this.n = end;
    this.line = line;
    this.recs = [];
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
    return { recs: this.recs, api: this.api, bad: [], ignoredSpans: this.ignored };
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
        this.attrs(this.spanBag);
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
    let r: JourneyRec;
    switch (kind) {
      case 'SCHEDULED': {
        const total = m.num(A['prefill.total_tokens']);
        if (total === undefined || total <= 0) throw GIVE_UP;
        const tag = m.str(A['schedule.kind']) === 'RESUME' ? 'RESUME' : 'FIRST';
        r = { t: 'J', step, line, ts, kind, req, tag, pDone: m.num(A['prefill.done_tokens']) ?? 0, total, count: m.num(A['decode.done_tokens']) };
        break;
      }
      case 'FIRST_TOKEN':
        r = { t: 'J', step, line, ts, kind, req, pDone: m.num(A['prefill.done_tokens']), count: m.num(A['decode.done_tokens']) };
        break;
      case 'PREEMPTED':
        r = { t: 'J', step, line, ts, kind, req, count: m.num(A.num_preemptions) };
        break;
      case 'FINISHED': {
        const st = m.str(A['finish.status']);
        const tag = st !== undefined && !badId(st) && st !== '' ? st : undefined;
        r = { t: 'J', step, line, ts, kind, req, ...(tag !== undefined ? { tag } : {}), count: m.num(A['decode.done_tokens']), total: m.num(A['decode.max_tokens']) };
        break;
      }
      default:
        r = { t: 'J', step, line, ts, kind, req };
    }
    this.recs.push(r);
  }

  stepEvent(name: number): void {
    if (name !== W['step.BATCH_SUMMARY'] && name !== W['step.REQUEST_SNAPSHOT']) return;
    const m = this.bag;
    const step = m.num(A['step.id']);
    if (step === undefined || !Number.isInteger(step) || step < 0) throw GIVE_UP;
    const line = this.line;
    if (name === W['step.BATCH_SUMMARY']) {
      this.recs.push({
        t: 'S',
        step,
        line,
        start: m.num(A['step.ts_start_ns']),
        end: m.num(A['step.ts_end_ns']),
        durUs: m.num(A['step.duration_us']),
        nPf: m.num(A['batch.num_prefill_reqs']),
        nDc: m.num(A['batch.num_decode_reqs']),
        pfTok: m.num(A['batch.prefill_tokens']),
        dcTok: m.num(A['batch.decode_tokens']),
        running: m.num(A['queue.running_depth']),
        waiting: m.num(A['queue.waiting_depth']),
        kvTotal: m.num(A['kv.blocks_total_gpu']),
        kvFree: m.num(A['kv.blocks_free_gpu']),
      });
      return;
    }
    const req = m.str(A['request.id']);
    const phase = m.str(A['request.phase']);
    if (req === undefined || req === '' || badId(req)) throw GIVE_UP;
    if (phase !== 'PREFILL' && phase !== 'DECODE') throw GIVE_UP;
    const prompt = count(m, A['request.num_prompt_tokens']);
    const computed = count(m, A['request.num_computed_tokens']);
    const outputs = count(m, A['request.num_output_tokens']);
    const scheduled = count(m, A['request.scheduled_tokens_this_step']);
    this.recs.push({ t: 'R', step, line, req, phase, prompt, computed, outputs, preemptions: m.num(A['request.num_preemptions']) ?? 0, scheduled });
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
 * the fast path; undefined when the line needs the full parser
 * (`parseOtlpLine`), which then gives the same records or the right error messages.
 */
export function scanOtlpLine(b: Buffer, start: number, end: number, line: number): ParsedLine | undefined {
  try {
    return scanner.line1(b, start, end, line);
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    throw e;
  }
}
