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

/**
 * What went wrong in a JSON.parse, without echoing the input (V8's messages quote the text, which
 * may be someone else's file): 'unexpected end of input' or 'syntax error at character N'.
 */
export function jsonErrorDetail(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  if (/Unexpected end of JSON input|Unterminated string/.test(m)) return 'unexpected end of input';
  const pos = /position (\d+)/.exec(m);
  return pos ? `syntax error at character ${Number(pos[1]) + 1}` : 'syntax error';
}
