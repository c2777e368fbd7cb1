/**
 * Bounded-memory grouping of packed record runs (packed.ts) by step bucket: an external bucket
 * sort like spill.ts's, but over binary segments. Segments are kept in memory (views of the chunk
 * buffers) until they exceed `memCapBytes`, then appended to one file per bucket in a private temp
 * directory. `take(key)` gives a bucket's segments in the order they were added (disk part first),
 * so records keep their file order within a bucket.
 *
 * File format, per segment: a header of 4 doubles [count, doubles, lineBase, string bytes], the
 * string table (UTF-8, joined by '\n'; ids and tags never contain newlines), zero padding to a
 * multiple of 8 bytes, then the doubles (host byte order: the file is private to this process).
 */
import fs from 'node:fs';
import os from 'node:os';
import type { PackedRecs, PackedSeg } from './packed.js';
import { BucketFiles } from './spill.js';

const HEADER = 4;

/** A file's bytes in an ArrayBuffer of their own (Float64Array views need 8-byte alignment): read in place, not copied. */
function readAligned(file: string): ArrayBuffer {
  const fd = fs.openSync(file, 'r');
  try {
    const ab = new ArrayBuffer(fs.fstatSync(fd).size);
    const u = new Uint8Array(ab);
    for (let at = 0; at < u.length; ) {
      const n = fs.readSync(fd, u, at, u.length - at, at);
      if (n === 0) throw new Error(`spill file ${file} ended early`);
      at += n;
    }
    return ab;
  } finally {
    fs.closeSync(fd);
  }
}

export class PackedBuckets {
  private readonly mem = new Map<number, PackedSeg[]>();
  private readonly files: BucketFiles;
  private buffered = 0;
  spilledBytes = 0;
  records = 0;

  constructor(
    tag: string,
    private readonly memCapBytes = 32 << 20,
    tmpRoot = os.tmpdir(),
  ) {
    this.files = new BucketFiles(tag, 'bin', tmpRoot);
  }

  /** Add the runs of one packed chunk whose first line is line `lineBase + 1` of the file. */
  addChunk(p: PackedRecs, lineBase: number): void {
    const s = p.segs;
    for (let i = 0; i < s.length; i += 4) {
      const key = s[i]!;
      const seg: PackedSeg = { data: p.data.subarray(s[i + 1]!, s[i + 2]!), strs: p.strs, lineBase, count: s[i + 3]! };
      const l = this.mem.get(key);
      if (l) l.push(seg);
      else this.mem.set(key, [seg]);
      this.records += seg.count;
    }
    let strBytes = 0;
    for (const x of p.strs) strBytes += x.length + 48;
    this.buffered += p.data.byteLength + strBytes;
    if (this.buffered > this.memCapBytes) this.spill();
  }

  /** Append every in-memory segment to its bucket's file and drop them from memory. */
  spill(): void {
    for (const [key, segs] of this.mem) {
      const parts: Uint8Array[] = [];
      for (const g of segs) {
        const text = Buffer.from(g.strs.join('\n'), 'utf8');
        const pad = (8 - (text.length % 8)) % 8;
        parts.push(new Uint8Array(new Float64Array([g.count, g.data.length, g.lineBase, text.length]).buffer), text, new Uint8Array(pad));
        parts.push(new Uint8Array(g.data.buffer, g.data.byteOffset, g.data.byteLength));
      }
      // one write per bucket, not four per segment
      const bytes = Buffer.concat(parts);
      fs.appendFileSync(this.files.file(key), bytes);
      this.spilledBytes += bytes.length;
      this.files.onDisk.add(key);
    }
    this.mem.clear();
    this.buffered = 0;
  }

  keys(): number[] {
    return this.files.keys(this.mem.keys());
  }

  /** The segments of one bucket (disk part first, then the in-memory rest); frees them. */
  take(key: number): PackedSeg[] {
    const out: PackedSeg[] = [];
    if (this.files.onDisk.has(key)) {
      const file = this.files.file(key);
      const ab = readAligned(file);
      fs.rmSync(file, { force: true });
      this.files.onDisk.delete(key);
      let at = 0;
      while (at < ab.byteLength) {
        const h = new Float64Array(ab, at, HEADER);
        const [count, doubles, lineBase, textLen] = [h[0]!, h[1]!, h[2]!, h[3]!];
        at += HEADER * 8;
        const strs = textLen ? Buffer.from(ab, at, textLen).toString('utf8').split('\n') : [];
        at += textLen + ((8 - (textLen % 8)) % 8);
        out.push({ data: new Float64Array(ab, at, doubles), strs, lineBase, count });
        at += doubles * 8;
      }
    }
    const segs = this.mem.get(key);
    if (segs) {
      out.push(...segs);
      this.mem.delete(key);
    }
    return out;
  }

  /** Remove the temp directory. */
  dispose(): void {
    this.files.dispose();
    this.mem.clear();
  }
}
