/**
 * Worker thread of the vLLM OTLP reader (pool.ts): parses the chunks it is sent (chunks.ts
 * `parseChunk`) and posts the results back with the chunk's id.
 */
import { parentPort } from 'node:worker_threads';
import { parseChunk } from './chunks.js';

export interface ChunkJob {
  readonly id: number;
  readonly buf: Uint8Array;
  readonly firstLine: number;
  readonly file: string;
  readonly perBucket: number;
}

parentPort?.on('message', (job: ChunkJob) => {
  try {
    const buf = Buffer.from(job.buf.buffer, job.buf.byteOffset, job.buf.byteLength);
    parentPort!.postMessage({ id: job.id, result: parseChunk(buf, job.firstLine, job.file, job.perBucket) });
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: (e as Error).stack ?? String(e) });
  }
});
