/**
 * Per-request timing labels from journey (and API) timestamps. All inputs monotonic ns, outputs µs.
 * Preemption gaps (PREEMPTED → next SCHEDULED(RESUME)) are subtracted from the phase they fall in.
 */

export interface RequestTimes {
  /** api.ARRIVED (falls back to QUEUED where absent). */
  readonly arrivalNs?: number;
  readonly queuedNs?: number;
  /** First journey.SCHEDULED (FIRST). */
  readonly scheduledNs?: number;
  readonly firstTokenNs?: number;
  readonly finishedNs?: number;
  /** api.DEPARTED / api.ABORTED (falls back to FINISHED). */
  readonly departedNs?: number;
  /** Σ preemption gaps before / after the first token. */
  readonly prefillGapNs: number;
  readonly decodeGapNs: number;
}

const us = (ns: number): number => Math.round(ns) / 1e3;
const diff = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a - b);

/** queueing = SCHEDULED(FIRST) − QUEUED. */
export function queueingUs(t: RequestTimes): number | undefined {
  const d = diff(t.scheduledNs, t.queuedNs);
  return d === undefined ? undefined : us(d);
}

/** TTFT = FIRST_TOKEN − arrival (api.ARRIVED, else QUEUED). */
export function ttftUs(t: RequestTimes): number | undefined {
  const d = diff(t.firstTokenNs, t.arrivalNs ?? t.queuedNs);
  return d === undefined ? undefined : us(d);
}

/** prefill processing = FIRST_TOKEN − SCHEDULED(FIRST) − Σ preemption gaps before the first token. */
export function prefillUs(t: RequestTimes): number | undefined {
  const d = diff(t.firstTokenNs, t.scheduledNs);
  return d === undefined ? undefined : us(d - t.prefillGapNs);
}

/** decode processing = FINISHED − FIRST_TOKEN − Σ preemption gaps after the first token. */
export function decodeUs(t: RequestTimes): number | undefined {
  const d = diff(t.finishedNs, t.firstTokenNs);
  return d === undefined ? undefined : us(d - t.decodeGapNs);
}

/** end-to-end = departure (api.DEPARTED, else FINISHED) − arrival (api.ARRIVED, else QUEUED). */
export function e2eUs(t: RequestTimes): number | undefined {
  const d = diff(t.departedNs ?? t.finishedNs, t.arrivalNs ?? t.queuedNs);
  return d === undefined ? undefined : us(d);
}

export interface RequestLabel {
  experiment: string;
  request: string;
  prompt_tokens: number;
  output_tokens: number;
  preemptions: number;
  finished: boolean;
  queueing_us?: number;
  ttft_us?: number;
  prefill_us?: number;
  decode_us?: number;
  e2e_us?: number;
  prefill_gap_us: number;
  decode_gap_us: number;
}

export function requestLabel(experiment: string, request: string, prompt: number, outputs: number, preemptions: number, finished: boolean, t: RequestTimes): RequestLabel {
  const l: RequestLabel = { experiment, request, prompt_tokens: prompt, output_tokens: outputs, preemptions, finished, prefill_gap_us: us(t.prefillGapNs), decode_gap_us: us(t.decodeGapNs) };
  const set = (k: 'queueing_us' | 'ttft_us' | 'prefill_us' | 'decode_us' | 'e2e_us', v: number | undefined) => {
    if (v !== undefined) l[k] = v;
  };
  set('queueing_us', queueingUs(t));
  set('ttft_us', ttftUs(t));
  set('prefill_us', prefillUs(t));
  set('decode_us', finished && outputs >= 2 ? decodeUs(t) : undefined);
  set('e2e_us', finished ? e2eUs(t) : undefined);
  return l;
}
