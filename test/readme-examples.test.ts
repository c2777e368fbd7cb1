/**
 * Runs the README's "Try every command" block (between <!-- try:begin --> and <!-- try:end -->)
 * in-process, in order, with /tmp/stepfit-try replaced by a fresh temp dir: the README stays true.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';

/** Commands of the block; a trailing `# exit N` comment names the exit code the command must return (default 0). */
function readmeCommands(): { args: string[]; exit: number }[] {
  const md = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = md.slice(md.indexOf('<!-- try:begin -->'), md.indexOf('<!-- try:end -->'));
  return block.split('\n').filter((l) => l.startsWith('npx stepfit ')).map((l) => {
    const hash = l.search(/\s#\s/);
    const cmd = hash < 0 ? l : l.slice(0, hash);
    const exit = hash < 0 ? 0 : Number(/#\s*exit (\d+)/.exec(l.slice(hash))?.[1] ?? 0);
    const args: string[] = [];
    for (const m of cmd.slice('npx stepfit '.length).matchAll(/'([^']*)'|(\S+)/g)) args.push(m[1] ?? m[2]!);
    return { args, exit };
  });
}

describe('README examples', () => {
  it('every command of the "Try every command" block runs and exits with its stated code (0 unless `# exit N`), with no ../shared', async () => {
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
        expect(r.code, `stepfit ${args.join(' ')}\n${r.stderr}`).toBe(c.exit);
        expect(r.stderr, `stepfit ${args.join(' ')}`).not.toMatch(/deprecated/i);
      }
    } finally {
      process.chdir(cwd);
    }
    expect(fs.existsSync(path.join(tmp, 'report', 'index.html'))).toBe(true);
  }, 180_000);
});
