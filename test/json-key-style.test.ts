/**
 * One key style in every JSON document stepfit writes (docs/inputs.md, "JSON key style"): camelCase,
 * unit last (durationUs, makespanS). Keys that are data — term names, basis parameter names, group labels
 * and values, GPU ids, efficiency op names, reconstruct's printed detail labels — keep their own spelling and are skipped by name of the
 * object that holds them. Record streams (step records, targets: `duration_us`) and formats owned by
 * others (vLLM bench results, OTLP, BLIS YAML) are not JSON documents of stepfit and not checked here.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { main } from '../src/cli/main.js';
import { memoryIO } from '../src/cli/io.js';
import { REPO_ROOT } from './support/shared.js';
import { tmpDir } from './predict-fixtures.js';

/** Objects whose keys are data, and how many levels of data keys they hold (byGroup: label → value → metrics). */
const DATA_KEYED: Readonly<Record<string, number>> = {
  coefficients: 1,
  basisParams: 1,
  bounds: 1,
  prior: 1,
  gpus: 1,
  groups: 1,
  labels: 1,
  ops: 1,
  terms: 1,
  byGroup: 2,
  /** reconstruct's summary: format-specific counts under their printed labels ('prefill steps': 12). */
  detail: 1,
};

const CAMEL = /^[a-z][a-zA-Z0-9]*$/;

/** Every key path that is not camelCase (data-keyed objects skipped). */
function offenders(v: unknown, at = '$', skip = 0): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => offenders(x, `${at}[${i}]`, 0));
  if (v === null || typeof v !== 'object') return [];
  const out: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    if (skip === 0 && !CAMEL.test(k)) out.push(`${at}.${k}`);
    const inner = skip > 0 ? skip - 1 : (DATA_KEYED[k] ?? 0);
    out.push(...offenders(x, `${at}.${k}`, inner));
  }
  return out;
}

async function json(args: string[]): Promise<unknown> {
  const io = memoryIO();
  const code = await main(args, io);
  expect(code, `stepfit ${args.join(' ')}\n${io.stderr.join('\n')}`).toBe(0);
  return JSON.parse(io.stdout.join('\n'));
}

describe('JSON key style', () => {
  let dir: string;
  const steps = path.join(REPO_ROOT, 'data', 'sample', 'steps.jsonl');
  const ctx = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'];
  beforeAll(async () => {
    dir = tmpDir();
    const io = memoryIO();
    expect(await main(['fit', '--steps', steps, ...ctx, '--basis', 'seed', '--cv', 'kfold:3', '--out', path.join(dir, 'fit.json')], io), io.stderr.join('\n')).toBe(0);
  });

  it('the checker finds snake_case keys and skips data-keyed objects', () => {
    expect(offenders({ makespan_s: 1, a: { coefficients: { prefill_gemm: 1 }, byGroup: { model: { 'llama-3.1-8b': { medianApe: 1, p90_ape: 2 } } } } })).toEqual([
      '$.makespan_s',
      '$.a.byGroup.model.llama-3.1-8b.p90_ape',
    ]);
  });

  it('fit file, evaluate --json, export --to json', async () => {
    const fit = JSON.parse(fs.readFileSync(path.join(dir, 'fit.json'), 'utf8'));
    expect(offenders(fit)).toEqual([]);
    expect(offenders(await json(['evaluate', '--fit', path.join(dir, 'fit.json'), '--steps', steps, ...ctx, '--json']))).toEqual([]);
    expect(offenders(await json(['export', '--fit', path.join(dir, 'fit.json'), '--to', 'json']))).toEqual([]);
  });

  it('engine step / memory / serve / search / check --json', async () => {
    expect(offenders(await json(['engine', 'search', ...ctx, '--gpus', '2', '--input', '512', '--output', '64', '--json']))).toEqual([]);
    expect(offenders(await json(['engine', 'check', '--fit', path.join(dir, 'fit.json'), ...ctx, '--json']))).toEqual([]);
    expect(offenders(await json(['engine', 'step', ...ctx, '--prefill', '512', '--decode', '4x1024', '--json']))).toEqual([]);
    expect(offenders(await json(['engine', 'memory', ...ctx, '--max-model-len', '8192', '--json']))).toEqual([]);
    expect(offenders(await json(['engine', 'serve', ...ctx, '--input', '512', '--output', '64', '--concurrency', '4', '--json']))).toEqual([]);
  });

  it('reconstruct --json summary', async () => {
    const csv = path.join(REPO_ROOT, 'data', 'vendor', 'Mutinifni__splitwise-sim', 'data', 'perf_model.csv');
    expect(offenders(await json(['reconstruct', '--format', 'sweep', '--in', csv, '--out-dir', path.join(dir, 'sw'), '--json']))).toEqual([]);
  });

  it('simulate summary.json', async () => {
    const io = memoryIO();
    const out = path.join(dir, 'sim');
    const code = await main(['simulate', '--engine', ...ctx, '--workload', 'poisson:requests=20,rate=5,input=128,output=16', '--out', out], io);
    expect(code, io.stderr.join('\n')).toBe(0);
    expect(offenders(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')))).toEqual([]);
  });

  it('validate --json (with its verdict)', async () => {
    const v = (await json(['validate', '--suite', 'splitwise', '--json'])) as { verdict?: unknown };
    expect(v.verdict).toBeDefined();
    expect(offenders(v)).toEqual([]);
  });

  it('published fit cards and the transfer table (fits/)', () => {
    const fits = path.join(REPO_ROOT, 'fits');
    for (const f of fs.readdirSync(fits).filter((n) => n.endsWith('.card.json') || n === 'transfer.json')) {
      expect(offenders(JSON.parse(fs.readFileSync(path.join(fits, f), 'utf8'))), f).toEqual([]);
    }
  });
});
