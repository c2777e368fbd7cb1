/**
 * Byte ranges of a plain (not gzipped) trace file, for pass 1 in parallel: the file is cut into
 * ranges of about `chunkBytes`, and whoever parses a range (this thread or a worker thread) opens
 * the file and reads the range itself. A range owns the lines that START in it: the line that
 * straddles its start belongs to the range before, the one that straddles its end is read to its
 * end. Every line is owned by exactly one range, so the ranges' results, merged in range order,
 * are those of one sequential read.
 */
import fs from 'node:fs';
import { InputError } from '../../io/errors.js';

/** A byte range [start, end) of a file; `index` orders the results. */
export interface ByteRange {
  readonly index: number;
  readonly start: number;
  readonly end: number;
}

/** The owned lines of a range (`buf`, whole lines), and whether the line after them is longer than the limit. */
export interface RangeText {
  readonly buf: Buffer;
  readonly tooLong: boolean;
}

/** Cut a file of `size` bytes into ranges of `chunkBytes`. */
export function byteRanges(size: number, chunkBytes: number): ByteRange[] {
  const out: ByteRange[] = [];
  const step = Math.max(1, Math.floor(chunkBytes));
  for (let s = 0, i = 0; s < size; s += step, i++) out.push({ index: i, start: s, end: Math.min(size, s + step) });
  return out;
}

const BLOCK = 1 << 16;

function readAt(fd: number, file: string, buf: Buffer, off: number, len: number, pos: number): number {
  let got = 0;
  while (got < len) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, off + got, len - got, pos + got);
    } catch (e) {
      throw new InputError(`${file}: read error: ${(e as Error).message}`);
    }
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Reads ranges of one open file, reusing its buffer (a range's text is valid until the next read). */
export class RangeReader {
  private buf = Buffer.allocUnsafeSlow(BLOCK);

  constructor(
    private readonly fd: number,
    private readonly file: string,
    private readonly maxLineBytes: number,
  ) {}

  private room(n: number, keep: number): Buffer {
    if (n > this.buf.length) {
      const b = Buffer.allocUnsafeSlow(Math.max(n, Math.floor(this.buf.length * 1.5)));
      this.buf.copy(b, 0, 0, keep);
      this.buf = b;
    }
    return this.buf;
  }

  /** Where the first line starting at or after `start` begins (the range end when none does). */
  private ownedStart(start: number, end: number): number {
    if (start === 0) return 0;
    const b = this.room(BLOCK, 0);
    for (let pos = start - 1; pos < end; pos += BLOCK) {
      const n = readAt(this.fd, this.file, b, 0, Math.min(BLOCK, end - pos), pos);
      if (n === 0) return end;
      const nl = b.indexOf(10);
      if (nl >= 0 && nl < n) return pos + nl + 1;
    }
    return end;
  }

  read(r: ByteRange): RangeText {
    const s = this.ownedStart(r.start, r.end);
    if (s >= r.end) return { buf: this.buf.subarray(0, 0), tooLong: false };
    let len = readAt(this.fd, this.file, this.room(r.end - s + BLOCK, 0), 0, r.end - s, s);
    if (len < r.end - s || this.buf[len - 1] === 10) return { buf: this.buf.subarray(0, len), tooLong: false };
    // the last line runs past the range end: read on to its newline (or the end of the file)
    const lastStart = this.buf.lastIndexOf(10, len - 1) + 1;
    for (;;) {
      const b = this.room(len + BLOCK, len);
      const n = readAt(this.fd, this.file, b, len, BLOCK, s + len);
      const nl = n > 0 ? b.indexOf(10, len) : -1;
      if (nl >= 0 && nl < len + n) {
        if (nl - lastStart > this.maxLineBytes) return { buf: b.subarray(0, lastStart), tooLong: true };
        return { buf: b.subarray(0, nl + 1), tooLong: false };
      }
      len += n;
      if (len - lastStart > this.maxLineBytes) return { buf: b.subarray(0, lastStart), tooLong: true };
      if (n === 0) return { buf: b.subarray(0, len), tooLong: false };
    }
  }
}

/** Is this a plain regular file that can be read by byte ranges (not gzip, not a pipe)? */
export function isPlainFile(file: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return false;
  }
  if (!st.isFile() || file.endsWith('.gz')) return false;
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return !(fs.readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b);
  } finally {
    fs.closeSync(fd);
  }
}
