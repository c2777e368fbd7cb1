/**
 * A pool of worker threads that parse trace chunks (parse-worker.ts): byte ranges the workers read
 * themselves, or chunks of a decompressed stream. Jobs go to the least busy worker; results come
 * back as promises, one per job, whose packed records arrive as transferred buffers; the caller
 * applies them in job order (deterministic merge).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { InputError } from '../../io/errors.js';
import type { ChunkResult } from './chunks.js';
import type { ChunkJob, ChunkReply } from './parse-worker.js';

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
  // a worker inherits node's options; --input-type (a script given with -e) would stop it loading
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  if (!here.endsWith('.ts')) return new Worker(new URL('./parse-worker.js', here), { execArgv });
  if (bundled === undefined) {
    const esbuild = createRequire(here)('esbuild') as typeof import('esbuild');
    const r = esbuild.buildSync({ entryPoints: [fileURLToPath(new URL('./parse-worker.ts', here))], bundle: true, platform: 'node', format: 'esm', write: false, logLevel: 'silent' });
    bundled = `data:text/javascript;base64,${Buffer.from(r.outputFiles[0]!.text).toString('base64')}`;
  }
  return new Worker(new URL(bundled), { execArgv });
}

/** What to parse: a byte range of the file, or a chunk's bytes (transferred to the worker). */
export type PoolJob = Pick<ChunkJob, 'range' | 'buf' | 'first'>;

interface Slot {
  readonly w: Worker;
  busy: number;
}

/** Jobs each worker holds at most (one parsing, one queued behind it). */
const PER_WORKER = 2;

export class ChunkPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, Waiter & { slot?: Slot }>();
  private readonly queue: ChunkJob[] = [];
  private nextId = 0;
  private failure: Error | undefined;

  constructor(
    n: number,
    private readonly file: string,
    private readonly perBucket: number,
  ) {
    for (let i = 0; i < n; i++) {
      const slot: Slot = { w: startWorker(), busy: 0 };
      slot.w.on('message', (m: ChunkReply) => this.reply(slot, m));
      slot.w.on('error', (e) => this.fail(new Error(`trace parser worker failed: ${e.message}`)));
      this.slots.push(slot);
    }
  }

  private reply(slot: Slot, m: ChunkReply): void {
    slot.busy--;
    const waiter = this.waiting.get(m.id);
    this.waiting.delete(m.id);
    if (m.result) waiter?.resolve(m.result);
    else if (m.inputError !== undefined) waiter?.reject(new InputError(m.inputError));
    else waiter?.reject(new Error(`trace parser worker failed: ${m.error}`));
    this.dispatch();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  /** Hand queued jobs to the least busy workers. */
  private dispatch(): void {
    while (this.queue.length) {
      let best: Slot | undefined;
      for (const s of this.slots) if (s.busy < PER_WORKER && (!best || s.busy < best.busy)) best = s;
      if (!best) return;
      const job = this.queue.shift()!;
      best.busy++;
      best.w.postMessage(job, job.buf ? [job.buf.buffer as ArrayBuffer] : []);
    }
  }

  /** Parse a job on the next free worker; results may come back in any order (the caller awaits them in order). */
  submit(j: PoolJob): Promise<ChunkResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const p = new Promise<ChunkResult>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    p.catch(() => {}); // awaited by the caller in order; a rejection of a chunk it never reaches is not unhandled
    this.queue.push({ id, file: this.file, perBucket: this.perBucket, first: j.first, ...(j.range ? { range: j.range } : {}), ...(j.buf ? { buf: j.buf } : {}) });
    this.dispatch();
    return p;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.w.terminate()));
  }
}
