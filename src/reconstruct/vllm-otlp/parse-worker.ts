/**
 * Worker thread of the vLLM OTLP reader (pool.ts): parses the jobs it is sent — a byte range of
 * the trace file, which it reads itself (ranges.ts), or a chunk of a decompressed stream — with
 * chunks.ts `parseChunk`, and posts the result back with the job's id, the packed records' buffer
 * transferred (not copied).
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { InputError } from '../../io/errors.js';
import { MAX_LINE_BYTES } from '../../io/lines.js';
import { type ChunkResult, parseChunk } from './chunks.js';
import { type ByteRange, RangeReader } from './ranges.js';

/** A job: a byte range (`range`) or a chunk's bytes (`buf`, transferred). */
export interface ChunkJob {
  readonly id: number;
  readonly file: string;
  readonly perBucket: number;
  readonly range?: ByteRange;
  readonly buf?: Uint8Array;
  readonly first: boolean;
}

export interface ChunkReply {
  readonly id: number;
  readonly result?: ChunkResult;
  /** An input problem (read error): the message of the InputError. */
  readonly inputError?: string;
  readonly error?: string;
}

let reader: { file: string; fd: number; r: RangeReader } | undefined;

function rangeReader(file: string): RangeReader {
  if (reader?.file !== file) {
    if (reader) fs.closeSync(reader.fd);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new InputError(`${file}: read error: ${(e as Error).message}`);
    }
    reader = { file, fd, r: new RangeReader(fd, file, MAX_LINE_BYTES) };
  }
  return reader.r;
}

export function runJob(job: ChunkJob): ChunkResult {
  if (job.range) {
    const t = rangeReader(job.file).read(job.range);
    return parseChunk(t.buf, { first: job.first, perBucket: job.perBucket, tooLongAfter: t.tooLong });
  }
  const b = job.buf!;
  return parseChunk(Buffer.from(b.buffer, b.byteOffset, b.byteLength), { first: job.first, perBucket: job.perBucket });
}

parentPort?.on('message', (job: ChunkJob) => {
  let reply: ChunkReply;
  try {
    const result = runJob(job);
    parentPort!.postMessage({ id: job.id, result } satisfies ChunkReply, [result.recs.data.buffer as ArrayBuffer]);
    return;
  } catch (e) {
    reply = e instanceof InputError ? { id: job.id, inputError: e.message } : { id: job.id, error: (e as Error).stack ?? String(e) };
  }
  parentPort!.postMessage(reply);
});
