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
import { StringTable } from './intern.js';
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
const nz = (x: number): number => (x === 0 ? 0 : x);
const und = (x: number): number | undefined => (Number.isNaN(x) ? undefined : x);

/**
 * Run buffers of finished packers, reused by the next (a chunk's runs are copied into its own
 * buffer by `finish`): a thread parsing chunk after chunk allocates its run buffers once, not a
 * growing series per chunk. At most SPARE_RUNS are kept.
 */
const spare: Float64Array[] = [];
const SPARE_RUNS = 8;

class Run {
  data = spare.pop() ?? new Float64Array(256);
  n = 0;
  count = 0;
  /** The packer's mark generation when this run was last journaled. */
  gen = -1;
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

/**
 * Builds the packed records of one chunk, bucket by bucket, in the order they are added. The fast
 * path writes a line's records as it reads them: `mark()` before the line, `rollback()` when it
 * gives up on it (the full parser then adds the line's records).
 */
export class RecPacker {
  private readonly runs = new Map<number, Run>();
  private readonly table = new StringTable();
  private gen = 0;
  private readonly journal: [Run, number, number][] = [];
  private saved: [number, number, number] = [0, 0, 0];
  /** Journey events, batch summaries and request snapshots added. */
  journeys = 0;
  summaries = 0;
  snapshots = 0;

  constructor(private readonly perBucket: number) {}

  private str(s: unknown): number {
    return this.table.of(String(s));
  }

  /** The string-table index of the ASCII string in bytes s to e of `b` (intern.ts: no string is built for one already in the table). */
  strAt(b: Uint8Array, s: number, e: number): number {
    return this.table.ofBytes(b, s, e);
  }

  private run(step: number): Run {
    const b = Math.floor(step / this.perBucket);
    let run = this.runs.get(b);
    if (!run) {
      run = new Run();
      this.runs.set(b, run);
    }
    if (run.gen !== this.gen) {
      run.gen = this.gen;
      this.journal.push([run, run.n, run.count]);
    }
    return run;
  }

  mark(): void {
    this.gen++;
    this.journal.length = 0;
    this.saved = [this.journeys, this.summaries, this.snapshots];
  }

  /** Drop the records added since `mark()`. */
  rollback(): void {
    for (const [r, n, count] of this.journal) {
      r.n = n;
      r.count = count;
    }
    [this.journeys, this.summaries, this.snapshots] = this.saved;
    this.mark();
  }

  journey(kind: JourneyKind, step: number, line: number, ts: number, req: string, tag: string | undefined, pDone?: number, total?: number, count?: number): void {
    const run = this.run(step);
    const p = run.n;
    const d = run.room(WIDTH_J);
    d[p] = JOURNEY_KINDS.indexOf(kind);
    d[p + 1] = nz(step);
    d[p + 2] = nz(line);
    d[p + 3] = nz(ts);
    d[p + 4] = this.str(req);
    d[p + 5] = tag === undefined || tag === '' ? -1 : this.str(tag);
    d[p + 6] = opt(pDone);
    d[p + 7] = opt(total);
    d[p + 8] = opt(count);
    run.n = p + WIDTH_J;
    this.journeys++;
  }

  summary(
    step: number,
    line: number,
    start?: number,
    end?: number,
    durUs?: number,
    nPf?: number,
    nDc?: number,
    pfTok?: number,
    dcTok?: number,
    running?: number,
    waiting?: number,
    kvTotal?: number,
    kvFree?: number,
  ): void {
    const run = this.run(step);
    const p = run.n;
    const d = run.room(WIDTH_S);
    d[p] = CODE_S;
    d[p + 1] = nz(step);
    d[p + 2] = nz(line);
    d[p + 3] = opt(start);
    d[p + 4] = opt(end);
    d[p + 5] = opt(durUs);
    d[p + 6] = opt(nPf);
    d[p + 7] = opt(nDc);
    d[p + 8] = opt(pfTok);
    d[p + 9] = opt(dcTok);
    d[p + 10] = opt(running);
    d[p + 11] = opt(waiting);
    d[p + 12] = opt(kvTotal);
    d[p + 13] = opt(kvFree);
    run.n = p + WIDTH_S;
    this.summaries++;
  }

  snapshot(step: number, line: number, req: string, phase: RequestPhase, prompt: number, computed: number, outputs: number, preemptions: number, scheduled: number): void {
    this.snapshotAt(step, line, this.str(req), phase, prompt, computed, outputs, preemptions, scheduled);
  }

  /** `snapshot` with the request id given as its string-table index (`strAt`). */
  snapshotAt(step: number, line: number, req: number, phase: RequestPhase, prompt: number, computed: number, outputs: number, preemptions: number, scheduled: number): void {
    const run = this.run(step);
    const p = run.n;
    const d = run.room(WIDTH_R);
    d[p] = CODE_R + PHASES.indexOf(phase);
    d[p + 1] = nz(step);
    d[p + 2] = nz(line);
    d[p + 3] = req;
    d[p + 4] = nz(prompt);
    d[p + 5] = nz(computed);
    d[p + 6] = nz(outputs);
    d[p + 7] = nz(preemptions);
    d[p + 8] = nz(scheduled);
    run.n = p + WIDTH_R;
    this.snapshots++;
  }

  add(r: StepRec): void {
    if (r.t === 'J') this.journey(r.kind, r.step, r.line, r.ts, r.req, r.tag, r.pDone, r.total, r.count);
    else if (r.t === 'S') this.summary(r.step, r.line, r.start, r.end, r.durUs, r.nPf, r.nDc, r.pfTok, r.dcTok, r.running, r.waiting, r.kvTotal, r.kvFree);
    else this.snapshot(r.step, r.line, r.req, r.phase, r.prompt, r.computed, r.outputs, r.preemptions, r.scheduled);
  }

  /** The chunk's records in one buffer (runs in first-seen bucket order). */
  finish(): PackedRecs {
    let total = 0;
    for (const r of this.runs.values()) total += r.n;
    const data = new Float64Array(total);
    const segs: number[] = [];
    let at = 0;
    for (const [b, r] of this.runs) {
      if (r.count === 0) continue; // emptied by a rollback
      data.set(r.data.subarray(0, r.n), at);
      segs.push(b, at, at + r.n, r.count);
      at += r.n;
    }
    for (const r of this.runs.values()) if (spare.length < SPARE_RUNS) spare.push(r.data);
    this.runs.clear();
    return { data, segs, strs: this.table.strs };
  }
}

/*
 * The records pass 2 builds are instances of these classes rather than object literals: the same
 * own properties in the same order as records.ts `decodeRec`'s literals, but maps of their own, so
 * that their small-integer fields stay unboxed (literals share their maps with the scanner's
 * records, whose number fields V8 has generalised to boxed doubles), which made unpacking a
 * record cost several allocations.
 */
class JRec {
  declare readonly t: 'J';
  declare readonly step: number;
  declare readonly line: number;
  declare readonly ts: number;
  declare readonly kind: JourneyKind;
  declare readonly req: string;
  declare readonly pDone: number | undefined;
  declare readonly total: number | undefined;
  declare readonly count: number | undefined;
  constructor(step: number, line: number, ts: number, kind: JourneyKind, req: string, pDone: number | undefined, total: number | undefined, count: number | undefined) {
    this.t = 'J';
    this.step = step;
    this.line = line;
    this.ts = ts;
    this.kind = kind;
    this.req = req;
    this.pDone = pDone;
    this.total = total;
    this.count = count;
  }
}
class JRecTag {
  declare readonly t: 'J';
  declare readonly step: number;
  declare readonly line: number;
  declare readonly ts: number;
  declare readonly kind: JourneyKind;
  declare readonly req: string;
  declare readonly tag: string;
  declare readonly pDone: number | undefined;
  declare readonly total: number | undefined;
  declare readonly count: number | undefined;
  constructor(step: number, line: number, ts: number, kind: JourneyKind, req: string, tag: string, pDone: number | undefined, total: number | undefined, count: number | undefined) {
    this.t = 'J';
    this.step = step;
    this.line = line;
    this.ts = ts;
    this.kind = kind;
    this.req = req;
    this.tag = tag;
    this.pDone = pDone;
    this.total = total;
    this.count = count;
  }
}
class SRec {
  declare readonly t: 'S';
  declare readonly step: number;
  declare readonly line: number;
  declare readonly start: number | undefined;
  declare readonly end: number | undefined;
  declare readonly durUs: number | undefined;
  declare readonly nPf: number | undefined;
  declare readonly nDc: number | undefined;
  declare readonly pfTok: number | undefined;
  declare readonly dcTok: number | undefined;
  declare readonly running: number | undefined;
  declare readonly waiting: number | undefined;
  declare readonly kvTotal: number | undefined;
  declare readonly kvFree: number | undefined;
  constructor(
    step: number,
    line: number,
    start: number | undefined,
    end: number | undefined,
    durUs: number | undefined,
    nPf: number | undefined,
    nDc: number | undefined,
    pfTok: number | undefined,
    dcTok: number | undefined,
    running: number | undefined,
    waiting: number | undefined,
    kvTotal: number | undefined,
    kvFree: number | undefined,
  ) {
    this.t = 'S';
    this.step = step;
    this.line = line;
    this.start = start;
    this.end = end;
    this.durUs = durUs;
    this.nPf = nPf;
    this.nDc = nDc;
    this.pfTok = pfTok;
    this.dcTok = dcTok;
    this.running = running;
    this.waiting = waiting;
    this.kvTotal = kvTotal;
    this.kvFree = kvFree;
  }
}
class RRec {
  declare readonly t: 'R';
  declare readonly step: number;
  declare readonly line: number;
  declare readonly req: string;
  declare readonly phase: RequestPhase;
  declare readonly prompt: number;
  declare readonly computed: number;
  declare readonly outputs: number;
  declare readonly preemptions: number;
  declare readonly scheduled: number;
  constructor(step: number, line: number, req: string, phase: RequestPhase, prompt: number, computed: number, outputs: number, preemptions: number, scheduled: number) {
    this.t = 'R';
    this.step = step;
    this.line = line;
    this.req = req;
    this.phase = phase;
    this.prompt = prompt;
    this.computed = computed;
    this.outputs = outputs;
    this.preemptions = preemptions;
    this.scheduled = scheduled;
  }
}

/** Doubles taken by the record whose code is `code`. */
export const recWidth = (code: number): number => (code < CODE_S ? WIDTH_J : code === CODE_S ? WIDTH_S : WIDTH_R);

/** The record at offset p of `d` (line numbers relative to `base`), as records.ts `decodeRec` would give it. */
export function unpackRec(d: Float64Array, p: number, strs: readonly string[], base: number): StepRec {
  const code = d[p]! | 0;
  const step = d[p + 1]!;
  const line = d[p + 2]! + base;
  if (code < CODE_S) {
    const tag = d[p + 5]! | 0;
    const kind = JOURNEY_KINDS[code]!;
    const ts = d[p + 3]!;
    const id = strs[d[p + 4]! | 0]!;
    return tag < 0
      ? new JRec(step, line, ts, kind, id, und(d[p + 6]!), und(d[p + 7]!), und(d[p + 8]!))
      : new JRecTag(step, line, ts, kind, id, strs[tag]!, und(d[p + 6]!), und(d[p + 7]!), und(d[p + 8]!));
  }
  if (code === CODE_S) {
    const u = (k: number): number | undefined => und(d[p + k]!);
    return new SRec(step, line, u(3), u(4), u(5), u(6), u(7), u(8), u(9), u(10), u(11), u(12), u(13));
  }
  return new RRec(step, line, strs[d[p + 3]! | 0]!, PHASES[code - CODE_R]!, d[p + 4]!, d[p + 5]!, d[p + 6]!, d[p + 7]!, d[p + 8]!);
}

/** Append the records of a segment to `out`, as records.ts `decodeRec` would give them. */
export function unpackSeg(seg: PackedSeg, out: StepRec[]): void {
  const d = seg.data;
  for (let p = 0; p < d.length; p += recWidth(d[p]! | 0)) out.push(unpackRec(d, p, seg.strs, seg.lineBase));
}
