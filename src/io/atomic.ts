/**
 * Atomic output: everything is written to a temp file next to the target and renamed
 * into place only on success, so a failed run leaves no half-written output behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { InputError } from './errors.js';

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

function checkDir(target: string): void {
  const dir = path.dirname(path.resolve(target));
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new InputError(`cannot write output '${target}': directory '${dir}' is not writable (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

/** Write a whole file atomically. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  checkDir(target);
  const tmp = tempName(target);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write output '${target}': ${(e as Error).message}`);
  }
}

/** A streaming atomic writer: `write` lines, then `commit()` renames into place; `abort()` removes the temp file. */
export class AtomicWriter {
  private readonly tmp: string;
  private readonly stream: fs.WriteStream;
  private done = false;
  /** First stream error (e.g. disk full); reported by write/commit, never left unhandled. */
  private error: Error | null = null;
  constructor(readonly target: string) {
    checkDir(target);
    this.tmp = tempName(target);
    this.stream = fs.createWriteStream(this.tmp);
    this.stream.on('error', (e) => { this.error ??= e; });
  }
  private check(): void {
    if (this.error) throw new InputError(`cannot write output '${this.target}': ${this.error.message}`);
  }
  /** Write a chunk; resolves after the stream drains when its buffer is full (back-pressure). */
  async write(chunk: string): Promise<void> {
    this.check();
    if (!this.stream.write(chunk)) await Promise.race([once(this.stream, 'drain'), once(this.stream, 'close')]);
    this.check();
  }
  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.check();
    if (!this.stream.closed) {
      const closed = new Promise<void>((resolve) => this.stream.once('close', () => resolve()));
      this.stream.end();
      await closed;
    }
    if (this.error) {
      fs.rmSync(this.tmp, { force: true });
      this.check();
    }
    fs.renameSync(this.tmp, this.target);
  }
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (!this.stream.closed) {
      const closed = new Promise<void>((resolve) => this.stream.once('close', () => resolve()));
      this.stream.destroy();
      await closed;
    }
    fs.rmSync(this.tmp, { force: true });
  }
}

/** Run `fn` with an atomic writer; commit on success, abort (no output left) on any error. */
export async function withAtomicWriter<T>(target: string, fn: (w: AtomicWriter) => Promise<T>): Promise<T> {
  const w = new AtomicWriter(target);
  try {
    const r = await fn(w);
    await w.commit();
    return r;
  } catch (e) {
    await w.abort();
    throw e;
  }
}

/** Atomically replace a whole directory's named files: write each to temp then rename all at the end. */
export function writeFilesAtomic(files: { path: string; data: string | Uint8Array }[]): void {
  const tmps: { tmp: string; target: string }[] = [];
  try {
    for (const f of files) {
      checkDir(f.path);
      const tmp = tempName(f.path);
      fs.writeFileSync(tmp, f.data);
      tmps.push({ tmp, target: f.path });
    }
    for (const t of tmps) fs.renameSync(t.tmp, t.target);
  } catch (e) {
    for (const t of tmps) fs.rmSync(t.tmp, { force: true });
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write outputs: ${(e as Error).message}`);
  }
}
