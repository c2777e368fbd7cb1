/** The library face (src/index.ts): defaults of the CLI apply to library calls; the API is importable as one module. */
import { describe, expect, it } from 'vitest';
import * as stepfit from '../src/index.js';

describe('library API', () => {
  it('fitDataset(ds, { basis }) uses the CLI default policy (no --method needed)', async () => {
    const ds = stepfit.loadDataset({ steps: 'data/sample/steps.jsonl', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 });
    const seed = await stepfit.fitDataset(ds, { basis: 'seed' });
    expect(seed.options.method).toBe('nnls');
    expect(seed.options.weight).toBe('relative');
    const def = stepfit.withFitDefaults({});
    expect(def.basis).toBe(stepfit.DEFAULT_FIT.basis);
    expect(def.method).toBe('huber');
    expect(def.bounds).toBeDefined();
    expect(def.ridge?.lambda).toBe(1e-6);
    // a stated method is taken as the whole configuration (nothing added)
    const ols = stepfit.withFitDefaults({ basis: 'serving', method: 'ols' });
    expect(ols.bounds).toBeUndefined();
    expect(ols.ridge).toBeUndefined();
  });

  it('fit → fit file → fittedModel predicts positive step times', async () => {
    const ds = stepfit.loadDataset({ steps: 'data/sample/steps.jsonl', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 });
    const r = await stepfit.fitDataset(ds, { basis: 'seed' });
    const fit = stepfit.buildFitFile(r, { commandLine: 'test', inputs: [], gpus: {}, createdAt: '1970-01-01T00:00:00.000Z' });
    const m = stepfit.fittedModel(fit, { arch: stepfit.loadArchitecture('llama-3.1-8b'), gpu: stepfit.loadGpu('h100-sxm'), tp: 1 });
    const us = m.predictUs({ experiment: 'x', step: 0, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: [1024, 2048] });
    expect(us).toBeGreaterThan(1000);
    expect(us).toBeLessThan(1e6);
  });
});
