/**
 * Pass 1 of the vLLM OTLP reader over chunks of a trace: the file is cut at line boundaries into
 * chunks (a few MiB each, `readChunks`); each chunk is parsed on its own (`parseChunk`, in this
 * thread or in a worker thread) into encoded records grouped by step bucket and API partition.
 * The reader applies the chunk results in file order, so the result is the same for any number of
 * workers. Line semantics are those of io/lines.ts `readLines` (CRLF, blank lines counted and
 * skipped, UTF-8 checked, a byte-order mark dropped), with the same error messages.
 */
import { isAscii } from 'node:buffer';
import fs from 'node:fs';
import { InputError } from '../../io/errors.js';
import { MAX_LINE_BYTES, openInput } from '../../io/lines.js';
import { parseOtlpLine, type ParsedLine } from './parse.js';
import { encodeRec } from './records.js';
import { scanOtlpLine } from './scan.js';
import { fnv1a } from './spill.js';

/** Hash partitions of API events (joined to requests one partition at a time). */
export const API_PARTS = 16;

/** A piece of the trace: whole lines, the first of which is line `firstLine` (1-based). */
export interface TraceChunk {
  readonly buf: Buffer;
  readonly firstLine: number;
}

/** What one chunk contributes, in a form cheap to pass between threads. */
export interface ChunkResult {
  /** Lines in the chunk, blank ones included. */
  lines: number;
  /** Non-blank lines (OTLP export requests). */
  records: number;
  /** [step bucket, encoded records joined by '\n', how many] in first-seen order. */
  buckets: [number, string, number][];
  /** [API partition, `kind\tid\tts` lines joined by '\n', how many]. */
  api: [number, string, number][];
  /** Problems, `file:line: message`, in line order. */
  bad: string[];
  ignoredSpans: number;
  journey: number;
  summaries: number;
  snapshots: number;
  /** Lines that needed the full parser (the fast path gave up on them). */
  slowLines: number;
  /** An error that ends the input at this chunk (invalid UTF-8), after the lines before it. */
  fatal?: string;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function isBlank(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (!(c === 32 || (c >= 9 && c <= 13))) return false;
  }
  return true;
}

class Grouper {
  private readonly m = new Map<number, string[]>();
  add(key: number, rec: string): void {
    const l = this.m.get(key);
    if (l) l.push(rec);
    else this.m.set(key, [rec]);
  }
  out(): [number, string, number][] {
    return [...this.m].map(([k, l]) => [k, l.join('\n'), l.length]);
  }
}

/** Parse the lines of one chunk (pure: no I/O). */
export function parseChunk(buf: Buffer, firstLine: number, file: string, perBucket: number): ChunkResult {
  const r: ChunkResult = { lines: 0, records: 0, buckets: [], api: [], bad: [], ignoredSpans: 0, journey: 0, summaries: 0, snapshots: 0, slowLines: 0 };
  const steps = new Grouper();
  const api = new Grouper();
  let from = 0;
  while (from < buf.length) {
    let nl = buf.indexOf(10, from);
    if (nl < 0) nl = buf.length;
    const lineNo = firstLine + r.lines++;
    let end = nl;
    if (end > from && buf[end - 1] === 13) end--;
    const start = from;
    from = nl + 1;
    let parsed: ParsedLine | undefined;
    if (isAscii(buf.subarray(start, end))) {
      if (isBlank(buf, start, end)) continue;
      r.records++;
      parsed = scanOtlpLine(buf, start, end, lineNo);
      if (!parsed) parsed = slowParse(buf.toString('latin1', start, end), lineNo, file, r);
    } else {
      let text: string;
      try {
        text = decoder.decode(buf.subarray(start, end));
      } catch {
        r.fatal = `${file}:${lineNo}: not valid UTF-8 text`;
        break;
      }
      if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.trim() === '') continue;
      r.records++;
      parsed = slowParse(text, lineNo, file, r);
    }
    if (parsed) addParsed(parsed, perBucket, lineNo, file, r, steps, api);
  }
  r.buckets = steps.out();
  r.api = api.out();
  return r;
}

function slowParse(text: string, lineNo: number, file: string, r: ChunkResult): ParsedLine | undefined {
  r.slowLines++;
  try {
    return parseOtlpLine(text, lineNo);
  } catch (e) {
    r.bad.push(`${file}:${lineNo}: ${(e as Error).message}`);
    return undefined;
  }
}

function addParsed(p: ParsedLine, perBucket: number, lineNo: number, file: string, r: ChunkResult, steps: Grouper, api: Grouper): void {
  r.ignoredSpans += p.ignoredSpans;
  for (const m of p.bad) r.bad.push(`${file}:${lineNo}: ${m}`);
  for (const rec of p.recs) {
    if (rec.t === 'J') r.journey++;
    else if (rec.t === 'S') r.summaries++;
    else r.snapshots++;
    steps.add(Math.floor(rec.step / perBucket), encodeRec(rec));
  }
  for (const a of p.api) api.add(fnv1a(a.id) % API_PARTS, `${a.kind}\t${a.id}\t${a.ts}`);
}

function newlines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/** Lines in a chunk: one per newline, plus a last line without one. */
function countLines(b: Buffer): number {
  const n = newlines(b);
  return b.length > 0 && b[b.length - 1] !== 10 ? n + 1 : n;
}

const tooLong = (file: string, lineNo: number, max: number): InputError =>
  new InputError(`${file}:${lineNo}: line longer than ${max / (1024 * 1024)} MiB without a newline (not a JSON Lines / CSV text file?)`);

function isGzipFile(file: string): boolean {
  if (file.endsWith('.gz')) return true;
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return fs.readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Cut a (possibly gzipped) file into chunks of about `chunkBytes` that end at a line end. A read or
 * gzip error is thrown after the chunk of the complete lines before it, with readLines's message.
 */
export async function* readChunks(file: string, chunkBytes: number, o: { maxLineBytes?: number; reuse?: boolean } = {}): AsyncGenerator<TraceChunk> {
  const maxLineBytes = o.maxLineBytes ?? MAX_LINE_BYTES;
  if (fs.existsSync(file) && !fs.statSync(file).isDirectory() && !isGzipFile(file)) {
    yield* plainChunks(file, chunkBytes, maxLineBytes, o.reuse ?? false);
    return;
  }
  yield* streamChunks(file, chunkBytes, maxLineBytes);
}

/**
 * A plain file: read straight into each chunk's own buffer; only a partial last line is copied.
 * With `reuse` (the consumer is done with a chunk when it asks for the next), one buffer serves them all.
 */
function* plainChunks(file: string, chunkBytes: number, maxLineBytes: number, reuse: boolean): Generator<TraceChunk> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new InputError(`${file}: read error: ${(e as Error).message}`);
  }
  try {
    let carry: Buffer | undefined;
    let nextLine = 1;
    let eof = false;
    let spare: Buffer | undefined;
    while (!eof) {
      const size = Math.max(chunkBytes, 2 * (carry?.length ?? 0));
      const buf = spare && spare.length === size ? spare : Buffer.allocUnsafeSlow(size);
      if (reuse) spare = buf;
      let len = carry ? carry.copy(buf, 0) : 0;
      while (len < size) {
        let n: number;
        try {
          n = fs.readSync(fd, buf, len, size - len, null);
        } catch (e) {
          throw new InputError(`${file}: read error: ${(e as Error).message}`);
        }
        if (n === 0) {
          eof = true;
          break;
        }
        len += n;
      }
      const end = eof ? len : buf.lastIndexOf(10, len - 1) + 1;
      const firstEnd = buf.indexOf(10);
      if ((end === 0 && len > maxLineBytes) || (carry && (firstEnd < 0 ? len : firstEnd) > maxLineBytes)) throw tooLong(file, nextLine, maxLineBytes);
      if (end === 0) {
        carry = buf.subarray(0, len);
        continue;
      }
      carry = end < len ? Buffer.from(buf.subarray(end, len)) : undefined;
      const chunk = buf.subarray(0, end);
      const firstLine = nextLine;
      nextLine += countLines(chunk); // before the yield: a worker pool takes the buffer over
      yield { buf: chunk, firstLine };
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A gzipped file (or one that is not a regular file): through io/lines.ts's stream. */
async function* streamChunks(file: string, chunkBytes: number, maxLineBytes: number): AsyncGenerator<TraceChunk> {
  const input = openInput(file) as AsyncIterable<Buffer>;
  let parts: Buffer[] = [];
  let partLen = 0;
  /** Bytes since the last newline in `parts`. */
  let tail = 0;
  let nextLine = 1;
  const cut = (all: boolean): TraceChunk | undefined => {
    if (partLen === 0) return undefined;
    const b = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partLen);
    const end = all ? b.length : b.lastIndexOf(10) + 1;
    if (end === 0) return undefined;
    const own = Buffer.allocUnsafeSlow(end);
    b.copy(own, 0, 0, end);
    parts = end < b.length ? [b.subarray(end)] : [];
    partLen = b.length - end;
    const c = { buf: own, firstLine: nextLine };
    nextLine += countLines(own);
    return c;
  };
  try {
    for await (const piece of input) {
      const nl = piece.lastIndexOf(10);
      tail = nl < 0 ? tail + piece.length : piece.length - nl - 1;
      parts.push(piece);
      partLen += piece.length;
      if (tail > maxLineBytes) throw tooLong(file, nextLine + parts.reduce((n, b) => n + newlines(b), 0), maxLineBytes);
      if (partLen >= chunkBytes && nl >= 0) {
        const c = cut(false);
        if (c) yield c;
      }
    }
    const c = cut(true);
    if (c) yield c;
  } catch (e) {
    if (e instanceof InputError) throw e;
    const c = cut(false);
    if (c) yield c;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'Z_BUF_ERROR' || err.code === 'Z_DATA_ERROR' || /unexpected end|incorrect header/i.test(err.message)) {
      throw new InputError(`${file}:${nextLine}: corrupt or truncated gzip data (${err.message})`);
    }
    throw new InputError(`${file}: read error: ${err.message}`);
  } finally {
    (input as unknown as { destroy?: () => void }).destroy?.();
  }
}
