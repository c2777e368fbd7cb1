/** Output sinks for commands (so commands can run in-process in tests). Nothing below cli/ prints. */
export interface CliIO {
  out(s: string): void;
  err(s: string): void;
  /** True when stderr is an interactive terminal and not CI (progress bars allowed). */
  readonly interactive: boolean;
  /** Raw data to standard output (an output path '-'), as is; resolves when it may take more. */
  write?(chunk: string | Uint8Array): void | Promise<void>;
  /** Standard input (an input path '-'); throws an InputError when there is none to read. */
  stdin?(): AsyncIterable<Uint8Array | string>;
}

export const processIO: CliIO = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
  interactive: Boolean(process.stderr.isTTY) && !process.env['CI'],
  write: (chunk) => (process.stdout.write(chunk) ? undefined : new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()))),
  stdin: () => {
    if (process.stdin.isTTY) throw new InputError("'-' reads standard input, which is a terminal here: pipe or redirect the data into stepfit");
    return process.stdin;
  },
};

/**
 * A closed stdout/stderr (`stepfit … | head -1`) ends the process quietly with exit 0, as users of
 * pipes expect; temp files are removed by the exit handler of io/atomic.ts.
 */
export function installPipeGuards(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(0);
      throw e;
    });
  }
}

/** Collecting IO for tests: `stdout` lines, `data` raw chunks written to '-', `input` served as standard input. */
export function memoryIO(input?: string): CliIO & { stdout: string[]; stderr: string[]; data: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const data: string[] = [];
  return {
    stdout,
    stderr,
    data,
    out: (s) => stdout.push(s),
    err: (s) => stderr.push(s),
    interactive: false,
    write: (c) => {
      data.push(typeof c === 'string' ? c : Buffer.from(c).toString('utf8'));
    },
    stdin: () => {
      if (input === undefined) throw new InputError("'-' reads standard input, and none was given");
      return (async function* () {
        yield Buffer.from(input);
      })();
    },
  };
}

/** Parse an integer option, rejecting junk with a one-line usage error. */
export function intOption(name: string, min = 1) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new OptionValueError(`option '${name}' expects an integer ≥ ${min}, got '${v}'`);
    return n;
  };
}

export function floatOption(name: string, min = -Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new OptionValueError(`option '${name}' expects a number ≥ ${min}, got '${v}'`);
    return n;
  };
}

import { InvalidArgumentError } from '@commander-js/extra-typings';
import { InputError } from '../io/errors.js';
export class OptionValueError extends InvalidArgumentError {}
