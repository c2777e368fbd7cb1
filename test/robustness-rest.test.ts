/**
 * Issue 14, the remaining rows: unknown keys in stepfit's own formats (row 14) are refused with a
 * "did you mean"; --skip-bad on every command that reads step records (row 13); meta.json with a
 * negative limit and an unknown basis in `evaluate` name the right file and field (row 15).
 * (Row 17, report memory: test/report-sketch.test.ts and `npm run bench -- report`.)
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';
import { levenshtein, closest } from '../src/io/keys.js';

const SAMPLE = path.join(REPO_ROOT, 'data', 'sample', 'steps.jsonl');
const M = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'];
let dir: string;
let fit: string;
let mixed: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-robust-rest-'));
  const lines = fs.readFileSync(SAMPLE, 'utf8').split('\n').filter(Boolean).slice(0, 80);
  fs.writeFileSync(path.join(dir, 'ok.jsonl'), lines.join('\n') + '\n');
  fit = path.join(dir, 'fit.json');
  const r = await runCli(['fit', '--steps', path.join(dir, 'ok.jsonl'), ...M, '--basis', 'seed', '--out', fit]);
  expect(r.code, r.stderr).toBe(0);
  lines[3] = 'not json';
  lines[9] = lines[9]!.replace(/"duration_us":[0-9.e+-]+/, '"duration_us":-5');
  mixed = path.join(dir, 'mixed.jsonl');
  fs.writeFileSync(mixed, lines.join('\n') + '\n');
});

describe('row 14: unknown keys in stepfit formats are refused with a did-you-mean', () => {
  it('edit distance and the closest key', () => {
    expect(levenshtein('stpes', 'steps')).toBe(2);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(closest('stpes', ['id', 'steps', 'model', 'gpu', 'tp'])).toBe('steps');
    expect(closest('Groups', ['groups'])).toBe('groups');
    expect(closest('wholly-different', ['id', 'steps'])).toBeUndefined();
  });

  it('manifest: a misspelt entry key or top-level key → exit 1 naming file, key and the suggestion', async () => {
    const m = path.join(dir, 'm.yaml');
    fs.writeFileSync(m, 'experiments:\n  - id: a\n    stpes: ok.jsonl\n    model: llama-3.1-8b\n    gpu: h100-sxm\n    tp: 1\n');
    const r = await runCli(['fit', '--manifest', m, '--out', path.join(dir, 'm-fit.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/m\.yaml: unknown key 'experiments\.0\.stpes' \(did you mean 'steps'\?\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    fs.writeFileSync(m, 'experiment:\n  - id: a\n    steps: ok.jsonl\n    model: llama-3.1-8b\n    gpu: h100-sxm\n    tp: 1\n');
    const r2 = await runCli(['evaluate', '--fit', fit, '--manifest', m]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/m\.yaml: unknown key 'experiment' \(did you mean 'experiments'\?\)/);
    fs.writeFileSync(m, 'experiments:\n  - id: a\n    steps: ok.jsonl\n    model: llama-3.1-8b\n    gpu: h100-sxm\n    tp: 1\n    colour: blue\n');
    const r3 = await runCli(['evaluate', '--fit', fit, '--manifest', m]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/unknown key 'experiments\.0\.colour' \(known keys: id, steps, model, gpu, tp, groups, targets\)/);
    // the documented keys (targets included) still load
    fs.writeFileSync(m, 'experiments:\n  - id: a\n    steps: ok.jsonl\n    model: llama-3.1-8b\n    gpu: h100-sxm\n    tp: 1\n    groups: {workload: chat}\n');
    expect((await runCli(['evaluate', '--fit', fit, '--manifest', m])).code).toBe(0);
  });

  it('GPU datasheet (own layout): a misspelt figure is refused, not ignored; the bundled sheets load', async () => {
    const sheet = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'configs', 'hardware', 'h100-sxm.json'), 'utf8')) as Record<string, unknown>;
    const { scaleUpGBs, ...rest } = sheet;
    const bad = path.join(dir, 'gpu.json');
    fs.writeFileSync(bad, JSON.stringify({ ...rest, scaleUpGB: scaleUpGBs }));
    const r = await runCli(['features', '--steps', path.join(dir, 'ok.jsonl'), '--model', 'llama-3.1-8b', '--gpu', bad, '--out', path.join(dir, 'f.csv')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/gpu\.json: unknown key 'scaleUpGB' \(did you mean 'scaleUpGBs'\?\)/);
    fs.writeFileSync(bad, JSON.stringify({ ...sheet, memBandwidthTBs: { value: 3.35, sorce: 'x' } }));
    const r2 = await runCli(['features', '--steps', path.join(dir, 'ok.jsonl'), '--model', 'llama-3.1-8b', '--gpu', bad, '--out', path.join(dir, 'f.csv')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/unknown key 'memBandwidthTBs\.sorce' \(did you mean 'source'\?\)/);
    for (const f of fs.readdirSync(path.join(REPO_ROOT, 'configs', 'hardware')).filter((x) => x.endsWith('.json'))) {
      const ok = await runCli(['engine', 'step', '--model', 'llama-3.1-8b', '--gpu', f.replace(/\.json$/, ''), '--decode', '8x512', '--ignore-memory']);
      expect(ok.stderr, f).not.toMatch(/unknown key/);
    }
  });
});

describe('row 13: --skip-bad on predict, evaluate, report and engine step', () => {
  const cases: [string, (o: string, extra: string[]) => string[]][] = [
    ['predict', (o, x) => ['predict', '--fit', fit, '--steps', mixed, ...M, '--out', o, ...x]],
    ['evaluate', (_o, x) => ['evaluate', '--fit', fit, '--steps', mixed, ...M, ...x]],
    ['engine step', (o, x) => ['engine', 'step', '--steps', mixed, ...M, '--out', o, ...x]],
  ];
  it.each(cases)('%s: without it the first bad line stops the run; with it the rest is used and the skipped lines summarised', async (name, args) => {
    const o = path.join(dir, `${name.replace(' ', '-')}.csv`);
    const strict = await runCli(args(o, []));
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/mixed\.jsonl:4: not valid JSON/);
    const r = await runCli(args(o, ['--skip-bad']));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--skip-bad: skipped 2 bad lines/);
    expect(r.stderr).toMatch(/mixed\.jsonl:4: not valid JSON/);
    expect(r.stderr).toMatch(/mixed\.jsonl:10: field 'duration_us'/);
    if (name !== 'evaluate') expect(fs.readFileSync(o, 'utf8').trim().split('\n')).toHaveLength(1 + 78);
    else expect(r.stdout).toMatch(/on 78 rows/);
  });

  it('report: each bad line is listed once although the seed refit and the report pass both read it', async () => {
    const out = path.join(dir, 'rep');
    const strict = await runCli(['report', '--fit', fit, '--steps', mixed, ...M, '--out', out, '--no-engine']);
    expect(strict.code).toBe(1);
    expect(fs.existsSync(out)).toBe(false);
    const r = await runCli(['report', '--fit', fit, '--steps', mixed, ...M, '--out', out, '--no-engine', '--skip-bad']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--skip-bad: skipped 2 bad lines:\n {2}- .*mixed\.jsonl:4: not valid JSON/);
    expect(r.stderr).toMatch(/report: 78 steps/);
  });
});

describe('row 15: the message names the right file and field', () => {
  it('meta.json with a negative limit → exit 1 naming meta.json and the field', async () => {
    const src = path.join(REPO_ROOT, 'data/vendor/casys-kaist__LLMServingSim/bench/examples/RTX4090/Llama-3.1-8B/vllm');
    const d = path.join(dir, 'rl');
    fs.mkdirSync(d);
    fs.copyFileSync(path.join(src, 'requests.jsonl'), path.join(d, 'requests.jsonl'));
    const meta = JSON.parse(fs.readFileSync(path.join(src, 'meta.json'), 'utf8')) as { engine_kwargs: Record<string, unknown>; kv_cache: Record<string, unknown> };
    meta.engine_kwargs['max_num_batched_tokens'] = -2048;
    fs.writeFileSync(path.join(d, 'meta.json'), JSON.stringify(meta));
    const r = await runCli(['reconstruct', '--format', 'request-log', '--in', d, '--out', path.join(dir, 'rl-steps.jsonl')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/meta\.json: field 'engine_kwargs\.max_num_batched_tokens': expected a positive integer, got -2048/);
    meta.engine_kwargs['max_num_batched_tokens'] = 2048;
    meta.kv_cache['block_size'] = 0;
    fs.writeFileSync(path.join(d, 'meta.json'), JSON.stringify(meta));
    const r2 = await runCli(['reconstruct', '--format', 'request-log', '--in', d, '--out', path.join(dir, 'rl-steps.jsonl')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/meta\.json: field 'kv_cache\.block_size': expected a positive integer, got 0/);
    expect(fs.existsSync(path.join(dir, 'rl-steps.jsonl'))).toBe(false);
  });

  it('evaluate with a fit file of an unknown basis → exit 1 naming the fit file', async () => {
    const f = path.join(dir, 'mystery.json');
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(fit, 'utf8')), basis: 'mystery' }));
    const r = await runCli(['evaluate', '--fit', f, '--steps', path.join(dir, 'ok.jsonl'), ...M]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/mystery\.json: field 'basis': unknown basis 'mystery' \(known: seed, /);
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(fit, 'utf8')), basis: 'rooflin' }));
    const r2 = await runCli(['evaluate', '--fit', f, '--steps', path.join(dir, 'ok.jsonl'), ...M]);
    expect(r2.stderr).toMatch(/field 'basis': unknown basis 'rooflin' \(did you mean 'roofline'\?\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
