/**
 * Streaming line reader with line numbers; transparently gunzips `.gz` files
 * (or any file starting with the gzip magic bytes). Memory: one line at a time.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import readline from 'node:readline';
import { InputError } from './errors.js';
import { lineCap } from './limits.js';

function isGzip(file: string): boolean {
  if (file.endsWith('.gz')) return true;
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    const n = fs.readSync(fd, b, 0, 2, 0);
    return n === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

export interface Line { readonly text: string; readonly lineNo: number }

/**
 * Open a readable stream, gunzipping when needed, with clear errors for missing/corrupt files.
 * A UTF-8 BOM is dropped; a line longer than the cap (io/limits.ts) fails the stream with an InputError.
 */
export function openInput(file: string): NodeJS.ReadableStream {
  if (!fs.existsSync(file)) throw new InputError(`${file}: file not found`);
  if (fs.statSync(file).isDirectory()) throw new InputError(`${file}: is a directory, expected a file`);
  const raw = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const cap = lineCap(file);
  if (!isGzip(file)) {
    raw.on('error', (e) => cap.destroy(e));
    return raw.pipe(cap);
  }
  const gunzip = zlib.createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  gunzip.on('error', (e) => cap.destroy(e));
  return raw.pipe(gunzip).pipe(cap);
}

/** Iterate the lines of a (possibly gzipped) text file. Blank lines are skipped but counted. */
export async function* readLines(file: string): AsyncGenerator<Line> {
  const input = openInput(file);
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const text of rl) {
      lineNo++;
      if (text.trim() === '') continue;
      yield { text, lineNo };
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err instanceof InputError) throw err;
    if (err.code === 'Z_BUF_ERROR' || err.code === 'Z_DATA_ERROR' || /unexpected end|incorrect header/i.test(err.message)) {
      throw new InputError(`${file}:${lineNo + 1}: corrupt or truncated gzip data (${err.message})`);
    }
    throw new InputError(`${file}: read error: ${err.message}`);
  } finally {
    rl.close();
  }
}
