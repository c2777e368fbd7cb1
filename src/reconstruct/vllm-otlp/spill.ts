/**
 * Bounded-memory grouping of text records by an integer key (an external bucket sort).
 * Records are buffered in memory and, once the buffers exceed `memCapBytes`, appended to one
 * file per key in a private temp directory. Reading back yields the keys in increasing order,
 * each key's records together, so a consumer holds one bucket at a time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Records are small strings built by concatenation (V8 keeps them as ropes, several times their
 * length in memory), so each bucket's pending records are joined into one flat chunk every
 * JOIN_EVERY records; memory then tracks the text size that the cap counts.
 */
const JOIN_EVERY = 256;

export class SpillBuckets {
  private readonly buf = new Map<number, string[]>();
  /** Number of trailing not-yet-joined records per bucket. */
  private readonly loose = new Map<number, number>();
  private readonly onDisk = new Set<number>();
  private buffered = 0;
  private dir: string | undefined;
  spilledBytes = 0;
  records = 0;

  constructor(
    private readonly tag: string,
    private readonly memCapBytes = 32 << 20,
    private readonly tmpRoot = os.tmpdir(),
  ) {}

  add(key: number, rec: string): void {
    let b = this.buf.get(key);
    if (!b) {
      b = [];
      this.buf.set(key, b);
    }
    b.push(rec);
    const n = (this.loose.get(key) ?? 0) + 1;
    if (n >= JOIN_EVERY) {
      const chunk = b.splice(b.length - n, n).join('\n');
      b.push(chunk);
      this.loose.set(key, 0);
    } else this.loose.set(key, n);
    this.records++;
    this.buffered += rec.length + 1;
    if (this.buffered > this.memCapBytes) this.spill();
  }

  /** Add `n` records already joined by '\n' (one chunk of a parsed trace). */
  addJoined(key: number, text: string, n: number): void {
    let b = this.buf.get(key);
    if (!b) {
      b = [];
      this.buf.set(key, b);
    }
    const loose = this.loose.get(key) ?? 0;
    if (loose > 1) b.push(b.splice(b.length - loose, loose).join('\n'));
    b.push(text);
    this.loose.set(key, 0);
    this.records += n;
    this.buffered += text.length + 1;
    if (this.buffered > this.memCapBytes) this.spill();
  }

  private fileOf(key: number): string {
    if (!this.dir) this.dir = fs.mkdtempSync(path.join(this.tmpRoot, `stepfit-${this.tag}-`));
    return path.join(this.dir, `${key}.rec`);
  }

  /** Append every buffered bucket to its file and empty the buffers. */
  spill(): void {
    for (const [k, b] of this.buf) {
      if (b.length === 0) continue;
      const data = b.join('\n') + '\n';
      fs.appendFileSync(this.fileOf(k), data);
      this.spilledBytes += data.length;
      this.onDisk.add(k);
    }
    this.buf.clear();
    this.loose.clear();
    this.buffered = 0;
  }

  keys(): number[] {
    const ks = new Set<number>([...this.buf.keys(), ...this.onDisk]);
    return [...ks].sort((a, b) => a - b);
  }

  /** The records of one key (disk part first, then the in-memory rest); frees them from memory. */
  take(key: number): string[] {
    const out: string[] = [];
    if (this.onDisk.has(key)) {
      const text = fs.readFileSync(this.fileOf(key), 'utf8');
      fs.rmSync(this.fileOf(key), { force: true });
      this.onDisk.delete(key);
      let i = 0;
      while (i < text.length) {
        const j = text.indexOf('\n', i);
        if (j < 0) {
          out.push(text.slice(i));
          break;
        }
        if (j > i) out.push(text.slice(i, j));
        i = j + 1;
      }
    }
    const b = this.buf.get(key);
    if (b) {
      for (const chunk of b) {
        this.buffered -= chunk.length + 1;
        for (const r of chunk.split('\n')) if (r) out.push(r);
      }
      this.buf.delete(key);
      this.loose.delete(key);
    }
    return out;
  }

  /** Remove the temp directory. */
  dispose(): void {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.buf.clear();
    this.loose.clear();
    this.onDisk.clear();
  }
}

/** FNV-1a hash of a string (for hash partitions). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
