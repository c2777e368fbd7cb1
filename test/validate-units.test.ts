/** Validation building blocks without real data: sweep parsing, pcap check, bounded Huber fit, CLI errors. */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSplitwiseCsv, sweepExperiments, pcapIsDerived, rowSteps, type SweepRow } from '../src/validate/splitwise.js';
import { engineOptions } from '../src/validate/run.js';
import { DEFAULT_CONFIG, SEED_CONFIG } from '../src/validate/suite.js';
import { getBasis } from '../src/basis/registry.js';
import { physicalBounds } from '../src/basis/types.js';
import { resolveOptions } from '../src/fit/api.js';
import { runCli } from './support/cli.js';

const HEAD = 'model,hardware,prompt_size,batch_size,token_size,peak_power,average_power,prompt_time,token_time,e2e_time,tensor_parallel';
const line = (hw: string, p: number, b: number, pt: number, tt: number, e2e = 1000): string => `llama2-70b,${hw},${p},${b},128,0,0,${pt},${tt},${e2e},4`;

describe('Splitwise sweep reader', () => {
  it('two steps per row: a prefill batch and a decode batch at prompt + tokens/2, ms → µs', () => {
    const rows = parseSplitwiseCsv([HEAD, line('h100-80gb', 512, 3, 100.5, 30.25)].join('\n'), 'x.csv');
    const [pf, dc] = rowSteps(rows[0]!, 'e', 0);
    expect(pf.durationUs).toBe(100500);
    expect(pf.prefill).toEqual([{ tokens: 512, prior: 0, prompt: 512 }, { tokens: 512, prior: 0, prompt: 512 }, { tokens: 512, prior: 0, prompt: 512 }]);
    expect(pf.decode).toEqual([]);
    expect(dc.durationUs).toBe(30250);
    expect(dc.decode).toEqual([576, 576, 576]);
    expect([pf.step, dc.step]).toEqual([0, 1]);
  });

  it('experiments keyed by model, hardware and TP; every repetition kept; ids map to configs', () => {
    const rows = parseSplitwiseCsv([HEAD, line('h100-80gb', 512, 1, 60, 30), line('h100-80gb', 512, 1, 61, 30), line('a100-80gb', 128, 2, 80, 50)].join('\n'), 'x.csv');
    const exps = sweepExperiments(rows);
    expect(exps.map((e) => [e.id, e.model, e.gpu, e.tp, e.steps.length])).toEqual([
      ['llama2-70b-h100-80gb-tp4', 'llama-2-70b', 'h100-sxm', 4, 4],
      ['llama2-70b-a100-80gb-tp4', 'llama-2-70b', 'a100-sxm-80gb', 4, 2],
    ]);
    expect(exps[0]!.steps.map((s) => s.step)).toEqual([0, 1, 2, 3]);
  });

  it('bad fields: one line naming file, line and field', () => {
    expect(() => parseSplitwiseCsv([HEAD, line('h100-80gb', 512, 1, 60, 30), 'llama2-70b,h100-80gb,512,x,128,0,0,1,1,1,4'].join('\n'), 'p.csv'))
      .toThrow(/^p\.csv:3: field 'batch_size': expected a positive integer, got 'x'$/);
    expect(() => parseSplitwiseCsv([HEAD, line('tpu-v5', 512, 1, 60, 30)].join('\n'), 'p.csv')).toThrow(/^p\.csv:2: field 'hardware': expected one of a100-80gb, h100-80gb, h100-80gb-pcap, got 'tpu-v5'$/);
    expect(() => parseSplitwiseCsv([HEAD, line('h100-80gb', 512, 1, -1, 30)].join('\n'), 'p.csv')).toThrow(/p\.csv:2: field 'prompt_time': expected a positive number/);
    expect(() => parseSplitwiseCsv('model,hardware\nllama2-70b,h100-80gb', 'p.csv')).toThrow(/^p\.csv:1: missing column 'prompt_size'/);
  });

  it('pcap check: derived only when prompt × 1.3 and token / e2e identical, row for row', () => {
    const base = [line('h100-80gb', 512, 1, 60, 30, 4000), line('h100-80gb', 512, 1, 62, 31, 4100)];
    const derived = [line('h100-80gb-pcap', 512, 1, 78, 30, 4000), line('h100-80gb-pcap', 512, 1, 80.6, 31, 4100)];
    const ok: SweepRow[] = parseSplitwiseCsv([HEAD, ...base, ...derived].join('\n'), 'x');
    expect(pcapIsDerived(ok)).toBe(true);
    const measured = parseSplitwiseCsv([HEAD, ...base, line('h100-80gb-pcap', 512, 1, 78, 29, 4000), line('h100-80gb-pcap', 512, 1, 80.6, 31, 4100)].join('\n'), 'x');
    expect(pcapIsDerived(measured)).toBe(false);
    expect(pcapIsDerived(parseSplitwiseCsv([HEAD, ...base].join('\n'), 'x'))).toBe(false);
  });
});

describe('validation configurations', () => {
  it('default: serving basis, Huber with the physical bounds and ridge 1e-6 — a combination the fit engine accepts', () => {
    const basis = getBasis(DEFAULT_CONFIG.basis);
    const o = engineOptions(DEFAULT_CONFIG, basis);
    expect(o).toMatchObject({ method: 'huber', weight: 'relative', ridge: { lambda: 1e-6 } });
    expect(o.bounds).toEqual(physicalBounds(basis));
    const r = resolveOptions(o, basis);
    expect(r.bounds?.['weight']).toEqual([1, null]);
    expect(r.ridge?.lambda).toBe(1e-6);
  });

  it('seed: the published formulation — seed basis, NNLS, relative weights, no bounds or ridge', () => {
    const o = engineOptions(SEED_CONFIG, getBasis('seed'));
    expect(o).toMatchObject({ method: 'nnls', weight: 'relative' });
    expect(o.bounds).toBeUndefined();
    expect(o.ridge).toBeUndefined();
  });
});

describe('stepfit validate: usage and input errors', () => {
  it('unknown suite → one line, exit 1', async () => {
    const r = await runCli(['validate', '--suite', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stepfit: error: --suite: unknown suite 'nope' \(known: splitwise\)$/);
  });

  it('missing data root → one line naming it, exit 1', async () => {
    const r = await runCli(['validate', '--suite', 'splitwise', '--data', '/nonexistent/shared']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("stepfit: error: --data: shared data root '/nonexistent/shared' not found (suite 'splitwise' needs the real measurements; pass --data <dir>)");
  });

  it('data root without the sweep → names the missing file', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-val-'));
    const r = await runCli(['validate', '--suite', 'splitwise', '--data', d]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stepfit: error: Splitwise sweep '.*Mutinifni__splitwise-sim\/data\/perf_model\.csv' not found$/);
  });

  it('--suite is required (usage error, exit 2)', async () => {
    expect((await runCli(['validate'])).code).toBe(2);
  });
});
