/**
 * `sweep` reader: controlled batch sweeps where each row measures a pure prefill batch and/or a
 * pure decode iteration (default mapping: Splitwise `perf_model.csv`).
 *
 * Per row (every repetition kept; no averaging, no outlier removal):
 * - prefill step: `batch` chunks of `prompt` new tokens (prior 0), duration = prefill_time;
 * - decode step:  `batch` decodes at context round(prompt + tokens/2) (the mean context over the
 *   generation of `tokens` tokens), duration = decode_time (the mean iteration time).
 * Each distinct (model, hardware, TP) is one experiment; model and hardware names are mapped to
 * configs/models and configs/hardware ids, with extra group labels (e.g. power: capped).
 */
import fs from 'node:fs';
import { parse } from 'csv-parse';
import { InputError } from '../../io/errors.js';
import { openInput } from '../../io/lines.js';
import type { Step } from '../../steps/step.js';
import type { ManifestEntry } from '../../steps/manifest.js';
import { emptySummary, type ReconstructSummary } from '../summary.js';
import { type ColumnMapping, type IdMapEntry, SPLITWISE_COLUMNS, SPLITWISE_HARDWARE, SPLITWISE_MODELS, SWEEP_KEYS, type SweepKey, TO_US, type TimeUnit } from './mapping.js';

export * from './mapping.js';

export interface SweepOptions {
  input: string;
  columns?: ColumnMapping;
  timeUnit?: TimeUnit;
  models?: Readonly<Record<string, IdMapEntry>>;
  hardware?: Readonly<Record<string, IdMapEntry>>;
  skipBad?: boolean;
}

export interface SweepExperiment {
  readonly id: string;
  readonly model: string;
  readonly gpu: string;
  readonly tp: number;
  readonly groups: Record<string, string>;
  readonly steps: Step[];
}

export interface SweepOutput {
  summary: ReconstructSummary;
  experiments: SweepExperiment[];
}

const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-|-$/g, '');

export async function reconstructSweep(o: SweepOptions): Promise<SweepOutput> {
  const cols = o.columns ?? SPLITWISE_COLUMNS;
  if (!fs.existsSync(o.input)) throw new InputError(`${o.input}: sweep CSV not found`);
  const sum = emptySummary('sweep', o.input);
  const exps = new Map<string, SweepExperiment>();
  const parser = openInput(o.input).pipe(parse({ columns: true, skip_empty_lines: true, trim: true, relax_column_count: false, info: true }));
  const badRow = (line: number, msg: string): void => {
    const m = `${o.input}:${line}: ${msg}`;
    if (!o.skipBad) throw new InputError(m);
    sum.bad.count++;
    if (sum.bad.examples.length < 20) sum.bad.examples.push(m);
  };
  const drop = (why: string): void => {
    sum.dropped[why] = (sum.dropped[why] ?? 0) + 1;
  };
  let header = false;
  try {
    for await (const item of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      sum.records++;
      if (!header) header = checkHeader(Object.keys(item.record), cols, o.input);
      const row = parseRow(item.record, cols);
      if (typeof row === 'string') badRow(item.info.lines, row);
      else addRow(exps, row, o, drop);
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    const err = e as Error & { code?: string; lines?: number };
    throw new InputError(`${o.input}${err.lines ? `:${err.lines}` : ''}: not a valid CSV (${err.message})`);
  }
  const experiments = [...exps.values()].sort((a, b) => a.id.localeCompare(b.id));
  finishSummary(sum, experiments, o);
  return { summary: sum, experiments };
}

/** Every mapped column (not a constant `=value` or absent `-`) is in the CSV header. */
function checkHeader(header: readonly string[], cols: ColumnMapping, input: string): true {
  for (const k of SWEEP_KEYS) {
    const c = cols[k];
    if (c.startsWith('=') || c === '-') continue;
    if (!header.includes(c)) throw new InputError(`${input}: column '${c}' (for ${k}) not in the header (${header.join(', ')}); map it with --columns ${k}=<column>`);
  }
  return true;
}

/** One sweep row, parsed through the column mapping (times in the sweep's unit). */
interface SweepRow {
  readonly model: string;
  readonly hardware: string;
  readonly tp: number;
  readonly batch: number;
  readonly prompt: number;
  readonly tokens: number | undefined;
  readonly pt: number | undefined;
  readonly dt: number | undefined;
}

/** Parse a CSV record through `cols`; a string is the problem (`field '…' (key): expected …`). */
function parseRow(rec: Record<string, string>, cols: ColumnMapping): SweepRow | string {
  const get = (k: SweepKey): string | undefined => {
    const c = cols[k];
    if (c === '-') return undefined;
    return c.startsWith('=') ? c.slice(1) : rec[c];
  };
  const num = (k: SweepKey, integer: boolean, min: number): number | undefined | string => {
    const v = get(k);
    if (v === undefined || v === '') return undefined;
    const x = Number(v);
    if (!Number.isFinite(x) || (integer && !Number.isInteger(x)) || x < min) return `field '${cols[k]}' (${k}): expected ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${v}'`;
    return x;
  };
  const model = get('model');
  const hardware = get('hardware');
  if (!model) return `field '${cols.model}' (model): expected a model name`;
  if (!hardware) return `field '${cols.hardware}' (hardware): expected a hardware name`;
  const tp = num('tp', true, 1),
    batch = num('batch', true, 1),
    prompt = num('prompt', true, 1),
    tokens = num('tokens', true, 0);
  const pt = num('prefill_time', false, 0),
    dt = num('decode_time', false, 0);
  const err = [tp, batch, prompt, tokens, pt, dt].find((x) => typeof x === 'string') as string | undefined;
  if (err) return err;
  if (tp === undefined || batch === undefined || prompt === undefined) return `fields ${cols.tp}, ${cols.batch} and ${cols.prompt} are required`;
  return { model, hardware, tp: tp as number, batch: batch as number, prompt: prompt as number, tokens: tokens as number | undefined, pt: pt as number | undefined, dt: dt as number | undefined };
}

/**
 * A row's steps in its experiment (model × hardware × TP): a prefill batch of `batch` prompts, and a
 * decode batch of `batch` requests at context round(prompt + tokens/2); a missing or zero time is dropped.
 */
function addRow(exps: Map<string, SweepExperiment>, r: SweepRow, o: SweepOptions, drop: (why: string) => void): void {
  const cols = o.columns ?? SPLITWISE_COLUMNS;
  const unit = TO_US[o.timeUnit ?? 'ms'];
  const mm = (o.models ?? SPLITWISE_MODELS)[r.model] ?? { id: r.model };
  const hm = (o.hardware ?? SPLITWISE_HARDWARE)[r.hardware] ?? { id: r.hardware };
  const id = `${slug(r.model)}-${slug(r.hardware)}-tp${r.tp}`;
  let e = exps.get(id);
  if (!e) {
    e = { id, model: mm.id, gpu: hm.id, tp: r.tp, groups: { source_model: r.model, source_hardware: r.hardware, ...(mm.groups ?? {}), ...(hm.groups ?? {}) }, steps: [] };
    exps.set(id, e);
  }
  if (typeof r.pt === 'number' && r.pt > 0) {
    const chunk = { tokens: r.prompt, prior: 0, prompt: r.prompt };
    e.steps.push({ experiment: id, step: e.steps.length, durationUs: r.pt * unit, prefill: Array.from({ length: r.batch }, () => chunk), decode: [] });
  } else if (cols.prefill_time !== '-') drop('prefill time missing or 0');
  if (typeof r.dt === 'number' && r.dt > 0) {
    const ctx = Math.round(r.prompt + (r.tokens ?? 0) / 2);
    e.steps.push({ experiment: id, step: e.steps.length, durationUs: r.dt * unit, prefill: [], decode: new Array<number>(r.batch).fill(ctx) });
  } else if (cols.decode_time !== '-') drop('decode time missing or 0');
}

/** Counts, duration source, unmapped names and the phase split of the reconstruction summary. */
function finishSummary(sum: ReturnType<typeof emptySummary>, experiments: readonly SweepExperiment[], o: SweepOptions): void {
  const cols = o.columns ?? SPLITWISE_COLUMNS;
  const models = o.models ?? SPLITWISE_MODELS;
  const hw = o.hardware ?? SPLITWISE_HARDWARE;
  sum.experiments = experiments.map((e) => e.id);
  sum.steps = experiments.reduce((a, e) => a + e.steps.length, 0);
  sum.stepsExact = sum.steps;
  sum.stepsWithDuration = sum.steps;
  sum.durationSource = `the sweep's own columns (${cols.prefill_time}, ${cols.decode_time}; ${o.timeUnit ?? 'ms'} → µs)`;
  const unknownModels = [...new Set(experiments.map((e) => e.model))].filter((m) => !Object.values(models).some((x) => x.id === m));
  const unknownHw = [...new Set(experiments.map((e) => e.gpu))].filter((m) => !Object.values(hw).some((x) => x.id === m));
  if (unknownModels.length) sum.notes.push(`model names without a mapping (used as ids): ${unknownModels.join(', ')}`);
  if (unknownHw.length) sum.notes.push(`hardware names without a mapping (used as ids): ${unknownHw.join(', ')}`);
  sum.detail = {
    'prefill steps': experiments.reduce((a, e) => a + e.steps.filter((s) => s.prefill.length > 0).length, 0),
    'decode steps': experiments.reduce((a, e) => a + e.steps.filter((s) => s.decode.length > 0).length, 0),
    'decode context': `round(${cols.prompt} + ${cols.tokens}/2)`,
  };
}

export function sweepManifest(experiments: readonly SweepExperiment[], stepFile: (id: string) => string): ManifestEntry[] {
  return experiments.map((e) => ({ id: e.id, steps: stepFile(e.id), model: e.model, gpu: e.gpu, tp: e.tp, groups: e.groups }));
}
