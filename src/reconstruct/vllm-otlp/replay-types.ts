/** Options, outputs and state records of the vLLM OTLP replay (replay.ts). */
import type { Step } from '../../steps/step.js';
import type { RequestTimes } from './labels.js';

export type DurationSource = 'ts-delta' | 'ts-span' | 'duration-us';
export const DURATION_SOURCES: readonly DurationSource[] = ['ts-delta', 'ts-span', 'duration-us'];
/** Default: the difference of consecutive `step.ts_start_ns` (the doc's "safest" wall time). */
export const DEFAULT_DURATION: DurationSource = 'ts-delta';

export interface ReplayOptions {
  readonly experiment: string;
  readonly maxNumBatchedTokens: number;
  readonly duration: DurationSource;
  /** For messages: `${file}:${line}`. */
  readonly file: string;
  readonly skipBad: boolean;
  /** Emit steps whose composition is uncertain instead of dropping them. */
  readonly keepUncertain?: boolean;
}

/** What the replay knows about a request when it finishes (or the trace ends). */
export interface RequestResult {
  readonly id: string;
  readonly prompt: number;
  readonly outputs: number;
  readonly preemptions: number;
  readonly finished: boolean;
  readonly times: RequestTimes;
  /** Steps the request was running in (possibly with 0 tokens) up to and including its FIRST_TOKEN step. */
  readonly prefillSteps: readonly number[];
  /** Steps it was running in after its FIRST_TOKEN step, through FINISHED (preempted gaps excluded). */
  readonly decodeSteps: readonly number[];
  /** Why its request-level targets are unusable (a member step was dropped, or its timestamps are bad). */
  readonly tainted?: string;
}

export interface ReplaySink {
  step(s: Step): void;
  request(r: RequestResult): void;
  /** A skipped problem (only when skipBad). */
  bad(msg: string): void;
}

export interface ReplayStats {
  steps: number;
  /** Output steps from snapshots / inferred from journey events. */
  exact: number;
  inferred: number;
  /** Inferred steps whose batch.* counts matched a BATCH_SUMMARY. */
  inferredChecked: number;
  /** Inferred steps whose prefill token total was redistributed to match a BATCH_SUMMARY. */
  inferredAdjusted: number;
  /** Steps with snapshots where the inference agreed / disagreed with them. */
  snapshotAgree: number;
  snapshotDisagree: number;
  withDuration: number;
  dropped: Record<string, number>;
  mismatches: number;
  mismatchExamples: string[];
  requestsSeen: number;
  requestsFinished: number;
  requestsUnfinished: number;
  firstNs: number;
  lastNs: number;
  maxInFlight: number;
}

export interface RState {
  readonly id: string;
  prompt: number;
  admitted: boolean;
  running: boolean;
  prefilling: boolean;
  computed: number;
  outputs: number;
  target: number;
  preemptions: number;
  seq: number;
  lastTs: number;
  times: { queuedNs?: number; scheduledNs?: number; firstTokenNs?: number; finishedNs?: number; prefillGapNs: number; decodeGapNs: number };
  preemptNs?: number;
  firstTokenStep?: number;
  pfSteps: number[];
  dcSteps: number[];
  tainted?: string;
  uncertain: boolean;
  /** Set by the replay's snapshot check: the check (its number) whose inferred work included this request, with its computed tokens then and its tokens. */
  mark: number;
  infComputed: number;
  infTokens: number;
  /** The snapshot check (its number) that last saw a REQUEST_SNAPSHOT of this request. */
  snapMark: number;
}

export interface Work {
  st: RState;
  tokens: number;
  decode: boolean;
}

export interface Pending {
  step: Step;
  start?: number;
  end?: number;
  durUs?: number;
  idleAfter: boolean;
  exact: boolean;
}

export const MAX_EXAMPLES = 20;

/** Counters at the start of a replay. */
export function newStats(): ReplayStats {
  return {
    steps: 0,
    exact: 0,
    inferred: 0,
    inferredChecked: 0,
    inferredAdjusted: 0,
    snapshotAgree: 0,
    snapshotDisagree: 0,
    withDuration: 0,
    dropped: {},
    mismatches: 0,
    mismatchExamples: [],
    requestsSeen: 0,
    requestsFinished: 0,
    requestsUnfinished: 0,
    firstNs: Infinity,
    lastNs: -Infinity,
    maxInFlight: 0,
  };
}
