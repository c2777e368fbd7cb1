/**
 * Issue 14's failure table, one regression test per row fixed here: outputs never replace inputs,
 * .gz outputs are gzip, closed pipes end quietly, bad output paths are one line (exit 1), temp files
 * are removed on SIGTERM and stale ones of dead processes are cleaned, huge durations are rejected
 * at the boundary. No case exits 70.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';

const BIN = path.join(REPO_ROOT, 'bin', 'stepfit.js');
const SAMPLE = path.join(REPO_ROOT, 'data', 'sample', 'steps.jsonl');
const M = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'];
let dir: string;
const temps = (d: string): string[] => fs.readdirSync(d).filter((n) => n.includes('.tmp-'));

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-robust-'));
  fs.copyFileSync(SAMPLE, path.join(dir, 's.jsonl'));
});

describe('row 1: --out is one of the inputs', () => {
  it.each([
    ['fit', (s: string) => ['fit', '--steps', s, ...M, '--out', s]],
    ['features', (s: string) => ['features', '--steps', s, ...M, '--out', s]],
    ['predict', (s: string) => ['predict', '--fit', s, '--steps', s, ...M, '--out', s]],
    ['export', (s: string) => ['export', '--fit', s, '--to', 'json', '--out', s]],
  ])('%s refuses and leaves the input byte-identical', async (_n, args) => {
    const s = path.join(dir, 's.jsonl');
    const before = fs.readFileSync(s);
    const r = await runCli(args(s));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is also the input --(steps|fit): refusing to overwrite an input/);
    expect(fs.readFileSync(s).equals(before)).toBe(true);
  });

  it('through a symbolic link (same inode), and two outputs naming one file', async () => {
    const s = path.join(dir, 's.jsonl');
    fs.symlinkSync(s, path.join(dir, 'link.jsonl'));
    const r = await runCli(['features', '--steps', s, ...M, '--out', path.join(dir, 'link.jsonl')]);
    expect(r.code).toBe(1);
    const x = path.join(dir, 'X');
    const r2 = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', path.join(REPO_ROOT, 'data/sample/traces.jsonl.gz'), '--out', x, '--targets', x]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/--out and --targets are the same file/);
    expect(fs.existsSync(x)).toBe(false);
  });
});

describe('row 2: .gz outputs are gzip and stepfit reads them back', () => {
  it('sample --out x.jsonl.gz → gzip; features reads it', async () => {
    const out = path.join(dir, 'x.jsonl.gz');
    expect((await runCli(['sample', '--num-steps', '20', '--out', out])).code).toBe(0);
    const buf = fs.readFileSync(out);
    expect(buf[0]).toBe(0x1f);
    expect(buf[1]).toBe(0x8b);
    expect(zlib.gunzipSync(buf).toString().split('\n').filter(Boolean)).toHaveLength(20);
    const r = await runCli(['features', '--steps', out, ...M, '--basis', 'seed', '--out', path.join(dir, 'f.csv')]);
    expect(r.code).toBe(0);
  });
});

describe('row 6: --out is an existing directory or empty', () => {
  it.each([
    ['a directory', 'DIR'],
    ['empty', ''],
  ])('%s → one line, exit 1, no temp file', async (_n, o) => {
    fs.mkdirSync(path.join(dir, 'DIR'));
    const out = o === 'DIR' ? path.join(dir, 'DIR') : '';
    const r = await runCli(['sample', '--num-steps', '10', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/is a directory|empty path/);
    expect(temps(dir)).toEqual([]);
  });
});

describe('row 5: a closed stdout ends quietly', () => {
  it('engine step | (reader closes after one line) → exit 0, no stack trace', () => {
    const r = spawnSync('bash', ['-c', `node ${BIN} engine step --model llama-3.1-8b --gpu h100-sxm --decode 16x512 | head -c 10 >/dev/null; echo "rc=\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/rc=0/);
    expect(r.stderr).not.toMatch(/EPIPE|at .*\.js:\d+/);
  });
});

describe('row 8: temp files are removed on SIGTERM; stale ones of dead processes are cleaned', () => {
  it('SIGTERM during a large sample leaves no temp file', async () => {
    const out = path.join(dir, 'big.jsonl');
    const p = spawn('node', [BIN, 'sample', '--num-steps', '3000000', '--out', out], { stdio: 'ignore' });
    for (let i = 0; i < 100 && temps(dir).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(temps(dir).length).toBe(1);
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    expect(code).toBe(143);
    expect(temps(dir)).toEqual([]);
    expect(fs.existsSync(out)).toBe(false);
  }, 20_000);

  it('a temp file of a process that no longer runs is removed by the next write to the same target', async () => {
    const dead = spawnSync('true').pid!; // exited already
    const stale = path.join(dir, `.x.jsonl.tmp-${dead}-abc123`);
    fs.writeFileSync(stale, 'half');
    expect((await runCli(['sample', '--num-steps', '5', '--out', path.join(dir, 'x.jsonl')])).code).toBe(0);
    expect(fs.existsSync(stale)).toBe(false);
  });
});

describe('row 3: absurd magnitudes are rejected at the boundary', () => {
  it.each(['1e300', '1e-300'])('duration_us %s → one line naming the field, exit 1', async (v) => {
    const f = path.join(dir, 'bad.jsonl');
    const lines = fs.readFileSync(SAMPLE, 'utf8').split('\n').filter(Boolean).slice(0, 50);
    lines[7] = lines[7]!.replace(/"duration_us":[0-9.e+-]+/, `"duration_us":${v}`);
    fs.writeFileSync(f, lines.join('\n') + '\n');
    const r = await runCli(['fit', '--steps', f, ...M, '--basis', 'seed', '--out', path.join(dir, 'fit.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.jsonl:8: .*duration_us/);
    expect(fs.existsSync(path.join(dir, 'fit.json'))).toBe(false);
  });
});

describe('row 10: manifest paths may not leave the manifest folder; errors never echo file content', () => {
  it.each(['../../../../etc/passwd', '/etc/passwd'])('steps: %s → refused naming the manifest and field', async (p) => {
    const m = path.join(dir, 'm.yaml');
    fs.writeFileSync(m, `experiments:\n  - id: a\n    steps: ${p}\n    model: llama-3.1-8b\n    gpu: h100-sxm\n    tp: 1\n`);
    const r = await runCli(['fit', '--manifest', m, '--out', path.join(dir, 'f.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/m\.yaml: field 'experiments\.0\.steps': path .* leaves the manifest's folder/);
    const r2 = await runCli(['fit', '--manifest', m, '--allow-outside', '--out', path.join(dir, 'f.json')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).not.toMatch(/root:/);
  });
});

describe('row 11: absurd coefficients in a fit file are refused, not predicted as Infinity', () => {
  it('predict and report refuse a 1e308 coefficient naming the field', async () => {
    const s = path.join(dir, 's.jsonl');
    const f = path.join(dir, 'fit.json');
    expect((await runCli(['fit', '--steps', s, ...M, '--basis', 'seed', '--out', f])).code).toBe(0);
    const fit = JSON.parse(fs.readFileSync(f, 'utf8'));
    fit.terms[0].coef = 1e308;
    fs.writeFileSync(f, JSON.stringify(fit));
    for (const args of [
      ['predict', '--fit', f, '--steps', s, ...M, '--out', path.join(dir, 'p.csv')],
      ['report', '--fit', f, '--steps', s, ...M, '--out', path.join(dir, 'rep')],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/field 'terms\[0\]\.coef' .*beyond/);
    }
    expect(fs.existsSync(path.join(dir, 'p.csv'))).toBe(false);
  });
});

describe('row 16: no MaxListenersExceededWarning on large outputs', () => {
  it('reconstruct of the sample trace prints no warning', () => {
    const r = spawnSync('node', [BIN, 'reconstruct', '--format', 'vllm-otlp', '--in', path.join(REPO_ROOT, 'data/sample/traces.jsonl.gz'), '--out', path.join(dir, 't.jsonl')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/Warning/);
  });
});

describe('row 9: requests the KV cache can never hold are reported dropped, not a stall', () => {
  it('every request too long for the KV cache → exit 0, all dropped with a reason', async () => {
    const out = path.join(dir, 'sim');
    const r = await runCli(['simulate', '--engine', ...M, '--workload', 'poisson:requests=5,rate=5,input=64,output=8', '--num-gpu-blocks', '2', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/0 finished, 5 dropped/);
    const rows = fs.readFileSync(path.join(out, 'requests.csv'), 'utf8').trim().split('\n').slice(1);
    expect(rows).toHaveLength(5);
    for (const row of rows) expect(row.split(',')[2]).toBe('dropped');
  });
});

describe('row 12: one exit-code rule — a malformed option value is a usage error (exit 2), one line prefixed stepfit:', () => {
  it.each([
    ['--lambda', '-1'],
    ['--bounds', ':::'],
    ['--bootstrap', '-1'],
    ['--cv', 'kfold:x'],
    ['--huber-k', '-3'],
  ])('fit %s %s → exit 2', async (flag, v) => {
    const r = await runCli(['fit', '--steps', path.join(dir, 's.jsonl'), ...M, '--method', 'huber', flag, v, '--out', path.join(dir, 'f.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^stepfit: error: /);
  });
});

describe('row 4 and 14/15: endless lines, byte-order marks and non-UTF-8 bytes', () => {
  it('--steps /dev/zero fails fast with a line-length error (fit and features; 64 MiB cap)', async () => {
    for (const cmd of ['fit', 'features']) {
      const r = spawnSync('node', [BIN, cmd, '--steps', '/dev/zero', ...M, '--out', path.join(dir, `z-${cmd}`)], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, `${cmd}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/\/dev\/zero:1: line longer than \d+ MiB without a newline/);
    }
  }, 60_000);

  it('a UTF-8 BOM is accepted; bytes that are not UTF-8 are an error naming the line', async () => {
    const bom = path.join(dir, 'bom.jsonl');
    fs.writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fs.readFileSync(SAMPLE).subarray(0, 20000)]));
    const lines = fs.readFileSync(bom, 'utf8').split('\n');
    fs.writeFileSync(bom, lines.slice(0, -1).join('\n') + '\n'); // whole lines only
    for (const cmd of ['fit', 'features']) {
      const r = await runCli([cmd, '--steps', bom, ...M, '--basis', 'seed', '--out', path.join(dir, `b-${cmd}`)]);
      expect(r.code, r.stderr).toBe(0);
    }
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(bad, Buffer.concat([Buffer.from('{"experiment":"e","step":0,"duration_us":5,"decode":[5]}\n'), Buffer.from([0xff, 0xfe, 0x0a])]));
    const r = await runCli(['features', '--steps', bad, ...M, '--out', path.join(dir, 'f.csv')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.jsonl:2: not valid UTF-8/);
  });
});

describe('row 13: --skip-bad on features and fit', () => {
  it('skips the bad lines, says how many, and uses the rest', async () => {
    const f = path.join(dir, 'mixed.jsonl');
    const lines = fs.readFileSync(SAMPLE, 'utf8').split('\n').filter(Boolean).slice(0, 60);
    lines[3] = 'not json';
    lines[9] = lines[9]!.replace(/"duration_us":[0-9.e+-]+/, '"duration_us":-5');
    fs.writeFileSync(f, lines.join('\n') + '\n');
    for (const cmd of ['features', 'fit']) {
      const strict = await runCli([cmd, '--steps', f, ...M, '--basis', 'seed', '--out', path.join(dir, `${cmd}-strict`)]);
      expect(strict.code).toBe(1);
      const r = await runCli([cmd, '--steps', f, ...M, '--basis', 'seed', '--skip-bad', '--out', path.join(dir, `${cmd}-out`)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/--skip-bad: skipped 2 bad lines/);
      expect(r.stderr).toMatch(/mixed\.jsonl:4: not valid JSON/);
      expect(r.stderr).toMatch(/mixed\.jsonl:10: field 'duration_us'/);
    }
    expect(fs.readFileSync(path.join(dir, 'features-out'), 'utf8').trim().split('\n')).toHaveLength(1 + 58);
  });
});

describe('row 7: an unwritable trace output is one line, no stack trace, no temp file', () => {
  it('simulate --emit-trace into a path under a regular file → exit 1', async () => {
    fs.writeFileSync(path.join(dir, 'afile'), 'x');
    const r = await runCli([
      'simulate',
      '--engine',
      ...M,
      '--workload',
      'poisson:requests=5,rate=5,input=64,output=8',
      '--emit-trace',
      'vllm-otlp',
      '--trace-out',
      path.join(dir, 'afile', 't.jsonl.gz'),
      '--out',
      path.join(dir, 'sim'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stepfit: error: cannot write trace/);
    expect(temps(dir)).toEqual([]);
  });
});
