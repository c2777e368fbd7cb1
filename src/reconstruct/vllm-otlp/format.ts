/** The `vllm-otlp` entry of the reconstruct format registry (reconstruct/registry.ts). */
import type { StepStreamFormat } from '../registry.js';

export const OTLP_FORMAT: StepStreamFormat = {
  name: 'vllm-otlp',
  describe: 'vLLM scheduler traces: OTLP JSON Lines with journey events and step spans (a file or an experiment directory, .gz ok)',
  kind: 'steps',
  options: ['labels', 'duration', 'keepUncertain', 'workers'],
  // the reader is loaded when used (`stepfit reconstruct` loads only the format it runs)
  run: async (o, sinks) =>
    (await import('./read.js')).reconstructOtlp(
      {
        input: o.input,
        skipBad: o.skipBad,
        keepUncertain: o.keepUncertain ?? false,
        ...(o.duration ? { duration: o.duration } : {}),
        ...(o.experiment ? { experiment: o.experiment } : {}),
        ...(o.maxNumBatchedTokens ? { maxNumBatchedTokens: o.maxNumBatchedTokens } : {}),
        ...(o.workers ? { workers: o.workers } : {}),
      },
      sinks,
    ),
};
