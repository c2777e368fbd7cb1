/**
 * The serving simulator's scheduler: hand-computed timelines, conservation, limits, preemption only
 * when the KV cache is exhausted, prefix caching, closed loop, DP, determinism.
 *
 * Most checks go through an independent referee that replays the schedule log (the same records
 * the trace emitter receives) and re-derives every request's token state, its KV blocks and the
 * limits, without looking at the simulator's internals.
 */
import { describe, it, expect } from 'vitest';
import { ServingSimulator, type EngineLimits, type StepView } from '../src/simulate/simulator.js';
import type { Workload, WorkloadRequest } from '../src/simulate/workload.js';
import { buildWorkload, parseInlineSpec } from '../src/simulate/workload.js';
import { simulate } from '../src/simulate/run.js';
import { syntheticTruthUs } from '../src/basis/synthetic.js';
import { rooflineConsts } from '../src/basis/roofline.js';
import type { ScheduleStep } from '../src/scheduler/schedule-log.js';
import type { StepTimeModel } from '../src/predict/model.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';

const constModel = (us: number): StepTimeModel => ({ name: `const ${us}`, predictUs: () => us });
const req = (id: string, arrivalUs: number, input: number, output: number, prefixGroup = -1, prefixTokens = 0): WorkloadRequest => ({ id, arrivalUs, input, output, prefixGroup, prefixTokens });
const open = (reqs: WorkloadRequest[]): Workload => ({ description: 'test', total: reqs.length, open: reqs });

interface Run {
  sim: ServingSimulator;
  views: { step: ScheduleStep; record: { prefill: { tokens: number; prior: number }[]; decode: number[]; durationUs: number } }[];
}

function run(w: Workload, limits: EngineLimits, model: StepTimeModel = constModel(1000), extra: { noise?: number; seed?: number; dp?: number } = {}): Run {
  const sim = new ServingSimulator(w, { limits, model, experiment: 't', scheduleLog: true, ...extra });
  const views: Run['views'] = [];
  sim.runAll((v: StepView) => {
    views.push({
      step: v.schedule!,
      record: { prefill: v.step.prefill.map((c) => ({ tokens: c.tokens, prior: c.prior })), decode: [...v.step.decode], durationUs: v.step.durationUs! },
    });
  });
  return { sim, views };
}

interface RefState {
  prompt: number;
  max: number;
  computed: number;
  outputs: number;
  running: boolean;
  held: number;
  finished: boolean;
  preemptions: number;
}

/** A cheap assertion for the referee's hot loops (expect() per token would dominate the test time). */
function check(cond: boolean, msg: () => string): void {
  if (!cond) expect.fail(msg());
}

/**
 * Independent referee over a schedule log (no prefix caching: every block a request holds is its own).
 * Returns counts; throws (via expect) on any violation.
 */
function referee(r: Run, limits: EngineLimits, opts: { caching?: boolean } = {}): { preemptionSteps: number; budgetFullSteps: number; seqsFullSteps: number; tokens: number } {
  const bs = limits.blockSize;
  const usable = limits.numGpuBlocks - 1;
  const st = new Map<string, RefState>();
  const sim = r.sim;
  for (let i = 0; i < sim.total; i++) {
    const q = sim.scheduleRequest(i);
    st.set(q.id, { prompt: q.promptTokens, max: q.maxTokens, computed: 0, outputs: 0, running: false, held: 0, finished: false, preemptions: 0 });
  }
  let preemptionSteps = 0;
  let budgetFullSteps = 0;
  let seqsFullSteps = 0;
  let tokens = 0;
  let lastStep = -Infinity;
  let lastEnd = -Infinity;
  const running = new Set<RefState>();
  for (const { step: s, record } of r.views) {
    check(s.step > lastStep && s.startNs >= lastEnd && s.endNs > s.startNs, () => `step ${s.step}: ids / times out of order`);
    check(Math.abs(record.durationUs - (s.endNs - s.startNs) / 1000) < 1e-6, () => `step ${s.step}: duration_us ≠ end − start`);
    lastStep = s.step;
    lastEnd = s.endNs;
    let victimsHeld = 0;
    let lastVictim: RefState | undefined;
    for (const e of s.events) {
      const q = st.get(e.request)!;
      if (e.kind === 'PREEMPTED') {
        check(q.running, () => `step ${s.step}: ${e.request} preempted while not running`);
        victimsHeld += q.held;
        lastVictim = { ...q };
        q.running = false;
        q.held = 0;
        q.computed = 0;
        q.preemptions++;
        running.delete(q);
        check(e.numPreemptions === q.preemptions, () => `step ${s.step}: num_preemptions`);
      } else if (e.kind === 'SCHEDULED') {
        check(!q.running, () => `step ${s.step}: ${e.request} scheduled while running`);
        check(e.scheduleKind === (q.preemptions > 0 ? 'RESUME' : 'FIRST'), () => `step ${s.step}: schedule kind`);
        if (e.scheduleKind === 'RESUME') check(e.decodeDoneTokens === q.outputs, () => `step ${s.step}: RESUME decode.done_tokens`);
        q.running = true;
        running.add(q);
        q.computed = e.prefillDoneTokens ?? 0;
        if (!opts.caching) check(q.computed === 0, () => `step ${s.step}: prefix hit without caching`);
        q.held = Math.ceil(q.computed / bs);
      }
    }
    // batch: decodes first, then prefill chunks; limits
    let seenPrefill = false;
    let stepTokens = 0;
    const dec: number[] = [];
    const pf: { tokens: number; prior: number }[] = [];
    for (const e of s.entries) {
      const q = st.get(e.request)!;
      const at = (): string => `step ${s.step}, ${e.request}`;
      check(q.running, () => `${at()}: in the batch but not running`);
      check(e.computedBefore === q.computed, () => `${at()}: computedBefore ${e.computedBefore} ≠ referee ${q.computed}`);
      check(e.outputBefore === q.outputs, () => `${at()}: outputBefore ${e.outputBefore} ≠ referee ${q.outputs}`);
      check(e.scheduled >= 1, () => `${at()}: scheduled < 1`);
      if (e.phase === 'DECODE') {
        check(!seenPrefill, () => `${at()}: decode after a prefill chunk`);
        check(e.scheduled === 1 && e.computedBefore === q.prompt + q.outputs - 1, () => `${at()}: bad decode entry`);
        dec.push(e.computedBefore);
      } else {
        seenPrefill = true;
        check(e.computedBefore + e.scheduled <= q.prompt + q.outputs, () => `${at()}: chunk past the sequence`);
        pf.push({ tokens: e.scheduled, prior: e.computedBefore });
      }
      stepTokens += e.scheduled;
      q.held = Math.max(q.held, Math.ceil((e.computedBefore + e.scheduled) / bs));
    }
    // the canonical record has the same composition
    check(JSON.stringify(record.decode) === JSON.stringify(dec) && JSON.stringify(record.prefill) === JSON.stringify(pf), () => `step ${s.step}: step record ≠ schedule entries`);
    check(stepTokens <= limits.maxNumBatchedTokens, () => `step ${s.step}: ${stepTokens} tokens > budget`);
    check(s.entries.length <= limits.maxNumSeqs && s.runningDepth! <= limits.maxNumSeqs, () => `step ${s.step}: over max_num_seqs`);
    check(s.kvBlocksFree! >= 0, () => `step ${s.step}: negative free blocks`);
    if (stepTokens === limits.maxNumBatchedTokens) budgetFullSteps++;
    if (s.entries.length === limits.maxNumSeqs) seqsFullSteps++;
    tokens += stepTokens;
    if (!opts.caching) {
      let held = 0;
      for (const q of running) held += q.held;
      // KV never over-committed
      check(held <= usable, () => `step ${s.step}: ${held} blocks held > ${usable} usable`);
      // Preemption only when an allocation did not fit: just before the first preemption the pool
      // held U blocks and the request being served needed more than usable − U. If that request was
      // then scheduled, held + victims ≥ U + need > usable; if it preempted itself (the last victim),
      // U + its need > usable, its need being its next chunk (what the budget left allows).
      if (lastVictim) {
        preemptionSteps++;
        const v = lastVictim;
        const left = limits.maxNumBatchedTokens - stepTokens;
        const selfNeed = Math.ceil((v.computed + Math.min(v.prompt + v.outputs - v.computed, left)) / bs) - v.held;
        check(held + victimsHeld > usable || (left > 0 && held + victimsHeld + selfNeed > usable), () => `step ${s.step}: preempted with ${usable - held - victimsHeld} blocks free`);
      }
    }
    // forward pass: advance
    for (const e of s.entries) {
      const q = st.get(e.request)!;
      q.computed += e.scheduled;
      if (q.computed === q.prompt + q.outputs) q.outputs++;
    }
    for (const e of s.events) {
      const q = st.get(e.request)!;
      if (e.kind === 'FIRST_TOKEN') check(q.outputs === 1, () => `step ${s.step}: FIRST_TOKEN with ${q.outputs} outputs`);
      if (e.kind === 'FINISHED') {
        check(q.outputs === q.max, () => `step ${s.step}: FINISHED with ${q.outputs}/${q.max} outputs`);
        q.finished = true;
        q.running = false;
        q.held = 0;
        running.delete(q);
      }
    }
    let held = 0;
    for (const q of running) {
      check(q.outputs < q.max, () => `step ${s.step}: a request reached its output length without FINISHED`);
      held += q.held;
    }
    // blocks in use after the step (finished requests freed theirs) agree with the pool's own count
    if (!opts.caching) check(usable - s.kvBlocksFree! === held, () => `step ${s.step}: pool uses ${usable - s.kvBlocksFree!} blocks, referee ${held}`);
  }
  // conservation: every request finished with all its tokens (or was dropped, reported by the simulator)
  const results = sim.results();
  for (const res of results) {
    const q = st.get(sim.engineId(results.indexOf(res)))!;
    if (res.status === 'dropped') {
      expect(res.reason).not.toBe('');
      continue;
    }
    expect(res.status).toBe('finished');
    expect(q.finished).toBe(true);
    expect(q.outputs).toBe(res.output);
    expect(res.generated).toBe(res.output);
    expect(res.preemptions).toBe(q.preemptions);
  }
  return { preemptionSteps, budgetFullSteps, seqsFullSteps, tokens };
}

const roomy: EngineLimits = { maxNumSeqs: 64, maxNumBatchedTokens: 2048, blockSize: 16, numGpuBlocks: 100_000, prefixCaching: false };

describe('simulate: hand-computed timeline', () => {
  it('chunked prefill, TTFT, TPOT and E2E match a hand-worked schedule', () => {
    // A (t=0, 100 in, 3 out), B (t=0.5 ms, 3000 in, 2 out), budget 2048, every step 1000 µs:
    // step 1 [0,1]: A prefill 100            → A first token at 1 ms (B arrives during the step)
    // step 2 [1,2]: A decode (ctx 100); B chunk 2047 (2048 − 1)
    // step 3 [2,3]: A decode (ctx 101) → A done at 3 ms; B chunk 953 → B first token at 3 ms
    // step 4 [3,4]: B decode (ctx 3000) → B done at 4 ms
    const r = run(open([req('A', 0, 100, 3), req('B', 500, 3000, 2)]), roomy);
    expect(r.views.map((v) => v.record)).toEqual([
      { prefill: [{ tokens: 100, prior: 0 }], decode: [], durationUs: 1000 },
      { prefill: [{ tokens: 2047, prior: 0 }], decode: [100], durationUs: 1000 },
      { prefill: [{ tokens: 953, prior: 2047 }], decode: [101], durationUs: 1000 },
      { prefill: [], decode: [3000], durationUs: 1000 },
    ]);
    const [a, b] = simulate(open([req('A', 0, 100, 3), req('B', 500, 3000, 2)]), constModel(1000), { limits: roomy, experiment: 't' }).metrics;
    expect(a).toMatchObject({ queueUs: 0, ttftUs: 1000, tpotUs: 1000, e2eUs: 3000, generatedTokens: 3 });
    expect(b).toMatchObject({ queueUs: 500, ttftUs: 2500, tpotUs: 1000, e2eUs: 3500, generatedTokens: 2 });
    referee(r, roomy);
  });

  it('idles until the next arrival and adds per-step overhead', () => {
    const o = simulate(open([req('A', 0, 10, 2), req('B', 10_000, 10, 1)]), constModel(1000), { limits: roomy, experiment: 't', overheadUs: 250 });
    expect(o.metrics[0]).toMatchObject({ ttftUs: 1250, e2eUs: 2500 });
    expect(o.metrics[1]).toMatchObject({ queueUs: 0, ttftUs: 1250, e2eUs: 1250 });
    expect(o.sim.steps).toBe(3);
  });
});

describe('simulate: conservation and limits', () => {
  it('a heavy random workload respects max_num_seqs and the token budget, and every token is accounted for', async () => {
    const limits: EngineLimits = { maxNumSeqs: 32, maxNumBatchedTokens: 512, blockSize: 16, numGpuBlocks: 100_000, prefixCaching: false };
    const w = await buildWorkload(parseInlineSpec('poisson:requests=400,rate=1000,input=lognormal(300;1.5),output=lognormal(60;1)'), 3);
    const r = run(w, limits);
    const c = referee(r, limits);
    expect(c.budgetFullSteps).toBeGreaterThan(0);
    expect(c.seqsFullSteps).toBeGreaterThan(0);
    expect(r.sim.totalPreemptions).toBe(0);
    // tokens computed = Σ (prompt + output − 1) without preemption or caching
    let expected = 0;
    for (const q of w.open) expected += q.input + q.output - 1;
    expect(c.tokens).toBe(expected);
  });

  it('preempts (by recompute) only when the KV cache is exhausted, and still finishes everything', async () => {
    // 40 usable blocks of 16 = 640 tokens; 12 requests of 64 + up to 200 tokens cannot all fit.
    const limits: EngineLimits = { maxNumSeqs: 16, maxNumBatchedTokens: 256, blockSize: 16, numGpuBlocks: 41, prefixCaching: false, watermark: 0 };
    const w = await buildWorkload(parseInlineSpec('poisson:requests=12,rate=1000,input=64,output=50..200'), 5);
    const r = run(w, limits);
    const c = referee(r, limits);
    expect(r.sim.totalPreemptions).toBeGreaterThan(0);
    expect(c.preemptionSteps).toBeGreaterThan(0);
    const res = r.sim.results();
    expect(res.some((x) => x.recomputedTokens > 0)).toBe(true);
    // recompute work shows up in the token total
    let base = 0;
    for (const q of w.open) base += q.input + q.output - 1;
    expect(c.tokens).toBeGreaterThan(base);
  });

  it('never preempts when the KV cache is large enough', async () => {
    const w = await buildWorkload(parseInlineSpec('poisson:requests=200,rate=500,input=lognormal(500;1),output=lognormal(100;1)'), 9);
    const r = run(w, { ...roomy, maxNumSeqs: 128 });
    referee(r, { ...roomy, maxNumSeqs: 128 });
    expect(r.sim.totalPreemptions).toBe(0);
  });

  it('admission waits for room for the full prompt (scheduler_reserve_full_isl) and drops prompts that can never fit', () => {
    const limits: EngineLimits = { maxNumSeqs: 8, maxNumBatchedTokens: 128, blockSize: 16, numGpuBlocks: 11, prefixCaching: false, watermark: 0 };
    // 10 usable blocks = 160 tokens. A holds 100 + 20 tokens; B (prompt 100) must wait for A to finish; C (prompt 200) never fits.
    const r = run(open([req('A', 0, 100, 20), req('B', 1, 100, 5), req('C', 2, 200, 5)]), limits);
    referee(r, limits);
    const [a, b, c] = r.sim.results();
    expect(c!.status).toBe('dropped');
    expect(c!.reason).toMatch(/max_model_len|never fits/);
    expect(b!.firstScheduledNs).toBeGreaterThanOrEqual(a!.finishNs);
    expect(r.sim.totalPreemptions).toBe(0);
  });

  it('caps outputs at max_model_len and drops prompts at or over it', () => {
    const r = run(open([req('A', 0, 90, 50), req('B', 0, 100, 5)]), { ...roomy, maxModelLen: 100 });
    const [a, b] = r.sim.results();
    expect(a).toMatchObject({ status: 'finished', output: 10, generated: 10, reason: 'output capped at max_model_len' });
    expect(b!.status).toBe('dropped');
  });
});

describe('simulate: prefix caching', () => {
  it('requests sharing a prefix hit whole cached blocks after the first has computed them', () => {
    const limits: EngineLimits = { maxNumSeqs: 16, maxNumBatchedTokens: 2048, blockSize: 16, numGpuBlocks: 10_000, prefixCaching: true };
    // shared prefix of 500 tokens → 31 whole blocks = 496 cached tokens for later group members
    const reqs = [req('A', 0, 800, 4, 0, 500), req('B', 5000, 700, 4, 0, 500), req('C', 5000, 700, 4, 1, 500), req('D', 9000, 600, 4, 0, 500)];
    const withCache = run(open(reqs), limits);
    referee(withCache, limits, { caching: true });
    const res = withCache.sim.results();
    expect(res.map((x) => x.cachedTokens)).toEqual([0, 496, 0, 496]);
    const without = run(open(reqs), { ...limits, prefixCaching: false });
    const pfTokens = (x: Run): number => x.views.reduce((s, v) => s + v.record.prefill.reduce((t, c) => t + c.tokens, 0), 0);
    expect(pfTokens(without) - pfTokens(withCache)).toBe(2 * 496);
  });

  it('a preempted request resumes from its own blocks that are still cached', async () => {
    const limits: EngineLimits = { maxNumSeqs: 16, maxNumBatchedTokens: 256, blockSize: 16, numGpuBlocks: 41, watermark: 0 };
    const w = await buildWorkload(parseInlineSpec('poisson:requests=12,rate=1000,input=64,output=50..200'), 5);
    const cached = run(w, { ...limits, prefixCaching: true });
    referee(cached, limits, { caching: true });
    const plain = run(w, { ...limits, prefixCaching: false });
    const recompute = (x: Run): number => x.sim.results().reduce((s, q) => s + q.recomputedTokens, 0);
    expect(cached.sim.totalPreemptions).toBeGreaterThan(0);
    // with caching some resumed requests start from cached blocks: RESUME events with prefill.done_tokens > 0
    const resumedWithHits = cached.views.flatMap((v) => v.step.events).filter((e) => e.scheduleKind === 'RESUME' && (e.prefillDoneTokens ?? 0) > 0);
    expect(resumedWithHits.length).toBeGreaterThan(0);
    expect(recompute(cached) / cached.sim.totalPreemptions).toBeLessThan(recompute(plain) / plain.sim.totalPreemptions);
  });
});

describe('simulate: closed loop, data parallel, determinism', () => {
  it('closed loop keeps at most `concurrency` requests in flight and issues all of them', async () => {
    const w = await buildWorkload(parseInlineSpec('closed:requests=300,concurrency=12,input=256,output=32'), 1);
    const o = simulate(w, constModel(2000), { limits: roomy, experiment: 't' });
    expect(o.metrics.length).toBe(300);
    expect(o.metrics.every((m) => m.status === 'finished')).toBe(true);
    // in flight at any arrival instant ≤ 12
    const ev: [number, number][] = [];
    for (const q of o.sim.results()) {
      ev.push([q.arrivalNs, 1]);
      ev.push([q.finishNs, -1]);
    }
    ev.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let cur = 0;
    let peak = 0;
    for (const [, d] of ev) {
      cur += d;
      peak = Math.max(peak, cur);
    }
    expect(peak).toBe(12);
    // fixed ISL/OSL
    expect(new Set(o.metrics.map((m) => `${m.inputTokens}/${m.outputTokens}`))).toEqual(new Set(['256/32']));
  });

  it('data-parallel ranks share the load, each within its own max_num_seqs', async () => {
    const w = await buildWorkload(parseInlineSpec('poisson:requests=300,rate=400,input=200,output=100'), 2);
    const sim = new ServingSimulator(w, { limits: { ...roomy, maxNumSeqs: 20 }, model: constModel(1000), experiment: 't', dp: 2 });
    const perRank = [0, 0];
    let maxBatch = 0;
    sim.runAll((v) => {
      perRank[v.rank]!++;
      maxBatch = Math.max(maxBatch, v.step.prefill.length + v.step.decode.length);
      expect(v.step.experiment).toBe(`t-dp${v.rank}`);
    });
    const res = sim.results();
    expect(res.every((x) => x.status === 'finished')).toBe(true);
    const onRank0 = res.filter((x) => x.rank === 0).length;
    expect(onRank0).toBeGreaterThan(100);
    expect(onRank0).toBeLessThan(200);
    expect(maxBatch).toBeLessThanOrEqual(20);
    // lockstep: both ranks ran in nearly every step
    expect(Math.min(...perRank)).toBeGreaterThan(0.8 * sim.steps);
  });

  it('is deterministic under a seed (noise and workload), and the seed matters', async () => {
    const arch = loadArchitecture('llama-3.1-8b');
    const gpu = loadGpu('h100-sxm');
    const c = rooflineConsts({ arch, gpu, tp: 1 });
    const model: StepTimeModel = { name: 'synthetic truth', predictUs: (st) => syntheticTruthUs(c, st) };
    const go = async (seed: number): Promise<string> => {
      const w = await buildWorkload(parseInlineSpec('gamma:requests=150,rate=40,cv=3,input=lognormal(700;1),output=exp(80)'), seed);
      const steps: string[] = [];
      const o = simulate(w, model, { limits: { ...roomy, numGpuBlocks: 800 }, experiment: 't', noise: 0.05, seed }, (v) => steps.push(JSON.stringify(v.step)));
      return JSON.stringify([steps, o.metrics, o.summary]);
    };
    const a = await go(7);
    expect(await go(7)).toBe(a);
    expect(await go(8)).not.toBe(a);
  });
});
