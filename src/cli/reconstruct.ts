/**
 * `stepfit reconstruct`: engine logs → canonical step records (+ request-level targets, labels,
 * and for sweeps one step file per experiment and a manifest). Outputs are written atomically:
 * on any error none of them is left behind. Formats come from reconstruct/registry.ts; this file
 * has no per-format code.
 */
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intOption } from './io.js';
import { UsageError } from '../io/errors.js';
import { AtomicWriter, writeFilesAtomic } from '../io/atomic.js';
import { stepToJson, type Step } from '../steps/step.js';
import { targetToJson, type RequestTarget } from '../steps/targets.js';
import type { StepParquetWriter } from '../steps/parquet.js';
import { isParquetPath } from '../steps/parquet-path.js';
import { formatSummary, type ReconstructSummary } from '../reconstruct/summary.js';
import { stepsJsonl, targetsJsonl } from '../reconstruct/jsonl.js';
import { DEFAULT_DURATION, DURATION_SOURCES } from '../reconstruct/vllm-otlp/replay.js';
import type { RequestLabel } from '../reconstruct/vllm-otlp/labels.js';
import { parseColumnMapping, parseIdMap, SPLITWISE_HARDWARE, SPLITWISE_MODELS, type TimeUnit } from '../reconstruct/sweep/mapping.js';
import { RECONSTRUCT_FORMATS, reconstructFormat, type ExperimentsFormat, type FormatOption, type ReconstructFormat, type ReconstructInput, type StepStreamFormat } from '../reconstruct/registry.js';

const FORMAT_NAMES = RECONSTRUCT_FORMATS.map((f) => f.name);

/** Open writers for every named output; `all` commits or aborts them together. */
class Outputs {
  private readonly ws: AtomicWriter[] = [];
  open(file: string): AtomicWriter {
    const w = new AtomicWriter(file);
    this.ws.push(w);
    return w;
  }
  async commit(): Promise<void> {
    for (const w of this.ws) await w.commit();
  }
  async abort(): Promise<void> {
    for (const w of this.ws) await w.abort();
  }
}

/** Label columns, in CSV order (JSON Lines carries the same keys; absent values are empty / omitted). */
const LABEL_COLUMNS = [
  'experiment',
  'request',
  'prompt_tokens',
  'output_tokens',
  'preemptions',
  'finished',
  'queueing_us',
  'ttft_us',
  'prefill_us',
  'decode_us',
  'e2e_us',
  'prefill_gap_us',
  'decode_gap_us',
] as const;
function labelText(b: RequestLabel[], csv: boolean): string {
  if (!csv) return lines(b, (l) => JSON.stringify(l));
  const cell = (v: unknown): string => (v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return lines(b, (l) => LABEL_COLUMNS.map((c) => cell((l as unknown as Record<string, unknown>)[c])).join(','));
}

/** JSON Lines of `xs`, one `f(x)` a line; steps and targets through reconstruct/jsonl.ts (the same bytes, built without an object per record). */
function lines<T>(xs: readonly T[], f: (x: T) => string): string {
  if (f === (stepToJson as unknown)) return stepsJsonl(xs as readonly Step[]);
  if (f === (targetToJson as unknown)) return targetsJsonl(xs as readonly RequestTarget[]);
  return xs.length ? xs.map(f).join('\n') + '\n' : '';
}

function baseCommand() {
  return new Command('reconstruct')
    .description('turn engine logs (vLLM OTLP traces, request timing logs, batch sweeps) into canonical step records')
    .addOption(new Option('--format <format>', 'input format').choices(FORMAT_NAMES).makeOptionMandatory())
    .requiredOption('--in <path>', 'input: trace file or experiment dir (vllm-otlp); requests.jsonl or its dir (request-log); CSV (sweep)')
    .option('--out <file>', 'output step records: JSON Lines, or Parquet when the name ends in .parquet')
    .option('--targets <file>', 'output request-level timing targets, JSON Lines')
    .option('--labels <file>', 'output per-request labels (µs): queueing, TTFT, prefill/decode time net of preemption gaps, E2E (vllm-otlp; JSON Lines, or CSV when the name ends in .csv)')
    .option('--out-dir <dir>', 'sweep: directory for one step file per experiment')
    .option('--manifest <file>', 'sweep: manifest to write (default <out-dir>/manifest.yaml)')
    .option('--experiment <id>', 'experiment id for the step records (default: from the input path)')
    .addOption(new Option('--duration <source>', `vllm-otlp: step duration source (default ${DEFAULT_DURATION}: next traced step's ts_start_ns − this one's)`).choices(DURATION_SOURCES))
    .option('--workers <n>', 'vllm-otlp: parser threads (default 1); outputs do not depend on it', intOption('--workers'));
}

function withEngineOptions(c: ReturnType<typeof baseCommand>) {
  return c
    .option('--max-num-batched-tokens <n>', 'engine token budget per step (default: exp-config.yaml / meta.json)', intOption('--max-num-batched-tokens'))
    .option('--max-num-seqs <n>', 'request-log: max running requests (default: meta.json, else 256)', intOption('--max-num-seqs'))
    .option('--data-parallel <n>', 'request-log: data-parallel engines (default: meta.json, else 1)', intOption('--data-parallel'))
    .option('--num-gpu-blocks <n>', 'vllm-request-spans, vllm-bench: KV blocks per engine (vLLM logs num_gpu_blocks at start-up; default: KV not modelled)', intOption('--num-gpu-blocks', 2))
    .option('--block-size <n>', 'vllm-request-spans, vllm-bench: tokens per KV block (default 16)', intOption('--block-size'))
    .option(
      '--output-lag-steps <n>',
      "request-log, vllm-request-spans, vllm-bench: steps between a token's forward pass and its logged time (default: 1 with async scheduling)",
      intOption('--output-lag-steps', 0),
    );
}

function withSweepOptions(c: ReturnType<typeof withEngineOptions>) {
  return c
    .option('--columns <map>', 'sweep: column mapping key=column,... (keys: model, hardware, tp, batch, prompt, tokens, prefill_time, decode_time; =value for a constant, - for absent)')
    .addOption(new Option('--time-unit <unit>', 'sweep: unit of the time columns').choices(['ms', 'us', 's'] as const).default('ms' as const))
    .option('--model-map <map>', 'sweep: model name → configs/models id, name=id[:group=value],...')
    .option('--gpu-map <map>', 'sweep: hardware name → configs/hardware id, name=id[:group=value],...')
    .option('--keep-uncertain', 'vllm-otlp: keep steps whose composition could not be pinned (default: drop them, counted in the summary)')
    .option('--skip-bad', 'skip bad input records (reported in the summary) instead of failing')
    .option('--json', 'print the summary as JSON');
}

type Opts = ReturnType<ReturnType<typeof withSweepOptions>['opts']>;

/** Refuse an option that belongs to other formats only. */
function checkOptions(fmt: ReconstructFormat, o: Opts): void {
  const mine = new Set<FormatOption>(fmt.options);
  for (const f of RECONSTRUCT_FORMATS) {
    for (const k of f.options) {
      if (!mine.has(k) && (o as Record<string, unknown>)[k] !== undefined) {
        throw new UsageError(`option --${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} does not apply to --format ${fmt.name}`);
      }
    }
  }
}

/** The typed options every format reads from (the sweep's maps parsed here, at the edge). */
function toInput(fmt: ReconstructFormat, o: Opts): ReconstructInput {
  const sweep =
    fmt.kind === 'experiments'
      ? { columns: parseColumnMapping(o.columns), timeUnit: o.timeUnit as TimeUnit, models: parseIdMap(o.modelMap, SPLITWISE_MODELS), hardware: parseIdMap(o.gpuMap, SPLITWISE_HARDWARE) }
      : undefined;
  const opt = <K extends keyof ReconstructInput>(k: K, v: ReconstructInput[K] | undefined): Partial<ReconstructInput> => (v === undefined ? {} : { [k]: v });
  return {
    input: o.in,
    skipBad: !!o.skipBad,
    ...(o.experiment ? { experiment: o.experiment } : {}),
    ...opt('maxNumBatchedTokens', o.maxNumBatchedTokens || undefined),
    ...opt('maxNumSeqs', o.maxNumSeqs || undefined),
    ...opt('dataParallel', o.dataParallel || undefined),
    ...opt('numGpuBlocks', o.numGpuBlocks || undefined),
    ...opt('blockSize', o.blockSize || undefined),
    ...opt('outputLagSteps', o.outputLagSteps),
    ...opt('duration', o.duration),
    ...opt('keepUncertain', o.keepUncertain ? true : undefined),
    ...opt('workers', o.workers || undefined),
    ...opt('sweep', sweep),
  };
}

/** Stream a format's steps (JSONL or Parquet), targets and labels into atomic outputs. */
async function writeStream(fmt: StepStreamFormat, input: ReconstructInput, o: Opts): Promise<ReconstructSummary> {
  if (!o.out) throw new UsageError(`--format ${fmt.name} needs --out <steps.jsonl>`);
  const outs = new Outputs();
  // the Parquet writer (and hyparquet) is loaded only when asked for: ≈ 0.08 CPU-s of start-up otherwise
  const pq: StepParquetWriter | undefined = isParquetPath(o.out) ? new (await import('../steps/parquet.js')).StepParquetWriter(o.out) : undefined;
  try {
    const ws = pq ? undefined : outs.open(o.out);
    const wt = o.targets ? outs.open(o.targets) : undefined;
    const wl = o.labels ? outs.open(o.labels) : undefined;
    const csv = !!o.labels?.endsWith('.csv');
    if (wl && csv) await wl.write(LABEL_COLUMNS.join(',') + '\n');
    const summary = await fmt.run(input, {
      steps: (b: Step[]) => (pq ? Promise.resolve(pq.add(b)) : ws!.write(lines(b, stepToJson))),
      ...(wt ? { targets: (b: RequestTarget[]) => wt.write(lines(b, targetToJson)) } : {}),
      ...(wl ? { labels: (b: RequestLabel[]) => wl.write(labelText(b, csv)) } : {}),
    });
    await outs.commit();
    pq?.commit();
    return summary;
  } catch (e) {
    pq?.abort();
    await outs.abort();
    throw e;
  }
}

/** One step file per experiment and a manifest (sweeps). */
async function writeExperiments(fmt: ExperimentsFormat, input: ReconstructInput, o: Opts): Promise<ReconstructSummary> {
  if (!o.outDir) throw new UsageError(`--format ${fmt.name} needs --out-dir (one step file per experiment) `);
  if (o.out || o.targets) throw new UsageError(`--format ${fmt.name} writes --out-dir and --manifest, not --out/--targets`);
  const outDir = o.outDir;
  const r = await fmt.run(input);
  const manifest = o.manifest ?? path.join(outDir, 'manifest.yaml');
  const file = (id: string) => path.resolve(outDir, `${id}.jsonl`);
  writeFilesAtomic(r.experiments.map((e) => ({ path: file(e.id), data: lines(e.steps, stepToJson) })));
  const { writeManifest } = await import('../steps/manifest.js'); // (zod) only sweeps write one
  writeManifest(manifest, { experiments: r.manifest(file) });
  r.summary.notes.push(`wrote ${r.experiments.length} step files to ${outDir} and manifest ${manifest}`);
  return r.summary;
}

export function reconstructCommand(io: CliIO) {
  return withSweepOptions(withEngineOptions(baseCommand())).action(async (o) => {
    const fmt = reconstructFormat(o.format);
    if (!fmt) throw new UsageError(`unknown --format ${o.format}`);
    checkOptions(fmt, o);
    const input = toInput(fmt, o);
    const summary = fmt.kind === 'experiments' ? await writeExperiments(fmt, input, o) : await writeStream(fmt, input, o);
    io.out(o.json ? JSON.stringify(summary, null, 2) : formatSummary(summary).join('\n'));
  });
}
