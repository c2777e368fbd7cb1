/**
 * The string table of a packed chunk (packed.ts): each distinct string once, by index. Strings
 * come as strings (`of`) or as the bytes of an ASCII line (`ofBytes`, found by hashing the bytes
 * in an open-addressing table: no string is built for one already in the table).
 */

/** Is the string `t` the bytes s to e of `b` (one byte per character)? */
function sameBytes(t: string, b: Uint8Array, s: number, e: number): boolean {
  if (t.length !== e - s) return false;
  for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) !== b[s + i]) return false;
  return true;
}

export class StringTable {
  readonly strs: string[] = [];
  private readonly ids = new Map<string, number>();
  /** String index + 1 by the FNV-1a hash of its bytes (0: empty slot); each entered string's hash. */
  private byBytes = new Int32Array(0);
  private readonly hashes: number[] = [];

  /** The index of `s` (added when new). */
  of(s: string): number {
    let i = this.ids.get(s);
    if (i === undefined) {
      i = this.strs.length;
      this.strs.push(s);
      this.ids.set(s, i);
    }
    return i;
  }

  /** The index `ofBytes` gave after each index (request ids come in the same order step after step). */
  private readonly after: number[] = [];
  private lastIndex = -1;

  /** The index of the ASCII string in bytes s to e of `b`: first the one that followed the last index last time, else by hash. */
  ofBytes(b: Uint8Array, s: number, e: number): number {
    const guess = this.lastIndex < 0 ? undefined : this.after[this.lastIndex];
    if (guess !== undefined && sameBytes(this.strs[guess]!, b, s, e)) {
      this.lastIndex = guess;
      return guess;
    }
    const i = this.hashed(b, s, e);
    if (this.lastIndex >= 0) this.after[this.lastIndex] = i;
    this.lastIndex = i;
    return i;
  }

  private hashed(b: Uint8Array, s: number, e: number): number {
    let h = 0x811c9dc5;
    for (let i = s; i < e; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    if (this.byBytes.length < 2 * this.strs.length + 2) this.rehash();
    const mask = this.byBytes.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const v = this.byBytes[slot]!;
      if (v === 0) {
        // new to the byte table (perhaps already added by `of`)
        const i = this.of(String.fromCharCode.apply(null, b.subarray(s, e) as unknown as number[]));
        this.byBytes[slot] = i + 1;
        this.hashes[i] = h;
        return i;
      }
      if (this.hashes[v - 1] === h && sameBytes(this.strs[v - 1]!, b, s, e)) return v - 1;
    }
  }

  /** A larger byte table (at most half full). */
  private rehash(): void {
    let size = Math.max(64, 2 * this.byBytes.length);
    while (size < 4 * (this.strs.length + 1)) size *= 2; // a power of two: slots by mask
    const t = new Int32Array(size);
    const mask = t.length - 1;
    for (const v of this.byBytes) {
      if (v === 0) continue;
      let slot = this.hashes[v - 1]! & mask;
      while (t[slot] !== 0) slot = (slot + 1) & mask;
      t[slot] = v;
    }
    this.byBytes = t;
  }
}
