import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AtomicWriter, withAtomicWriter, writeFileAtomic } from '../src/io/atomic.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-'));

describe('atomic output', () => {
  it('commit renames into place; nothing else is left in the directory', async () => {
    const d = tmp();
    const f = path.join(d, 'out.txt');
    await withAtomicWriter(f, async (w) => {
      await w.write('a\n');
      await w.write('b\n');
    });
    expect(fs.readFileSync(f, 'utf8')).toBe('a\nb\n');
    expect(fs.readdirSync(d)).toEqual(['out.txt']);
  });
  it('an error mid-write leaves no output and no temp file, and no stray stream error', async () => {
    const d = tmp();
    const f = path.join(d, 'out.txt');
    // abort right after the first write, before the file has even been opened (regression: the
    // buffered write used to fail after destroy() as an uncaught ERR_STREAM_DESTROYED)
    await expect(
      withAtomicWriter(f, async (w) => {
        await w.write('header\n');
        throw new Error('bad input');
      }),
    ).rejects.toThrow('bad input');
    const w = new AtomicWriter(f);
    void w.write('x'.repeat(1 << 20));
    await w.abort();
    await new Promise((r) => setTimeout(r, 50));
    expect(fs.readdirSync(d)).toEqual([]);
  });
  it('an existing output is replaced only on success', async () => {
    const d = tmp();
    const f = path.join(d, 'out.txt');
    writeFileAtomic(f, 'old');
    await expect(
      withAtomicWriter(f, async (w) => {
        await w.write('new');
        throw new Error('fail');
      }),
    ).rejects.toThrow('fail');
    expect(fs.readFileSync(f, 'utf8')).toBe('old');
  });
});
