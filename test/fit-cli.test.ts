import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { runCli } from './support/cli.js';
import { readFitFile } from '../src/fit/fitfile.js';

const SAMPLE = 'data/sample/steps.jsonl';
const ONE = ['--steps', SAMPLE, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1'];
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-fit-cli-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('stepfit fit / evaluate on the bundled sample (llama-3.1-8b, h100-sxm, TP 1)', () => {
  it('seed basis: coefficient table, identifiability notes, train and CV metrics; a valid fit file', async () => {
    const out = path.join(dir, 'seed.json');
    const r = await runCli(['fit', ...ONE, '--basis', 'seed', '--cv', 'kfold:5', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^term\s+coef\s+±se\s+95% CI\s+status$/m);
    for (const t of ['prefill', 'decode', 'weight', 'tp', 'layers', 'batch', 'constant']) expect(r.stdout).toMatch(new RegExp(`^${t}\\s`, 'm'));
    expect(r.stdout).toMatch(/^layers\s+0\s+—\s+—\s+merged:constant$/m);
    expect(r.stdout).toMatch(/^tp\s+0\s+—\s+—\s+dropped$/m);
    expect(r.stdout).toMatch(/not separately identifiable; merged into 'constant'/);
    expect(r.stdout).toMatch(/^train: MAPE \d+\.\d\d%/m);
    expect(r.stdout).toMatch(/^cv kfold:5 \(seed 1\): MAPE \d+\.\d\d%/m);
    const fit = readFitFile(out);
    expect(fit.basis).toBe('seed');
    expect(fit.terms.map((t) => t.name)).toEqual(['prefill', 'decode', 'weight', 'tp', 'layers', 'batch', 'constant']);
    expect(fit.method).toMatchObject({ name: 'nnls', weight: 'relative' });
    expect(fit.metrics.cv!.folds).toHaveLength(5);
    expect(fit.diagnostics.merged).toContainEqual({ term: 'layers', into: 'constant' });
    const sha = crypto.createHash('sha256').update(fs.readFileSync(SAMPLE)).digest('hex');
    expect(fit.provenance.inputs).toContainEqual({ path: SAMPLE, sha256: sha });
    expect(fit.provenance.commandLine).toMatch(/^stepfit fit --steps data\/sample\/steps.jsonl .* --basis seed --cv kfold:5 --out /);
    expect(fit.covariance).toHaveLength(49);
    expect(fit.experiments[0]).toMatchObject({ id: 'llama-3.1-8b-h100-sxm-tp1', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, rows: 2000 });
    // evaluate on the same data reproduces the training metrics
    const ev = await runCli(['evaluate', '--fit', out, ...ONE, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const j = JSON.parse(ev.stdout) as { overall: { mape: number; n: number } };
    expect(j.overall.n).toBe(2000);
    expect(j.overall.mape).toBeCloseTo(fit.metrics.train.overall.mape, 10);
    const txt = await runCli(['evaluate', '--fit', out, ...ONE]);
    expect(txt.stdout).toMatch(/^overall: MAPE \d+\.\d\d%  median/m);
  });

  it('reproducible: same inputs and seed → byte-identical file apart from createdAt', async () => {
    const out = path.join(dir, 'rep.json');
    const args = ['fit', ...ONE, '--basis', 'roofline', '--method', 'huber', '--cv', 'kfold:3', '--seed', '4', '--bootstrap', '20', '--out', out];
    expect((await runCli(args)).code).toBe(0);
    const a = fs.readFileSync(out, 'utf8');
    expect((await runCli(args)).code).toBe(0);
    const b = fs.readFileSync(out, 'utf8');
    const strip = (s: string): string => s.replace(/"createdAt": "[^"]*"/, '"createdAt": ""');
    expect(strip(a)).toBe(strip(b));
    expect(a).toMatch(/"createdAt": "\d{4}-/);
  });

  it('--json prints the fit file; methods ols / ridge / bounded run from the CLI', async () => {
    const j = await runCli(['fit', ...ONE, '--basis', 'seed', '--method', 'ols', '--weight', 'none', '--json']);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ basis: 'seed', method: { name: 'ols', weight: 'none' } });
    expect(j.stderr).toMatch(/no --out: nothing written/);
    const rg = await runCli(['fit', ...ONE, '--basis', 'seed', '--method', 'ridge', '--lambda', '1e9', '--json']);
    const rf = JSON.parse(rg.stdout) as { terms: { name: string; coef: number }[] };
    expect(rf.terms.find((t) => t.name === 'prefill')!.coef).toBeCloseTo(1, 4);
    expect(rf.terms.find((t) => t.name === 'constant')!.coef).toBeCloseTo(0, 2);
    const bd = await runCli(['fit', ...ONE, '--basis', 'seed', '--method', 'bounded', '--bounds', 'prefill=0.9:1.1,decode=0:', '--json']);
    expect(bd.code, bd.stderr).toBe(0);
    const bf = JSON.parse(bd.stdout) as { terms: { name: string; coef: number; status: string }[] };
    const pf = bf.terms.find((t) => t.name === 'prefill')!;
    expect(pf.coef).toBeGreaterThanOrEqual(0.9 - 1e-12);
    expect(pf.coef).toBeLessThanOrEqual(1.1 + 1e-12);
  });
});

describe('step inputs: gzip, directories, CRLF', () => {
  it('serving basis (default): the knee is not identifiable at TP 1 → default 2.63 MiB, said in the output and the file; --basis-param fixes it', async () => {
    const out = path.join(dir, 'serving.json');
    const r = await runCli(['fit', ...ONE, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^basis parameter tp_comm_knee_mib = 2\.63 MiB \(default\)$/m);
    expect(r.stdout).toMatch(/tp_comm_knee_mib = 2\.63 MiB \(default\): not identifiable: 'tp_comm_large' is 0 on every training row/);
    const fit = readFitFile(out);
    expect(fit.basisVersion).toBe(4);
    expect(fit.basisParams).toEqual({ tp_comm_knee_mib: 2.63 });
    const g = await runCli(['fit', ...ONE, '--basis-param', 'tp_comm_knee_mib=8', '--json']);
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).basisParams).toEqual({ tp_comm_knee_mib: 8 });
    const bad = await runCli(['fit', ...ONE, '--basis-param', 'knee=8']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe("stepfit: error: --basis-param: unknown parameter 'knee' for basis 'serving' (parameters: tp_comm_knee_mib)");
  });

  it('a .jsonl.gz file, a directory of files, and CRLF line ends give the same fit as the plain file', async () => {
    const text = fs.readFileSync(SAMPLE, 'utf8');
    const gz = path.join(dir, 'steps.jsonl.gz');
    fs.writeFileSync(gz, zlib.gzipSync(text));
    const sub = path.join(dir, 'stepdir');
    fs.mkdirSync(sub, { recursive: true });
    const lines = text.trim().split('\n');
    fs.writeFileSync(path.join(sub, 'a.jsonl'), lines.slice(0, 1000).join('\r\n') + '\r\n');
    fs.writeFileSync(path.join(sub, 'b.jsonl'), lines.slice(1000).join('\n')); // no final newline
    const coefs = async (steps: string): Promise<number[]> => {
      const r = await runCli(['fit', '--steps', steps, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--basis', 'seed', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { terms: { coef: number }[] }).terms.map((t) => t.coef);
    };
    const plain = await coefs(SAMPLE);
    expect(await coefs(gz)).toEqual(plain);
    expect(await coefs(sub)).toEqual(plain);
  });
  it('a bad line in a gzipped file is reported with its line number', async () => {
    const lines = fs.readFileSync(SAMPLE, 'utf8').trim().split('\n');
    lines[41] = '{"experiment":"e","step":41,"duration_us":-3,"prefill":[],"decode":[5]}';
    const gz = path.join(dir, 'bad.jsonl.gz');
    fs.writeFileSync(gz, zlib.gzipSync(lines.join('\n') + '\n'));
    const r = await runCli(['fit', '--steps', gz, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.jsonl\.gz:42: field 'duration_us': expected a positive finite number/);
  });
});

describe('stepfit fit --manifest (several experiments, labels, request-level targets)', () => {
  it('group CV over models; target rows from a targets file', async () => {
    const a = path.join(dir, 'a.jsonl');
    const b = path.join(dir, 'b.jsonl');
    expect((await runCli(['sample', '--model', 'llama-3.1-8b', '--tp', '2', '--steps', '600', '--seed', '2', '--out', a])).code).toBe(0);
    expect((await runCli(['sample', '--model', 'qwen3-8b', '--steps', '600', '--seed', '3', '--out', b])).code).toBe(0);
    // experiment c: the sample's steps without durations, measured only through request-level targets
    const lines = fs
      .readFileSync(SAMPLE, 'utf8')
      .trim()
      .split('\n')
      .slice(0, 800)
      .map((l) => JSON.parse(l) as { step: number; duration_us: number });
    fs.writeFileSync(
      path.join(dir, 'c.jsonl'),
      lines
        .map((s) => {
          const { duration_us: _d, ...rest } = s;
          return JSON.stringify(rest);
        })
        .join('\n') + '\n',
    );
    const targets: string[] = [];
    for (let s = 0; s + 8 <= lines.length; s += 4) {
      const steps = [s, s + 1, s + 2, s + 3];
      targets.push(JSON.stringify({ experiment: 'c', request: `r${s}`, kind: s % 8 ? 'decode' : 'prefill', steps, duration_us: steps.reduce((x, k) => x + lines[k]!.duration_us, 0) }));
    }
    fs.writeFileSync(path.join(dir, 'c.targets.jsonl'), targets.join('\n') + '\n');
    fs.writeFileSync(
      path.join(dir, 'm.yaml'),
      [
        'experiments:',
        '  - { id: a, steps: a.jsonl, model: llama-3.1-8b, gpu: h100-sxm, tp: 2, groups: { workload: chat } }',
        '  - { id: b, steps: b.jsonl, model: qwen3-8b, gpu: h100-sxm, tp: 1, groups: { workload: code } }',
        '  - { id: c, steps: c.jsonl, targets: c.targets.jsonl, model: llama-3.1-8b, gpu: h100-sxm, tp: 1, groups: { workload: chat } }',
      ].join('\n') + '\n',
    );
    const out = path.join(dir, 'multi.json');
    const r = await runCli(['fit', '--manifest', path.join(dir, 'm.yaml'), '--basis', 'seed', '--cv', 'group:model', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const fit = readFitFile(out);
    expect(fit.experiments.map((e) => [e.id, e.rows])).toEqual([
      ['a', 600],
      ['b', 600],
      ['c', targets.length],
    ]);
    expect(fit.metrics.cv!.folds.map((f) => f.fold)).toEqual(['model=llama-3.1-8b', 'model=qwen3-8b']);
    expect(Object.keys(fit.metrics.train.byGroup['row']!)).toEqual(['step', 'prefill', 'decode']);
    expect(Object.keys(fit.metrics.train.byGroup['workload']!)).toEqual(['chat', 'code']);
    expect(fit.provenance.inputs.map((i) => path.basename(i.path))).toEqual(expect.arrayContaining(['m.yaml', 'a.jsonl', 'c.targets.jsonl', 'llama-3.1-8b.json', 'h100-sxm.json']));
    expect(fit.diagnostics.merged).toEqual([]);
    expect(r.stdout).toMatch(/by workload:/);
  });
});

describe('bad inputs: one clear line, non-zero exit, no fit file', () => {
  const write = (name: string, text: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const expectInputError = async (args: string[], pattern: RegExp, code = 1): Promise<void> => {
    const out = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.json`);
    const r = await runCli([...args, '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(code);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(out)).toBe(false);
  };
  const model = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1'];
  it('empty step file', async () => {
    const f = write('empty.jsonl', '');
    await expectInputError(['fit', '--steps', f, ...model], /^stepfit: error: .*empty\.jsonl: no step records \(empty file\)$/);
  });
  it('steps without duration_us', async () => {
    const f = write('nodur.jsonl', '{"experiment":"e","step":0,"duration_us":100,"prefill":[],"decode":[5]}\n{"experiment":"e","step":1,"prefill":[],"decode":[6]}\n');
    await expectInputError(['fit', '--steps', f, ...model], /nodur\.jsonl:2: field 'duration_us' missing/);
  });
  it('absurd context lengths are rejected at the boundary (before they overflow the attention FLOPs)', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => `{"experiment":"e","step":${i},"duration_us":${100 + i},"prefill":[],"decode":[${i === 7 ? '1e308' : 50 + i}]}`);
    const f = write('inf.jsonl', rows.join('\n') + '\n');
    await expectInputError(['fit', '--steps', f, ...model, '--basis', 'seed'], /inf\.jsonl:8: field 'decode\[0\]': expected a non-negative integer/);
  });
  it('fewer rows than terms', async () => {
    const f = write('few.jsonl', [0, 1, 2].map((i) => `{"experiment":"e","step":${i},"duration_us":${100 + i},"prefill":[],"decode":[${50 + i}]}`).join('\n') + '\n');
    await expectInputError(['fit', '--steps', f, ...model, '--basis', 'seed'], /too few rows: 3 rows .* for the 7 terms of basis 'seed'/);
  });
  it('not identifiable with --on-collinear fail', async () => {
    await expectInputError(['fit', ...ONE, '--basis', 'seed', '--on-collinear', 'fail'], /not identifiable: .*'layers'/);
  });
  it('usage errors exit 2', async () => {
    await expectInputError(['fit', '--steps', SAMPLE], /--steps needs --model and --gpu/, 2);
    await expectInputError(['fit', '--manifest', 'x.yaml', '--steps', SAMPLE], /--manifest describes the experiments; drop --steps/, 2);
    await expectInputError(['fit', ...ONE, '--method', 'bounded', '--bounds', 'prefill=abc:'], /--bounds: term 'prefill': expected a number/, 2);
    await expectInputError(['fit', ...ONE, '--method', 'nnls', '--lambda', '3'], /--lambda \/ --prior apply to --method ridge/, 2);
  });
  it('evaluate refuses a fit file of an unknown basis', async () => {
    const good = path.join(dir, 'g.json');
    expect((await runCli(['fit', ...ONE, '--basis', 'seed', '--out', good])).code).toBe(0);
    const bad = write('unknown-basis.json', fs.readFileSync(good, 'utf8').replace('"basis": "seed"', '"basis": "nope"'));
    const r = await runCli(['evaluate', '--fit', bad, ...ONE]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown basis 'nope'/);
  });
});
