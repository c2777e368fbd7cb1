/**
 * Issue 14 regression tests: one per fixed row of the table (rows 1–6, 8, 11), each of
 * which failed on the code before this branch. In-process through `main` except where a real
 * process is needed (signals, closed pipes).
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';
import { cleanStaleTemps } from '../src/io/cleanup.js';

const BIN = path.join(REPO_ROOT, 'bin', 'stepfit.js');
const MG = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'];
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'robust-'));
const temps = (d: string): string[] => fs.readdirSync(d).filter((n) => n.includes('.tmp-'));

async function sample(d: string, n = 60, name = 's.jsonl'): Promise<string> {
  const f = path.join(d, name);
  const r = await runCli(['sample', '--steps', String(n), '--out', f]);
  expect(r.code).toBe(0);
  return f;
}

describe('issue 14 row 1: --out that is an input is refused before reading', () => {
  it('fit --steps s --out s leaves the input untouched, exit 2', async () => {
    const d = tmp();
    const s = await sample(d);
    const before = fs.readFileSync(s, 'utf8');
    const r = await runCli(['fit', '--steps', s, ...MG, '--out', s]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out .* would overwrite the input --steps/);
    expect(fs.readFileSync(s, 'utf8')).toBe(before);
  });
  it('a hard link to the input (same inode) is refused too (features)', async () => {
    const d = tmp();
    const s = await sample(d);
    const link = path.join(d, 'link.csv');
    fs.linkSync(s, link);
    const r = await runCli(['features', '--steps', s, ...MG, '--out', link]);
    expect(r.code).toBe(2);
    expect(fs.readFileSync(s, 'utf8')).toMatch(/^\{/);
  });
  it('export --to json --out <its --fit>, and simulate --trace-out D/steps.jsonl --out D', async () => {
    const d = tmp();
    const s = await sample(d);
    const fit = path.join(d, 'f.json');
    expect((await runCli(['fit', '--steps', s, ...MG, '--out', fit])).code).toBe(0);
    const before = fs.readFileSync(fit, 'utf8');
    expect((await runCli(['export', '--fit', fit, '--to', 'json', '--out', fit])).code).toBe(2);
    expect(fs.readFileSync(fit, 'utf8')).toBe(before);
    const r = await runCli(['simulate', '--synthetic-truth', ...MG, '--workload', 'poisson:requests=5,rate=5,input=64,output=8', '--emit-trace', 'vllm-otlp', '--trace-out', path.join(d, 'sim', 'steps.jsonl'), '--out', path.join(d, 'sim')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/same file/);
  });
  it('reconstruct --out X --targets X is refused', async () => {
    const d = tmp();
    const x = path.join(d, 'x.jsonl');
    const r = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', path.join(d, 'missing.jsonl'), '--out', x, '--targets', x]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/same file/);
  });
});

describe('issue 14 row 2: a .gz output is gzip and reads back', () => {
  it('sample --out x.jsonl.gz', async () => {
    const d = tmp();
    const f = await sample(d, 30, 'x.jsonl.gz');
    const b = fs.readFileSync(f);
    expect([b[0], b[1]]).toEqual([0x1f, 0x8b]);
    expect(zlib.gunzipSync(b).toString('utf8').split('\n').filter(Boolean)).toHaveLength(30);
    expect((await runCli(['fit', '--steps', f, ...MG, '--out', path.join(d, 'f.json')])).code).toBe(0);
  });
});

describe('issue 14 row 3: absurd magnitudes are bad input naming the field (exit 1, not 70)', () => {
  for (const v of ['1e300', '1e-300']) {
    it(`duration_us ${v}`, async () => {
      const d = tmp();
      const s = await sample(d, 20);
      const lines = fs.readFileSync(s, 'utf8').split('\n');
      lines[2] = lines[2]!.replace(/"duration_us":[^,}]+/, `"duration_us":${v}`);
      fs.writeFileSync(s, lines.join('\n'));
      const r = await runCli(['fit', '--steps', s, ...MG, '--out', path.join(d, 'f.json')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/s\.jsonl:3: field 'duration_us'/);
    });
  }
});

describe('issue 14 row 4: an over-long line or a never-ending file fails fast', () => {
  it('a line over the cap is one clear error, exit 1', async () => {
    const d = tmp();
    const f = path.join(d, 'long.jsonl');
    fs.writeFileSync(f, 'a'.repeat(5000) + '\n');
    process.env['STEPFIT_MAX_LINE_BYTES'] = '1000';
    try {
      const r = await runCli(['fit', '--steps', f, ...MG, '--out', path.join(d, 'f.json')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/long\.jsonl:1: line longer than 1000 bytes/);
    } finally { delete process.env['STEPFIT_MAX_LINE_BYTES']; }
  });
  it('--steps /dev/zero is refused as not text', async () => {
    const r = await runCli(['fit', '--steps', '/dev/zero', ...MG, '--out', path.join(tmp(), 'f.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NUL bytes/);
  });
  it('a UTF-8 BOM is accepted', async () => {
    const d = tmp();
    const s = await sample(d, 30);
    fs.writeFileSync(s, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fs.readFileSync(s)]));
    expect((await runCli(['fit', '--steps', s, ...MG, '--out', path.join(d, 'f.json')])).code).toBe(0);
  });
});

describe('issue 14 row 5: a closed stdout ends quietly', () => {
  it('engine step … | head -1: exit 0, no stack trace', () => {
    const r = spawnSync('bash', ['-c', `node ${BIN} engine step --model llama-3.1-8b --gpu h100-sxm --prefill 512 --decode 8x1024 | head -c 1; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(r.status).toBe(0);
  });
});

describe('issue 14 row 6: --out that is a directory or empty', () => {
  it('exit 2 with one line, no temp file', async () => {
    const d = tmp();
    fs.mkdirSync(path.join(d, 'dir'));
    for (const out of [path.join(d, 'dir'), '']) {
      const r = await runCli(['sample', '--steps', '50', '--out', out]);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')).toHaveLength(1);
    }
    expect(temps(d)).toEqual([]);
    expect(temps(path.join(d, 'dir'))).toEqual([]);
  });
});

describe('issue 14 row 7: an unwritable trace destination is bad input, not a stack trace', () => {
  it('simulate --emit-trace with --trace-out under a regular file: exit 1, no temp file', async () => {
    const d = tmp();
    fs.writeFileSync(path.join(d, 'file'), 'x');
    const r = await runCli(['simulate', '--synthetic-truth', ...MG, '--workload', 'poisson:requests=5,rate=5,input=64,output=8', '--emit-trace', 'vllm-otlp', '--trace-out', path.join(d, 'file', 't.jsonl.gz'), '--out', path.join(d, 'sim')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot write trace/);
    expect(temps(d)).toEqual([]);
  });
});

describe('issue 14 row 8: temp files do not outlive the run', () => {
  it('SIGTERM during sample removes its temp file', async () => {
    const d = tmp();
    const child = spawn(process.execPath, [BIN, 'sample', '--steps', '2000000', '--out', path.join(d, 'x.jsonl')], { stdio: 'ignore' });
    // wait until the temp file exists, then terminate
    for (let i = 0; i < 200 && temps(d).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(temps(d).length).toBe(1);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(143);
    expect(fs.readdirSync(d)).toEqual([]);
  }, 30_000);
  it('stale temp files of a dead process are cleaned, live ones kept', async () => {
    const d = tmp();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    fs.writeFileSync(path.join(d, `.x.jsonl.tmp-${dead}-abc123`), 'old');
    fs.writeFileSync(path.join(d, `.x.jsonl.tmp-${process.pid}-def456`), 'mine');
    expect(cleanStaleTemps(d)).toEqual([`.x.jsonl.tmp-${dead}-abc123`]);
    // and writing an output there cleans them as a side effect
    fs.writeFileSync(path.join(d, `.y.csv.tmp-${dead}-aaaaaa`), 'old');
    await sample(d, 10, 'x.jsonl');
    expect(temps(d)).toEqual([`.x.jsonl.tmp-${process.pid}-def456`]);
  });
});

describe('issue 14 row 11: a huge coefficient in a fit file is bad input', () => {
  it('predict refuses coef 1e308 naming the field, exit 1', async () => {
    const d = tmp();
    const s = await sample(d, 40);
    const fit = path.join(d, 'f.json');
    expect((await runCli(['fit', '--steps', s, ...MG, '--out', fit])).code).toBe(0);
    const j = JSON.parse(fs.readFileSync(fit, 'utf8'));
    j.terms[0].coef = 1e308;
    fs.writeFileSync(fit, JSON.stringify(j));
    const r = await runCli(['predict', '--fit', fit, '--steps', s, ...MG, '--out', path.join(d, 'p.csv')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/terms\.0\.coef/);
    expect(fs.existsSync(path.join(d, 'p.csv'))).toBe(false);
  });
});

describe('issue 14: no fixed row exits 70', () => {
  it('none of the cases above is an internal error (checked via the CLI binary for row 3)', () => {
    const d = tmp();
    const s = path.join(d, 's.jsonl');
    fs.writeFileSync(s, '{"experiment":"e","step":0,"duration_us":1e300,"prefill":[],"decode":[100]}\n');
    const r = spawnSync(process.execPath, [BIN, 'fit', '--steps', s, ...MG, '--out', path.join(d, 'f.json')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });
});
