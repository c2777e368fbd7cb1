/**
 * `-` as a path on the command line: standard input for an input option (`--steps -`, `--fit -`), standard
 * output for an output option (`--out -`). At most one of each per run; an output directory cannot be '-'.
 *
 * Standard input is read to its end into a temp file first (a fit reads its steps more than once), so every
 * reader works on it unchanged (gzip and Parquet are recognised by their first bytes); messages name it
 * '<stdin>'. Standard output is written directly (io/atomic.ts STDIO). When a command's data goes to
 * standard output, its own lines (summaries, `--json`) go to standard error instead (`routeIO`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STDIO, trackTemp } from '../io/atomic.js';
import { InputError, UsageError } from '../io/errors.js';
import type { PathRole } from '../io/guard.js';
import type { CliIO } from './io.js';

/** Inputs that cannot come from standard input, and why. */
const NO_STDIN: Readonly<Record<string, string>> = Object.freeze({
  '--manifest': 'its paths are relative to its folder',
  '--in': 'the reader needs a named file or folder (formats are told apart by name)',
});

/** The name standard input has in messages. */
export const STDIN_NAME = '<stdin>';

export interface StdioPlan {
  /** The input option read from standard input (e.g. '--steps'), or null. */
  readonly stdinFlag: string | null;
  /** True when an output goes to standard output. */
  readonly dataOnStdout: boolean;
}

/** Check the '-' uses of one invocation: one input and one output at most, never a directory output. */
export function stdioPlan(inputs: readonly PathRole[], outputs: readonly PathRole[]): StdioPlan {
  const ins = inputs.filter((r) => r.path === STDIO);
  const outs = outputs.filter((r) => r.path === STDIO);
  if (ins.length > 1) throw new UsageError(`${ins.map((r) => r.flag).join(' and ')} are both '-': standard input can feed one of them`);
  if (outs.length > 1) throw new UsageError(`${outs.map((r) => r.flag).join(' and ')} are both '-': standard output can take one of them`);
  const dir = outs.find((r) => r.writes !== undefined);
  if (dir) throw new UsageError(`${dir.flag} is a folder for this command: '-' (standard output) cannot be one; give a folder path`);
  const why = ins[0] ? NO_STDIN[ins[0].flag] : undefined;
  if (why) throw new UsageError(`${ins[0]!.flag} cannot be '-' (standard input): ${why}`);
  return { stdinFlag: ins[0]?.flag ?? null, dataOnStdout: outs.length > 0 };
}

/**
 * The file name ending readers expect for what standard input holds, recognised by content: Parquet
 * ('PAR1'), gzip (magic bytes; JSON Lines inside), JSON Lines (the first line is a JSON value), a JSON
 * document, CSV (a first line of commas without ':'), else YAML.
 */
export function extensionFor(head: Buffer): string {
  if (head.subarray(0, 4).toString('latin1') === 'PAR1') return '.parquet';
  if (head[0] === 0x1f && head[1] === 0x8b) return '.jsonl.gz';
  const text = head.toString('utf8').replace(/^\uFEFF/, '');
  const first = text.split('\n', 1)[0]!.trim();
  try {
    JSON.parse(first);
    if (/^[{[]/.test(first)) return '.jsonl';
  } catch {
    /* not one JSON value on the first line */
  }
  if (/^\s*[{[]/.test(text)) return '.json';
  if (first.includes(',') && !first.includes(':')) return '.csv';
  return '.yaml';
}

/** Read standard input to its end into a tracked temp file (removed at exit); returns its path. */
export async function spoolStdin(input: AsyncIterable<Uint8Array | string>): Promise<string> {
  const HEAD = 64 * 1024;
  let head = Buffer.alloc(0);
  const base = path.join(os.tmpdir(), `stepfit-stdin-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const tmp = `${base}.part`;
  trackTemp(tmp);
  const fd = fs.openSync(tmp, 'w');
  try {
    for await (const c of input) {
      const b = typeof c === 'string' ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      if (head.length < HEAD && b.length > 0) head = Buffer.concat([head, b.subarray(0, HEAD - head.length)]);
      fs.writeSync(fd, b);
    }
  } finally {
    fs.closeSync(fd);
  }
  if (head.length === 0) throw new InputError(`${STDIN_NAME}: standard input is empty`);
  const file = base + extensionFor(head);
  trackTemp(file);
  fs.renameSync(tmp, file);
  return file;
}

/** Options-object key of a flag ('--out-dir' → 'outDir'). */
export const keyOf = (flag: string): string => flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** State shared by `routeIO` and the pre-action hook of one run. */
export interface StdioState {
  dataOnStdout: boolean;
  /** Temp files holding standard input (named '<stdin>' in every message). */
  readonly spooled: string[];
}

export const newStdioState = (): StdioState => ({ dataOnStdout: false, spooled: [] });

/** Replace temp paths of standard input by '<stdin>'. */
export function unspool(state: StdioState, s: string): string {
  let t = s;
  for (const p of state.spooled) t = t.replaceAll(p, STDIN_NAME);
  return t;
}

/** The IO commands see: their lines go to standard error while the data owns standard output. */
export function routeIO(io: CliIO, state: StdioState): CliIO {
  return {
    out: (s) => (state.dataOnStdout ? io.err(unspool(state, s)) : io.out(unspool(state, s))),
    err: (s) => io.err(unspool(state, s)),
    interactive: io.interactive,
    ...(io.write ? { write: (c: string | Uint8Array) => io.write!(c) } : {}),
    ...(io.stdin ? { stdin: () => io.stdin!() } : {}),
  };
}
