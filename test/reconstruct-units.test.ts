/** Small pure pieces of reconstruct against hand-computed values. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalEntry } from '../src/scheduler/schedule-log.js';
import { queueingUs, ttftUs, prefillUs, decodeUs, e2eUs, requestLabel } from '../src/reconstruct/vllm-otlp/labels.js';
import { encodeRec, decodeRec, compareRecs, type StepRec } from '../src/reconstruct/vllm-otlp/records.js';
import { SpillBuckets } from '../src/reconstruct/vllm-otlp/spill.js';
import { OtlpReplay, type RequestResult } from '../src/reconstruct/vllm-otlp/replay.js';
import { parseOtlpLine } from '../src/reconstruct/vllm-otlp/parse.js';
import { writeTargets, readAllTargets, validateTarget } from '../src/steps/targets.js';
import type { Step } from '../src/steps/step.js';

describe('canonicalEntry', () => {
  it('classifies decodes and prefill chunks', () => {
    // prompt 100, 3 outputs so far, context 102 = 100 + 3 − 1, one token → decode at context 102
    expect(canonicalEntry(100, 102, 1, 3)).toEqual({ decode: 102 });
    // first chunk of a 1000-token prompt
    expect(canonicalEntry(1000, 0, 512, 0)).toEqual({ tokens: 512, prior: 0, prompt: 1000 });
    // resumed after preemption with 7 generated tokens: recompute 100 + 7 tokens
    expect(canonicalEntry(100, 0, 107, 7)).toEqual({ tokens: 107, prior: 0, prompt: 107 });
    // the last prompt token alone, before any output, is prefill
    expect(canonicalEntry(100, 99, 1, 0)).toEqual({ tokens: 1, prior: 99, prompt: 100 });
  });
});

describe('labels', () => {
  const t = {
    arrivalNs: 1_000_000,
    queuedNs: 1_200_000,
    scheduledNs: 3_200_000,
    firstTokenNs: 10_200_000,
    finishedNs: 50_200_000,
    departedNs: 50_700_000,
    prefillGapNs: 2_000_000,
    decodeGapNs: 5_000_000,
  };
  it('hand-computed values (µs)', () => {
    expect(queueingUs(t)).toBe(2000); // 3.2 ms − 1.2 ms
    expect(ttftUs(t)).toBe(9200); // 10.2 − 1.0
    expect(prefillUs(t)).toBe(5000); // 10.2 − 3.2 − 2.0 gap
    expect(decodeUs(t)).toBe(35000); // 50.2 − 10.2 − 5.0 gap
    expect(e2eUs(t)).toBe(49700); // 50.7 − 1.0
  });
  it('falls back to QUEUED / FINISHED without API times, and omits what is unknown', () => {
    const u = { ...t, arrivalNs: undefined, departedNs: undefined };
    expect(ttftUs(u)).toBe(9000);
    expect(e2eUs(u)).toBe(49000);
    const l = requestLabel('e', 'r', 10, 1, 0, true, { prefillGapNs: 0, decodeGapNs: 0, queuedNs: 0, scheduledNs: 1000, firstTokenNs: 5000, finishedNs: 5000 });
    expect(l.decode_us).toBeUndefined(); // one output token: no decode phase
    expect(l.prefill_us).toBe(4);
  });
});

describe('spill records and buckets', () => {
  it('records survive encode/decode and sort by (step, phase, time)', () => {
    const recs: StepRec[] = [
      { t: 'J', step: 5, line: 9, ts: 300, kind: 'FINISHED', req: 'a', tag: 'LENGTH', count: 4, total: 4 },
      { t: 'S', step: 5, line: 3, start: 100, end: 250, durUs: 0.15, nPf: 1, nDc: 2, pfTok: 30, dcTok: 2 },
      { t: 'J', step: 5, line: 2, ts: 120, kind: 'SCHEDULED', req: 'b', tag: 'FIRST', pDone: 0, total: 30 },
      { t: 'R', step: 4, line: 1, req: 'a', phase: 'DECODE', prompt: 10, computed: 12, outputs: 3, preemptions: 0, scheduled: 1 },
    ];
    const back = recs.map((r) => decodeRec(encodeRec(r)));
    for (let i = 0; i < recs.length; i++) expect(back[i]).toMatchObject(recs[i]!);
    back.sort(compareRecs);
    expect(back.map((r) => `${r.step}:${r.t}${r.t === 'J' ? r.kind : ''}`)).toEqual(['4:R', '5:JSCHEDULED', '5:S', '5:JFINISHED']);
  });

  it('spills to disk past the cap and reads keys back in order, nothing lost', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-spill-'));
    const b = new SpillBuckets('t', 4096, tmp);
    const want = new Map<number, string[]>();
    for (let i = 0; i < 5000; i++) {
      const k = (i * 7919) % 13;
      const r = `rec-${i}-${'x'.repeat(i % 17)}`;
      b.add(k, r);
      (want.get(k) ?? want.set(k, []).get(k)!).push(r);
    }
    expect(b.spilledBytes).toBeGreaterThan(0);
    expect(b.keys()).toEqual([...want.keys()].sort((x, y) => x - y));
    for (const k of b.keys()) expect(b.take(k)).toEqual(want.get(k));
    b.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});

describe('journey replay by hand', () => {
  it('budget 8: a decode first, then chunks in admission order; FIRST_TOKEN pins completion', () => {
    const steps: Step[] = [];
    const reqs: RequestResult[] = [];
    const rp = new OtlpReplay(
      { experiment: 'h', maxNumBatchedTokens: 8, duration: 'ts-delta', file: 'hand', skipBad: false },
      { step: (s) => steps.push(s), request: (r) => reqs.push(r), bad: () => {} },
    );
    const J = (step: number, ts: number, kind: 'QUEUED' | 'SCHEDULED' | 'FIRST_TOKEN' | 'FINISHED', req: string, total?: number): StepRec => ({
      t: 'J',
      step,
      line: 1,
      ts,
      kind,
      req,
      ...(kind === 'SCHEDULED' ? { tag: 'FIRST', pDone: 0, total } : {}),
    });
    // A: prompt 5 → prefill at step 0 (5 tokens), first token; decodes steps 1, 2; finishes at 2 (3 outputs).
    // B: prompt 12, admitted at step 1 → gets 8 − 1 (A's decode) = 7 tokens, then 5 at step 2 (budget 8 − 1) → first token at 2.
    rp.processStep(0, [J(0, 10, 'QUEUED', 'A'), J(0, 20, 'SCHEDULED', 'A', 5), J(0, 100, 'FIRST_TOKEN', 'A')]);
    rp.processStep(1, [J(1, 110, 'QUEUED', 'B'), J(1, 120, 'SCHEDULED', 'B', 12)]);
    rp.processStep(2, [J(2, 300, 'FIRST_TOKEN', 'B'), J(2, 310, 'FINISHED', 'A')]);
    rp.processStep(3, [J(3, 400, 'FINISHED', 'B')]);
    rp.finish();
    expect(steps.map((s) => [s.step, s.prefill.map((c) => [c.tokens, c.prior]), s.decode])).toEqual([
      [0, [[5, 0]], []],
      [1, [[7, 0]], [5]],
      [2, [[5, 7]], [6]],
      [3, [], [12]],
    ]);
    const a = reqs.find((r) => r.id === 'A')!;
    expect(a.prefillSteps).toEqual([0]);
    expect(a.decodeSteps).toEqual([1, 2]);
    expect(a.outputs).toBe(3);
    expect(rp.stats.mismatches).toBe(0);
  });
});

describe('OTLP line parsing', () => {
  it('reads intValue strings and numbers, and reports a missing scheduler.step', () => {
    const line = JSON.stringify({
      resourceSpans: [
        {
          scopeSpans: [
            {
              scope: { name: 'vllm.scheduler' },
              spans: [
                {
                  name: 'llm_core',
                  attributes: [{ key: 'gen_ai.request.id', value: { stringValue: 'r1' } }],
                  events: [
                    {
                      name: 'journey.SCHEDULED',
                      attributes: [
                        { key: 'scheduler.step', value: { intValue: '7' } },
                        { key: 'ts.monotonic', value: { doubleValue: 1.5 } },
                        { key: 'prefill.total_tokens', value: { intValue: 40 } },
                        { key: 'schedule.kind', value: { stringValue: 'FIRST' } },
                      ],
                    },
                    { name: 'journey.FIRST_TOKEN', attributes: [{ key: 'ts.monotonic_ns', value: { intValue: '1600000000' } }] },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    const p = parseOtlpLine(line, 3);
    expect(p.recs).toEqual([{ t: 'J', step: 7, line: 3, ts: 1_500_000_000, kind: 'SCHEDULED', req: 'r1', tag: 'FIRST', pDone: 0, total: 40, count: undefined }]);
    expect(p.bad).toEqual([`request r1: event journey.FIRST_TOKEN: attribute 'scheduler.step': expected a non-negative integer, got nothing`]);
    expect(() => parseOtlpLine('{"foo":1}', 1)).toThrow(/resourceSpans/);
  });
});

describe('targets file', () => {
  it('round-trips and validates', async () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-tg-')), 't.jsonl');
    await writeTargets(f, [{ experiment: 'e', request: 'r', kind: 'decode', steps: [3, 4, 5], durationUs: 1234.5 }]);
    expect(fs.readFileSync(f, 'utf8')).toBe('{"experiment":"e","request":"r","kind":"decode","steps":[3,4,5],"duration_us":1234.5}\n');
    expect(await readAllTargets(f)).toEqual([{ experiment: 'e', request: 'r', kind: 'decode', steps: [3, 4, 5], durationUs: 1234.5 }]);
    expect(() => validateTarget({ request: 'r', kind: 'both', steps: [1], duration_us: 1 }, 'f:1')).toThrow(/f:1: field 'kind'/);
    expect(() => validateTarget({ request: 'r', kind: 'decode', steps: [2, 1], duration_us: 1 }, 'f:2')).toThrow(/f:2: field 'steps\[1\]': step numbers must increase/);
    expect(() => validateTarget({ request: 'r', kind: 'decode', steps: [1], duration_us: 0 }, 'f:3')).toThrow(/duration_us/);
  });
});
