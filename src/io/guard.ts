/**
 * Outputs never overwrite inputs. Before a command reads anything, every output path is compared
 * with every input path of the same run (and with the other outputs): the same resolved path, the
 * same file through a link (device + inode), or an output inside an input directory that the
 * command reads is refused with one line naming both options. '-' (standard input / output) is no file and
 * is not compared here (the CLI allows one of each per run).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from './errors.js';

export interface PathRole {
  /** The option as the user typed it, e.g. '--steps'. */
  readonly flag: string;
  readonly path: string;
  /** Output directories: the files the command writes into it (checked like file outputs). */
  readonly writes?: readonly string[];
}

interface Identity {
  readonly real: string;
  readonly inode?: string;
  readonly dir: boolean;
}

function identity(p: string): Identity {
  try {
    const st = fs.statSync(p);
    return { real: fs.realpathSync(p), inode: `${st.dev}:${st.ino}`, dir: st.isDirectory() };
  } catch {
    // not there yet: resolve the parent through links when it exists
    const abs = path.resolve(p);
    let parent = path.dirname(abs);
    try {
      parent = fs.realpathSync(parent);
    } catch {
      /* keep as is */
    }
    return { real: path.join(parent, path.basename(abs)), dir: false };
  }
}

const same = (a: Identity, b: Identity): boolean => a.real === b.real || (a.inode !== undefined && a.inode === b.inode);
const inside = (file: Identity, dir: Identity): boolean => dir.dir && file.real.startsWith(dir.real + path.sep);

/** Throw when an output is an input (or inside an input directory), or two outputs are one file. */
export function checkOutputsAgainstInputs(inputs: readonly PathRole[], outputs: readonly PathRole[]): void {
  const ins = inputs.filter((r) => r.path !== '' && r.path !== '-').map((r) => ({ r, id: identity(r.path) }));
  const outs: { flag: string; p: string; id: Identity }[] = [];
  for (const o of outputs) {
    if (o.path === '' || o.path === '-') continue;
    outs.push({ flag: o.flag, p: o.path, id: identity(o.path) });
    for (const w of o.writes ?? []) {
      const f = path.join(o.path, w);
      outs.push({ flag: `${o.flag} (its ${w})`, p: f, id: identity(f) });
    }
  }
  for (const o of outs) {
    for (const i of ins) {
      if (same(o.id, i.id)) throw new InputError(`${o.flag} '${o.p}' is also the input ${i.r.flag}: refusing to overwrite an input (choose another output path)`);
      if (inside(o.id, i.id)) throw new InputError(`${o.flag} '${o.p}' is inside the input directory ${i.r.flag} '${i.r.path}', which this command reads: choose an output outside it`);
    }
  }
  for (let a = 0; a < outs.length; a++) {
    for (let b = a + 1; b < outs.length; b++) {
      if (same(outs[a]!.id, outs[b]!.id)) throw new InputError(`${outs[a]!.flag} and ${outs[b]!.flag} are the same file '${outs[a]!.p}': choose different output paths`);
    }
  }
}
