/**
 * Atomic output: everything is written to a temp file next to the target and renamed
 * into place only on success, so a failed run leaves no half-written output behind.
 *
 * The target '-' (STDIO) is standard output: written directly, no temp file (a run that fails midway may
 * have written part of it; its exit code says so). The CLI installs the sink (`setStdoutSink`); nothing
 * below cli/ touches `process`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { InputError } from './errors.js';

/** The output (and input) path that means standard output (input) on the command line. */
export const STDIO = '-';

/** Where outputs named '-' go. `write` may return a promise (back-pressure); whole-file writes do not wait for it. */
export interface StdoutSink {
  write(chunk: string | Uint8Array): void | Promise<void>;
}

let stdoutSink: StdoutSink | null = null;

/** Install (or remove, with null) the sink for outputs named '-'. */
export function setStdoutSink(sink: StdoutSink | null): void {
  stdoutSink = sink;
}

function stdout(): StdoutSink {
  if (!stdoutSink) throw new InputError(`output '-' (standard output) is not available here: give a file path`);
  return stdoutSink;
}

/** Temp files of this process not yet renamed or removed (removed on SIGINT/SIGTERM and on exit). */
const liveTemps = new Set<string>();

const TEMP_RE = /^\..+\.tmp-(\d+)-[a-z0-9]+$/;

function tempName(target: string): string {
  const t = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  liveTemps.add(t);
  return t;
}

function removeTemp(t: string): void {
  fs.rmSync(t, { force: true });
  liveTemps.delete(t);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove stepfit temp files of `target` left by processes that no longer run (a kill -9, a power cut). */
function cleanStaleTemps(target: string): void {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = TEMP_RE.exec(n);
    if (!m || !n.startsWith(prefix)) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !pidAlive(pid)) fs.rmSync(path.join(dir, n), { force: true });
  }
}

/** Reject output paths that cannot be a file: empty, or an existing directory. */
export function checkOutputPath(target: string, what = 'output'): void {
  if (target.trim() === '') throw new InputError(`${what}: empty path (expected a file name)`);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(target);
  } catch {
    /* absent: fine */
  }
  if (st?.isDirectory()) throw new InputError(`${what} '${target}': is a directory (expected a file path)`);
}

function checkDir(target: string): void {
  checkOutputPath(target, 'cannot write output');
  const dir = path.dirname(path.resolve(target));
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new InputError(`cannot write output '${target}': directory '${dir}' is not writable (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  cleanStaleTemps(path.resolve(target));
}

const isGz = (target: string): boolean => target.toLowerCase().endsWith('.gz');

/**
 * On SIGINT / SIGTERM remove this process's temp files and exit 130 / 143 (the CLI installs this;
 * library callers keep their own signal handling).
 */
export function installTempCleanup(): void {
  const clean = (): void => {
    for (const t of liveTemps) {
      try {
        fs.rmSync(t, { force: true });
      } catch {
        /* best effort */
      }
    }
    liveTemps.clear();
  };
  // a command that handles the signal itself (collect drains and flushes) owns the shutdown
  const on = (sig: 'SIGINT' | 'SIGTERM', code: number) => (): void => {
    if (process.listenerCount(sig) > 1) return;
    clean();
    process.exit(code);
  };
  process.on('SIGINT', on('SIGINT', 130));
  process.on('SIGTERM', on('SIGTERM', 143));
  process.once('exit', clean);
}

/** Write a whole file atomically. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  if (target === STDIO) {
    void stdout().write(data);
    return;
  }
  checkDir(target);
  const tmp = tempName(target);
  try {
    fs.writeFileSync(tmp, isGz(target) ? zlib.gzipSync(data) : data);
    fs.renameSync(tmp, target);
    liveTemps.delete(tmp);
  } catch (e) {
    removeTemp(tmp);
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write output '${target}': ${(e as Error).message}`);
  }
}

/** A streaming atomic writer: `write` lines, then `commit()` renames into place; `abort()` removes the temp file. */
export class AtomicWriter {
  private readonly tmp: string;
  private readonly stream: fs.WriteStream;
  /** Gzip stage in front of the file when the target ends in .gz (what `write` writes to). */
  private readonly sink: NodeJS.WritableStream & { destroy(): void; end(): void };
  private done = false;
  /** First stream error (e.g. disk full); reported by write/commit, never left unhandled. */
  private error: Error | null = null;
  /** Standard output, when the target is '-' (no temp file, nothing to rename). */
  private readonly direct: StdoutSink | null = null;
  constructor(readonly target: string) {
    if (target === STDIO) {
      this.direct = stdout();
      this.tmp = '';
      this.stream = null as unknown as fs.WriteStream;
      this.sink = null as unknown as AtomicWriter['sink'];
      return;
    }
    checkDir(target);
    this.tmp = tempName(target);
    this.stream = fs.createWriteStream(this.tmp);
    this.stream.on('error', (e) => {
      this.error ??= e;
    });
    if (isGz(target)) {
      const gz = zlib.createGzip();
      gz.on('error', (e) => {
        this.error ??= e;
      });
      gz.pipe(this.stream);
      this.sink = gz;
    } else {
      this.sink = this.stream;
    }
  }
  private check(): void {
    if (this.error) throw new InputError(`cannot write output '${this.target}': ${this.error.message}`);
  }
  /** Write a chunk; resolves after the stream drains when its buffer is full (back-pressure). */
  async write(chunk: string): Promise<void> {
    if (this.direct) return this.direct.write(chunk);
    this.check();
    if (!this.sink.write(chunk)) {
      // wait for 'drain' (or the file closing after an error) and remove both listeners afterwards:
      // racing two `once` promises leaves the loser registered, one more per full buffer
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.sink.removeListener('drain', done);
          this.stream.removeListener('close', done);
          resolve();
        };
        this.sink.once('drain', done);
        this.stream.once('close', done);
      });
    }
    this.check();
  }
  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.direct) return;
    this.check();
    if (!this.stream.closed) {
      const closed = new Promise<void>((resolve) => this.stream.once('close', () => resolve()));
      this.sink.end();
      await closed;
    }
    if (this.error) {
      removeTemp(this.tmp);
      this.check();
    }
    try {
      fs.renameSync(this.tmp, this.target);
      liveTemps.delete(this.tmp);
    } catch (e) {
      removeTemp(this.tmp);
      throw new InputError(`cannot write output '${this.target}': ${(e as Error).message}`);
    }
  }
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.direct) return;
    if (!this.stream.closed) {
      const closed = new Promise<void>((resolve) => this.stream.once('close', () => resolve()));
      if (this.sink !== this.stream) this.sink.destroy();
      this.stream.destroy();
      await closed;
    }
    removeTemp(this.tmp);
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
  const toStdout = files.filter((f) => f.path === STDIO);
  try {
    for (const f of files) {
      if (f.path === STDIO) continue;
      checkDir(f.path);
      const tmp = tempName(f.path);
      tmps.push({ tmp, target: f.path });
      fs.writeFileSync(tmp, isGz(f.path) ? zlib.gzipSync(f.data) : f.data);
    }
    for (const t of tmps) {
      fs.renameSync(t.tmp, t.target);
      liveTemps.delete(t.tmp);
    }
    for (const f of toStdout) void stdout().write(f.data);
  } catch (e) {
    for (const t of tmps) removeTemp(t.tmp);
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write outputs: ${(e as Error).message}`);
  }
}

/** Track a temp file written outside AtomicWriter (removed on SIGINT/SIGTERM/exit until released). */
export function trackTemp(t: string): void {
  liveTemps.add(t);
}
/** Stop tracking a temp file (renamed into place or removed). */
export function releaseTemp(t: string): void {
  liveTemps.delete(t);
}

/**
 * For writers that own their file handle (Parquet, traces): check the target, and return a tracked
 * temp path next to it (removed on SIGINT/SIGTERM/exit until committed or discarded).
 */
export function prepareTemp(target: string): string {
  if (target === STDIO) {
    stdout();
    return tempName(path.join(os.tmpdir(), 'stepfit-stdout'));
  }
  checkDir(target);
  return tempName(target);
}

/** Rename a prepared temp file into place and stop tracking it (for '-': copy it to standard output and remove it). */
export function commitTemp(tmp: string, target: string): void {
  if (target === STDIO) {
    const data = fs.readFileSync(tmp);
    removeTemp(tmp);
    void stdout().write(data);
    return;
  }
  fs.renameSync(tmp, target);
  liveTemps.delete(tmp);
}

/** Remove a prepared temp file (failed or aborted write). */
export function discardTemp(tmp: string): void {
  removeTemp(tmp);
}
