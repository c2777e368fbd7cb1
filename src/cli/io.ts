/** Output sinks for commands (so commands can run in-process in tests). Nothing below cli/ prints. */
export interface CliIO {
  out(s: string): void;
  err(s: string): void;
  /** True when stderr is an interactive terminal and not CI (progress bars allowed). */
  readonly interactive: boolean;
}

export const processIO: CliIO = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
  interactive: Boolean(process.stderr.isTTY) && !process.env['CI'],
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

/** Collecting IO for tests. */
export function memoryIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (s) => stdout.push(s), err: (s) => stderr.push(s), interactive: false };
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
export class OptionValueError extends InvalidArgumentError {}
