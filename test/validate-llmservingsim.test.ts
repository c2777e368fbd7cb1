/**
 * `stepfit validate --suite llmservingsim` on the four real vLLM runs (LLMServingSim): request-level
 * prefill/decode targets over implied steps. Thresholds = measured MAPE + ~10% margin (reports/validation.md);
 * no issue targets exist for this suite, and the default does NOT beat the seed everywhere (MoE later requests).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import path from 'node:path';
import { haveShared, VENDORED_DATA as SHARED_DATA } from './support/shared.js';
import { runCli } from './support/cli.js';
import { LLMSERVINGSIM_BASE, LLMSERVINGSIM_RUNS } from '../src/validate/llmservingsim.js';
import type { SuiteResult } from '../src/validate/run.js';

const have = LLMSERVINGSIM_RUNS.every((r) => haveShared(path.join(LLMSERVINGSIM_BASE, r.dir, 'vllm/requests.jsonl')));

// split → [measured seed MAPE, measured default MAPE] (thresholds: × 1.1 + 0.5); default = serving v4 (SM-clock latency
// scale); within-run splits (one GPU) are unchanged from v3, the cross-GPU ones were re-measured
const MEASURED: Record<string, [number, number]> = {
  'later requests: Llama-3.1-8B RTX 4090': [19.4, 19.4],
  'later requests: Llama-3.1-8B RTX PRO 6000': [12.5, 11.0],
  'later requests: Qwen3-32B RTX PRO 6000 TP2': [15.4, 13.2],
  'later requests: Qwen3-30B-A3B RTX PRO 6000 DP2': [13.2, 14.6],
  'new GPU': [25.2, 23.8], // serving v3 (TFLOPS latency scale): 26.4
  'new model': [50.1, 25.8], // v3: 26.4
  'new model (MoE)': [519.2, 13.5],
};

describe.runIf(have)('validate --suite llmservingsim (real data)', () => {
  let res: SuiteResult;
  beforeAll(async () => {
    const r = await runCli(['validate', '--suite', 'llmservingsim', '--data', SHARED_DATA, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    res = JSON.parse(r.stdout) as SuiteResult;
  });

  it('runs every split for seed and default; test rows are request targets (2 per request)', () => {
    expect(res.splits.map((s) => s.name)).toEqual(Object.keys(MEASURED));
    expect(res.results).toHaveLength(14);
    // within a run: 150 later requests × (prefill + decode); cross-run: 300 × 2
    expect(res.results.map((r) => r.testRows)).toEqual([300, 300, 300, 300, 300, 300, 300, 300, 600, 600, 600, 600, 600, 600]);
    for (const r of res.results) expect(r.prefill!.n).toBe(r.decode!.n);
  });

  it.each(Object.entries(MEASURED))('%s: seed and default MAPE at or below measured + margin', (split, [seed, def]) => {
    const get = (c: string) => res.results.find((r) => r.split === split && r.config === c)!;
    expect(get('seed').overall.mape).toBeLessThanOrEqual(seed * 1.1 + 0.5);
    expect(get('default').overall.mape).toBeLessThanOrEqual(def * 1.1 + 0.5);
    expect(get('default').basis).toBe('serving v4');
    // the knee cannot be fitted here: TP 1 training rows only, or (Qwen3-32B TP2 alone) a flat profile → microbenchmark default
    expect(get('default').paramChoices![0]).toMatchObject({ source: 'default', value: 2.63 });
  });

  it('train rows are targets only: within-run splits train on the first half of requests by arrival', () => {
    const r = res.results.find((x) => x.split === 'later requests: Llama-3.1-8B RTX 4090')!;
    expect(r.trainRows).toBe(300); // 150 requests × 2 targets
  });
});
