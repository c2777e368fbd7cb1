/**
 * Packed records (issue 17, packed.ts, packed-spill.ts): unpacking gives exactly the records that
 * the text encoding round trip gives (same keys in the same order, same values: −0 as 0, absent
 * values as undefined, an empty tag as none), in memory and after a spill to disk; runs keep their
 * order within a bucket and carry their chunk's first line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackedBuckets } from '../src/reconstruct/vllm-otlp/packed-spill.js';
import { RecPacker, unpackSeg } from '../src/reconstruct/vllm-otlp/packed.js';
import { decodeRec, encodeRec, type StepRec } from '../src/reconstruct/vllm-otlp/records.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-packed-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const RECS: StepRec[] = [
  { t: 'J', step: 3, line: 1, ts: 1_700_000_000_123_456, kind: 'SCHEDULED', req: 'cmpl-a-0', tag: 'RESUME', pDone: 0, total: 812, count: 17 },
  { t: 'J', step: 3, line: 1, ts: 5, kind: 'QUEUED', req: 'cmpl-b-0' },
  { t: 'J', step: 4, line: 2, ts: 6, kind: 'FINISHED', req: 'cmpl-ü-0', tag: '', count: -0, total: undefined },
  { t: 'J', step: 2048, line: 2, ts: -0, kind: 'FIRST_TOKEN', req: 'cmpl-a-0', pDone: 812.5, count: 0 },
  { t: 'J', step: 9, line: 3, ts: 7, kind: 'PREEMPTED', req: 'cmpl-b-0', count: 2 },
  { t: 'S', step: 3, line: 1, start: 1009142828369, end: 1009147455991, durUs: 4612.6, nPf: 0, nDc: 12, pfTok: 0, dcTok: 12, running: 12, waiting: 0, kvTotal: 12000, kvFree: 10484 },
  { t: 'S', step: 5, line: 4 },
  { t: 'R', step: 3, line: 1, req: 'cmpl-a-0', phase: 'PREFILL', prompt: 812, computed: 0, outputs: 0, preemptions: 0, scheduled: 512 },
  { t: 'R', step: 1025, line: 9, req: 'cmpl-b-0', phase: 'DECODE', prompt: 5e9, computed: 5e9 + 3, outputs: 4, preemptions: 1, scheduled: 1 },
];

/** A record as an ordered list of [key, value] (what a round trip must keep). */
const entries = (r: StepRec): [string, unknown][] => Object.entries(r).map(([k, v]) => [k, Object.is(v, -0) ? 'minus zero' : v]);
const viaText = (r: StepRec): [string, unknown][] => entries(decodeRec(encodeRec(r)));

describe('packed records', () => {
  it('unpack to the records the text encoding gives, bucket by bucket in the order added', () => {
    const pk = new RecPacker(1024);
    for (const r of RECS) pk.add(r);
    const p = pk.finish();
    const got: StepRec[] = [];
    const buckets: number[] = [];
    for (let i = 0; i < p.segs.length; i += 4) {
      buckets.push(p.segs[i]!);
      unpackSeg({ data: p.data.subarray(p.segs[i + 1]!, p.segs[i + 2]!), strs: p.strs, lineBase: 100, count: p.segs[i + 3]! }, got);
    }
    expect(buckets).toEqual([0, 2, 1]);
    const want = [...RECS.filter((r) => r.step < 1024), ...RECS.filter((r) => r.step >= 2048), ...RECS.filter((r) => r.step >= 1024 && r.step < 2048)];
    expect(got.map(entries)).toEqual(want.map((r) => viaText({ ...r, line: r.line + 100 })));
  });

  it('read back the same segments, in order, after a spill to disk', () => {
    const b = new PackedBuckets('t', 64, tmp);
    const chunks = [RECS.slice(0, 4), RECS.slice(4, 7), [], RECS.slice(7)];
    let base = 0;
    for (const c of chunks) {
      const pk = new RecPacker(2);
      for (const r of c) pk.add(r);
      b.addChunk(pk.finish(), base);
      base += 10;
    }
    expect(b.spilledBytes).toBeGreaterThan(0);
    expect(b.records).toBe(RECS.length);
    const got: StepRec[] = [];
    for (const k of b.keys()) for (const seg of b.take(k)) unpackSeg(seg, got);
    const want = RECS.map((r, i) => ({ ...r, line: r.line + 10 * (i < 4 ? 0 : i < 7 ? 1 : 3) })).sort((x, y) => Math.floor(x.step / 2) - Math.floor(y.step / 2));
    expect(got.map(entries)).toEqual(want.map(viaText));
    b.dispose();
  });
});
