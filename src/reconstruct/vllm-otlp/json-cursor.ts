/**
 * A cursor over the bytes of one JSON text (a line of ASCII), for the OTLP fast path (scan.ts):
 * it reads the few values it is asked for and skips the rest, checking JSON validity as it goes,
 * without building strings or objects for what it skips. On anything it does not handle (an escape
 * in a string it must read, a grammar error, the end of the line) it throws `GIVE_UP`.
 */

/** Thrown (not an Error: no stack to capture) to abandon the fast path. */
export const GIVE_UP = { giveUp: true } as const;

export const Q = 34; // "
const BS = 92; // \

export type WordTable = (readonly [Uint8Array, number])[][];
/** length → [word bytes, id][] for in-place matching. */
export function byLength(words: readonly string[]): WordTable {
  const t: WordTable = [];
  words.forEach((w, i) => {
    (t[w.length] ??= []).push([Buffer.from(w, 'latin1'), i] as const);
  });
  return t;
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

export class JsonCursor {
  b: Buffer = Buffer.alloc(0);
  /** The same bytes as `b`, for reading 4 bytes at once (`setBytes` keeps the two together). */
  dv: DataView = new DataView(new ArrayBuffer(0));
  p = 0;
  /** End of the line (exclusive). */
  n = 0;

  /** `keyWords`: the object keys `key()` tells apart. */
  constructor(readonly keyWords: WordTable) {}

  /** Point the cursor at the buffer `b` (its DataView made once per buffer, not per line). */
  setBytes(b: Buffer): void {
    if (b === this.b) return;
    this.b = b;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

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
    const k = this.word(this.keyWords);
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
}
