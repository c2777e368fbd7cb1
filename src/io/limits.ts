/**
 * Input limits applied at the I/O boundary: a line-length cap (so a 600 MB line or a file that
 * never ends, like /dev/zero, fails fast instead of growing memory without bound) and magnitude
 * checks for numeric fields (finite, within a physically sensible range, field named on error).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { InputError } from './errors.js';

/** Longest accepted input line, bytes (override with STEPFIT_MAX_LINE_BYTES). 64 MiB holds any real record or OTLP span batch. */
export function maxLineBytes(): number {
  const env = Number(process.env['STEPFIT_MAX_LINE_BYTES']);
  return Number.isInteger(env) && env > 0 ? env : 64 * 1024 * 1024;
}

/** A pass-through stream that fails with a clear InputError once a line exceeds `cap` bytes. */
export function lineCap(file: string, cap = maxLineBytes()): Transform {
  let run = 0;
  let lineNo = 1;
  let first = true;
  const tooLong = (): InputError => new InputError(`${file}:${lineNo}: line longer than ${cap} bytes (not a line-oriented text file, or a file that never ends; raise STEPFIT_MAX_LINE_BYTES if it is real)`);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (first && chunk.length > 0) {
        first = false;
        // UTF-8 byte-order mark (Windows editors): accepted and dropped
        if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
      }
      if (chunk.indexOf(0) >= 0) return cb(new InputError(`${file}:${lineNo}: contains NUL bytes: not a text file (expected JSON Lines, CSV or YAML)`));
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        if (run + nl - start > cap) return cb(tooLong());
        lineNo++;
        run = 0;
        start = nl + 1;
      }
      run += chunk.length - start;
      if (run > cap) return cb(tooLong());
      cb(null, chunk);
    },
  });
}

/** Durations in µs: positive, finite, at most 1e10 µs (≈ 2.8 h for one step or request). */
export const DURATION_US_RANGE = { min: 1e-3, max: 1e10 } as const;
/** Token counts per request or step: at most 1e9. */
export const TOKENS_MAX = 1e9;
/** Fitted coefficients: |coef| ≤ 1e12 (a µs-per-unit term beyond that overflows predictions). */
export const COEF_ABS_MAX = 1e12;

/** Throw `where: field 'f': expected …` unless `x` is a finite number in [min, max]. */
export function checkMagnitude(x: unknown, where: string, field: string, min: number, max: number, unit = ''): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) {
    const shown = typeof x === 'number' ? String(x) : typeof x === 'string' ? 'a string' : x === null ? 'null' : typeof x;
    throw new InputError(`${where}: field '${field}': expected a finite number in [${min}, ${max}]${unit ? ' ' + unit : ''}, got ${shown}`);
  }
  return x;
}
