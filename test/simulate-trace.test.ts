/**
 * Trace round trip: `stepfit simulate --emit-trace vllm-otlp` → `stepfit reconstruct --format vllm-otlp` → the same
 * canonical steps (composition exactly; durations to the nanosecond) as the simulator's steps.jsonl.
 * Covered: with and without REQUEST_SNAPSHOTs (exact vs journey-inferred composition), step
 * sampling, preemptions, prefix-cache hits.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { readAllSteps } from '../src/steps/io.js';
import type { Step } from '../src/steps/step.js';
import type { ReconstructSummary } from '../src/reconstruct/summary.js';
import type { DurationSource } from '../src/reconstruct/vllm-otlp/replay.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-simtrace-'));

async function simulateTrace(name: string, args: string[]): Promise<{ dir: string; steps: Step[] }> {
  const dir = path.join(tmp, name);
  const r = await runCli(['simulate', '--synthetic-truth', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--emit-trace', 'vllm-otlp', '--out', dir, ...args]);
  expect(r.stderr).toMatch(/simulate: \d+ requests/);
  expect(r.code).toBe(0);
  return { dir, steps: await readAllSteps(path.join(dir, 'steps.jsonl')) };
}

/** `stepfit reconstruct --format vllm-otlp` on the simulated trace (exp-config.yaml next to it gives the budget). */
async function reconstruct(dir: string, duration: DurationSource = 'ts-delta'): Promise<{ steps: Step[]; summary: ReconstructSummary }> {
  const out = path.join(dir, `back-${duration}.jsonl`);
  const r = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', path.join(dir, 'traces.jsonl.gz'), '--experiment', 'rt', '--duration', duration, '--out', out, '--json']);
  expect(r.stderr + r.stdout).not.toMatch(/error/i);
  expect(r.code).toBe(0);
  return { steps: await readAllSteps(out), summary: JSON.parse(r.stdout) as ReconstructSummary };
}

const composition = (s: Step): string => JSON.stringify({ step: s.step, prefill: s.prefill.map((c) => [c.tokens, c.prior, c.prompt]), decode: s.decode });

/** Every simulated step comes back with the same composition; durations, where the reader has one, equal. */
function expectSameSteps(sim: Step[], back: Step[], opts: { allDurations: boolean }): void {
  expect(back.length).toBe(sim.length);
  const byId = new Map(back.map((s) => [s.step, s]));
  let withDuration = 0;
  for (const s of sim) {
    const b = byId.get(s.step);
    expect(b, `step ${s.step} missing`).toBeDefined();
    expect(composition(b!)).toBe(composition(s));
    if (b!.durationUs !== undefined) {
      withDuration++;
      expect(Math.abs(b!.durationUs - s.durationUs!)).toBeLessThan(1e-3);
    }
  }
  if (opts.allDurations) expect(withDuration).toBe(sim.length);
  else expect(withDuration).toBeGreaterThan(0);
}

describe('simulate → vllm-otlp trace → reconstruct', () => {
  it('with snapshots: exact composition and durations (ts-span), preemptions included', async () => {
    const { dir, steps } = await simulateTrace('snap', [
      '--workload',
      'poisson:requests=120,rate=60,input=lognormal(500;1),output=lognormal(120;1)',
      '--num-gpu-blocks',
      '300',
      '--max-num-seqs',
      '32',
      '--max-num-batched-tokens',
      '512',
      '--no-prefix-caching',
      '--snapshots',
      '--noise',
      '0.05',
      '--seed',
      '3',
    ]);
    const sum = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    expect(sum.preemptions).toBeGreaterThan(0);
    const { steps: back, summary } = await reconstruct(dir, 'ts-span');
    expect(summary.stepsExact).toBe(steps.length);
    expect(summary.mismatches.count).toBe(0);
    expectSameSteps(steps, back, { allDurations: true });
  });

  it('without snapshots: composition inferred from journeys matches exactly; ts-delta durations where adjacent', async () => {
    const { dir, steps } = await simulateTrace('journey', [
      '--workload',
      'gamma:requests=150,rate=50,cv=3,input=lognormal(700;1.2),output=lognormal(100;1)',
      '--num-gpu-blocks',
      '400',
      '--max-num-seqs',
      '24',
      '--max-num-batched-tokens',
      '1024',
      '--no-prefix-caching',
      '--seed',
      '5',
    ]);
    const { steps: back, summary } = await reconstruct(dir);
    expect(summary.stepsInferred).toBe(steps.length);
    expect(summary.mismatches.count).toBe(0);
    expectSameSteps(steps, back, { allDurations: false });
    // ts-delta gives every step followed by an adjacent step id (idle gaps skip one id)
    const ids = new Set(steps.map((s) => s.step));
    expect(back.filter((s) => s.durationUs !== undefined).length).toBe(steps.filter((s) => ids.has(s.step + 1)).length);
  });

  it('sampled step spans (10%) still give every step, with durations only where traced', async () => {
    const { dir, steps } = await simulateTrace('sampled', [
      '--workload',
      'poisson:requests=80,rate=40,input=300..900,output=20..200',
      '--max-num-batched-tokens',
      '512',
      '--sample-rate',
      '0.1',
      '--no-prefix-caching',
      '--seed',
      '2',
    ]);
    const { steps: back, summary } = await reconstruct(dir, 'ts-span');
    expect(summary.mismatches.count).toBe(0);
    expectSameSteps(steps, back, { allDurations: false });
    const withD = back.filter((s) => s.durationUs !== undefined).length;
    expect(withD).toBeGreaterThan(0.05 * steps.length);
    expect(withD).toBeLessThan(0.2 * steps.length);
  });

  it('prefix-cache hits (shared prefixes, and resumes from still-cached blocks) come back exactly, with and without snapshots', async () => {
    for (const snap of [true, false]) {
      const { dir, steps } = await simulateTrace(`prefix-${snap}`, [
        '--workload',
        'poisson:requests=150,rate=60,input=lognormal(500;1),output=lognormal(120;1),prefix=0.5;256;2',
        '--num-gpu-blocks',
        '300',
        '--max-num-seqs',
        '32',
        '--max-num-batched-tokens',
        '512',
        '--seed',
        '3',
        ...(snap ? ['--snapshots'] : []),
      ]);
      const sum = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
      expect(sum.preemptions).toBeGreaterThan(0);
      // first chunks that start after a shared-prefix hit (whole 16-token blocks of the 256-token prefix)
      expect(steps.some((s) => s.prefill.some((c) => c.prior === 256 && c.prompt === c.prior + c.tokens))).toBe(true);
      const { steps: back, summary } = await reconstruct(dir, 'ts-span');
      expect(summary.mismatches.count).toBe(0);
      expectSameSteps(steps, back, { allDurations: true });
    }
  });
});
