import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';

const SAMPLE = path.join(REPO_ROOT, 'data', 'sample', 'steps.jsonl');
const ONE = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1'];

describe('evaluate on partly measured steps (sampled traces)', () => {
  it('steps without duration_us are skipped, not an error; all unmeasured is an error', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-'));
    const fit = path.join(dir, 'fit.json');
    expect((await runCli(['fit', '--steps', SAMPLE, ...ONE, '--basis', 'seed', '--out', fit])).code).toBe(0);
    const lines = fs.readFileSync(SAMPLE, 'utf8').trim().split('\n');
    // keep durations on every 10th step only
    const mixed = lines.map((l, i) => (i % 10 === 0 ? l : JSON.stringify({ ...JSON.parse(l), duration_us: undefined })));
    const f = path.join(dir, 'mixed.jsonl');
    fs.writeFileSync(f, mixed.join('\n') + '\n');
    const r = await runCli(['evaluate', '--fit', fit, '--steps', f, ...ONE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\(n ${Math.ceil(lines.length / 10)}\\)`));
    const none = path.join(dir, 'none.jsonl');
    fs.writeFileSync(none, lines.map((l) => JSON.stringify({ ...JSON.parse(l), duration_us: undefined })).join('\n') + '\n');
    const bad = await runCli(['evaluate', '--fit', fit, '--steps', none, ...ONE]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/nothing to evaluate: no step with duration_us/);
  });
});
