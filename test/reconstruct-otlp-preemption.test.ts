/**
 * Issue 13 item 6: reconstruction fidelity under heavy preemption. Traces with ≥ 1 preemption per
 * 10 steps, no REQUEST_SNAPSHOTs and every step's BATCH_SUMMARY present: ≥ 99.9 % of steps are
 * reconstructed exactly by the journey rule (prefill chunks in running-queue order, a resumed
 * request at the back of the running queue, no admission in a step that preempts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { generateScheduleLog, type GenerateOptions } from '../src/reconstruct/vllm-otlp/generate.js';
import { writeTrace } from '../src/reconstruct/vllm-otlp/trace-file.js';
import { scheduleToSteps } from '../src/scheduler/schedule-log.js';
import { reconstructOtlp } from '../src/reconstruct/vllm-otlp/read.js';
import type { Step } from '../src/steps/step.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-preempt-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const key = (s: { prefill: readonly { tokens: number; prior: number; prompt: number }[]; decode: readonly number[] }): string =>
  JSON.stringify({ p: s.prefill.map((c) => `${c.tokens}/${c.prior}/${c.prompt}`).sort(), d: [...s.decode].sort((a, b) => a - b) });

describe('vllm-otlp reconstruction under heavy preemption (issue 13 item 6)', () => {
  for (const seed of [21, 22]) {
    it(`seed ${seed}: ≥ 1 preemption per 10 steps, summaries only → ≥ 99.9 % of steps exact`, async () => {
      const gen: GenerateOptions = {
        seed,
        requests: 200,
        maxNumBatchedTokens: 512,
        maxNumSeqs: 32,
        numGpuBlocks: 260,
        meanInterArrivalMs: 5,
        maxPrompt: 1500,
        maxOutput: 400,
      };
      const log = generateScheduleLog(gen);
      const truth = scheduleToSteps(log, 'pre');
      const preemptions = log.steps.reduce((a, s) => a + s.events.filter((e) => e.kind === 'PREEMPTED').length, 0);
      const resumes = log.steps.reduce((a, s) => a + s.events.filter((e) => e.kind === 'SCHEDULED' && e.scheduleKind === 'RESUME').length, 0);
      expect(preemptions * 10).toBeGreaterThanOrEqual(log.steps.length);
      expect(resumes).toBeGreaterThan(0);
      // vLLM V1: a step that preempts admits no waiting request
      for (const st of log.steps) {
        if (st.events.some((e) => e.kind === 'PREEMPTED')) expect(st.events.filter((e) => e.kind === 'SCHEDULED')).toEqual([]);
      }

      const file = path.join(dir, `pre-${seed}.jsonl`);
      await writeTrace(file, log, { snapshots: false, stepSampleRate: 1, shuffle: true, seed });
      const steps: Step[] = [];
      const sum = await reconstructOtlp(
        { input: file, experiment: 'pre', maxNumBatchedTokens: 512 },
        {
          steps: async (b) => {
            steps.push(...b);
          },
          targets: async () => {},
          labels: async () => {},
        },
      );
      const got = new Map(steps.map((s) => [s.step, s] as const));
      let exact = 0;
      const wrong: string[] = [];
      for (const t of truth) {
        const s = got.get(t.step);
        if (s && key(s) === key(t)) exact++;
        else wrong.push(`step ${t.step}: truth ${key(t)} got ${s ? key(s) : 'missing'}`);
      }
      console.log(
        `heavy preemption seed ${seed}: ${log.steps.length} steps, ${preemptions} preemptions (${(preemptions / log.steps.length).toFixed(3)}/step), ` +
          `${exact}/${truth.length} exact (${((100 * exact) / truth.length).toFixed(3)} %), mismatches ${sum.mismatches.count}`,
      );
      expect(exact / truth.length, wrong.slice(0, 3).join('\n')).toBeGreaterThanOrEqual(0.999);
    });
  }
});
