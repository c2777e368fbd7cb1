/**
 * OTLP attribute arrays on the fast path (scan.ts): `[{"key": K, "value": {"intValue": "N"}}, …]`
 * → one slot per attribute key the records use, with the value parse.ts `attrValue` would give.
 */
import { byLength, GIVE_UP, JsonCursor, Q, type WordTable } from './json-cursor.js';

/** Object keys and names the walker matches in place (no string is built for them). */
export const WORDS = [
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
export const W = Object.fromEntries(WORDS.map((w, i) => [w, i])) as { readonly [K in (typeof WORDS)[number]]: number };

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
export const A = Object.fromEntries(ATTR_KEYS.map((w, i) => [w, i])) as { readonly [K in (typeof ATTR_KEYS)[number]]: number };
const WORDS_BY_LEN = byLength(WORDS);
const ATTRS_BY_LEN = byLength(ATTR_KEYS);

const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const PRE_KEY = Buffer.from('{"key":"');
const PRE_VALUE = Buffer.from('","value":{"');
const INT_VALUE = Buffer.from('intValue":"');
const STRING_VALUE = Buffer.from('stringValue":"');
const DOUBLE_VALUE = Buffer.from('doubleValue":');
const CLOSE2 = Buffer.from('}}');

const UNDEF = 0;
const NUM = 1;
const STR = 2;
const OTHER = 3;

/** Value types of the compact attribute shape. */
const T_INT = 1;
const T_STR = 2;
const T_DBL = 3;

/** A remembered attribute: its bytes up to the value, its key's slot (−1: a key the records do not use), its value type. */
/** The whole 4-byte groups of `bytes` as little-endian 32-bit words. */
function wordsOf(bytes: Uint8Array): Uint32Array {
  const w = new Uint32Array(bytes.length >> 2);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < w.length; k++) w[k] = dv.getUint32(k * 4, true);
  return w;
}

interface Expected {
  readonly prefix: Uint8Array;
  /** The prefix's whole 4-byte groups as little-endian words (`expected` compares 4 bytes at once). */
  readonly words: Uint32Array;
  readonly key: number;
  readonly type: number;
}

/** The template slot of span attribute lists (event lists use their name's word id + 1, 0 when the name comes after them). */
export const SPAN_SLOT = 64;

/**
 * The values of one attribute array, one slot per known key (later keys win, as in a Map). A
 * string value is kept as where it is in the line (`src`, `from`, `to`): a string is built only
 * when one is asked for.
 */
export class Bag {
  readonly kind = new Uint8Array(ATTR_KEYS.length);
  readonly nums = new Float64Array(ATTR_KEYS.length);
  readonly from = new Int32Array(ATTR_KEYS.length);
  readonly to = new Int32Array(ATTR_KEYS.length);
  src: Buffer = Buffer.alloc(0);
  clear(): void {
    this.kind.fill(UNDEF);
  }
  /** parse.ts `optNum`: a finite number, else undefined. */
  num(k: number): number | undefined {
    if (this.kind[k] !== NUM) return undefined;
    const v = this.nums[k]!;
    return Number.isFinite(v) ? v : undefined;
  }
  /** A string value (the line is ASCII), else undefined. */
  str(k: number): string | undefined {
    return this.kind[k] === STR ? this.src.toString('latin1', this.from[k], this.to[k]) : undefined;
  }
  /** Length of the string in slot k; −1 when it holds no string. */
  strLen(k: number): number {
    return this.kind[k] === STR ? this.to[k]! - this.from[k]! : -1;
  }
  /** Is slot k the string `w` (bytes)? */
  strIs(k: number, w: Uint8Array): boolean {
    if (this.kind[k] !== STR) return false;
    const from = this.from[k]!;
    if (this.to[k]! - from !== w.length) return false;
    for (let i = 0; i < w.length; i++) if (this.src[from + i] !== w[i]) return false;
    return true;
  }
  /** A string value in slot k from bytes i to e (exclusive) of the line. */
  setStr(k: number, i: number, e: number): void {
    this.from[k] = i;
    this.to[k] = e;
    this.kind[k] = STR;
  }
}

export class AttrCursor extends JsonCursor {
  /** The attributes of the current event, and of the current span. */
  readonly bag = new Bag();
  readonly spanBag = new Bag();
  /** The last attribute list of each slot (`attrs`). */
  private readonly templates: (Expected | undefined)[][] = [];
  /** Set by attrCompact: where the value starts, and the key's slot. */
  private valueAt = 0;
  private lastKey = -1;

  constructor() {
    super(WORDS_BY_LEN);
  }

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
    if (this.ws() !== Q) throw GIVE_UP;
    const j = this.strEnd();
    bag.setStr(k, this.p + 1, j);
    this.p = j + 1;
  }

  /** Does the line have the bytes `w` at i? */
  attrKey(from: number, to: number): number {
    const cands: WordTable[number] | undefined = ATTRS_BY_LEN[to - from];
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
   * attribute at the cursor, read in one go: its value type (T_INT, T_STR, T_DBL; `valueAt` and
   * `lastKey` tell where the value starts and the key's slot), or 0 (nothing consumed) for any
   * other shape.
   */
  attrCompact(bag: Bag): number {
    const p = this.p;
    if (!this.has(p, PRE_KEY)) return 0;
    const ke = this.plainEnd(p + PRE_KEY.length);
    if (ke < 0 || !this.has(ke, PRE_VALUE)) return 0;
    const k = this.attrKey(p + PRE_KEY.length, ke);
    this.lastKey = k;
    let i = ke + PRE_VALUE.length;
    if (this.has(i, INT_VALUE)) {
      i += INT_VALUE.length;
      const e = this.plainEnd(i);
      if (e < 0 || !this.has(e + 1, CLOSE2)) return 0;
      if (k >= 0) {
        this.p = i - 1;
        bag.nums[k] = this.intString();
        bag.kind[k] = NUM;
      }
      this.valueAt = i;
      this.p = e + 1 + CLOSE2.length;
      return T_INT;
    }
    if (this.has(i, STRING_VALUE)) {
      i += STRING_VALUE.length;
      const e = this.plainEnd(i);
      if (e < 0 || !this.has(e + 1, CLOSE2)) return 0;
      if (k >= 0) bag.setStr(k, i, e);
      this.valueAt = i;
      this.p = e + 1 + CLOSE2.length;
      return T_STR;
    }
    if (this.has(i, DOUBLE_VALUE)) {
      i += DOUBLE_VALUE.length;
      if (!this.double(bag, k, i)) {
        this.p = p;
        return 0;
      }
      this.valueAt = i;
      return T_DBL;
    }
    return 0;
  }

  /** A doubleValue number at i followed by `}}` into slot k (the cursor after it); false (cursor anywhere) for another shape. */
  private double(bag: Bag, k: number, i: number): boolean {
    const c = this.at(i);
    if (!(c === 45 || (c >= 48 && c <= 57))) return false;
    this.p = i;
    const v = this.number();
    if (!this.has(this.p, CLOSE2)) return false;
    if (k >= 0) {
      bag.nums[k] = v;
      bag.kind[k] = NUM;
    }
    this.p += CLOSE2.length;
    return true;
  }

  /**
   * The attribute at the cursor when it is the remembered one `e` (the same bytes up to its value,
   * a value of the same type in compact form): read as `attrCompact` would read it, in one pass
   * over its bytes. False (nothing consumed) otherwise.
   */
  private expected(bag: Bag, e: Expected): boolean {
    const b = this.b;
    const n = this.n;
    const p = this.p;
    const pre = e.prefix;
    const len = pre.length;
    if (p + len + 3 > n) return false;
    const dv = this.dv;
    const words = e.words;
    for (let k = 0, q = p; k < words.length; k++, q += 4) if (dv.getUint32(q, true) !== words[k]) return false;
    for (let k = words.length * 4; k < len; k++) if (b[p + k] !== pre[k]) return false;
    let i = p + len;
    if (e.type === T_INT) {
      // plain digits (at most 15: exact in a double), as intString reads them; anything else the long way
      let v = 0;
      for (; i < n; i++) {
        const c = b[i]!;
        if (c < 48 || c > 57) break;
        v = v * 10 + (c - 48);
      }
      if (i === p + len || i - (p + len) > 15 || i + 2 >= n || b[i] !== Q || b[i + 1] !== 125 || b[i + 2] !== 125) return false;
      if (e.key >= 0) {
        bag.nums[e.key] = v;
        bag.kind[e.key] = NUM;
      }
      this.p = i + 3;
      return true;
    }
    if (e.type === T_STR) {
      const end = this.plainEnd(i);
      if (end < 0 || end + 2 >= n || b[end + 1] !== 125 || b[end + 2] !== 125) return false;
      if (e.key >= 0) bag.setStr(e.key, i, end);
      this.p = end + 3;
      return true;
    }
    if (this.double(bag, e.key, i)) return true;
    this.p = p;
    return false;
  }

  /**
   * An attribute array into `bag` (cleared first). `slot` names the kind of list (an event name,
   * or span attributes): each attribute is first matched against the one at the same place in the
   * last list of that slot (`expected`), which is how the attributes of an event name repeat.
   */
  attrs(bag: Bag, slot: number): void {
    bag.clear();
    bag.src = this.b;
    this.expect(91);
    const tpl = (this.templates[slot] ??= []);
    let j = 0;
    for (let f = true; this.more(f); f = false, j++) {
      this.ws();
      const e = tpl[j];
      if (e !== undefined && this.expected(bag, e)) continue;
      const p = this.p;
      const type = this.attrCompact(bag);
      if (type !== 0) {
        const prefix = new Uint8Array(this.b.subarray(p, this.valueAt));
        tpl[j] = { prefix, words: wordsOf(prefix), key: this.lastKey, type };
        continue;
      }
      tpl[j] = undefined;
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
        this.attrs(this.bag, seen & 1 ? name + 1 : 0);
      } else this.skip();
    }
    if (!(seen & 1)) throw GIVE_UP;
    return name;
  }
}
