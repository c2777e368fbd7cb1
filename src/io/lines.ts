/**
 * Streaming line reader with line numbers; transparently gunzips `.gz` files
 * (or any file starting with the gzip magic bytes). Memory: one line at a time.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { InputError } from './errors.js';

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

export interface Line {
  readonly text: string;
  readonly lineNo: number;
}

/** Open a readable stream, gunzipping when needed, with clear errors for missing/corrupt files. */
export function openInput(file: string): NodeJS.ReadableStream {
  if (!fs.existsSync(file)) throw new InputError(`${file}: file not found`);
  if (fs.statSync(file).isDirectory()) throw new InputError(`${file}: is a directory, expected a file`);
  const raw = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  if (!isGzip(file)) return raw;
  const gunzip = zlib.createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

/** Longest line accepted (bytes). OTLP export lines run to tens of MB; beyond this it is not a line-oriented file. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Iterate the lines of a (possibly gzipped) text file. Blank lines are skipped but counted; a UTF-8
 * byte-order mark at the start is dropped; bytes that are not UTF-8 and lines longer than
 * `MAX_LINE_BYTES` (a binary file, /dev/zero) are errors naming the line. Memory: one line at a time.
 */
export async function* readLines(file: string, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<Line> {
  const input = openInput(file) as AsyncIterable<Buffer>;
  const dec = new TextDecoder('utf-8', { fatal: true });
  let lineNo = 0;
  let carry: Buffer[] = [];
  let carryLen = 0;
  const tooLong = (): InputError => new InputError(`${file}:${lineNo + 1}: line longer than ${maxLineBytes / (1024 * 1024)} MiB without a newline (not a JSON Lines / CSV text file?)`);
  const decode = (b: Buffer): string | null => {
    lineNo++;
    let end = b.length;
    if (end > 0 && b[end - 1] === 13) end--; // CRLF
    let text: string;
    try {
      text = dec.decode(b.subarray(0, end));
    } catch {
      throw new InputError(`${file}:${lineNo}: not valid UTF-8 text`);
    }
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return text.trim() === '' ? null : text;
  };
  try {
    for await (const chunk of input) {
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(10, from);
        if (nl < 0) {
          const rest = chunk.subarray(from);
          if (carryLen + rest.length > maxLineBytes) throw tooLong();
          if (rest.length > 0) {
            carry.push(rest);
            carryLen += rest.length;
          }
          break;
        }
        const part = chunk.subarray(from, nl);
        if (carryLen + part.length > maxLineBytes) throw tooLong();
        const line = carryLen > 0 ? Buffer.concat([...carry, part]) : part;
        carry = [];
        carryLen = 0;
        from = nl + 1;
        const text = decode(line);
        if (text !== null) yield { text, lineNo };
      }
    }
    if (carryLen > 0) {
      const text = decode(Buffer.concat(carry));
      if (text !== null) yield { text, lineNo };
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'Z_BUF_ERROR' || err.code === 'Z_DATA_ERROR' || /unexpected end|incorrect header/i.test(err.message)) {
      throw new InputError(`${file}:${lineNo + 1}: corrupt or truncated gzip data (${err.message})`);
    }
    throw new InputError(`${file}: read error: ${err.message}`);
  } finally {
    (input as unknown as { destroy?: () => void }).destroy?.();
  }
}
