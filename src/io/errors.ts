/**
 * Errors that reach the user as one clear line (never a stack trace).
 * InputError: bad input data/config (exit 1). UsageError: bad command line (exit 2).
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  readonly exitCode: number = 1;
}

export class UsageError extends InputError {
  override readonly exitCode: number = 2;
}

/** Format "file:line: field 'x': message" consistently. */
export function where(file: string, line?: number, field?: string): string {
  let s = file;
  if (line !== undefined) s += `:${line}`;
  if (field !== undefined) s += `: field '${field}'`;
  return s;
}
