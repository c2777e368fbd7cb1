/**
 * Pass 1 of the vLLM OTLP reader over chunks of a trace: whole lines — a byte range of a plain
 * file (ranges.ts) or a piece of a decompressed stream (`readChunks`) — each parsed on its own
 * (`parseChunk`, in this thread or in a worker thread) into packed records grouped by step bucket
 * (packed.ts) and API partition, with line numbers relative to the chunk. The reader applies the
 * chunk results in file order, adding each chunk's first line, so the result is the same for any
 * number of workers and any chunk size. Line semantics are those of io/lines.ts `readLines` (CRLF, blank lines counted and
 * skipped, UTF-8 checked, a byte-order mark dropped), with the same error messages.
 */
import { isAscii } from 'node:buffer';
import { InputError } from '../../io/errors.js';
import { MAX_LINE_BYTES, openInput } from '../../io/lines.js';
import { parseOtlpLine, type ParsedLine } from './parse.js';
import { RecPacker, type PackedRecs } from './packed.js';
import { scanOtlpLineInto } from './scan.js';
import { fnv1a } from './spill.js';

/** Hash partitions of API events (joined to requests one partition at a time). */
export const API_PARTS = 16;

/** A piece of the trace: whole lines, the first of which is line `firstLine` (1-based). */
export interface TraceChunk {
  readonly buf: Buffer;
  readonly firstLine: number;
}

/** What one chunk contributes, in a form cheap to pass between threads (the packed records' buffer is transferred). */
export interface ChunkResult {
  /** Lines in the chunk, blank ones included. */
  lines: number;
  /** Non-blank lines (OTLP export requests). */
  records: number;
  /** The step records, packed by step bucket; line numbers relative to the chunk (its first line is 1). */
  recs: PackedRecs;
  /** [API partition, `kind\tid\tts` lines joined by '\n', how many]. */
  api: [number, string, number][];
  /** Problems: [line in the chunk, message], in line order. */
  bad: [number, string][];
  ignoredSpans: number;
  journey: number;
  summaries: number;
  snapshots: number;
  /** Lines that needed the full parser (the fast path gave up on them). */
  slowLines: number;
  /** An error that ends the input at this chunk (invalid UTF-8, a line too long), after the lines before it: [line in the chunk, message]. */
  fatal?: [number, string];
}

/** How a chunk is parsed. */
export interface ChunkParse {
  /** The chunk starts at the file's first line (a byte-order mark is dropped there). */
  readonly first: boolean;
  readonly perBucket: number;
  /** Longer lines are an error (io/lines.ts MAX_LINE_BYTES by default). */
  readonly maxLineBytes?: number;
  /** The line after the chunk's lines is longer than the limit (found by the range reader). */
  readonly tooLongAfter?: boolean;
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

const tooLongText = (max: number): string => `line longer than ${max / (1024 * 1024)} MiB without a newline (not a JSON Lines / CSV text file?)`;

/** Parse the lines of one chunk (pure: no I/O). Line numbers in the result are relative to the chunk. */
export function parseChunk(buf: Buffer, o: ChunkParse): ChunkResult {
  const r: ChunkResult = { lines: 0, records: 0, recs: { data: new Float64Array(0), segs: [], strs: [] }, api: [], bad: [], ignoredSpans: 0, journey: 0, summaries: 0, snapshots: 0, slowLines: 0 };
  const steps = new RecPacker(o.perBucket);
  const api = new Grouper();
  const maxLine = o.maxLineBytes ?? MAX_LINE_BYTES;
  let from = 0;
  while (from < buf.length) {
    let nl = buf.indexOf(10, from);
    if (nl < 0) nl = buf.length;
    const lineNo = ++r.lines;
    if (nl - from > maxLine) {
      r.fatal = [lineNo, tooLongText(maxLine)];
      break;
    }
    let end = nl;
    if (end > from && buf[end - 1] === 13) end--;
    const start = from;
    from = nl + 1;
    let parsed: ParsedLine | undefined;
    if (isAscii(buf.subarray(start, end))) {
      if (isBlank(buf, start, end)) continue;
      r.records++;
      parsed = scanOtlpLineInto(buf, start, end, lineNo, steps);
      if (!parsed) parsed = slowParse(buf.toString('latin1', start, end), lineNo, r);
    } else {
      let text: string;
      try {
        text = decoder.decode(buf.subarray(start, end));
      } catch {
        r.fatal = [lineNo, 'not valid UTF-8 text'];
        break;
      }
      if (lineNo === 1 && o.first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.trim() === '') continue;
      r.records++;
      parsed = slowParse(text, lineNo, r);
    }
    if (parsed) addParsed(parsed, lineNo, r, steps, api);
  }
  if (o.tooLongAfter && !r.fatal) r.fatal = [r.lines + 1, tooLongText(maxLine)];
  r.journey = steps.journeys;
  r.summaries = steps.summaries;
  r.snapshots = steps.snapshots;
  r.recs = steps.finish();
  r.api = api.out();
  return r;
}

function slowParse(text: string, lineNo: number, r: ChunkResult): ParsedLine | undefined {
  r.slowLines++;
  try {
    return parseOtlpLine(text, lineNo);
  } catch (e) {
    r.bad.push([lineNo, (e as Error).message]);
    return undefined;
  }
}

function addParsed(p: ParsedLine, lineNo: number, r: ChunkResult, steps: RecPacker, api: Grouper): void {
  r.ignoredSpans += p.ignoredSpans;
  for (const m of p.bad) r.bad.push([lineNo, m]);
  for (const rec of p.recs) steps.add(rec); // the full parser's (the fast path's are in `steps` already)
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

/**
 * Cut a gzipped file (or one that is not a regular file) into chunks of about `chunkBytes` that
 * end at a line end (plain files are read by byte ranges: ranges.ts). A read or gzip error is
 * thrown after the chunk of the complete lines before it, with readLines's message.
 */
export async function* readChunks(file: string, chunkBytes: number, o: { maxLineBytes?: number } = {}): AsyncGenerator<TraceChunk> {
  yield* streamChunks(file, chunkBytes, o.maxLineBytes ?? MAX_LINE_BYTES);
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
