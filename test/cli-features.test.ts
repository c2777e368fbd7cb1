import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'cli-'));
const SAMPLE = path.join(REPO_ROOT, 'data', 'sample', 'steps.jsonl');

describe('stepfit features', () => {
  it('writes the seed columns in order, one row per step', async () => {
    const d = tmp();
    const out = path.join(d, 'f.csv');
    const r = await runCli(['features', '--steps', SAMPLE, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', out]);
    expect(r.code).toBe(0);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('experiment,step,duration_us,t_pf_compute,t_pf_kv,t_dc_compute,t_dc_kv,t_weight,t_tp,num_layers,batch_size');
    const n = fs.readFileSync(SAMPLE, 'utf8').trim().split('\n').length;
    expect(lines.length).toBe(n + 1);
    expect(lines[1]!.split(',')[9]).toBe('32');
  });
  it('--help lists every option with defaults; top-level help lists commands', async () => {
    const r = await runCli(['features', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--tp <n>.*\(default: 1\)/s);
    const top = await runCli(['--help']);
    expect(top.stdout).toMatch(/features/);
  });
  const bad = async (args: string[], pattern: RegExp, code = 1): Promise<void> => {
    const d = tmp();
    const out = path.join(d, 'f.csv');
    const r = await runCli([...args.map((a) => a.replace('$D', d)), '--out', out]);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    expect(r.stderr).toMatch(pattern);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(d).filter((f) => f.includes('tmp'))).toEqual([]);
  };
  it('malformed JSON line → file:line, exit 1, no output', async () => {
    const d = tmp();
    const f = path.join(d, 's.jsonl');
    fs.writeFileSync(f, fs.readFileSync(SAMPLE, 'utf8').split('\n').slice(0, 50).join('\n') + '\n{"step": 3,\n');
    await bad(['features', '--steps', f, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'], new RegExp(`s\\.jsonl:51: not valid JSON`));
  });
  it('negative tokens → field named', async () => {
    const d = tmp();
    const f = path.join(d, 's.jsonl');
    fs.writeFileSync(f, '{"experiment":"e","step":0,"prefill":[{"tokens":-1,"prior":0}],"decode":[]}\n');
    await bad(['features', '--steps', f, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'], /s\.jsonl:1: field 'prefill\[0\]\.tokens'/);
  });
  it('missing config field → file and field named', async () => {
    const d = tmp();
    const cfg = path.join(d, 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ model_type: 'llama', num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64 }));
    await bad(['features', '--steps', SAMPLE, '--model', cfg, '--gpu', 'h100-sxm'], /config\.json: missing required field 'hidden_size'/);
  });
  it('unknown GPU id', async () => {
    await bad(['features', '--steps', SAMPLE, '--model', 'llama-3.1-8b', '--gpu', 'h900'], /unknown GPU id 'h900'/);
  });
  it('TP that does not divide heads', async () => {
    await bad(['features', '--steps', SAMPLE, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '3'], /TP 3 does not divide field 'num_attention_heads' \(32\)/);
  });
  it('usage errors exit 2 with one line', async () => {
    await bad(['features', '--steps', SAMPLE, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--bogus'], /unknown option '--bogus'/, 2);
    await bad(['features', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'], /required option '--steps <path>' not specified/, 2);
    await bad(['features', '--steps', SAMPLE, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', 'x'], /option '--tp' expects an integer/, 2);
  });
  it('the installed bin runs from a subprocess (built dist)', () => {
    const bin = path.join(REPO_ROOT, 'bin', 'stepfit.js');
    if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'cli', 'main.js'))) {
      if (process.env['CI']) throw new Error('dist/ missing: npm ci should build it (prepare script)');
      console.warn('skipping: dist/ not built (run npm run build)');
      return;
    }
    const r = spawnSync(process.execPath, [bin, 'nonsense-command'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    const h = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(h.status).toBe(0);
  });
});
