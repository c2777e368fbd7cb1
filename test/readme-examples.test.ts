/**
 * Runs the README's "Try every command" block (between <!-- try:begin --> and <!-- try:end -->)
 * in-process, in order, with /tmp/stepfit-try replaced by a fresh temp dir: the README stays true.
 * Each line exits 0 unless it ends in a comment `# exits N`; none prints a warning or a deprecation note.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { REPO_ROOT, haveShared } from './support/shared.js';

interface Example {
  readonly args: string[];
  /** Expected exit code: 0, or N from a trailing `# exits N`. */
  readonly exit: number;
}

/** One README command line: its arguments (shell quotes removed) and its expected exit code. */
function parseExample(line: string): Example {
  const m = /\s+#\s*exits\s+(\d+)\s*$/.exec(line);
  const cmd = m ? line.slice(0, m.index) : line;
  const args: string[] = [];
  for (const a of cmd.slice('npx stepfit '.length).matchAll(/'([^']*)'|(\S+)/g)) args.push(a[1] ?? a[2]!);
  return { args, exit: m ? Number(m[1]) : 0 };
}

function readmeCommands(): Example[] {
  const md = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = md.slice(md.indexOf('<!-- try:begin -->'), md.indexOf('<!-- try:end -->'));
  return block
    .split('\n')
    .filter((l) => l.startsWith('npx stepfit '))
    .map(parseExample);
}

describe('README examples', () => {
  it.skipIf(!haveShared('Mutinifni__splitwise-sim/data/perf_model.csv'))(
    'every command of the "Try every command" block runs, exits as stated (0 unless `# exits N`) and prints no warning',
    async () => {
      const cmds = readmeCommands();
      expect(cmds.length).toBeGreaterThanOrEqual(15);
      const names = new Set(cmds.map((c) => c.args[0]));
      for (const c of ['demo', 'reconstruct', 'features', 'fit', 'evaluate', 'predict', 'report', 'export', 'validate', 'engine', 'simulate', 'sample']) expect(names, c).toContain(c);
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-try-'));
      const demoOut = path.join(tmp, 'demo');
      const cwd = process.cwd();
      process.chdir(REPO_ROOT);
      try {
        for (const c of cmds) {
          const args = c.args.map((a) => a.replaceAll('/tmp/stepfit-try', tmp).replace(/^reports\/demo/, demoOut));
          const r = await runCli(args);
          const what = `stepfit ${args.join(' ')}\n${r.stderr}`;
          expect(r.code, what).toBe(c.exit);
          expect(r.stderr, what).not.toMatch(/\bwarning\b|deprecated/i);
          expect(r.stdout, what).not.toMatch(/\bwarning:/i);
        }
      } finally {
        process.chdir(cwd);
      }
      expect(fs.existsSync(path.join(tmp, 'report', 'index.html'))).toBe(true);
    },
    180_000,
  );
});

describe('README example lines', () => {
  it('quotes are removed and a trailing `# exits N` sets the expected exit code', () => {
    expect(parseExample("npx stepfit predict --grid 'batch=1;context=2' --out x")).toEqual({ args: ['predict', '--grid', 'batch=1;context=2', '--out', 'x'], exit: 0 });
    expect(parseExample('npx stepfit validate --suite x --check   # exits 1')).toEqual({ args: ['validate', '--suite', 'x', '--check'], exit: 1 });
  });
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
