/**
 * Every `stepfit reconstruct` input format behind one table. A format is a folder under
 * reconstruct/ with a reader, and one line in `RECONSTRUCT_FORMATS`; `cli/reconstruct.ts` has no
 * per-format code: it checks the options against the entry's `options`, builds the typed
 * `ReconstructInput` once, and writes what the entry's `run` produces (streamed step records,
 * targets and labels, or one step file per experiment plus a manifest). Readers are imported when
 * their `run` is called: a command line loads only the format it names.
 */
import type { ManifestEntry } from '../steps/manifest.js';
import type { Step } from '../steps/step.js';
import type { RequestTarget } from '../steps/targets.js';
import { REQUEST_FORMATS } from './formats.js';
import type { ReconstructSummary } from './summary.js';
import { SWEEP_FORMAT } from './sweep/format.js';
import { OTLP_FORMAT } from './vllm-otlp/format.js';
import type { RequestLabel } from './vllm-otlp/labels.js';
import type { DurationSource } from './vllm-otlp/replay.js';
import type { ColumnMapping, IdMapEntry, TimeUnit } from './sweep/read.js';

/** Options of `stepfit reconstruct`, typed (parsed at the CLI edge); each format reads the ones it lists. */
export interface ReconstructInput {
  input: string;
  experiment?: string;
  skipBad: boolean;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  dataParallel?: number;
  numGpuBlocks?: number;
  blockSize?: number;
  outputLagSteps?: number;
  duration?: DurationSource;
  keepUncertain?: boolean;
  workers?: number;
  sweep?: { columns: ColumnMapping; timeUnit: TimeUnit; models: Record<string, IdMapEntry>; hardware: Record<string, IdMapEntry> };
}

/** Option keys a format may accept beyond --in, --out, --targets, --experiment, --skip-bad, --json and --max-num-batched-tokens. */
export type FormatOption =
  | 'labels'
  | 'duration'
  | 'keepUncertain'
  | 'workers'
  | 'maxNumSeqs'
  | 'dataParallel'
  | 'numGpuBlocks'
  | 'blockSize'
  | 'outputLagSteps'
  | 'outDir'
  | 'manifest'
  | 'columns'
  | 'modelMap'
  | 'gpuMap';

/** Batched, awaited outputs (the CLI writes them atomically). */
export interface ReconstructSinks {
  steps(batch: Step[]): Promise<void>;
  targets?(batch: RequestTarget[]): Promise<void>;
  labels?(batch: RequestLabel[]): Promise<void>;
}

/** A format whose output is one stream of step records (+ request targets, + labels where it has them). */
export interface StepStreamFormat {
  readonly name: ReconstructSummary['format'];
  readonly describe: string;
  readonly kind: 'steps';
  readonly options: readonly FormatOption[];
  run(o: ReconstructInput, sinks: ReconstructSinks): Promise<ReconstructSummary>;
}

/** A format whose output is one step file per experiment and a manifest (batch sweeps). */
export interface ExperimentsFormat {
  readonly name: ReconstructSummary['format'];
  readonly describe: string;
  readonly kind: 'experiments';
  readonly options: readonly FormatOption[];
  run(o: ReconstructInput): Promise<{ summary: ReconstructSummary; experiments: { id: string; steps: Step[] }[]; manifest(stepFile: (id: string) => string): ManifestEntry[] }>;
}

export type ReconstructFormat = StepStreamFormat | ExperimentsFormat;

/** Steps and targets computed in memory, handed to the sinks in one batch each. */
export async function sinkAll(sinks: ReconstructSinks, r: { steps: Step[]; targets: RequestTarget[]; summary: ReconstructSummary }): Promise<ReconstructSummary> {
  await sinks.steps(r.steps);
  if (sinks.targets) await sinks.targets(r.targets);
  return r.summary;
}

const REQUEST_LOG_FORMAT: StepStreamFormat = {
  name: 'request-log',
  describe: 'request timing logs (requests.jsonl with queued / scheduled / first-token / last-token times, or its directory with meta.json)',
  kind: 'steps',
  options: ['maxNumSeqs', 'dataParallel', 'outputLagSteps'],
  run: async (o, sinks) => sinkAll(sinks, await (await import('./request-log/read.js')).reconstructRequestLog(o)),
};

export const RECONSTRUCT_FORMATS: readonly ReconstructFormat[] = [
  OTLP_FORMAT,
  REQUEST_LOG_FORMAT,
  SWEEP_FORMAT,
  ...REQUEST_FORMATS.map(
    (f): StepStreamFormat => ({ name: f.name, describe: f.describe, kind: 'steps', options: f.options as readonly FormatOption[], run: async (o, sinks) => sinkAll(sinks, await f.run(o)) }),
  ),
];

export const reconstructFormat = (name: string): ReconstructFormat | undefined => RECONSTRUCT_FORMATS.find((f) => f.name === name);
