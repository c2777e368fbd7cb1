/**
 * Pass 1 of the vLLM OTLP reader: the trace file, read once in chunks (chunks.ts), parsed in this
 * thread or by a pool of worker threads (pool.ts), and its records grouped by step bucket and API
 * partition into bounded-memory spill buckets (spill.ts). Chunk results are applied in file order,
 * so what lands in the buckets — and so every output — is the same for any number of workers.
 */
import { InputError } from '../../io/errors.js';
import { parseChunk, readChunks, type ChunkResult } from './chunks.js';
import { ChunkPool } from './pool.js';
import type { SpillBuckets } from './spill.js';

export interface IngestOptions {
  readonly file: string;
  readonly perBucket: number;
  readonly skipBad: boolean;
  /** Parser threads (default 1: parse in this thread). Measured on a loaded 2-core machine, 2 workers were not faster, so more is opt-in. */
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

/** Read the trace into `steps` and `api`; problems go to `bad` (which throws unless --skip-bad). */
export async function ingestTrace(o: IngestOptions, steps: SpillBuckets, api: SpillBuckets, bad: (msg: string) => void): Promise<IngestCounts> {
  const workers = Math.max(1, o.workers ?? 1);
  const counts: IngestCounts = { records: 0, ignoredSpans: 0, journey: 0, summaries: 0, snapshots: 0, slowLines: 0, workers, truncated: false };
  const apply = (r: ChunkResult): void => {
    counts.records += r.records;
    for (const m of r.bad) bad(m);
    counts.ignoredSpans += r.ignoredSpans;
    counts.journey += r.journey;
    counts.summaries += r.summaries;
    counts.snapshots += r.snapshots;
    counts.slowLines += r.slowLines;
    for (const [k, text, n] of r.buckets) steps.addJoined(k, text, n);
    for (const [k, text, n] of r.api) api.addJoined(k, text, n);
    if (r.fatal) throw new InputError(r.fatal);
  };
  const pool = workers > 1 ? new ChunkPool(workers, o.file, o.perBucket) : undefined;
  const inFlight: Promise<ChunkResult>[] = [];
  try {
    try {
      for await (const c of readChunks(o.file, o.chunkBytes ?? 4 << 20, { reuse: !pool })) {
        if (!pool) {
          apply(parseChunk(c.buf, c.firstLine, o.file, o.perBucket));
          continue;
        }
        inFlight.push(pool.submit(c));
        while (inFlight.length > 2 * workers) apply(await inFlight.shift()!);
      }
    } catch (e) {
      // A truncated or corrupt gzip stream: everything read so far is kept under --skip-bad.
      if (!(e instanceof InputError) || !o.skipBad || !/gzip/.test(e.message)) throw e;
      while (inFlight.length) apply(await inFlight.shift()!);
      bad(e.message);
      counts.truncated = true;
    }
    while (inFlight.length) apply(await inFlight.shift()!);
  } finally {
    await pool?.close();
  }
  return counts;
}
