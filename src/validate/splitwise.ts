/**
 * The Splitwise profiling sweep (`Mutinifni__splitwise-sim/data/perf_model.csv`, shared data README §1)
 * as validation data, read by the `sweep` reconstruct reader (src/reconstruct/sweep): one experiment per
 * (model, hardware, TP); per CSV row a prefill step of `batch_size` prompts of `prompt_size` new tokens
 * and a decode step of `batch_size` requests at context prompt_size + token_size/2, every repetition kept.
 *
 * `h100-80gb-pcap` (power-capped H100) is not an independent measurement: each of its rows is the
 * matching `h100-80gb` row with prompt_time × 1.3 exactly and token_time unchanged (checked on the
 * reconstructed steps by `cappedIsDerived`). It belongs to no split.
 */
import type { Step } from '../steps/step.js';

export const SPLITWISE_CSV = 'Mutinifni__splitwise-sim/data/perf_model.csv';

export interface LabelledExperiment {
  readonly id: string;
  readonly tp: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly steps: readonly Step[];
}

/**
 * True when every experiment labelled `power: capped` has a `power: nominal` twin (same source model,
 * TP and GPU id) whose steps match it one for one: prefill durations × `factor` (relative 1e-9), decode
 * durations equal, identical batch composition.
 */
export function cappedIsDerived(exps: readonly (LabelledExperiment & { gpu: string })[], factor = 1.3): boolean {
  const capped = exps.filter((e) => e.labels['power'] === 'capped');
  if (capped.length === 0) return false;
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.abs(b);
  for (const c of capped) {
    const twin = exps.find((e) => e !== c && e.labels['power'] === 'nominal' && e.tp === c.tp && e.gpu === c.gpu && e.labels['source_model'] === c.labels['source_model']);
    if (!twin || twin.steps.length !== c.steps.length) return false;
    for (let i = 0; i < c.steps.length; i++) {
      const a = c.steps[i]!;
      const b = twin.steps[i]!;
      if (a.prefill.length !== b.prefill.length || a.decode.length !== b.decode.length) return false;
      if (a.durationUs === undefined || b.durationUs === undefined) return false;
      if (!close(a.durationUs, a.prefill.length > 0 ? factor * b.durationUs : b.durationUs)) return false;
    }
  }
  return true;
}
