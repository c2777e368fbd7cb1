/** Step descriptors the report groups and plots by, and the step stream of one experiment. */
import { readSteps } from '../steps/io.js';
import type { Step } from '../steps/step.js';
import { inMemorySteps, type FitExperiment } from '../fit/api.js';

export const PHASES = ['prefill-only', 'decode-only', 'mixed'] as const;
export type Phase = (typeof PHASES)[number];

/** Phase mix of a step: 0 prefill-only, 1 decode-only, 2 mixed. */
export function phaseOf(s: Step): 0 | 1 | 2 {
  if (s.decode.length === 0) return 0;
  return s.prefill.length === 0 ? 1 : 2;
}

/** KV context tokens the step attends over: Σ decode contexts + Σ prefill prior tokens. */
export function kvContext(s: Step): number {
  let c = 0;
  for (const x of s.decode) c += x;
  for (const ch of s.prefill) c += ch.prior;
  return c;
}

/** Tokens computed in the step: Σ prefill chunk tokens + one per decode. */
export function stepTokens(s: Step): number {
  let t = s.decode.length;
  for (const ch of s.prefill) t += ch.tokens;
  return t;
}

/** Every step of an experiment (bad lines go to its skipBad sink when it has one). */
export async function* experimentSteps(e: Pick<FitExperiment, 'steps' | 'skipBad'>): AsyncGenerator<Step> {
  const src = e.steps;
  if (typeof src === 'string') {
    const sink = e.skipBad;
    yield* readSteps(src, sink ? { skipBad: true, onBad: (m) => sink.bad(m) } : {});
    return;
  }
  yield* inMemorySteps(src);
}

/** The steps of an experiment that carry a measured duration_us (the report's rows). */
export async function* measuredSteps(e: Pick<FitExperiment, 'steps' | 'skipBad'>): AsyncGenerator<Step> {
  for await (const s of experimentSteps(e)) if (s.durationUs !== undefined) yield s;
}
