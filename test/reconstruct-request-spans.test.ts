/** vllm-request-spans: upstream vLLM llm_request spans (OTLP JSON Lines) → request-log replay; exact round trip and a held-out figure. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { generateScheduleLog } from '../src/reconstruct/vllm-otlp/generate.js';
import { scheduleToSteps } from '../src/reconstruct/vllm-otlp/schedule.js';
import { clockRow, clockTime, type LoggedRequest } from '../src/reconstruct/request-log/simulate.js';
import { reconstructRequestSpans, requestsToSpansLine, spanToRequest, spansOfLine } from '../src/reconstruct/vllm-request-spans/read.js';
import { fcnnlsVector } from 'ml-fcnnls';
import { runCli } from './support/cli.js';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-spans-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const key = (s: { prefill: readonly { tokens: number; prior: number }[]; decode: readonly number[] }): string =>
  JSON.stringify({ p: s.prefill.map((c) => `${c.tokens}/${c.prior}`).sort(), d: [...s.decode].sort((a, b) => a - b) });

/** The generator's schedule as per-request engine timestamps (synchronous scheduling: no output lag). */
function simulated(seed: number) {
  const log = generateScheduleLog({ seed, requests: 200, maxNumBatchedTokens: 512, maxNumSeqs: 64, numGpuBlocks: 100_000, meanInterArrivalMs: 15, maxPrompt: 1500, maxOutput: 150 });
  const ev = new Map<string, Partial<Record<string, number>>>();
  const outs = new Map<string, number>();
  for (const s of log.steps) {
    for (const e of s.events) { const m = ev.get(e.request) ?? {}; m[e.kind] ??= e.tsNs / 1e9; ev.set(e.request, m); }
    for (const e of s.entries) outs.set(e.request, e.outputBefore + 1);
  }
  // Shift onto a wall clock (as span start times are): 2026-01-01 + engine seconds.
  const wall = 1_767_225_600;
  const reqs: LoggedRequest[] = log.requests.map((q, i) => {
    const m = ev.get(q.id)!;
    // (the generator stamps QUEUED at the arrival, which can fall a few µs after the SCHEDULED stamp of that step's start)
    return { id: q.id, line: i + 1, prompt: q.promptTokens, outputs: outs.get(q.id)!, queued: wall + Math.min(m['QUEUED']!, m['SCHEDULED']!), scheduled: wall + m['SCHEDULED']!, firstToken: wall + m['FIRST_TOKEN']!, lastToken: wall + m['FINISHED']! };
  });
  return { reqs, truth: scheduleToSteps(log, 'syn') };
}

describe('vllm-request-spans reader', () => {
  it('round-trips the simulator\'s spans exactly (to the ns the span format carries)', () => {
    const { reqs } = simulated(5);
    const spans = spansOfLine(requestsToSpansLine(reqs));
    if (typeof spans === 'string') throw new Error(spans);
    const back = spans.map((s, i) => spanToRequest(s, i + 1));
    for (let i = 0; i < reqs.length; i++) {
      const b = back[i]!, r = reqs[i]!;
      if (typeof b === 'string') throw new Error(b);
      expect(b.id).toBe(r.id);
      expect([b.prompt, b.outputs]).toEqual([r.prompt, r.outputs]);
      for (const k of ['queued', 'scheduled', 'firstToken', 'lastToken'] as const) expect(Math.abs(b[k] - r[k])).toBeLessThan(2e-6);
    }
  });

  it('gzip file → replay recovers the true step sequence; clock fitted on the first half predicts held-out true steps', async () => {
    const { reqs, truth } = simulated(5);
    const file = path.join(dir, 'spans.jsonl.gz');
    // two collector lines (the file exporter writes one batch per line) plus a non-vLLM span
    const half = Math.floor(reqs.length / 2);
    const other = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'http.request', attributes: [] }] }] }] });
    fs.writeFileSync(file, zlib.gzipSync([requestsToSpansLine(reqs.slice(0, half)), other, requestsToSpansLine(reqs.slice(half))].join('\n') + '\n'));
    const out = await reconstructRequestSpans({ input: file, maxNumBatchedTokens: 512, maxNumSeqs: 64, outputLagSteps: 0 });
    expect(out.summary.requests).toBe(reqs.length);
    expect(out.summary.notes.join(' ')).toMatch(/1 spans not named llm_request/);
    expect(out.steps.map(key)).toEqual(truth.map(key));

    // Held-out figure: NNLS fit of the 4-term step law (clockRow) to the request-level targets of half the requests
    // (even-numbered: the first half by arrival all ran in saturated steps, where prefill tokens ≈ budget is collinear
    // with the intercept); MAPE against the generator's true step times (never an input to the fit), reported on the
    // steps that compute no multi-token chunk of a fitted request (held-out prefills; fitted requests' decodes share every
    // step, so no step is free of them) and on all steps.
    const firstHalf = new Set(reqs.filter((_, i) => i % 2 === 0).map((r) => r.id));
    const log = generateScheduleLog({ seed: 5, requests: 200, maxNumBatchedTokens: 512, maxNumSeqs: 64, numGpuBlocks: 100_000, meanInterArrivalMs: 15, maxPrompt: 1500, maxOutput: 150 });
    const rowOf = (s: (typeof out.steps)[number]) => clockRow(s.prefill.reduce((a, c) => a + c.tokens, 0), s.decode.length, s.decode.reduce((a, c) => a + c, 0));
    const byStep = new Map(out.steps.map((s) => [s.step, rowOf(s)] as const));
    const fitT = out.targets.filter((t) => firstHalf.has(t.request));
    // relative errors (each row divided by its duration), non-negative coefficients
    const X = fitT.map((t) => t.steps.reduce((acc, k) => acc.map((x, j) => x + byStep.get(k)![j]!), [0, 0, 0, 0]).map((v) => v / (t.durationUs / 1e6)));
    const coef = fcnnlsVector(X, X.map(() => 1)).K.to1DArray();
    const law = { a: coef[0]!, b: coef[1]!, c: coef[2]!, d: coef[3]! };
    const allIdx = out.steps.map((_, i) => i);
    const heldIdx = allIdx.filter((i) => log.steps[i]!.entries.every((e) => !firstHalf.has(e.request) || e.scheduled === 1));
    const apeOf = (i: number) => {
      const trueUs = (log.steps[i]!.endNs - log.steps[i]!.startNs) / 1e3;
      return Math.abs(clockTime(law, rowOf(out.steps[i]!)) * 1e6 - trueUs) / trueUs;
    };
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    const mape = mean(heldIdx.map(apeOf));
    const mapeAll = mean(allIdx.map(apeOf));
    console.log(`vllm-request-spans: ${heldIdx.length} held-out (fit on ${fitT.length} targets of ${half} requests: ${Object.entries(law).map(([k, v]) => `${k} ${(v * 1e3).toFixed(3)} ms`).join(', ')}) true steps, step-time MAPE ${(100 * mape).toFixed(2)}%, all ${allIdx.length} steps ${(100 * mapeAll).toFixed(2)}% (generator noise ±5 %)`);
    expect(heldIdx.length).toBeGreaterThan(50);
    expect(mape).toBeLessThan(0.05);
    expect(mapeAll).toBeLessThan(0.05);
  });

  it('bad span: one line naming file, line, request and attribute; --skip-bad counts it', async () => {
    const { reqs } = simulated(5);
    const line = JSON.parse(requestsToSpansLine(reqs.slice(0, 20))) as { resourceSpans: { scopeSpans: { spans: { attributes: { key: string; value: unknown }[] }[] }[] }[] };
    const sp = line.resourceSpans[0]!.scopeSpans[0]!.spans[3]!;
    sp.attributes = sp.attributes.map((a) => (a.key === 'gen_ai.latency.time_in_model_decode' ? { key: a.key, value: { stringValue: 'x' } } : a));
    const file = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(file, JSON.stringify(line) + '\n');
    const out = path.join(dir, 'bad-steps.jsonl');
    const r = await runCli(['reconstruct', '--format', 'vllm-request-spans', '--in', file, '--out', out, '--max-num-batched-tokens', '512']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad\.jsonl:1: request .+: attribute 'gen_ai\.latency\.time_in_model_decode': expected a number/);
    expect(fs.existsSync(out)).toBe(false);
    const ok = await runCli(['reconstruct', '--format', 'vllm-request-spans', '--in', file, '--out', out, '--max-num-batched-tokens', '512', '--skip-bad', '--json']);
    expect(ok.code).toBe(0);
    const s = JSON.parse(ok.stdout) as { requests: number; bad: { count: number } };
    expect([s.requests, s.bad.count]).toEqual([19, 1]);
  });
});
