/**
 * Temp-file bookkeeping for atomic outputs: every live temp file is registered so that an error,
 * SIGINT or SIGTERM removes it; stale stepfit temp files (`.<name>.tmp-<pid>-<rand>`) left by a
 * process that no longer exists are removed when a new temp file is created next to them.
 */
import fs from 'node:fs';
import path from 'node:path';

const live = new Set<string>();

export function registerTemp(file: string): void { live.add(file); }
export function releaseTemp(file: string): void { live.delete(file); }
/** Remove every registered temp file (synchronously; safe in signal and exit handlers). */
export function removeAllTemps(): void {
  for (const f of live) { try { fs.rmSync(f, { force: true }); } catch { /* best effort */ } }
  live.clear();
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

const TEMP_RE = /^\.(.+)\.tmp-(\d+)-[0-9a-z]+$/;

/** Remove `.<base>.tmp-<pid>-*` files in `dir` whose process is gone. Returns the names removed. */
export function cleanStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return removed; }
  for (const n of names) {
    const m = TEMP_RE.exec(n);
    if (!m || alive(Number(m[2]))) continue;
    try { fs.rmSync(path.join(dir, n), { force: true }); removed.push(n); } catch { /* best effort */ }
  }
  return removed;
}

let installed = false;
/**
 * For the CLI process only: temp files are removed on SIGINT/SIGTERM/exit, and a closed stdout or
 * stderr (EPIPE, e.g. `stepfit … | head -1`) ends the process quietly with exit 0.
 */
export function installProcessGuards(): void {
  if (installed) return;
  installed = true;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(sig, () => { removeAllTemps(); process.exit(code); });
  }
  process.on('exit', removeAllTemps);
  const quiet = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') { removeAllTemps(); process.exit(0); }
    throw e;
  };
  process.stdout.on('error', quiet);
  process.stderr.on('error', quiet);
}
