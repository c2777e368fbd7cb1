/**
 * Compact records (records.ts) packed into a Float64Array, grouped by step bucket, with the
 * strings they name (request ids, tags) in a small per-chunk table: what pass 1 hands to pass 2.
 * A packed chunk is a few flat buffers — cheap to transfer from a worker thread (zero copy), to
 * spill to disk and to read back — instead of one object or text line per record.
 *
 * Record layout (doubles; `undefined` is NaN; line numbers are relative to the chunk's first line):
 *   J (journey event)   code 0–4 (JOURNEY_KINDS), step, line, ts, req, tag, pDone, total, count
 *   S (batch summary)   code 8, step, line, start, end, durUs, nPf, nDc, pfTok, dcTok, running, waiting, kvTotal, kvFree
 *   R (snapshot)        code 16 PREFILL / 17 DECODE, step, line, req, prompt, computed, outputs, preemptions, scheduled
 * `req` and `tag` are indices into the string table (tag −1: none). Decoding gives exactly the
 * records that records.ts `decodeRec(encodeRec(r))` gives (−0 reads back as 0, an empty tag as none).
 */
import type { JourneyKind, RequestPhase } from '../../scheduler/schedule-log.js';
import type { StepRec } from './records.js';

export const JOURNEY_KINDS: readonly JourneyKind[] = ['QUEUED', 'SCHEDULED', 'FIRST_TOKEN', 'PREEMPTED', 'FINISHED'];
const CODE_S = 8;
const CODE_R = 16;
const PHASES: readonly RequestPhase[] = ['PREFILL', 'DECODE'];
const WIDTH_J = 9;
const WIDTH_S = 14;
const WIDTH_R = 9;

/** The records of one chunk: `data` holds one run of records per bucket, `segs` = [bucket, start, end, count]… (offsets in doubles). */
export interface PackedRecs {
  data: Float64Array;
  segs: number[];
  strs: string[];
}

/** One bucket's run of records from one chunk (a view; `lineBase` is added to the relative line numbers). */
export interface PackedSeg {
  readonly data: Float64Array;
  readonly strs: readonly string[];
  readonly lineBase: number;
  readonly count: number;
}

const opt = (x: number | undefined): number => (x === undefined ? Number.NaN : x === 0 ? 0 : x);
const req = (x: number): number => (x === 0 ? 0 : x);
const und = (x: number): number | undefined => (x === x ? x : undefined);

class Run {
  data = new Float64Array(256);
  n = 0;
  count = 0;
  room(k: number): Float64Array {
    if (this.n + k > this.data.length) {
      const d = new Float64Array(Math.max(2 * this.data.length, this.n + k));
      d.set(this.data.subarray(0, this.n));
      this.data = d;
    }
    this.count++;
    return this.data;
  }
}

/** Builds the packed records of one chunk, bucket by bucket, in the order they are added. */
export class RecPacker {
  private readonly runs = new Map<number, Run>();
  private readonly ids = new Map<string, number>();
  private readonly strs: string[] = [];

  constructor(private readonly perBucket: number) {}

  private str(s: unknown): number {
    const k = String(s);
    let i = this.ids.get(k);
    if (i === undefined) {
      i = this.strs.length;
      this.strs.push(k);
      this.ids.set(k, i);
    }
    return i;
  }

  add(r: StepRec): void {
    const b = Math.floor(r.step / this.perBucket);
    let run = this.runs.get(b);
    if (!run) {
      run = new Run();
      this.runs.set(b, run);
    }
    const p = run.n;
    if (r.t === 'J') {
      const d = run.room(WIDTH_J);
      d[p] = JOURNEY_KINDS.indexOf(r.kind);
      d[p + 1] = req(r.step);
      d[p + 2] = req(r.line);
      d[p + 3] = req(r.ts);
      d[p + 4] = this.str(r.req);
      d[p + 5] = r.tag === undefined || r.tag === '' ? -1 : this.str(r.tag);
      d[p + 6] = opt(r.pDone);
      d[p + 7] = opt(r.total);
      d[p + 8] = opt(r.count);
      run.n = p + WIDTH_J;
    } else if (r.t === 'S') {
      const d = run.room(WIDTH_S);
      d[p] = CODE_S;
      d[p + 1] = req(r.step);
      d[p + 2] = req(r.line);
      d[p + 3] = opt(r.start);
      d[p + 4] = opt(r.end);
      d[p + 5] = opt(r.durUs);
      d[p + 6] = opt(r.nPf);
      d[p + 7] = opt(r.nDc);
      d[p + 8] = opt(r.pfTok);
      d[p + 9] = opt(r.dcTok);
      d[p + 10] = opt(r.running);
      d[p + 11] = opt(r.waiting);
      d[p + 12] = opt(r.kvTotal);
      d[p + 13] = opt(r.kvFree);
      run.n = p + WIDTH_S;
    } else {
      const d = run.room(WIDTH_R);
      d[p] = CODE_R + PHASES.indexOf(r.phase);
      d[p + 1] = req(r.step);
      d[p + 2] = req(r.line);
      d[p + 3] = this.str(r.req);
      d[p + 4] = req(r.prompt);
      d[p + 5] = req(r.computed);
      d[p + 6] = req(r.outputs);
      d[p + 7] = req(r.preemptions);
      d[p + 8] = req(r.scheduled);
      run.n = p + WIDTH_R;
    }
  }

  /** The chunk's records in one buffer (runs in first-seen bucket order). */
  finish(): PackedRecs {
    let total = 0;
    for (const r of this.runs.values()) total += r.n;
    const data = new Float64Array(total);
    const segs: number[] = [];
    let at = 0;
    for (const [b, r] of this.runs) {
      data.set(r.data.subarray(0, r.n), at);
      segs.push(b, at, at + r.n, r.count);
      at += r.n;
    }
    return { data, segs, strs: this.strs };
  }
}

/** Append the records of a segment to `out`, as records.ts `decodeRec` would give them. */
export function unpackSeg(seg: PackedSeg, out: StepRec[]): void {
  const d = seg.data;
  const strs = seg.strs;
  const base = seg.lineBase;
  let p = 0;
  while (p < d.length) {
    const code = d[p]! | 0;
    const step = d[p + 1]!;
    const line = d[p + 2]! + base;
    if (code < CODE_S) {
      const tag = d[p + 5]! | 0;
      const kind = JOURNEY_KINDS[code]!;
      const ts = d[p + 3]!;
      const id = strs[d[p + 4]! | 0]!;
      out.push(
        tag < 0
          ? { t: 'J', step, line, ts, kind, req: id, pDone: und(d[p + 6]!), total: und(d[p + 7]!), count: und(d[p + 8]!) }
          : { t: 'J', step, line, ts, kind, req: id, tag: strs[tag]!, pDone: und(d[p + 6]!), total: und(d[p + 7]!), count: und(d[p + 8]!) },
      );
      p += WIDTH_J;
    } else if (code === CODE_S) {
      out.push({
        t: 'S',
        step,
        line,
        start: und(d[p + 3]!),
        end: und(d[p + 4]!),
        durUs: und(d[p + 5]!),
        nPf: und(d[p + 6]!),
        nDc: und(d[p + 7]!),
        pfTok: und(d[p + 8]!),
        dcTok: und(d[p + 9]!),
        running: und(d[p + 10]!),
        waiting: und(d[p + 11]!),
        kvTotal: und(d[p + 12]!),
        kvFree: und(d[p + 13]!),
      });
      p += WIDTH_S;
    } else {
      out.push({
        t: 'R',
        step,
        line,
        req: strs[d[p + 3]! | 0]!,
        phase: PHASES[code - CODE_R]!,
        prompt: d[p + 4]!,
        computed: d[p + 5]!,
        outputs: d[p + 6]!,
        preemptions: d[p + 7]!,
        scheduled: d[p + 8]!,
      });
      p += WIDTH_R;
    }
  }
}
