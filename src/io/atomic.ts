/**
 * Atomic output: everything is written to a temp file next to the target and renamed
 * into place only on success, so a failed run leaves no half-written output behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { InputError } from './errors.js';
import { registerTemp, releaseTemp, cleanStaleTemps } from './cleanup.js';

/** A registered temp file next to `target` (removed on error/SIGINT/SIGTERM); stale temps of dead processes there are cleaned. */
function tempName(target: string): string {
  const dir = path.dirname(target);
  cleanStaleTemps(dir);
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  registerTemp(tmp);
  return tmp;
}

function dropTemp(tmp: string): void {
  fs.rmSync(tmp, { force: true });
  releaseTemp(tmp);
}

/** Outputs named `*.gz` are gzip (so stepfit reads its own output back). */
const gz = (target: string, data: string | Uint8Array): string | Uint8Array => (target.endsWith('.gz') ? zlib.gzipSync(data) : data);

function checkDir(target: string): void {
  if (target.trim() === '') throw new InputError(`cannot write output '': empty file name`);
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) throw new InputError(`cannot write output '${target}': it is an existing directory, expected a file name`);
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
    fs.writeFileSync(tmp, gz(target, data));
    fs.renameSync(tmp, target);
    releaseTemp(tmp);
  } catch (e) {
    dropTemp(tmp);
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write output '${target}': ${(e as Error).message}`);
  }
}

/** A streaming atomic writer: `write` lines, then `commit()` renames into place; `abort()` removes the temp file. `*.gz` targets are gzipped. */
export class AtomicWriter {
  private readonly tmp: string;
  /** The temp file. */
  private readonly file: fs.WriteStream;
  /** What chunks are written to: the file, or a gzip stream piped into it. */
  private readonly head: NodeJS.WritableStream & { destroy(e?: Error): unknown };
  private done = false;
  /** First stream error (e.g. disk full); reported by write/commit, never left unhandled. */
  private error: Error | null = null;
  constructor(readonly target: string) {
    checkDir(target);
    this.tmp = tempName(target);
    this.file = fs.createWriteStream(this.tmp);
    this.file.on('error', (e) => { this.error ??= e; });
    if (target.endsWith('.gz')) {
      const z = zlib.createGzip();
      z.on('error', (e) => { this.error ??= e; });
      z.pipe(this.file);
      this.head = z;
    } else {
      this.head = this.file;
    }
  }
  private check(): void {
    if (this.error) throw new InputError(`cannot write output '${this.target}': ${this.error.message}`);
  }
  /** Write a chunk; resolves after the stream drains when its buffer is full (back-pressure). */
  async write(chunk: string): Promise<void> {
    this.check();
    if (!this.head.write(chunk)) await Promise.race([once(this.head, 'drain'), once(this.file, 'close')]);
    this.check();
  }
  private async closeFile(how: 'end' | 'destroy'): Promise<void> {
    if (this.file.closed) return;
    const closed = new Promise<void>((resolve) => this.file.once('close', () => resolve()));
    if (how === 'end') this.head.end();
    else { this.head.destroy(); if (this.head !== this.file) this.file.destroy(); }
    await closed;
  }
  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      this.check();
      await this.closeFile('end');
      this.check();
      fs.renameSync(this.tmp, this.target);
      releaseTemp(this.tmp);
    } catch (e) {
      await this.closeFile('destroy');
      dropTemp(this.tmp);
      if (e instanceof InputError) throw e;
      throw new InputError(`cannot write output '${this.target}': ${(e as Error).message}`);
    }
  }
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.closeFile('destroy');
    dropTemp(this.tmp);
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
      tmps.push({ tmp, target: f.path });
      fs.writeFileSync(tmp, gz(f.path, f.data));
    }
    for (const t of tmps) { fs.renameSync(t.tmp, t.target); releaseTemp(t.tmp); }
  } catch (e) {
    for (const t of tmps) dropTemp(t.tmp);
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write outputs: ${(e as Error).message}`);
  }
}
