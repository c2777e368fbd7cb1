/**
 * The fit's numbers do not move when its code is reorganised or sped up: coefficients, standard errors,
 * the residual scale, profiled basis parameters and CV metrics on real data (data/measured, the vendored
 * Splitwise sweep) and on data/sample, compared at 1e-12 relative with values recorded from the code
 * before the fit was split into modules (issue 16) and made faster (issue 17).
 * Re-record (only after an intended change of the numbers): RECORD_FIT_GOLDEN=1 npx vitest run test/fit-golden.test.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { fitDataset, experimentFrom, materializeDataset, type FitDataset, type FitResult } from '../src/fit/api.js';
import type { FitInput } from '../src/fit/defaults.js';
import { reconstructSweep } from '../src/reconstruct/sweep/read.js';
import { readAllSteps } from '../src/steps/io.js';
import type { RequestTarget } from '../src/steps/targets.js';
import { REPO_ROOT, sharedPath } from './support/shared.js';

const GOLDEN = path.join(REPO_ROOT, 'test', 'fixtures', 'fit-golden.json');
const RECORD = process.env['RECORD_FIT_GOLDEN'] === '1';

const sample = (): FitDataset => ({ experiments: [experimentFrom({ steps: path.join(REPO_ROOT, 'data/sample/steps.jsonl'), model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 })] });
const measured = (name: string, model: string): FitDataset => ({
  experiments: [experimentFrom({ steps: path.join(REPO_ROOT, `data/measured/${name}.steps.jsonl.gz`), model, gpu: 'h200', tp: 1, experiment: name })],
});
const measuredPair = (): FitDataset => ({ experiments: [...measured('h200-llama-3.1-8b', 'llama-3.1-8b').experiments, ...measured('h200-qwen3-8b', 'qwen3-8b').experiments] });

let splitwiseCache: FitDataset | null = null;
async function splitwise(): Promise<FitDataset> {
  if (!splitwiseCache) {
    const { experiments } = await reconstructSweep({ input: sharedPath('Mutinifni__splitwise-sim/data/perf_model.csv') });
    splitwiseCache = { experiments: experiments.map((e) => experimentFrom({ steps: e.steps, model: e.model, gpu: e.gpu, tp: e.tp, experiment: e.id, groups: e.groups })) };
  }
  return splitwiseCache;
}

/** data/sample in memory with request-level targets: every run of 8 consecutive steps is one "request" (its steps' summed time). */
async function sampleWithTargets(): Promise<FitDataset> {
  const steps = await readAllSteps(path.join(REPO_ROOT, 'data/sample/steps.jsonl'));
  const e = experimentFrom({ steps, model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 });
  const targets: RequestTarget[] = [];
  for (let k = 0; k + 8 <= 400; k += 8) {
    const group = steps.slice(k, k + 8);
    targets.push({
      experiment: e.ref.id,
      request: `r${k}`,
      kind: k % 16 === 0 ? 'prefill' : 'decode',
      steps: group.map((s) => s.step),
      durationUs: group.reduce((a, s) => a + (s.durationUs ?? 0), 0) * 1.02,
    });
  }
  return { experiments: [{ ...e, steps: steps.slice(0, 1200), targets }] };
}

interface Case {
  name: string;
  data: () => Promise<FitDataset> | FitDataset;
  opts: FitInput;
}

const CASES: Case[] = [
  { name: 'sample seed (nnls)', data: sample, opts: { basis: 'seed' } },
  { name: 'sample serving default (huber, physical bounds, ridge)', data: sample, opts: {} },
  { name: 'sample roofline ols kfold:5', data: sample, opts: { basis: 'roofline', method: 'ols', cv: 'kfold:5' } },
  { name: 'sample seed nnls bootstrap 20', data: sample, opts: { basis: 'seed', method: 'nnls', bootstrap: 20 } },
  { name: 'sample serving ridge, weight none', data: sample, opts: { basis: 'serving', method: 'ridge', weight: 'none' } },
  { name: 'sample + targets, seed nnls kfold:4', data: sampleWithTargets, opts: { basis: 'seed', cv: 'kfold:4' } },
  { name: 'measured llama eager, serving default', data: () => measured('h200-llama-3.1-8b', 'llama-3.1-8b'), opts: {} },
  { name: 'measured llama+qwen, serving default, group:model', data: measuredPair, opts: { cv: 'group:model' } },
  { name: 'measured qwen cudagraph, seed nnls kfold:3', data: () => measured('h200-qwen3-8b-cudagraph', 'qwen3-8b'), opts: { basis: 'seed', cv: 'kfold:3' } },
  { name: 'splitwise, serving default (knee profiled), group:tp', data: splitwise, opts: { cv: 'group:tp' } },
  { name: 'splitwise, serving ols (knee profiled)', data: splitwise, opts: { method: 'ols', basis: 'serving' } },
  { name: 'splitwise, seed nnls', data: splitwise, opts: { basis: 'seed' } },
];

interface Golden {
  coef: number[];
  se: (number | null)[];
  sigma: number;
  basisParams: Record<string, number>;
  trainMape: number;
  cvMape: number | null;
  rows: number;
}

const summarise = (r: FitResult): Golden => ({
  coef: r.terms.map((t) => t.coef),
  se: r.terms.map((t) => t.se),
  sigma: r.residual.sigma,
  basisParams: r.basisParams,
  trainMape: r.metrics.train.overall.mape,
  cvMape: r.metrics.cv?.overall.mape ?? null,
  rows: r.rows,
});

const close = (a: number | null, b: number | null, rel = 1e-12): boolean => {
  if (a === null || b === null) return a === b;
  if (a === b) return true;
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));
};

const golden: Record<string, Golden> = RECORD || !fs.existsSync(GOLDEN) ? {} : (JSON.parse(fs.readFileSync(GOLDEN, 'utf8')) as Record<string, Golden>);
const recorded: Record<string, Golden> = {};

describe('fit results equal the recorded ones to 1e-12 relative', () => {
  it('has a recorded value for every case', () => {
    if (RECORD) return;
    expect(Object.keys(golden).sort()).toEqual(CASES.map((c) => c.name).sort());
  });
  for (const c of CASES) {
    it(c.name, { timeout: 60_000 }, async () => {
      const ds = await c.data();
      const r = summarise(await fitDataset(ds, c.opts));
      if (RECORD) {
        recorded[c.name] = r;
        fs.mkdirSync(path.dirname(GOLDEN), { recursive: true });
        fs.writeFileSync(GOLDEN, `${JSON.stringify(recorded, null, 1)}\n`);
        return;
      }
      const g = golden[c.name]!;
      expect(r.rows).toBe(g.rows);
      expect(r.basisParams).toEqual(g.basisParams);
      r.coef.forEach((v, j) => expect(close(v, g.coef[j]!), `coef ${j}: ${v} vs ${g.coef[j]}`).toBe(true));
      r.se.forEach((v, j) => expect(close(v, g.se[j]!, 1e-9), `se ${j}: ${v} vs ${g.se[j]}`).toBe(true));
      expect(close(r.sigma, g.sigma, 1e-9), `sigma ${r.sigma} vs ${g.sigma}`).toBe(true);
      expect(close(r.trainMape, g.trainMape, 1e-9)).toBe(true);
      expect(close(r.cvMape, g.cvMape, 1e-9)).toBe(true);
    });
  }
  it('streams a file and reads it in memory to the same coefficients (bit for bit)', async () => {
    const streamed = await fitDataset(sample(), { basis: 'seed' });
    const inMemory = await fitDataset(await materializeDataset(sample()), { basis: 'seed' });
    expect(Array.from(inMemory.coefficients)).toEqual(Array.from(streamed.coefficients));
  });
  it('rows kept between passes in memory, spilled to a temporary file, or re-read give bit-identical fits; the file is removed', async () => {
    const tmpRows = (): string[] => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('stepfit-rows-'));
    const before = tmpRows();
    const opts: FitInput = { basis: 'serving', cv: 'kfold:3' };
    const reread = await fitDataset(sample(), { ...opts, rowCacheBytes: 0 });
    const memory = await fitDataset(sample(), opts);
    const spilled = await fitDataset(sample(), { ...opts, rowCacheBytes: 64 * 1024 }); // 2,000 rows × 15 doubles = 240 KB: spills
    for (const r of [memory, spilled]) {
      expect(Array.from(r.coefficients)).toEqual(Array.from(reread.coefficients));
      expect(r.metrics.cv!.overall).toEqual(reread.metrics.cv!.overall);
      expect(r.residual).toEqual(reread.residual);
    }
    expect(tmpRows()).toEqual(before);
  });
});
