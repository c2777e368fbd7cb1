/**
 * Byte ranges of a trace file (issue 17, ranges.ts): every line is owned by exactly one range (the
 * one it starts in), whatever the range size — ranges smaller than a line, boundaries on a newline,
 * CRLF, blank lines, no final newline — and a line longer than the limit is reported at its line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byteRanges, isPlainFile, RangeReader } from '../src/reconstruct/vllm-otlp/ranges.js';
import { makeRng } from '../src/util/rng.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-ranges-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Read a file range by range: the owned texts, and where a too-long line stopped it (1-based line). */
function readAll(file: string, chunkBytes: number, maxLine: number): { parts: string[]; tooLongAt?: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const r = new RangeReader(fd, file, maxLine);
    const parts: string[] = [];
    let lines = 0;
    for (const range of byteRanges(fs.fstatSync(fd).size, chunkBytes)) {
      const t = r.read(range);
      const text = t.buf.toString('latin1');
      parts.push(text);
      lines += text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      if (t.tooLong) return { parts, tooLongAt: lines + 1 };
    }
    return { parts };
  } finally {
    fs.closeSync(fd);
  }
}

function randomText(seed: number): string {
  const rng = makeRng(seed);
  const lines: string[] = [];
  const n = 5 + Math.floor(rng.next() * 40);
  for (let i = 0; i < n; i++) {
    const len = rng.next() < 0.15 ? 0 : Math.floor(rng.next() ** 3 * 300);
    let l = '';
    for (let k = 0; k < len; k++) l += String.fromCharCode(97 + (k % 26));
    lines.push(rng.next() < 0.2 ? `${l}\r` : l);
  }
  return lines.join('\n') + (rng.next() < 0.5 ? '\n' : '');
}

describe('byte ranges of a trace file', () => {
  it('own every line exactly once, for every range size (smaller than a line, 1 byte, whole file)', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const text = randomText(seed);
      const file = path.join(dir, `r${seed}.txt`);
      fs.writeFileSync(file, text, 'latin1');
      for (const chunk of [1, 2, 3, 7, 16, 61, 128, 500, 4096, text.length + 1]) {
        const { parts, tooLongAt } = readAll(file, chunk, 1 << 20);
        expect(tooLongAt).toBeUndefined();
        expect(parts.join(''), `seed ${seed}, ${chunk} B ranges`).toBe(text);
        // each non-empty part is whole lines: it starts a line and ends with a newline (or the file)
        let at = 0;
        for (const p of parts) {
          if (p !== '') {
            expect(at === 0 || text[at - 1] === '\n').toBe(true);
            expect(p.endsWith('\n') || at + p.length === text.length).toBe(true);
          }
          at += p.length;
        }
      }
    }
  });

  it('report a line longer than the limit at its line number, wherever the ranges fall', () => {
    const lines = ['short', 'x'.repeat(50), 'y'.repeat(101), 'after'];
    const file = path.join(dir, 'long.txt');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    for (const chunk of [1, 5, 10, 40, 64, 100, 1000]) {
      const { parts, tooLongAt } = readAll(file, chunk, 100);
      if (chunk >= 1000) {
        // the long line lies inside one range: the parser (chunks.ts) checks it there
        expect(tooLongAt).toBeUndefined();
        continue;
      }
      expect(tooLongAt, `${chunk} B ranges`).toBe(3);
      expect(parts.join('')).toBe(`${lines.slice(0, 2).join('\n')}\n`);
    }
  });

  it('cut a file into ranges covering it, and tell plain files from gzip', () => {
    expect(byteRanges(10, 4)).toEqual([
      { index: 0, start: 0, end: 4 },
      { index: 1, start: 4, end: 8 },
      { index: 2, start: 8, end: 10 },
    ]);
    expect(byteRanges(0, 4)).toEqual([]);
    const plain = path.join(dir, 'p.jsonl');
    fs.writeFileSync(plain, '{}\n');
    const gz = path.join(dir, 'g.jsonl');
    fs.writeFileSync(gz, Buffer.from([0x1f, 0x8b, 8, 0]));
    expect(isPlainFile(plain)).toBe(true);
    expect(isPlainFile(gz)).toBe(false);
    expect(isPlainFile(dir)).toBe(false);
    expect(isPlainFile(path.join(dir, 'missing'))).toBe(false);
  });
});
