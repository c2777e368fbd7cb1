/**
 * Pure pieces of the vLLM OTLP replay (replay.ts): the composition rule over the running set, the
 * BATCH_SUMMARY check, a step's duration by source, and the records it emits.
 */
import type { SummaryRec } from './records.js';
import type { DurationSource, Pending, ReplayStats, RequestResult, RState, Work } from './replay-types.js';

/** A request first seen in the trace. */
export function newRState(id: string): RState {
  return {
    id,
    prompt: 0,
    admitted: false,
    running: false,
    prefilling: false,
    computed: 0,
    outputs: 0,
    target: 0,
    preemptions: 0,
    seq: 0,
    lastTs: -Infinity,
    times: { prefillGapNs: 0, decodeGapNs: 0 },
    pfSteps: [],
    dcSteps: [],
    uncertain: false,
    mark: 0,
    infComputed: 0,
    infTokens: 0,
    snapMark: 0,
  };
}

/**
 * The chunked-prefill rule over the current running set: every request past its (re)compute decodes
 * one token, then prefilling requests get min(remaining, budget left) in running order. Each
 * request's share goes to `emit` (at most once per request); true when the decodes alone exceed
 * the budget.
 */
function walkRule(running: readonly RState[], maxNumBatchedTokens: number, emit: (st: RState, tokens: number, decode: boolean) => void): boolean {
  let budget = maxNumBatchedTokens;
  for (const st of running) {
    if (!st.prefilling) {
      emit(st, 1, true);
      budget--;
    }
  }
  const overBudget = budget < 0;
  for (const st of running) {
    if (!st.prefilling || budget <= 0) continue;
    const c = Math.min(st.target - st.computed, budget);
    if (c > 0) {
      emit(st, c, false);
      budget -= c;
    }
  }
  return overBudget;
}

/** The rule's work for the step (walkRule). */
export function inferWork(running: readonly RState[], maxNumBatchedTokens: number): { work: Work[]; overBudget: boolean } {
  const work: Work[] = [];
  const overBudget = walkRule(running, maxNumBatchedTokens, (st, tokens, decode) => work.push({ st, tokens, decode }));
  return { work, overBudget };
}

/**
 * The rule's work for a step with snapshots, as marks on the requests (`mark`, the computed tokens
 * before the step and the tokens): what the snapshots are compared with, without a Work object each.
 */
export function markInferred(running: readonly RState[], maxNumBatchedTokens: number, mark: number): { count: number; overBudget: boolean } {
  let count = 0;
  const overBudget = walkRule(running, maxNumBatchedTokens, (st, tokens) => {
    st.mark = mark;
    st.infComputed = st.computed;
    st.infTokens = tokens;
    count++;
  });
  return { count, overBudget };
}

/** Compare the inferred work with a BATCH_SUMMARY; redistribute the prefill total if it differs. */
export function checkSummary(s: number, sum: SummaryRec, work: Work[], stats: ReplayStats, mismatch: (msg: string) => void): 'ok' | 'adjusted' | 'conflict' {
  const pf = work.filter((w) => !w.decode);
  const nDc = work.length - pf.length;
  const pfTok = pf.reduce((a, w) => a + w.tokens, 0);
  if (sum.nDc !== undefined && sum.nDc !== nDc) {
    mismatch(`step ${s}: batch.num_decode_reqs = ${sum.nDc}, the journey replay has ${nDc} decodes`);
    return 'conflict';
  }
  if (sum.pfTok === undefined || sum.pfTok === pfTok) {
    if (sum.nPf !== undefined && sum.nPf !== pf.length) {
      mismatch(`step ${s}: batch.num_prefill_reqs = ${sum.nPf}, the replay has ${pf.length}`);
      return 'conflict';
    }
    stats.inferredChecked++;
    return 'ok';
  }
  mismatch(`step ${s}: batch.prefill_tokens = ${sum.pfTok}, the rule gives ${pfTok}`);
  let diff = sum.pfTok - pfTok;
  for (let i = pf.length - 1; i >= 0 && diff < 0; i--) {
    const take = Math.min(pf[i]!.tokens, -diff);
    pf[i]!.tokens -= take;
    diff += take;
  }
  for (const w of pf) {
    if (diff <= 0) break;
    const room = w.st.target - w.st.computed - w.tokens;
    const add = Math.min(room, diff);
    w.tokens += add;
    diff -= add;
  }
  for (let i = work.length - 1; i >= 0; i--) if (!work[i]!.decode && work[i]!.tokens === 0) work.splice(i, 1);
  const nPf = work.filter((w) => !w.decode).length;
  if (diff !== 0 || (sum.nPf !== undefined && sum.nPf !== nPf)) return 'conflict';
  stats.inferredAdjusted++;
  // With one prefill chunk the pinned total is that chunk: exact. Otherwise the split is a guess.
  return nPf <= 1 ? 'adjusted' : 'conflict';
}

/** Wall time of a pending step, µs, from the chosen source (undefined when it cannot be known). */
export function stepDuration(p: Pending, next: Pending | undefined, source: DurationSource): number | undefined {
  let dur: number | undefined;
  switch (source) {
    case 'duration-us':
      dur = p.durUs;
      break;
    case 'ts-span':
      dur = p.start !== undefined && p.end !== undefined ? (p.end - p.start) / 1e3 : undefined;
      break;
    case 'ts-delta':
      if (next && next.step.step === p.step.step + 1 && !p.idleAfter && p.start !== undefined && next.start !== undefined) dur = (next.start - p.start) / 1e3;
      break;
  }
  return dur;
}

/** The record of a request when it finishes (or the trace ends). */
export function requestResult(st: RState, finished: boolean): RequestResult {
  return {
    id: st.id,
    prompt: st.prompt,
    outputs: st.outputs,
    preemptions: st.preemptions,
    finished,
    times: { ...st.times },
    prefillSteps: st.pfSteps,
    decodeSteps: st.dcSteps,
    ...(st.tainted ? { tainted: st.tainted } : {}),
  };
}

/** The last BATCH_SUMMARY with a start time (for the time-order check). */
export interface LastSummary {
  step: number;
  start: number;
  line: number;
}

/** Time checks of a BATCH_SUMMARY: end before start, or start before the previous summary's, drop its times. */
export function checkSummaryTime(
  s: number,
  sum: SummaryRec,
  prev: LastSummary | undefined,
  bad: (line: number, msg: string) => void,
  seen: (ts: number) => void,
): { sum: SummaryRec; last: LastSummary | undefined } {
  if (sum.start !== undefined && sum.end !== undefined && sum.end < sum.start) {
    bad(sum.line, `step ${s}: step.ts_end_ns ${sum.end} is before step.ts_start_ns ${sum.start} (timestamps going backwards)`);
    return { sum: { ...sum, start: undefined, end: undefined }, last: prev };
  }
  if (sum.start !== undefined) {
    seen(sum.start);
    if (sum.end !== undefined) seen(sum.end);
    if (prev && sum.start < prev.start) {
      bad(sum.line, `step ${s}: step.ts_start_ns ${sum.start} is before that of step ${prev.step} (${prev.start}, line ${prev.line}): timestamps going backwards`);
      return { sum: { ...sum, start: undefined, end: undefined }, last: prev };
    }
    return { sum, last: { step: s, start: sum.start, line: sum.line } };
  }
  return { sum, last: prev };
}

/** Numbers equal as their text is (NaN equals NaN). */
export const same = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));
