/**
 * The LLMServingSim real vLLM runs (`casys-kaist__LLMServingSim/bench/examples/<GPU>/<model>/vllm/`:
 * requests.jsonl + meta.json, shared data README) as validation data, reconstructed by
 * `reconstruct --format request-log`'s library (`reconstructRequestLog`): implied steps (no measured
 * step durations) and request-level targets (per request: measured prefill time first_token − scheduled
 * over the steps from admission to first token, and decode time last_token − first_token over its decode
 * steps). A fit uses training targets as rows (Σ of basis rows of their steps); a test target is
 * predicted as Σ of its steps' predicted times. Metric: MAPE over test targets (per phase = target kind).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../io/errors.js';
import { readLines } from '../io/lines.js';
import { reconstructRequestLog } from '../reconstruct/request-log/read.js';
import type { RequestTarget } from '../steps/targets.js';
import { DEFAULT_CONFIG, SEED_CONFIG, type Split, type Suite, type SuiteExperiment } from './suite.js';

export const LLMSERVINGSIM_BASE = 'casys-kaist__LLMServingSim/bench/examples';

/** The four runs: directory, configs/models id, configs/hardware id, TP (DP comes from meta.json). */
export const LLMSERVINGSIM_RUNS = Object.freeze([
  { dir: 'RTX4090/Llama-3.1-8B', model: 'llama-3.1-8b', gpu: 'rtx-4090', tp: 1 },
  { dir: 'RTXPRO6000/Llama-3.1-8B', model: 'llama-3.1-8b', gpu: 'rtx-pro-6000-blackwell', tp: 1 },
  { dir: 'RTXPRO6000/Qwen3-32B', model: 'qwen3-32b', gpu: 'rtx-pro-6000-blackwell', tp: 2 },
  { dir: 'RTXPRO6000/Qwen3-30B-A3B-Instruct-2507', model: 'qwen3-30b-a3b', gpu: 'rtx-pro-6000-blackwell', tp: 1 },
] as const);

/** Request id → 0-based rank by arrival_time (ties: file order). */
export async function arrivalRanks(file: string): Promise<Map<string, number>> {
  const rows: { id: string; t: number; i: number }[] = [];
  for await (const { lineNo: line, text } of readLines(file)) {
    if (!text.trim()) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new InputError(`${file}:${line}: not valid JSON`);
    }
    const id = o['request_id'];
    const t = o['arrival_time'] ?? o['queued_ts'];
    if (typeof id !== 'string' || typeof t !== 'number') throw new InputError(`${file}:${line}: expected string request_id and numeric arrival_time`);
    rows.push({ id, t, i: rows.length });
  }
  rows.sort((a, b) => a.t - b.t || a.i - b.i);
  return new Map(rows.map((r, k) => [r.id, k]));
}

const run = (e: SuiteExperiment): string => e.labels['run'] ?? '';
/** A request in the first half of its run by arrival (ranks 0 … n/2 − 1). */
const early = (e: SuiteExperiment, t: RequestTarget): boolean => {
  const r = e.arrivalRank?.get(t.request);
  const n = Number(e.labels['requests']);
  return r !== undefined && r < n / 2;
};
const none = (): boolean => false;

const withinRun = (dir: string, short: string): Split => ({
  name: `later requests: ${short}`,
  trainDesc: `${dir}: targets of the first half of the requests by arrival`,
  testDesc: 'same run, second half',
  inTrain: none,
  inTest: none,
  targetInTrain: (e, t) => run(e) === dir && early(e, t),
  targetInTest: (e, t) => run(e) === dir && !early(e, t),
});

const L8B_4090 = 'RTX4090/Llama-3.1-8B';
const L8B_PRO = 'RTXPRO6000/Llama-3.1-8B';
const Q32B = 'RTXPRO6000/Qwen3-32B';
const Q30B = 'RTXPRO6000/Qwen3-30B-A3B-Instruct-2507';
const isRun =
  (...dirs: string[]) =>
  (e: SuiteExperiment): boolean =>
    dirs.includes(run(e));

export const LLMSERVINGSIM_SPLITS: readonly Split[] = Object.freeze([
  withinRun(L8B_4090, 'Llama-3.1-8B RTX 4090'),
  withinRun(L8B_PRO, 'Llama-3.1-8B RTX PRO 6000'),
  withinRun(Q32B, 'Qwen3-32B RTX PRO 6000 TP2'),
  withinRun(Q30B, 'Qwen3-30B-A3B RTX PRO 6000 DP2'),
  {
    name: 'new GPU',
    trainDesc: 'Llama-3.1-8B RTX PRO 6000, all requests',
    testDesc: 'Llama-3.1-8B RTX 4090, all requests',
    inTrain: none,
    inTest: none,
    targetInTrain: isRun(L8B_PRO),
    targetInTest: isRun(L8B_4090),
  },
  {
    name: 'new model',
    trainDesc: 'Llama-3.1-8B RTX 4090 + RTX PRO 6000',
    testDesc: 'Qwen3-32B RTX PRO 6000 TP2',
    inTrain: none,
    inTest: none,
    targetInTrain: isRun(L8B_4090, L8B_PRO),
    targetInTest: isRun(Q32B),
  },
  {
    name: 'new model (MoE)',
    trainDesc: 'Llama-3.1-8B RTX 4090 + RTX PRO 6000',
    testDesc: 'Qwen3-30B-A3B RTX PRO 6000 DP2',
    inTrain: none,
    inTest: none,
    targetInTrain: isRun(L8B_4090, L8B_PRO),
    targetInTest: isRun(Q30B),
  },
]);

export const llmservingsimSuite: Suite = Object.freeze({
  name: 'llmservingsim',
  description: 'LLMServingSim real vLLM serving runs (RTX 4090, RTX PRO 6000): request-level prefill and decode times over implied steps',
  async load(dataRoot: string) {
    const root = path.join(dataRoot, LLMSERVINGSIM_BASE);
    const experiments: SuiteExperiment[] = [];
    let nTargets = 0;
    for (const r of LLMSERVINGSIM_RUNS) {
      const vdir = path.join(root, r.dir, 'vllm');
      const file = path.join(vdir, 'requests.jsonl');
      if (!fs.existsSync(file)) throw new InputError(`${file}: not found (suite 'llmservingsim' needs the LLMServingSim runs)`);
      const rec = await reconstructRequestLog({ input: vdir });
      const ranks = await arrivalRanks(file);
      for (const id of [...new Set(rec.steps.map((s) => s.experiment))]) {
        const targets = rec.targets.filter((t) => t.experiment === id);
        nTargets += targets.length;
        experiments.push({
          id,
          model: r.model,
          gpu: r.gpu,
          tp: r.tp,
          labels: { run: r.dir, requests: String(ranks.size) },
          steps: rec.steps.filter((s) => s.experiment === id),
          targets,
          arrivalRank: ranks,
        });
      }
    }
    const notes = [
      `reconstruct --format request-log: ${LLMSERVINGSIM_RUNS.length} runs → ${experiments.length} experiments (one per DP engine), ${experiments.reduce((a, e) => a + e.steps.length, 0)} implied steps, ${nTargets} request-level targets (prefill: first_token − scheduled; decode: last_token − first_token)`,
      'steps carry no measured durations: only targets are rows; a test target is predicted as the sum of its steps; MAPE over test targets, per phase = target kind',
      "the implied steps are the reconstructor's schedule replay (vLLM limits from meta.json), the same for every configuration",
    ];
    return { source: root, notes, experiments };
  },
  splits: LLMSERVINGSIM_SPLITS,
  configs: [SEED_CONFIG, DEFAULT_CONFIG],
});
