/**
 * Conformance of the scheduler core (src/scheduler/core.ts) with vLLM V1's scheduler as documented
 * in ../shared/docs/vllm-otlp-trace.md and vllm/v1/core/sched/scheduler.py: token budget
 * (max_num_batched_tokens), max_num_seqs, running queue before waiting queue, FCFS admission that
 * stops at the first request whose blocks do not fit, recompute preemption of the last-admitted
 * request (to the front of the waiting queue), no admission in a step that preempts, a resumed
 * request at the back of the running queue, prefix-cache hits at first admission only.
 */
import { describe, expect, it } from 'vitest';
import { SchedulerCore, newSchedRequest, type SchedRequest, type SchedulerLimits } from '../src/scheduler/core.js';
import { PagedKv, type PagedReq } from '../src/scheduler/kv-cache.js';
import { BlockPool } from '../src/scheduler/kv.js';

interface R extends SchedRequest {
  id: string;
}
const req = (id: string, prompt: number, cached = 0): R => ({ ...newSchedRequest(prompt, cached), id });
const LIM: SchedulerLimits = { maxNumBatchedTokens: 100, maxNumSeqs: 4, blockSize: 10, numGpuBlocks: 1000 };
const ids = (rs: readonly R[]): string[] => rs.map((r) => r.id);
/** Run the forward pass of a plan (no request finishes). */
function forward(core: SchedulerCore<R>, plan: ReturnType<SchedulerCore<R>['schedule']>): void {
  for (const g of plan.decodes) core.advance(g, 1);
  for (const { req: g, chunk } of plan.prefills) core.advance(g, chunk);
}

describe('scheduler core: vLLM V1 conformance', () => {
  it('chunks a long prompt over steps within the token budget', () => {
    const core = new SchedulerCore<R>(LIM);
    const a = req('a', 250);
    core.enqueue(a);
    const sizes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = core.schedule();
      sizes.push(...p.prefills.map((c) => c.chunk));
      forward(core, p);
    }
    expect(sizes).toEqual([100, 100, 50]);
    expect(a.prefilling).toBe(false);
    expect(a.outputs).toBe(1); // the step that completes the prefill samples the first token
  });

  it('serves running decodes and running prefills in running order, then admits waiting requests with what is left', () => {
    const core = new SchedulerCore<R>(LIM);
    const d = req('d', 10);
    core.enqueue(d);
    forward(core, core.schedule()); // d prefilled, decoding from now on
    const p = req('p', 150);
    core.enqueue(p);
    forward(core, core.schedule()); // d decodes 1, p gets 99
    const w = req('w', 40);
    core.enqueue(w);
    const plan = core.schedule();
    expect(ids(plan.decodes)).toEqual(['d']);
    expect(plan.prefills.map((c) => [c.req.id, c.chunk])).toEqual([
      ['p', 51],
      ['w', 40],
    ]);
    expect(1 + plan.prefills.reduce((a, c) => a + c.chunk, 0)).toBeLessThanOrEqual(LIM.maxNumBatchedTokens);
  });

  it('never runs more than max_num_seqs requests', () => {
    const core = new SchedulerCore<R>({ ...LIM, maxNumSeqs: 2 });
    for (const id of ['a', 'b', 'c']) core.enqueue(req(id, 5));
    const plan = core.schedule();
    expect(ids(plan.admitted.map((x) => x.req))).toEqual(['a', 'b']);
    expect(ids([...core.waiting])).toEqual(['c']);
  });

  it('admits first-come-first-served and stops at the first waiting request whose blocks do not fit', () => {
    const core = new SchedulerCore<R>({ ...LIM, numGpuBlocks: 5 });
    core.enqueue(req('big', 60)); // 6 blocks > 5 free
    core.enqueue(req('small', 10));
    const plan = core.schedule();
    expect(plan.admitted).toEqual([]);
    expect(ids([...core.waiting])).toEqual(['big', 'small']);
  });

  it('preempts the last-admitted running request by recompute, to the front of the waiting queue, and admits nobody in that step', () => {
    const core = new SchedulerCore<R>({ maxNumBatchedTokens: 100, maxNumSeqs: 8, blockSize: 10, numGpuBlocks: 4 });
    const a = req('a', 20);
    const b = req('b', 20);
    core.enqueue(a);
    core.enqueue(b);
    forward(core, core.schedule()); // a, b: 2 blocks each, pool full; both sampled their first token
    core.enqueue(req('late', 5));
    const plan = core.schedule(); // a's decode needs a third block: b (admitted last) is evicted
    expect(ids(plan.preempted)).toEqual(['b']);
    expect(ids(plan.decodes)).toEqual(['a']);
    expect(plan.admitted).toEqual([]); // no admission in a step that preempted
    expect(ids([...core.waiting])).toEqual(['b', 'late']);
    expect(b.computed).toBe(0);
    expect(b.blocks).toBe(0);
    expect(b.prefilling).toBe(true);
    expect(b.preemptions).toBe(1);
  });

  it('a preempted request resumes from the front of the waiting queue and recomputes prompt + generated tokens', () => {
    const core = new SchedulerCore<R>({ maxNumBatchedTokens: 100, maxNumSeqs: 8, blockSize: 10, numGpuBlocks: 5 });
    const a = req('a', 20);
    const b = req('b', 20);
    core.enqueue(a);
    core.enqueue(b);
    forward(core, core.schedule()); // 4 blocks used
    const p1 = core.schedule(); // a decodes (needs block 3 → 5 used), b decodes (needs block 3 → preempt b itself)
    expect(ids(p1.preempted)).toEqual(['b']);
    forward(core, p1);
    const c = req('c', 5);
    core.enqueue(c); // c queues behind the preempted b
    expect(ids([...core.waiting])).toEqual(['b', 'c']);
    core.finish(a); // frees 3 blocks
    const p2 = core.schedule();
    expect(ids(p2.admitted.map((x) => x.req))).toEqual(['b', 'c']); // the preempted b (front of waiting) before the later c
    expect(p2.admitted.map((x) => x.resume)).toEqual([true, false]);
    expect(p2.prefills[0]!.chunk).toBe(21); // prompt 20 + 1 generated token recomputed
    expect(ids(core.running)).toEqual(['b', 'c']);
  });

  it('counts a prefix-cache hit as computed at first admission, not on resume', () => {
    const core = new SchedulerCore<R>(LIM);
    const a = req('a', 50, 30);
    core.enqueue(a);
    const plan = core.schedule();
    expect(a.computed).toBe(30);
    expect(plan.prefills[0]!.chunk).toBe(20);
    forward(core, plan);
    expect(a.outputs).toBe(1);
  });

  it("frees a finished request's blocks", () => {
    const core = new SchedulerCore<R>(LIM);
    const a = req('a', 25);
    core.enqueue(a);
    forward(core, core.schedule());
    expect(core.free).toBe(LIM.numGpuBlocks - 3);
    core.finish(a);
    expect(core.free).toBe(LIM.numGpuBlocks);
    expect(core.running).toEqual([]);
  });

  it('rejects max_num_seqs above the token budget', () => {
    expect(() => new SchedulerCore<R>({ ...LIM, maxNumSeqs: 200 })).toThrow(/maxNumSeqs/);
  });

  it('serves the running queue in its order, decodes and unfinished prefills mixed: a prefill ahead of a decode can take the whole budget (vLLM schedule(), running loop)', () => {
    const core = new SchedulerCore<R>(LIM);
    const a = req('a', 150);
    const b = req('b', 10);
    core.enqueue(a);
    core.enqueue(b);
    // step 1: an unmodelled limit shortens a's chunk to 20, so b is admitted behind it and prefills in full
    const p1 = core.schedule({ chunk: (g, n) => (g.id === 'a' ? 20 : n) });
    expect(p1.prefills.map((c) => [c.req.id, c.chunk])).toEqual([
      ['a', 20],
      ['b', 10],
    ]);
    forward(core, p1);
    expect(b.prefilling).toBe(false);
    // step 2: a (ahead of b in the running queue) takes all 100 tokens; b's decode waits (no decode-first pass)
    const p2 = core.schedule();
    expect(p2.entries.map((e) => [e.req.id, e.chunk, e.decode])).toEqual([['a', 100, false]]);
    expect(p2.decodes).toEqual([]);
  });

  it('caps every chunk at long_prefill_token_threshold, for running and waiting requests', () => {
    const core = new SchedulerCore<R>({ ...LIM, longPrefillTokenThreshold: 30 });
    const a = req('a', 70);
    const b = req('b', 50);
    core.enqueue(a);
    core.enqueue(b);
    const p1 = core.schedule();
    expect(p1.entries.map((e) => [e.req.id, e.chunk])).toEqual([
      ['a', 30],
      ['b', 30],
    ]);
    forward(core, p1);
    const p2 = core.schedule();
    expect(p2.entries.map((e) => [e.req.id, e.chunk])).toEqual([
      ['a', 30],
      ['b', 20],
    ]);
  });

  it('marks an entry as a decode when it computes exactly its newest sampled token (a resumed recompute included)', () => {
    const core = new SchedulerCore<R>({ maxNumBatchedTokens: 21, maxNumSeqs: 8, blockSize: 10, numGpuBlocks: 100 });
    const a = req('a', 20);
    core.enqueue(a);
    forward(core, core.schedule()); // prefill 20, first token
    const p = core.schedule();
    expect(p.entries.map((e) => [e.req.id, e.chunk, e.computedBefore, e.decode])).toEqual([['a', 1, 20, true]]);
  });

  it('with the paged cache: a later request hits the whole cached blocks of a shared prefix (get_computed_blocks)', () => {
    interface P extends R, PagedReq {
      group: number;
    }
    const bs = 10;
    const mk = (id: string, prompt: number, group: number): P => ({ ...req(id, prompt), table: new Int32Array(0), hitBlocks: 0, group });
    const keys = {
      shared: (r: P, i: number) => r.group >= 0 && (i + 1) * bs <= 30,
      key: (r: P, i: number) => (r.group >= 0 && (i + 1) * bs <= 30 ? 1000 + i : (Number(r.id.charCodeAt(0)) + 1) * 100 + i),
    };
    const kv = new PagedKv<P>(new BlockPool(101, true), bs, keys);
    const core = new SchedulerCore<P>({ maxNumBatchedTokens: 200, maxNumSeqs: 8, blockSize: bs, numGpuBlocks: 101 }, kv);
    const a = mk('a', 45, 0);
    core.enqueue(a);
    const fwd = (plan: ReturnType<SchedulerCore<P>['schedule']>) => core.complete(plan);
    fwd(core.schedule());
    core.finish(a);
    const b = mk('b', 52, 0); // shares a's 30-token prefix
    core.enqueue(b);
    const p = core.schedule();
    expect(p.entries.map((e) => [e.req.id, e.computedBefore, e.chunk])).toEqual([['b', 30, 22]]);
    expect(b.hitBlocks).toBe(3);
  });

  it('reserveFullIsl and the watermark hold back an admission that the chunk alone would allow', () => {
    const lim = { maxNumBatchedTokens: 20, maxNumSeqs: 8, blockSize: 10, numGpuBlocks: 5 };
    const plain = new SchedulerCore<R>(lim);
    plain.enqueue(req('a', 60));
    expect(plain.schedule().entries.map((e) => e.chunk)).toEqual([20]); // 2 blocks for the first chunk
    const full = new SchedulerCore<R>({ ...lim, reserveFullIsl: true });
    full.enqueue(req('a', 60)); // 6 blocks for the whole prompt > 5
    const p = full.schedule();
    expect(p.entries).toEqual([]);
    expect(p.blockedByKv).toBe(true);
    const wm = new SchedulerCore<R>({ ...lim, maxNumBatchedTokens: 40, watermarkBlocks: 2 });
    wm.enqueue(req('a', 10));
    wm.enqueue(req('b', 30)); // a takes 1 block; b needs 3 + watermark 2 > 4 free
    expect(wm.schedule().entries.map((e) => e.req.id)).toEqual(['a']);
  });
});
