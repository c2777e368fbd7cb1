/**
 * vitest global setup: every test file (and every CLI process a test spawns) writes its temporary files
 * under one fresh folder (TMPDIR, which os.tmpdir() reads), removed when the run ends — so a test run
 * leaves nothing behind in the machine's temp folder, whether or not each test cleans up after itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-vitest-'));
  const before = process.env['TMPDIR'];
  process.env['TMPDIR'] = dir;
  return () => {
    if (before === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = before;
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
