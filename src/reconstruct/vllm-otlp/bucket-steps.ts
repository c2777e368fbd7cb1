/**
 * The records of one step bucket (its packed segments, packed-spill.ts `take`) handed to the
 * replay step by step without unpacking the whole bucket first: a counting sort of the records'
 * places by step (stable: file order within a step), then each step's records unpacked and
 * sorted by records.ts `compareRecs` when the replay reaches it. A stable sort by step, then a
 * stable sort of each step's records, is the stable sort of the bucket by `compareRecs` (it
 * compares the step first) — the order pass 2 has always used — while the records live only as
 * long as their step (few objects survive a young-generation collection).
 */
import { type PackedSeg, recWidth, unpackRec } from './packed.js';
import { compareRecs, type StepRec } from './records.js';

/** Larger buckets are sorted the plain way (the table of step starts would be too large). */
const MAX_SPAN = 1 << 20;

/** Places of a bucket's records grouped by step: those of step `base + k` are entries `start[k]` to `start[k + 1]`. */
export interface StepGroups {
  readonly base: number;
  readonly start: Int32Array;
  /** Segment index and offset (doubles) of each entry. */
  readonly seg: Int32Array;
  readonly pos: Int32Array;
}

/**
 * Group the records of `segs` by step, for steps `base` to `base + span − 1`; undefined when a
 * record's step is not an integer in that range (the caller then sorts the unpacked records), or the bucket spans more than MAX_SPAN steps.
 */
export function groupBySteps(segs: readonly PackedSeg[], base: number, span: number): StepGroups | undefined {
  if (!(span >= 1 && span <= MAX_SPAN && Number.isInteger(span))) return undefined;
  const start = new Int32Array(span + 1);
  let n = 0;
  for (const g of segs) {
    const d = g.data;
    for (let p = 0; p < d.length; p += recWidth(d[p]! | 0)) {
      const k = d[p + 1]! - base;
      if (!(k >= 0 && k < span && Number.isInteger(k))) return undefined;
      start[k + 1]!++;
      n++;
    }
  }
  for (let k = 0; k < span; k++) start[k + 1]! += start[k]!;
  const next = start.slice(0, span);
  const seg = new Int32Array(n);
  const pos = new Int32Array(n);
  for (let i = 0; i < segs.length; i++) {
    const d = segs[i]!.data;
    for (let p = 0; p < d.length; p += recWidth(d[p]! | 0)) {
      const at = next[d[p + 1]! - base]!++;
      seg[at] = i;
      pos[at] = p;
    }
  }
  return { base, start, seg, pos };
}

/** The records of the group's step `base + k`, in replay order (`compareRecs`, file order on ties); empty when it has none. */
export function stepRecords(g: StepGroups, segs: readonly PackedSeg[], k: number): StepRec[] {
  const out: StepRec[] = [];
  for (let i = g.start[k]!; i < g.start[k + 1]!; i++) {
    const s = segs[g.seg[i]!]!;
    out.push(unpackRec(s.data, g.pos[i]!, s.strs, s.lineBase));
  }
  if (out.length > 1) out.sort(compareRecs);
  return out;
}
