/**
 * Per-experiment bookkeeping of a row source: request-level targets (each target's row is the sum of the
 * basis rows of its steps, collected on the first pass), the data ranges and row counts of the summary, and
 * the first-pass checks (empty inputs, targets naming steps that are not there).
 */
import type { CompiledBasis } from '../basis/types.js';
import type { ExperimentSummary, FitExperiment, RequestTarget, RowVisitor } from './dataset-types.js';
import { InputError } from '../io/errors.js';
import type { StepBatch } from '../steps/batch.js';
import type { Step } from '../steps/step.js';
import { readAllTargets as readTargetRows } from '../steps/targets.js';

export interface ExpState {
  readonly e: FitExperiment;
  /** One compiled basis per parameter variant (one unless the source profiles basis parameters). */
  readonly compiled: readonly CompiledBasis[];
  targets: readonly RequestTarget[] | null;
  targetsWhere: string;
  /** step number → indices of targets listing it (first pass only). */
  stepMap: Map<number, number[]> | null;
  targetRows: Float64Array | null;
  targetFound: Int32Array | null;
  /** Step numbers seen (first pass, only when there are targets). */
  seen: Set<number> | null;
  ranges: RangeAcc | null;
  summary: ExperimentSummary | null;
}

/** Request targets of one experiment from a targets file (all of it when it holds one experiment under another name). */
export async function loadTargets(s: ExpState, file: string): Promise<RequestTarget[]> {
  const all = await readTargetRows(file);
  const mine = all.filter((t) => t.experiment === s.e.ref.id);
  if (mine.length > 0) return mine;
  const names = [...new Set(all.map((t) => t.experiment))];
  if (names.length === 1) return all; // a file that holds one experiment's targets under another name
  if (all.length === 0) throw new InputError(`${file}: no targets (empty file)`);
  throw new InputError(`${file}: no targets for experiment '${s.e.ref.id}' (found experiments: ${names.slice(0, 5).join(', ')})`);
}

/** First pass: index the targets by step number and start the data ranges. */
export function beginExperiment(s: ExpState, p: number): void {
  if (s.summary !== null) return;
  const t = s.targets;
  if (t && t.length > 0) {
    s.stepMap = new Map();
    for (let k = 0; k < t.length; k++) {
      for (const n of t[k]!.steps) {
        const l = s.stepMap.get(n);
        if (l) l.push(k);
        else s.stepMap.set(n, [k]);
      }
    }
    s.targetRows = new Float64Array(t.length * p);
    s.targetFound = new Int32Array(t.length);
    s.seen = new Set();
  }
  s.ranges = newRangeAcc();
}

/** End of an experiment's steps: first-pass checks and summary, then its target rows (x is scratch of width p). */
export function endExperiment(s: ExpState, ei: number, v: RowVisitor, stepRows: number, x: Float64Array): void {
  const first = s.summary === null;
  const t = s.targets;
  if (first) {
    const acc = s.ranges!;
    if (acc.steps === 0) {
      const src = s.e.steps;
      throw new InputError(`${typeof src === 'string' ? src : `experiment '${s.e.ref.id}'`}: no step records (empty ${typeof src === 'string' ? 'file' : 'input'})`);
    }
    if (t && t.length > 0) {
      for (let k = 0; k < t.length; k++) {
        if (s.targetFound![k] !== t[k]!.steps.length) {
          const missing = t[k]!.steps.find((n) => !s.seen!.has(n));
          throw new InputError(
            `${s.targetsWhere}: target for request '${t[k]!.request}' (${t[k]!.kind}) ${missing === undefined ? "lists a step number that occurs more than once in the step records of experiment '" + s.e.ref.id + "'" : `lists step ${missing}, which is not in the steps of experiment '${s.e.ref.id}'`}`,
          );
        }
      }
    }
    s.summary = {
      rows: stepRows + (t?.length ?? 0),
      stepRows,
      targetRows: t?.length ?? 0,
      stepsRead: acc.steps,
      ranges: { prefillTokens: [acc.pfMin, acc.pfMax], decodeRequests: [acc.dcMin, acc.dcMax], maxContext: acc.maxCtx },
    };
    s.stepMap = null;
    s.targetFound = null;
    s.seen = null;
    s.ranges = null;
  }
  if (t && t.length > 0) {
    for (let k = 0; k < t.length; k++) {
      for (let j = 0; j < x.length; j++) x[j] = s.targetRows![k * x.length + j]!;
      v.row(x, t[k]!.durationUs, ei, stepRows + k, t[k]!.kind === 'prefill' ? 1 : 2);
    }
  }
}

/** Where a step came from, for messages: file:line, or the experiment's record index. */
export function where(s: ExpState, file: string | null, lineNo: number): string {
  return file !== null ? `${file}:${lineNo}` : `experiment '${s.e.ref.id}' step record ${lineNo}`;
}

/** What the first-pass checks need to know about the row source. */
export interface RowChecks {
  basisName: string;
  /** Term name of column j of a (possibly wide) row. */
  termOf: (j: number) => string;
  allowUnmeasured: boolean;
}

/** First pass: finite features, a duration where one is needed, ranges, target sums (x: the step's row). */
export function firstPassChecks(c: RowChecks, s: ExpState, step: Step, at: string, x: Float64Array): void {
  const p = x.length;
  for (let j = 0; j < p; j++) {
    if (!Number.isFinite(x[j]!)) {
      throw new InputError(`${at}: basis '${c.basisName}' term '${c.termOf(j)}' is ${x[j]} for this step (check model config '${s.e.ref.model}' and GPU datasheet '${s.e.ref.gpu}')`);
    }
  }
  const hasTargets = s.targets !== null && s.targets.length > 0;
  if (step.durationUs === undefined && !hasTargets && !c.allowUnmeasured) {
    throw new InputError(`${at}: field 'duration_us' missing: fitting needs the measured step time (µs) on every step, or request-level targets for experiment '${s.e.ref.id}'`);
  }
  trackRanges(s.ranges!, step);
  if (s.stepMap) {
    s.seen!.add(step.step);
    const ts = s.stepMap.get(step.step);
    if (ts) {
      for (const k of ts) {
        const off = k * p;
        for (let j = 0; j < p; j++) s.targetRows![off + j] += x[j]!;
        s.targetFound![k]++;
      }
    }
  }
}

/** `firstPassChecks` for row r of a column batch (`at(r)` builds the message location only when one is needed). */
export function firstPassChecksBatch(c: RowChecks, s: ExpState, b: StepBatch, r: number, at: (r: number) => string, x: Float64Array): void {
  const p = x.length;
  for (let j = 0; j < p; j++) {
    if (!Number.isFinite(x[j]!)) {
      throw new InputError(`${at(r)}: basis '${c.basisName}' term '${c.termOf(j)}' is ${x[j]} for this step (check model config '${s.e.ref.model}' and GPU datasheet '${s.e.ref.gpu}')`);
    }
  }
  const hasTargets = s.targets !== null && s.targets.length > 0;
  if (Number.isNaN(b.durationUs[r]!) && !hasTargets && !c.allowUnmeasured) {
    throw new InputError(`${at(r)}: field 'duration_us' missing: fitting needs the measured step time (µs) on every step, or request-level targets for experiment '${s.e.ref.id}'`);
  }
  trackRangesBatch(s.ranges!, b, r);
  if (s.stepMap) {
    const no = b.step[r]!;
    s.seen!.add(no);
    const ts = s.stepMap.get(no);
    if (ts) {
      for (const k of ts) {
        const off = k * p;
        for (let j = 0; j < p; j++) s.targetRows![off + j] += x[j]!;
        s.targetFound![k]++;
      }
    }
  }
}

export interface RangeAcc {
  steps: number;
  pfMin: number;
  pfMax: number;
  dcMin: number;
  dcMax: number;
  maxCtx: number;
}
export const newRangeAcc = (): RangeAcc => ({ steps: 0, pfMin: Infinity, pfMax: 0, dcMin: Infinity, dcMax: 0, maxCtx: 0 });
export function trackRanges(a: RangeAcc, s: Step): void {
  a.steps++;
  let pf = 0;
  for (const c of s.prefill) {
    pf += c.tokens;
    if (c.prior + c.tokens > a.maxCtx) a.maxCtx = c.prior + c.tokens;
  }
  for (const c of s.decode) if (c > a.maxCtx) a.maxCtx = c;
  if (pf < a.pfMin) a.pfMin = pf;
  if (pf > a.pfMax) a.pfMax = pf;
  const dc = s.decode.length;
  if (dc < a.dcMin) a.dcMin = dc;
  if (dc > a.dcMax) a.dcMax = dc;
}

/** `trackRanges` for row r of a column batch. */
export function trackRangesBatch(a: RangeAcc, b: StepBatch, r: number): void {
  a.steps++;
  let pf = 0;
  for (let i = b.prefillOffsets[r]!, e = b.prefillOffsets[r + 1]!; i < e; i++) {
    const t = b.prefillTokens[i]!;
    pf += t;
    if (b.prefillPrior[i]! + t > a.maxCtx) a.maxCtx = b.prefillPrior[i]! + t;
  }
  const d0 = b.decodeOffsets[r]!;
  const d1 = b.decodeOffsets[r + 1]!;
  for (let i = d0; i < d1; i++) if (b.decodeContext[i]! > a.maxCtx) a.maxCtx = b.decodeContext[i]!;
  if (pf < a.pfMin) a.pfMin = pf;
  if (pf > a.pfMax) a.pfMax = pf;
  const dc = d1 - d0;
  if (dc < a.dcMin) a.dcMin = dc;
  if (dc > a.dcMax) a.dcMax = dc;
}
