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
 * The temp directory of a bucket sort (this file's SpillBuckets, packed-spill.ts's PackedBuckets): one file per
 * bucket key, the directory made on first use and removed by `dispose`; `onDisk` holds the keys with a file.
 */
export class BucketFiles {
  private dir: string | undefined;
  readonly onDisk = new Set<number>();

  constructor(
    private readonly tag: string,
    private readonly ext: string,
    private readonly tmpRoot: string,
  ) {}

  /** The file of bucket `key`. */
  file(key: number): string {
    if (!this.dir) this.dir = fs.mkdtempSync(path.join(this.tmpRoot, `stepfit-${this.tag}-`));
    return path.join(this.dir, `${key}.${this.ext}`);
  }

  /** The keys with a file or among `inMemory`, in increasing order. */
  keys(inMemory: Iterable<number>): number[] {
    return [...new Set<number>([...inMemory, ...this.onDisk])].sort((a, b) => a - b);
  }

  /** Remove the directory and every file in it. */
  dispose(): void {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.onDisk.clear();
  }
}

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
  private readonly files: BucketFiles;
  private buffered = 0;
  spilledBytes = 0;
  records = 0;

  constructor(
    tag: string,
    private readonly memCapBytes = 32 << 20,
    tmpRoot = os.tmpdir(),
  ) {
    this.files = new BucketFiles(tag, 'rec', tmpRoot);
  }

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

  /** Append every buffered bucket to its file and empty the buffers. */
  spill(): void {
    for (const [k, b] of this.buf) {
      if (b.length === 0) continue;
      const data = b.join('\n') + '\n';
      fs.appendFileSync(this.files.file(k), data);
      this.spilledBytes += data.length;
      this.files.onDisk.add(k);
    }
    this.buf.clear();
    this.loose.clear();
    this.buffered = 0;
  }

  keys(): number[] {
    return this.files.keys(this.buf.keys());
  }

  /** The records of one key (disk part first, then the in-memory rest); frees them from memory. */
  take(key: number): string[] {
    const out: string[] = [];
    if (this.files.onDisk.has(key)) {
      const file = this.files.file(key);
      const text = fs.readFileSync(file, 'utf8');
      fs.rmSync(file, { force: true });
      this.files.onDisk.delete(key);
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
    this.files.dispose();
    this.buf.clear();
    this.loose.clear();
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
