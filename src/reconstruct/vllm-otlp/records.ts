/**
 * Compact records extracted from OTLP lines (pass 1), their order within a step, and their
 * one-line text form (the reference for the packed form that pass 1 hands to pass 2, packed.ts).
 */
import type { JourneyKind, RequestPhase } from '../../scheduler/schedule-log.js';

/** A `journey.*` event of a request. `ts` is monotonic ns. */
export interface JourneyRec {
  readonly t: 'J';
  readonly step: number;
  readonly line: number;
  readonly ts: number;
  readonly kind: JourneyKind;
  readonly req: string;
  /** SCHEDULED: schedule.kind. FINISHED: finish.status. */
  readonly tag?: string;
  /** SCHEDULED/FIRST_TOKEN: prefill.done_tokens. */
  readonly pDone?: number;
  /** SCHEDULED: prefill.total_tokens. FINISHED: decode.max_tokens. */
  readonly total?: number;
  /** SCHEDULED(RESUME)/FIRST_TOKEN/FINISHED: decode.done_tokens. PREEMPTED: num_preemptions. */
  readonly count?: number;
}

/** A step.BATCH_SUMMARY event. Times: ns; durUs: µs. */
export interface SummaryRec {
  readonly t: 'S';
  readonly step: number;
  readonly line: number;
  readonly start?: number;
  readonly end?: number;
  readonly durUs?: number;
  readonly nPf?: number;
  readonly nDc?: number;
  readonly pfTok?: number;
  readonly dcTok?: number;
  readonly running?: number;
  readonly waiting?: number;
  readonly kvTotal?: number;
  readonly kvFree?: number;
}

/** A step.REQUEST_SNAPSHOT event. */
export interface SnapshotRec {
  readonly t: 'R';
  readonly step: number;
  readonly line: number;
  readonly req: string;
  readonly phase: RequestPhase;
  readonly prompt: number;
  readonly computed: number;
  readonly outputs: number;
  readonly preemptions: number;
  readonly scheduled: number;
}

export type StepRec = JourneyRec | SummaryRec | SnapshotRec;

/** An api.* event (joined to requests by API id after the replay). */
export interface ApiRec {
  readonly id: string;
  readonly kind: 'ARRIVED' | 'DEPARTED' | 'ABORTED';
  readonly ts: number;
}

const n = (x: number | undefined): string => (x === undefined ? '' : String(x));
const num = (s: string | undefined): number | undefined => (s === undefined || s === '' ? undefined : Number(s));

/** Encode a record as one tab-separated line (no newline). Strings never contain tabs/newlines (checked at parse). */
export function encodeRec(r: StepRec): string {
  switch (r.t) {
    case 'J':
      return `J\t${r.step}\t${r.line}\t${r.ts}\t${r.kind}\t${r.req}\t${r.tag ?? ''}\t${n(r.pDone)}\t${n(r.total)}\t${n(r.count)}`;
    case 'S':
      return `S\t${r.step}\t${r.line}\t${n(r.start)}\t${n(r.end)}\t${n(r.durUs)}\t${n(r.nPf)}\t${n(r.nDc)}\t${n(r.pfTok)}\t${n(r.dcTok)}\t${n(r.running)}\t${n(r.waiting)}\t${n(r.kvTotal)}\t${n(r.kvFree)}`;
    case 'R':
      return `R\t${r.step}\t${r.line}\t${r.req}\t${r.phase}\t${r.prompt}\t${r.computed}\t${r.outputs}\t${r.preemptions}\t${r.scheduled}`;
  }
}

export function decodeRec(s: string): StepRec {
  const f = s.split('\t');
  switch (f[0]) {
    case 'J': {
      const tag = f[6];
      return { t: 'J', step: Number(f[1]), line: Number(f[2]), ts: Number(f[3]), kind: f[4] as JourneyKind, req: f[5]!, ...(tag ? { tag } : {}), pDone: num(f[7]), total: num(f[8]), count: num(f[9]) };
    }
    case 'S':
      return {
        t: 'S',
        step: Number(f[1]),
        line: Number(f[2]),
        start: num(f[3]),
        end: num(f[4]),
        durUs: num(f[5]),
        nPf: num(f[6]),
        nDc: num(f[7]),
        pfTok: num(f[8]),
        dcTok: num(f[9]),
        running: num(f[10]),
        waiting: num(f[11]),
        kvTotal: num(f[12]),
        kvFree: num(f[13]),
      };
    case 'R':
      return {
        t: 'R',
        step: Number(f[1]),
        line: Number(f[2]),
        req: f[3]!,
        phase: f[4] as RequestPhase,
        prompt: Number(f[5]),
        computed: Number(f[6]),
        outputs: Number(f[7]),
        preemptions: Number(f[8]),
        scheduled: Number(f[9]),
      };
    default:
      throw new Error(`corrupt spill record: ${s.slice(0, 80)}`);
  }
}

/** Processing order of records within one step: scheduling-time events, then step events, then post-forward events. */
export function recPhase(r: StepRec): number {
  if (r.t !== 'J') return 1;
  return r.kind === 'FIRST_TOKEN' || r.kind === 'FINISHED' ? 2 : 0;
}

/** Sort order: step, phase within the step, time, then source line. */
export function compareRecs(a: StepRec, b: StepRec): number {
  if (a.step !== b.step) return a.step - b.step;
  const pa = recPhase(a),
    pb = recPhase(b);
  if (pa !== pb) return pa - pb;
  const ta = a.t === 'J' ? a.ts : 0,
    tb = b.t === 'J' ? b.ts : 0;
  if (ta !== tb) return ta - tb;
  return a.line - b.line;
}
