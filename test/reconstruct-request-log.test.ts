/** request-log: scheduler replay from per-request timestamps — synthetic exactness and the four real vLLM runs. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { generateScheduleLog } from '../src/reconstruct/vllm-otlp/generate.js';
import { scheduleToSteps } from '../src/scheduler/schedule-log.js';
import { simulateRequestLog, type LoggedRequest } from '../src/reconstruct/request-log/simulate.js';
import { reconstructRequestLog } from '../src/reconstruct/request-log/read.js';
import { readAllSteps } from '../src/steps/io.js';
import { readAllTargets } from '../src/steps/targets.js';
import { haveShared, sharedPath } from './support/shared.js';
import { runCli } from './support/cli.js';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-rl-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const key = (s: { prefill: readonly { tokens: number; prior: number }[]; decode: readonly number[] }): string =>
  JSON.stringify({ p: s.prefill.map((c) => `${c.tokens}/${c.prior}`).sort(), d: [...s.decode].sort((a, b) => a - b) });

/** A request log as an engine would write it for a generated schedule (timestamps at the events, lag `lag` steps). */
function requestLogOf(seed: number, lag: 0 | 1): { reqs: LoggedRequest[]; truth: ReturnType<typeof scheduleToSteps> } {
  const log = generateScheduleLog({ seed, requests: 200, maxNumBatchedTokens: 512, maxNumSeqs: 64, numGpuBlocks: 100_000, meanInterArrivalMs: 15, maxPrompt: 1500, maxOutput: 150 });
  const endOf = new Map<number, number>();
  log.steps.forEach((s, i) => endOf.set(i, s.endNs / 1e9));
  const ev = new Map<string, Partial<Record<string, number>>>();
  const outs = new Map<string, number>();
  log.steps.forEach((s, i) => {
    for (const e of s.events) {
      const m = ev.get(e.request) ?? {};
      // With output lag the token of step i is stamped at the end of step i+1.
      const t = (e.kind === 'FIRST_TOKEN' || e.kind === 'FINISHED') && lag ? (endOf.get(i + 1) ?? e.tsNs / 1e9) : e.tsNs / 1e9;
      m[e.kind] ??= t;
      ev.set(e.request, m);
    }
    for (const e of s.entries) outs.set(e.request, e.outputBefore + 1);
  });
  const reqs = log.requests.map((q, i) => {
    const m = ev.get(q.id)!;
    return { id: q.id, line: i + 1, prompt: q.promptTokens, outputs: outs.get(q.id)!, queued: m['QUEUED']!, scheduled: m['SCHEDULED']!, firstToken: m['FIRST_TOKEN']!, lastToken: m['FINISHED']! };
  });
  return { reqs, truth: scheduleToSteps(log, 'syn') };
}

describe('request-log replay on generated schedules', () => {
  it("recovers the exact step sequence and the generator's step-time law (synchronous timestamps)", () => {
    const { reqs, truth } = requestLogOf(5, 0);
    const sim = simulateRequestLog(reqs, { maxNumBatchedTokens: 512, maxNumSeqs: 64, dataParallel: 1, outputLagSteps: 0 });
    expect(sim.steps.map(key)).toEqual(truth.map(key));
    // generator: 4 ms + 25 µs per prefill token + 60 µs per decode (±5 % noise)
    expect(sim.clock.a).toBeCloseTo(0.004, 3);
    expect(sim.clock.b).toBeCloseTo(0.025, 2);
    expect(sim.clock.c).toBeCloseTo(0.006, 2);
    const outs = new Map(reqs.map((q) => [q.id, q.outputs] as const));
    expect(sim.requests.filter((r) => Math.abs(r.decodePredUs - r.decodeUs) >= 0.05 * r.decodeUs + 1000).map((r) => r.id)).toEqual([]);
    expect(sim.requests.filter((r) => r.decodeSteps.length !== outs.get(r.id)! - 1).map((r) => r.id)).toEqual([]);
  });

  it('with one step of output lag (async scheduling): request times agree and, with the robust clock fit, the composition too', () => {
    const { reqs, truth } = requestLogOf(6, 1);
    const sim = simulateRequestLog(reqs, { maxNumBatchedTokens: 512, maxNumSeqs: 64, dataParallel: 1, outputLagSteps: 1 });
    const got = sim.steps.map(key);
    const want = truth.map(key);
    let first = want.findIndex((k, i) => got[i] !== k);
    if (first < 0) first = want.length;
    const dc = sim.requests.filter((r) => r.decodeUs > 0).map((r) => Math.abs(r.decodePredUs - r.decodeUs) / r.decodeUs);
    const pf = sim.requests.filter((r) => r.prefillUs > 0).map((r) => Math.abs(r.prefillPredUs - r.prefillUs) / r.prefillUs);
    // Reported, not hidden: the step where the replay first departs from the truth.
    console.log(
      `lag 1: ${want.length} true steps, ${got.length} replayed; identical up to step ${first}; decode |res| median ${(100 * median(dc)).toFixed(1)}%, prefill ${(100 * median(pf)).toFixed(1)}%`,
    );
    // Between clock anchors an admission can land one step off, and the replay then drifts. With the plain NNLS
    // clock fit this seed drifted from step 14 (decode ≈ 18 %, prefill ≈ 18 %); with the Huber-weighted fit it
    // replays exactly (as do seeds 7–12; seed 13 departs at step 254 of 442), residuals 0.2 % / 1.1 %.
    expect(first).toBe(want.length);
    expect(got.length).toBe(want.length);
    expect(median(dc)).toBeLessThan(0.01);
    expect(median(pf)).toBeLessThan(0.03);
  });
});

const RUNS = ['RTX4090/Llama-3.1-8B', 'RTXPRO6000/Llama-3.1-8B', 'RTXPRO6000/Qwen3-30B-A3B-Instruct-2507', 'RTXPRO6000/Qwen3-32B'];

describe('request-log on the four real vLLM 0.19 runs', () => {
  for (const run of RUNS) {
    const rel = `casys-kaist__LLMServingSim/bench/examples/${run}/vllm`;
    it.skipIf(!haveShared(`${rel}/requests.jsonl`))(`${run}: reconstructs, targets are consistent, implied times agree with the log`, async () => {
      const out = await reconstructRequestLog({ input: sharedPath(rel) });
      const { summary, steps, targets, sim } = out;
      expect(summary.requests).toBe(300);
      expect(summary.bad.count).toBe(0);
      expect(steps.length).toBeGreaterThan(1000);
      expect(steps.filter((s) => s.prefill.length + s.decode.length === 0)).toEqual([]);
      // Targets: every listed step exists; decode targets span output_toks − 1 steps.
      const have = new Set(steps.map((s) => `${s.experiment}#${s.step}`));
      const dangling = targets.flatMap((t) => t.steps.filter((s) => !have.has(`${t.experiment}#${s}`)).map((s) => `${t.request}→${s}`));
      expect(dangling).toEqual([]);
      const lines = fs
        .readFileSync(sharedPath(`${rel}/requests.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { request_id: string; output_toks: number });
      const outToks = new Map(lines.map((l) => [l.request_id, l.output_toks] as const));
      // (one less where the engine went idle right after the last token: no later step to stamp it in);
      // a request the replay preempted also lists the steps it sat out and its recompute: more, never fewer
      const preempted = new Set(sim.requests.filter((r) => r.preemptions > 0).map((r) => r.id));
      const offCount = targets.filter((x) => x.kind === 'decode' && !preempted.has(x.request) && ![outToks.get(x.request)! - 1, outToks.get(x.request)! - 2].includes(x.steps.length));
      expect(offCount.map((t) => t.request)).toEqual([]);
      expect(targets.filter((x) => x.kind === 'decode' && preempted.has(x.request) && x.steps.length < outToks.get(x.request)! - 2).map((t) => t.request)).toEqual([]);
      // Residuals: Σ of the fitted clock over the implied steps vs the logged times.
      const pf = sim.requests.filter((r) => r.prefillUs > 0).map((r) => Math.abs(r.prefillPredUs - r.prefillUs) / r.prefillUs);
      const dc = sim.requests.filter((r) => r.decodeUs > 0).map((r) => Math.abs(r.decodePredUs - r.decodeUs) / r.decodeUs);
      console.log(`${run}: ${steps.length} steps; prefill |res|/logged median ${(100 * median(pf)).toFixed(1)}%, decode ${(100 * median(dc)).toFixed(1)}%`);
      for (const [k, v] of Object.entries(summary.detail)) console.log(`  ${k}: ${v}`);
      // The RTX 4090 run is KV-cache bound (2588 blocks; queue waits up to 137 s); its meta.json has the block count,
      // so the replay models the cache and the preemptions the log does not record (reconstruct-request-log-kv.test.ts).
      const kvBound = run.startsWith('RTX4090');
      expect(sim.preemptions > 0).toBe(kvBound);
      expect(median(dc)).toBeLessThan(kvBound ? 0.03 : 0.06);
      expect(median(pf)).toBeLessThan(kvBound ? 0.23 : 0.2);
    });
  }

  const cliRel = 'casys-kaist__LLMServingSim/bench/examples/RTXPRO6000/Qwen3-30B-A3B-Instruct-2507/vllm';
  it.skipIf(!haveShared(`${cliRel}/requests.jsonl`))('CLI writes steps and targets the fitter can read', async () => {
    const rel = cliRel;
    const out = path.join(dir, 'steps.jsonl');
    const tg = path.join(dir, 'targets.jsonl');
    const r = await runCli(['reconstruct', '--format', 'request-log', '--in', sharedPath(rel), '--out', out, '--targets', tg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/data_parallel 2/);
    const steps = await readAllSteps(out);
    const targets = await readAllTargets(tg);
    expect(new Set(steps.map((s) => s.experiment))).toEqual(new Set(['rtxpro6000-qwen3-30b-a3b-instruct-2507-dp0', 'rtxpro6000-qwen3-30b-a3b-instruct-2507-dp1']));
    expect(targets.length).toBe(600);
    expect(steps.every((s) => s.durationUs === undefined)).toBe(true);
  });
});
