/**
 * `validate --suite measured`: the real H200 step timings of data/measured (issue 18), seed vs default
 * on interpolation and held-out-model splits. Thresholds = the MAPE measured when the data landed
 * (docs in data/measured/README.md) × 1.1 + 0.5; the default must beat the seed on every split.
 */
import { describe, expect, it } from 'vitest';
import { loadMeasured, measuredSuite } from '../src/validate/measured.js';
import { runSuite, type SuiteResult } from '../src/validate/run.js';

// split → [seed MAPE, default MAPE] as measured
const MEASURED: Record<string, [number, number]> = {
  'interpolation: llama-3.1-8b eager': [17.55, 11.16],
  'interpolation: qwen3-8b eager': [18.65, 15.05],
  'interpolation: llama-3.1-8b graphs': [18.28, 16.35],
  'interpolation: qwen3-8b graphs': [18.73, 17.16],
  'new model: llama-3.1-8b → qwen3-8b eager': [18.51, 14.01],
  'new model: qwen3-8b → llama-3.1-8b eager': [16.05, 13.12],
  'new model: llama-3.1-8b → qwen3-8b graphs': [19.45, 14.92],
  'new model: qwen3-8b → llama-3.1-8b graphs': [16.77, 13.34],
};

describe('validate --suite measured (real H200 steps)', () => {
  let res: SuiteResult;
  const get = (split: string, cfg: string) => res.results.find((r) => r.split === split && r.config === cfg)!;

  it('loads the six bundled experiments: ≥ 500 timed steps per model, eager and graphs', async () => {
    const exps = await loadMeasured();
    expect(exps).toHaveLength(6);
    for (const m of ['llama-3.1-8b', 'qwen3-8b']) {
      const mine = exps.filter((e) => e.model === m);
      expect(mine.reduce((a, e) => a + e.steps.length, 0)).toBeGreaterThanOrEqual(500);
      expect(new Set(mine.map((e) => e.labels['mode']))).toEqual(new Set(['eager', 'graphs']));
      for (const e of mine) for (const s of e.steps) expect(s.durationUs).toBeGreaterThan(0);
    }
    res = runSuite(measuredSuite, await measuredSuite.load(''));
  });

  it.each(Object.entries(MEASURED))('%s: seed and default within the measured MAPE, default beats seed', (split, [seed, def]) => {
    const s = get(split, 'seed');
    const d = get(split, 'default');
    expect(s.testRows).toBeGreaterThan(40);
    expect(s.overall.mape).toBeLessThanOrEqual(seed * 1.1 + 0.5);
    expect(d.overall.mape).toBeLessThanOrEqual(def * 1.1 + 0.5);
    expect(d.overall.mape).toBeLessThan(s.overall.mape);
  });

  it('interpolation holds out every 4th plan step and trains on the rest of the same runs', () => {
    const r = get('interpolation: llama-3.1-8b eager', 'seed');
    expect(r.trainRows + r.testRows).toBe(213 + 188);
  });
});
