/**
 * Runs the README's "Try every command" block (between <!-- try:begin --> and <!-- try:end -->)
 * in-process, in order, with /tmp/stepfit-try replaced by a fresh temp dir: the README stays true.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { REPO_ROOT, haveShared } from './support/shared.js';

function readmeCommands(): string[][] {
  const md = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = md.slice(md.indexOf('<!-- try:begin -->'), md.indexOf('<!-- try:end -->'));
  return block
    .split('\n')
    .filter((l) => l.startsWith('npx stepfit '))
    .map((l) => {
      const args: string[] = [];
      for (const m of l.slice('npx stepfit '.length).matchAll(/'([^']*)'|(\S+)/g)) args.push(m[1] ?? m[2]!);
      return args;
    });
}

describe('README examples', () => {
  it.skipIf(!haveShared('Mutinifni__splitwise-sim/data/perf_model.csv'))(
    'every command of the "Try every command" block runs and exits 0',
    async () => {
      const cmds = readmeCommands();
      expect(cmds.length).toBeGreaterThanOrEqual(15);
      const names = new Set(cmds.map((c) => c[0]));
      for (const c of ['demo', 'reconstruct', 'features', 'fit', 'evaluate', 'predict', 'report', 'export', 'validate', 'engine', 'simulate', 'sample']) expect(names, c).toContain(c);
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-try-'));
      const demoOut = path.join(tmp, 'demo');
      const cwd = process.cwd();
      process.chdir(REPO_ROOT);
      try {
        for (const c of cmds) {
          const args = c.map((a) => a.replaceAll('/tmp/stepfit-try', tmp).replace(/^reports\/demo/, demoOut));
          const r = await runCli(args);
          expect(r.code, `stepfit ${args.join(' ')}\n${r.stderr}`).toBe(0);
        }
      } finally {
        process.chdir(cwd);
      }
      expect(fs.existsSync(path.join(tmp, 'report', 'index.html'))).toBe(true);
    },
    180_000,
  );
});

describe('docs', () => {
  it('README ≤ 12 KB; every CLI command has a docs/commands page linked from the README', async () => {
    const md = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(12 * 1024);
    const help = await runCli(['--help']);
    const names = [...help.stdout.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]!).filter((n) => n !== 'help');
    expect(names.length).toBeGreaterThanOrEqual(12);
    for (const n of names) {
      expect(fs.existsSync(path.join(REPO_ROOT, 'docs', 'commands', `${n}.md`)), `docs/commands/${n}.md`).toBe(true);
      expect(md, `README links ${n}`).toContain(`docs/commands/${n}.md`);
    }
  });
});
