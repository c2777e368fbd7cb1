/** vLLM OTLP round trips: schedule log → emitter → trace → reconstruct → compare with the known steps. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { generateScheduleLog, type GenerateOptions } from '../src/reconstruct/vllm-otlp/generate.js';
import { apiRequestId } from '../src/reconstruct/vllm-otlp/emit.js';
import { writeTrace, writeExperimentDir, emitTraceLines } from '../src/reconstruct/vllm-otlp/trace-file.js';
import { scheduleToSteps, type ScheduleLog } from '../src/scheduler/schedule-log.js';
import { reconstructOtlp, type OtlpOptions } from '../src/reconstruct/vllm-otlp/read.js';
import type { ReconstructSummary } from '../src/reconstruct/summary.js';
import { stepToJson, type Step } from '../src/steps/step.js';
import type { RequestTarget } from '../src/steps/targets.js';
import type { RequestLabel } from '../src/reconstruct/vllm-otlp/labels.js';
import { readAllSteps } from '../src/steps/io.js';
import { readAllTargets } from '../src/steps/targets.js';
import { runCli } from './support/cli.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-rt-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const GEN: GenerateOptions = {
  seed: 3,
  requests: 150,
  maxNumBatchedTokens: 512,
  maxNumSeqs: 32,
  numGpuBlocks: 1200,
  meanInterArrivalMs: 30,
  maxPrompt: 2000,
  maxOutput: 300,
};

async function run(o: OtlpOptions): Promise<{ steps: Step[]; targets: RequestTarget[]; labels: RequestLabel[]; sum: ReconstructSummary }> {
  const steps: Step[] = [];
  const targets: RequestTarget[] = [];
  const labels: RequestLabel[] = [];
  const sum = await reconstructOtlp(o, {
    steps: async (b) => {
      steps.push(...b);
    },
    targets: async (b) => {
      targets.push(...b);
    },
    labels: async (b) => {
      labels.push(...b);
    },
  });
  return { steps, targets, labels, sum };
}

/** Order-free key of a step's composition. */
const key = (s: { prefill: readonly { tokens: number; prior: number; prompt: number }[]; decode: readonly number[] }): string =>
  JSON.stringify({ p: s.prefill.map((c) => `${c.tokens}/${c.prior}/${c.prompt}`).sort(), d: [...s.decode].sort((a, b) => a - b) });

function compare(truth: ReturnType<typeof scheduleToSteps>, got: Step[]): { matched: number; missing: number[]; wrong: string[] } {
  const g = new Map(got.map((s) => [s.step, s] as const));
  let matched = 0;
  const missing: number[] = [];
  const wrong: string[] = [];
  for (const t of truth) {
    const s = g.get(t.step);
    if (!s) missing.push(t.step);
    else if (key(s) === key(t)) matched++;
    else wrong.push(`step ${t.step}: truth ${key(t)} reconstructed ${key(s)}`);
  }
  return { matched, missing, wrong };
}

function countEvents(log: ScheduleLog, kind: string): number {
  return log.steps.reduce((a, s) => a + s.events.filter((e) => e.kind === kind).length, 0);
}

describe('vllm-otlp round trip', () => {
  const log = generateScheduleLog(GEN);
  const truth = scheduleToSteps(log, 'rt');

  it('the generator exercises chunked prefill longer than the budget, preemptions and resumes', () => {
    expect(log.requests.some((r) => r.promptTokens > GEN.maxNumBatchedTokens! * 2)).toBe(true);
    expect(countEvents(log, 'PREEMPTED')).toBeGreaterThan(20);
    expect(log.steps.some((s) => s.events.some((e) => e.kind === 'SCHEDULED' && e.scheduleKind === 'RESUME'))).toBe(true);
    // a step with several prefill chunks and decodes
    expect(truth.some((s) => s.prefill.length >= 2 && s.decode.length > 0)).toBe(true);
  });

  it('recovers every step exactly from snapshots (shuffled, gzipped, split spans)', async () => {
    const file = path.join(dir, 'snap.jsonl.gz');
    await writeTrace(file, log, { snapshots: true, stepSampleRate: 1, shuffle: true, seed: 11, spansPerLine: 3 });
    const r = await run({ input: file, experiment: 'rt', maxNumBatchedTokens: 512 });
    const c = compare(truth, r.steps);
    expect(c.wrong).toEqual([]);
    expect(c.missing).toEqual([]);
    expect(r.steps.length).toBe(truth.length);
    expect(r.sum.stepsExact).toBe(truth.length);
    expect(r.sum.mismatches.count).toBe(0);
    // the journey inference agreed with every snapshot
    expect(r.sum.detail['snapshot steps where the journey inference disagreed']).toBe(0);
    expect(r.sum.detail['snapshot steps where the journey inference agreed']).toBe(truth.length);
  });

  it('takes step durations from the chosen source: ts-delta (default), ts-span, duration-us', async () => {
    const small = generateScheduleLog({ ...GEN, requests: 15, seed: 8 });
    const file = path.join(dir, 'dur.jsonl');
    await writeTrace(file, small, { snapshots: true, stepSampleRate: 1, shuffle: true, seed: 1 });
    const byStep = new Map(small.steps.map((s, i) => [s.step, { s, next: small.steps[i + 1] }] as const));
    const got = {} as Record<string, Step[]>;
    for (const duration of ['ts-delta', 'ts-span', 'duration-us'] as const) got[duration] = (await run({ input: file, maxNumBatchedTokens: 512, duration })).steps;
    expect((await run({ input: file, maxNumBatchedTokens: 512 })).sum.durationSource).toMatch(/^ts-delta/);
    let deltas = 0;
    for (const st of got['ts-delta']!) {
      const { s, next } = byStep.get(st.step)!;
      if (st.durationUs === undefined) {
        // no duration only at the last step or before an idle gap (all of this step's requests finished)
        expect(next === undefined || s.events.filter((e) => e.kind === 'FINISHED').length === s.entries.length).toBe(true);
        continue;
      }
      deltas++;
      expect(next!.step).toBe(s.step + 1);
      expect(st.durationUs).toBeCloseTo((next!.startNs - s.startNs) / 1e3, 3);
    }
    expect(deltas).toBeGreaterThan(small.steps.length * 0.9);
    for (const st of got['ts-span']!) expect(st.durationUs).toBeCloseTo((byStep.get(st.step)!.s.endNs - byStep.get(st.step)!.s.startNs) / 1e3, 3);
    for (const st of got['duration-us']!) expect(st.durationUs).toBeCloseTo(byStep.get(st.step)!.s.durationUs!, 3);
  });

  it('recovers ≥ 99% of step compositions from journey events alone (10% sampled summaries, shuffled)', async () => {
    const file = path.join(dir, 'journey.jsonl');
    await writeTrace(file, log, { snapshots: false, stepSampleRate: 0.1, shuffle: true, seed: 5 });
    const r = await run({ input: file, experiment: 'rt', maxNumBatchedTokens: 512 });
    const c = compare(truth, r.steps);
    expect(c.matched / truth.length).toBeGreaterThanOrEqual(0.99);
    expect(c.wrong).toEqual([]); // this generator follows the rule exactly: nothing wrong, nothing hidden
    expect(r.sum.stepsInferred).toBe(r.steps.length);
    // sampled steps: durations only where two adjacent steps were traced
    const withDur = r.steps.filter((s) => s.durationUs !== undefined).length;
    expect(withDur).toBe(r.sum.stepsWithDuration);
    expect(withDur).toBeGreaterThan(0);
    expect(withDur).toBeLessThan(truth.length * 0.05);
    expect(r.sum.detail['inferred steps checked against batch.* counts']).toBeGreaterThan(100);
  });

  it('reports mismatches when the engine deviates from the rule, and still recovers ≥ 99%', async () => {
    let reported = 0;
    for (const seed of [3, 4]) {
      const dev = generateScheduleLog({ ...GEN, seed, ruleViolationRate: 0.001 });
      const t = scheduleToSteps(dev, 'rt');
      const file = path.join(dir, `dev-${seed}.jsonl`);
      await writeTrace(file, dev, { snapshots: false, stepSampleRate: 0.1, shuffle: true, seed });
      const r = await run({ input: file, experiment: 'rt', maxNumBatchedTokens: 512 });
      const c = compare(t, r.steps);
      const rate = c.matched / t.length;
      // Report, not hide: what was dropped and what came out wrong.
      console.log(
        `deviating engine seed ${seed}: ${c.matched}/${t.length} steps exact (${(100 * rate).toFixed(2)}%), ` +
          `${c.missing.length} dropped as uncertain, ${c.wrong.length} output with a wrong composition; reader reported ${r.sum.mismatches.count} mismatches`,
      );
      for (const w of c.wrong.slice(0, 3)) console.log(`  ${w}`);
      expect(rate).toBeGreaterThanOrEqual(0.99);
      reported += r.sum.mismatches.count;
      expect(Object.values(r.sum.dropped).reduce((a, b) => a + b, 0)).toBe(c.missing.length);
    }
    // Deviations that leave the journey events and batch counts consistent cannot be seen; the others are reported.
    expect(reported).toBeGreaterThan(0);
  });

  it('per-request labels and request-level targets match the schedule', async () => {
    const file = path.join(dir, 'labels.jsonl');
    await writeTrace(file, log, { snapshots: false, stepSampleRate: 0.1, shuffle: true, seed: 9 });
    const r = await run({ input: file, experiment: 'rt', maxNumBatchedTokens: 512 });
    expect(r.labels.length).toBe(log.requests.length);
    const ev = new Map<string, Record<string, number[]>>();
    for (const s of log.steps) {
      for (const e of s.events) {
        const m = ev.get(e.request) ?? {};
        (m[e.kind] ??= []).push(e.tsNs);
        ev.set(e.request, m);
      }
    }
    const reqs = new Map(log.requests.map((q) => [q.id, q] as const));
    let checkedPreempted = 0;
    for (const l of r.labels) {
      const e = ev.get(l.request)!;
      const q = reqs.get(l.request)!;
      expect(l.finished).toBe(true);
      expect(l.ttft_us).toBeCloseTo((e['FIRST_TOKEN']![0]! - q.arrivalNs) / 1e3, 3);
      expect(l.queueing_us).toBeCloseTo((e['SCHEDULED']![0]! - e['QUEUED']![0]!) / 1e3, 3);
      expect(l.e2e_us).toBeCloseTo((e['FINISHED']![0]! - q.arrivalNs) / 1e3, 3);
      const pre = e['PREEMPTED'] ?? [];
      const sch = e['SCHEDULED']!;
      let pfGap = 0,
        dcGap = 0;
      for (let i = 0; i < pre.length; i++) {
        const gap = sch[i + 1]! - pre[i]!;
        if (pre[i]! < e['FIRST_TOKEN']![0]!) pfGap += gap;
        else dcGap += gap;
      }
      expect(l.preemptions).toBe(pre.length);
      expect(l.prefill_us).toBeCloseTo((e['FIRST_TOKEN']![0]! - sch[0]! - pfGap) / 1e3, 3);
      if (l.output_tokens >= 2) expect(l.decode_us).toBeCloseTo((e['FINISHED']![0]! - e['FIRST_TOKEN']![0]! - dcGap) / 1e3, 3);
      if (pre.length) checkedPreempted++;
    }
    expect(checkedPreempted).toBeGreaterThan(5);
    // Targets: the listed steps are exactly the steps the request was running in (between the events), and their wall
    // time (next start − start) sums to the measured duration up to the request's own event offsets (< 1 ms here).
    const runningIn = new Map<string, Set<number>>();
    const starts = new Map(log.steps.map((s, i) => [s.step, { start: s.startNs, next: log.steps[i + 1]?.startNs ?? s.endNs }] as const));
    for (const s of log.steps) for (const e of s.entries) (runningIn.get(e.request) ?? runningIn.set(e.request, new Set()).get(e.request)!).add(s.step);
    expect(r.targets.length).toBeGreaterThan(log.requests.length);
    const problems: string[] = [];
    for (const t of r.targets) {
      const ran = runningIn.get(t.request)!;
      const listed = new Set(t.steps);
      for (const s of t.steps) if (!starts.has(s)) problems.push(`${t.request}: step ${s} does not exist`);
      // every step after the first token in which the request computed is listed in its decode target
      if (t.kind === 'decode') for (const s of ran) if (s > t.steps[0]! && !listed.has(s)) problems.push(`${t.request}: ran in step ${s}, not listed`);
      const wall = t.steps.reduce((a, s) => a + (starts.get(s)!.next - starts.get(s)!.start) / 1e3, 0);
      if (Math.abs(wall - t.durationUs) >= 1000 + 0.02 * t.durationUs) problems.push(`${t.request} ${t.kind}: steps' wall time ${wall} µs vs ${t.durationUs} µs`);
    }
    expect(problems).toEqual([]);
  });

  it('reads an experiment directory (exp-config.yaml + traces.json.gz) through the CLI, spilling to disk when memory is capped', async () => {
    const exp = path.join(dir, '20260101-000000-synthetic-tp1-rt');
    await writeExperimentDir(exp, log, { snapshots: false, stepSampleRate: 0.2, shuffle: true, seed: 2, gzip: true });
    expect(fs.existsSync(path.join(exp, 'traces.json.gz'))).toBe(true);
    const out = path.join(dir, 'cli-steps.jsonl');
    const tg = path.join(dir, 'cli-targets.jsonl');
    const res = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', exp, '--out', out, '--targets', tg, '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const sum = JSON.parse(res.stdout) as ReconstructSummary;
    expect(sum.experiments).toEqual([path.basename(exp)]);
    expect(sum.detail['max_num_batched_tokens']).toBe(512);
    const steps = await readAllSteps(out);
    expect(steps.length).toBe(sum.steps);
    expect(compare(scheduleToSteps(log, path.basename(exp)), steps).matched / truth.length).toBeGreaterThanOrEqual(0.99);
    const targets = await readAllTargets(tg);
    expect(targets.length).toBe(sum.targets);
    // The same reconstruction with a tiny memory cap (forces the external sort to spill) gives identical steps.
    const spilled = await run({ input: exp, memCapBytes: 64 << 10, stepsPerBucket: 64 });
    expect(spilled.sum.detail['spilled to disk (MiB)']).toBeGreaterThan(0);
    expect(spilled.steps.map(stepToJson)).toEqual(steps.map(stepToJson));
  });

  it('emits the documented envelope: string intValues, three scopes, API ids without the -0-<hash> suffix', () => {
    const small = generateScheduleLog({ ...GEN, requests: 5 });
    const lines = emitTraceLines(small, { spansPerLine: 1000 });
    const all = lines.map(
      (l) =>
        JSON.parse(l) as {
          resourceSpans: {
            scopeSpans: {
              scope: { name: string };
              spans: { attributes: { key: string; value: Record<string, unknown> }[]; events: { attributes: { key: string; value: Record<string, unknown> }[] }[] }[];
            }[];
          }[];
        },
    );
    const scopes = new Set(all.flatMap((l) => l.resourceSpans.flatMap((r) => r.scopeSpans.map((s) => s.scope.name))));
    expect([...scopes].sort()).toEqual(['vllm.api', 'vllm.scheduler', 'vllm.scheduler.step']);
    const step = all.flatMap((l) => l.resourceSpans.flatMap((r) => r.scopeSpans)).find((s) => s.scope.name === 'vllm.scheduler.step')!;
    const attr = step.spans[0]!.events[0]!.attributes.find((a) => a.key === 'step.id')!;
    expect(typeof attr.value['intValue']).toBe('string');
    expect(apiRequestId('cmpl-abc-0-1f2e')).toBe('cmpl-abc');
  });
});
