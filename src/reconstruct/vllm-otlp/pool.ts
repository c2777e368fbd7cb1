/**
 * A pool of worker threads that parse trace chunks (parse-worker.ts). Results come back as
 * promises, one per chunk; the caller applies them in chunk order (deterministic merge).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ChunkResult, TraceChunk } from './chunks.js';
import type { ChunkJob } from './parse-worker.js';

interface Waiter {
  resolve(r: ChunkResult): void;
  reject(e: Error): void;
}

let bundled: string | undefined;

/**
 * A worker running parse-worker next to this module: the built .js; from the TypeScript sources
 * (tsx, vitest) an ES module bundle of parse-worker.ts made with esbuild (as a data: URL), since module loader hooks
 * do not reach worker threads on Node 20.
 */
function startWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./parse-worker.js', here));
  if (bundled === undefined) {
    const esbuild = createRequire(here)('esbuild') as typeof import('esbuild');
    const r = esbuild.buildSync({ entryPoints: [fileURLToPath(new URL('./parse-worker.ts', here))], bundle: true, platform: 'node', format: 'esm', write: false, logLevel: 'silent' });
    bundled = `data:text/javascript;base64,${Buffer.from(r.outputFiles[0]!.text).toString('base64')}`;
  }
  return new Worker(new URL(bundled));
}

export class ChunkPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(
    n: number,
    private readonly file: string,
    private readonly perBucket: number,
  ) {
    for (let i = 0; i < n; i++) {
      const w = startWorker();
      w.on('message', (m: { id: number; result?: ChunkResult; error?: string }) => {
        const waiter = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.result) waiter?.resolve(m.result);
        else waiter?.reject(new Error(`trace parser worker failed: ${m.error}`));
      });
      w.on('error', (e) => this.fail(new Error(`trace parser worker failed: ${e.message}`)));
      this.workers.push(w);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  /** Parse a chunk on the next worker (round robin); its buffer is transferred, not copied. */
  submit(c: TraceChunk): Promise<ChunkResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const p = new Promise<ChunkResult>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    p.catch(() => {}); // awaited by the caller in order; a rejection of a chunk it never reaches is not unhandled
    const job: ChunkJob = { id, buf: c.buf, firstLine: c.firstLine, file: this.file, perBucket: this.perBucket };
    this.workers[id % this.workers.length]!.postMessage(job, [c.buf.buffer as ArrayBuffer]);
    return p;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
