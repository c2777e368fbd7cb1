/**
 * Pass 1 of the vLLM OTLP reader: the trace file parsed chunk by chunk — byte ranges of a plain
 * file (ranges.ts), read by whoever parses them, or pieces of a decompressed gzip stream
 * (chunks.ts `readChunks`, which cannot be split by byte range: this thread decompresses and hands
 * the pieces out) — in this thread or by a pool of worker threads (pool.ts); the packed records go
 * to bounded-memory buckets by step (packed-spill.ts), the API events to hash partitions
 * (spill.ts). Chunk results are applied in file order, each chunk's relative line numbers offset by
 * the lines before it, so what lands in the buckets — and so every output — is the same for any
 * number of workers and any chunk size.
 */
import fs from 'node:fs';
import { InputError } from '../../io/errors.js';
import { MAX_LINE_BYTES } from '../../io/lines.js';
import { type ChunkResult, parseChunk, readChunks } from './chunks.js';
import type { PackedBuckets } from './packed-spill.js';
import { ChunkPool, type PoolJob } from './pool.js';
import { byteRanges, isPlainFile, RangeReader } from './ranges.js';
import type { SpillBuckets } from './spill.js';

export interface IngestOptions {
  readonly file: string;
  readonly perBucket: number;
  readonly skipBad: boolean;
  /** Parser threads (default 1: parse in this thread). */
  readonly workers?: number;
  /** Bytes per chunk (default 4 MiB). */
  readonly chunkBytes?: number;
}

export interface IngestCounts {
  records: number;
  ignoredSpans: number;
  journey: number;
  summaries: number;
  snapshots: number;
  slowLines: number;
  workers: number;
  /** The input ended early (corrupt or truncated gzip) and --skip-bad kept what came before. */
  truncated: boolean;
}

/** A source of chunk results in file order: each is computed here or promised by the pool. */
type Job = () => ChunkResult | Promise<ChunkResult>;

/** Plain file: one job per byte range (the pool's workers read their ranges themselves). */
async function* rangeJobs(file: string, chunkBytes: number, perBucket: number, pool: ChunkPool | undefined): AsyncGenerator<Job> {
  const size = fs.statSync(file).size;
  if (pool) {
    for (const range of byteRanges(size, chunkBytes)) {
      const p = pool.submit({ range, first: range.start === 0 });
      yield () => p;
    }
    return;
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new InputError(`${file}: read error: ${(e as Error).message}`);
  }
  try {
    const reader = new RangeReader(fd, file, MAX_LINE_BYTES);
    for (const range of byteRanges(size, chunkBytes)) {
      yield () => {
        const t = reader.read(range);
        return parseChunk(t.buf, { first: range.start === 0, perBucket, tooLongAfter: t.tooLong });
      };
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Gzip (or not a regular file): this thread decompresses; the pieces are parsed here or by the pool. */
async function* streamJobs(file: string, chunkBytes: number, perBucket: number, pool: ChunkPool | undefined): AsyncGenerator<Job> {
  let first = true;
  for await (const c of readChunks(file, chunkBytes)) {
    const job: PoolJob = { buf: c.buf, first };
    first = false;
    if (pool) {
      const p = pool.submit(job);
      yield () => p;
    } else yield () => parseChunk(c.buf, { first: job.first, perBucket });
  }
}

/** Read the trace into `steps` and `api`; problems go to `bad` (which throws unless --skip-bad). */
export async function ingestTrace(o: IngestOptions, steps: PackedBuckets, api: SpillBuckets, bad: (msg: string) => void): Promise<IngestCounts> {
  const workers = Math.max(1, o.workers ?? 1);
  const counts: IngestCounts = { records: 0, ignoredSpans: 0, journey: 0, summaries: 0, snapshots: 0, slowLines: 0, workers, truncated: false };
  let lineBase = 0;
  const apply = (r: ChunkResult): void => {
    counts.records += r.records;
    for (const [l, m] of r.bad) bad(`${o.file}:${lineBase + l}: ${m}`);
    counts.ignoredSpans += r.ignoredSpans;
    counts.journey += r.journey;
    counts.summaries += r.summaries;
    counts.snapshots += r.snapshots;
    counts.slowLines += r.slowLines;
    steps.addChunk(r.recs, lineBase);
    for (const [k, text, n] of r.api) api.addJoined(k, text, n);
    if (r.fatal) throw new InputError(`${o.file}:${lineBase + r.fatal[0]}: ${r.fatal[1]}`);
    lineBase += r.lines;
  };
  const chunkBytes = o.chunkBytes ?? 4 << 20;
  const plain = isPlainFile(o.file);
  // no more threads than ranges: a small file is parsed here, without starting a pool
  const threads = plain ? Math.min(workers, Math.ceil(fs.statSync(o.file).size / chunkBytes)) : workers;
  const pool = threads > 1 ? new ChunkPool(threads, o.file, o.perBucket) : undefined;
  const jobs = plain ? rangeJobs(o.file, chunkBytes, o.perBucket, pool) : streamJobs(o.file, chunkBytes, o.perBucket, pool);
  const inFlight: Job[] = [];
  const ahead = pool ? 4 * workers : 0;
  let readError: unknown;
  try {
    for (;;) {
      let next: IteratorResult<Job>;
      try {
        next = await jobs.next();
      } catch (e) {
        readError = e; // applied after the chunks before it, as a sequential read would
        break;
      }
      if (next.done) break;
      inFlight.push(next.value);
      while (inFlight.length > ahead) apply(await inFlight.shift()!());
    }
    while (inFlight.length) apply(await inFlight.shift()!());
  } finally {
    await jobs.return(undefined); // closes the file (or the gzip stream) when a chunk's error ends the read
    await pool?.close();
  }
  if (readError !== undefined) {
    // a truncated or corrupt gzip stream: everything read so far is kept under --skip-bad
    if (!(readError instanceof InputError) || !o.skipBad || !/gzip/.test(readError.message)) throw readError;
    bad(readError.message);
    counts.truncated = true;
  }
  return counts;
}
