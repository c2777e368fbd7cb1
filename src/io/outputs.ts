/**
 * Output guard: before a command reads anything, refuse an output path that resolves to one of
 * its inputs (same path after symlinks, or same inode — a hard link) or to another output of the
 * same run. Directory outputs (`simulate --out D`) are expanded to the files the command writes there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors.js';

export interface PathArg { readonly flag: string; readonly path: string }
export interface OutputArg extends PathArg {
  /** For a directory output: the file names written inside it. */
  readonly writes?: readonly string[];
}

function real(p: string): string {
  const abs = path.resolve(p);
  try { return fs.realpathSync(abs); } catch { /* not there yet: resolve its directory */ }
  try { return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs)); } catch { return abs; }
}

function inode(p: string): string | null {
  try { const s = fs.statSync(p); return `${s.dev}:${s.ino}`; } catch { return null; }
}

/** Files an output argument will write (itself, or its named files for a directory output). */
function written(o: OutputArg): PathArg[] {
  if (!o.writes) return [o];
  return o.writes.map((w) => ({ flag: `${o.flag} (${w})`, path: path.join(o.path, w) }));
}

/** Throw a UsageError (exit 2) when an output would overwrite an input or another output. */
export function guardOutputs(outputs: readonly OutputArg[], inputs: readonly PathArg[]): void {
  for (const o of outputs) {
    if (o.path.trim() === '') throw new UsageError(`${o.flag}: empty path`);
    if (!o.writes && fs.existsSync(o.path) && fs.statSync(o.path).isDirectory()) throw new UsageError(`${o.flag} '${o.path}': is an existing directory, expected a file name`);
  }
  const outs = outputs.flatMap(written).map((o) => ({ ...o, real: real(o.path), ino: inode(o.path) }));
  const ins = inputs.filter((i) => i.path !== '' && fs.existsSync(i.path)).map((i) => ({ ...i, real: real(i.path), ino: inode(i.path) }));
  for (const o of outs) {
    for (const i of ins) {
      if (i.real === o.real || (o.ino !== null && o.ino === i.ino)) throw new UsageError(`${o.flag} '${o.path}' would overwrite the input ${i.flag} '${i.path}'; choose another output path`);
    }
  }
  for (let a = 0; a < outs.length; a++) {
    for (let b = a + 1; b < outs.length; b++) {
      if (outs[a]!.real === outs[b]!.real) throw new UsageError(`${outs[a]!.flag} and ${outs[b]!.flag} are the same file '${outs[a]!.path}'; give them different paths`);
    }
  }
}
