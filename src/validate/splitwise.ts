/**
 * The Splitwise profiling sweep (`Mutinifni__splitwise-sim/data/perf_model.csv`, shared data README §1)
 * as validation experiments: one experiment per (model, hardware, TP), two steps per CSV row.
 *
 * - prefill row: one prefill step of `batch_size` prompts, each {tokens: prompt_size, prior: 0};
 *   duration = prompt_time (ms → µs);
 * - decode row: one decode step of `batch_size` requests at context prompt_size + token_size/2;
 *   duration = token_time (ms → µs, the mean decode iteration of the batch).
 * Every repetition row is kept (the 15-row grid point too).
 *
 * `h100-80gb-pcap` (power-capped H100) is not an independent measurement: every one of its rows is
 * the matching `h100-80gb` row with prompt_time × 1.3 exactly and token_time / e2e_time unchanged
 * (checked by `pcapIsDerived`). It is read (so the check can run) but belongs to no split.
 */
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { InputError } from '../io/errors.js';
import type { Step } from '../steps/step.js';

export const SPLITWISE_CSV = 'Mutinifni__splitwise-sim/data/perf_model.csv';

/** configs/models and configs/hardware ids of the sweep's names (datasheets: A100 312 / 2.039 / 600, H100 989.5 / 3.35 / 900). */
export const SPLITWISE_MODELS: Readonly<Record<string, string>> = Object.freeze({ 'llama2-70b': 'llama-2-70b', 'bloom-176b': 'bloom-176b' });
export const SPLITWISE_GPUS: Readonly<Record<string, string>> = Object.freeze({ 'a100-80gb': 'a100-sxm-80gb', 'h100-80gb': 'h100-sxm', 'h100-80gb-pcap': 'h100-sxm' });

export interface SweepRow {
  readonly line: number;
  readonly model: string;
  readonly hardware: string;
  readonly promptSize: number;
  readonly batchSize: number;
  readonly tokenSize: number;
  readonly promptMs: number;
  readonly tokenMs: number;
  readonly e2eMs: number;
  readonly tp: number;
}

const NUMERIC = ['prompt_size', 'batch_size', 'token_size', 'prompt_time', 'token_time', 'e2e_time', 'tensor_parallel'] as const;

/** Parse the CSV text; bad fields → InputError naming file, line and field. */
export function parseSplitwiseCsv(text: string, file: string): SweepRow[] {
  let records: string[][];
  try {
    records = parse(text, { skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (e) {
    throw new InputError(`${file}: not valid CSV (${(e as Error).message.split('\n')[0]})`);
  }
  if (records.length === 0) throw new InputError(`${file}: empty file (expected a header line)`);
  const header = records[0]!;
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new InputError(`${file}:1: missing column '${name}' (expected Splitwise perf_model.csv columns: model, hardware, ${NUMERIC.join(', ')})`);
    return i;
  };
  const ci = { model: col('model'), hardware: col('hardware'), ...Object.fromEntries(NUMERIC.map((n) => [n, col(n)])) } as Record<string, number>;
  const rows: SweepRow[] = [];
  for (let r = 1; r < records.length; r++) {
    const rec = records[r]!;
    const line = r + 1;
    const num = (name: (typeof NUMERIC)[number], int: boolean, positive: boolean): number => {
      const raw = rec[ci[name]!] ?? '';
      const v = Number(raw);
      const ok = raw.trim() !== '' && Number.isFinite(v) && (!int || Number.isInteger(v)) && (positive ? v > 0 : v >= 0);
      if (!ok) throw new InputError(`${file}:${line}: field '${name}': expected a ${positive ? 'positive' : 'non-negative'} ${int ? 'integer' : 'number'}, got '${raw}'`);
      return v;
    };
    const model = rec[ci['model']!] ?? '';
    const hardware = rec[ci['hardware']!] ?? '';
    if (!SPLITWISE_MODELS[model]) throw new InputError(`${file}:${line}: field 'model': expected one of ${Object.keys(SPLITWISE_MODELS).join(', ')}, got '${model}'`);
    if (!SPLITWISE_GPUS[hardware]) throw new InputError(`${file}:${line}: field 'hardware': expected one of ${Object.keys(SPLITWISE_GPUS).join(', ')}, got '${hardware}'`);
    const tokenSize = num('token_size', true, true);
    if (tokenSize % 2 !== 0) throw new InputError(`${file}:${line}: field 'token_size': expected an even number of tokens (decode context = prompt + token_size/2), got ${tokenSize}`);
    rows.push({
      line, model, hardware,
      promptSize: num('prompt_size', true, true), batchSize: num('batch_size', true, true), tokenSize,
      promptMs: num('prompt_time', false, true), tokenMs: num('token_time', false, true), e2eMs: num('e2e_time', false, true),
      tp: num('tensor_parallel', true, true),
    });
  }
  return rows;
}

export function readSplitwiseCsv(file: string): SweepRow[] {
  if (!fs.existsSync(file)) throw new InputError(`Splitwise sweep '${file}' not found`);
  return parseSplitwiseCsv(fs.readFileSync(file, 'utf8'), file);
}

/** One (model, hardware, TP) experiment of the sweep with its steps. */
export interface SweepExperiment {
  /** e.g. `llama2-70b-h100-80gb-tp4`. */
  readonly id: string;
  /** configs/models id. */
  readonly model: string;
  /** configs/hardware id. */
  readonly gpu: string;
  readonly tp: number;
  /** The sweep's own names, for split rules. */
  readonly sweepModel: string;
  readonly hardware: string;
  readonly steps: readonly Step[];
}

/** Steps of one CSV row: [prefill, decode] (step numbers 2·k and 2·k + 1 within the experiment). */
export function rowSteps(r: SweepRow, experiment: string, k: number): [Step, Step] {
  const pf = Array.from({ length: r.batchSize }, () => ({ tokens: r.promptSize, prior: 0, prompt: r.promptSize }));
  const ctx = r.promptSize + r.tokenSize / 2;
  return [
    { experiment, step: 2 * k, durationUs: r.promptMs * 1000, prefill: pf, decode: [] },
    { experiment, step: 2 * k + 1, durationUs: r.tokenMs * 1000, prefill: [], decode: Array.from({ length: r.batchSize }, () => ctx) },
  ];
}

/** Group rows into experiments (in first-seen order), rows kept in file order. */
export function sweepExperiments(rows: readonly SweepRow[]): SweepExperiment[] {
  const byId = new Map<string, { e: Omit<SweepExperiment, 'steps'>; steps: Step[] }>();
  for (const r of rows) {
    const id = `${r.model}-${r.hardware}-tp${r.tp}`;
    let g = byId.get(id);
    if (!g) {
      g = { e: { id, model: SPLITWISE_MODELS[r.model]!, gpu: SPLITWISE_GPUS[r.hardware]!, tp: r.tp, sweepModel: r.model, hardware: r.hardware }, steps: [] };
      byId.set(id, g);
    }
    g.steps.push(...rowSteps(r, id, g.steps.length / 2));
  }
  return [...byId.values()].map((g) => ({ ...g.e, steps: g.steps }));
}

/**
 * True when every `h100-80gb-pcap` row equals the `h100-80gb` row at the same position of the same
 * (model, TP, prompt, batch, tokens) with prompt_time × 1.3 and token_time, e2e_time unchanged (1e-6 relative).
 */
export function pcapIsDerived(rows: readonly SweepRow[]): boolean {
  const key = (r: SweepRow): string => `${r.model}|${r.tp}|${r.promptSize}|${r.batchSize}|${r.tokenSize}`;
  const base = new Map<string, SweepRow[]>();
  for (const r of rows) if (r.hardware === 'h100-80gb') { const k = key(r); base.set(k, [...(base.get(k) ?? []), r]); }
  const seen = new Map<string, number>();
  let n = 0;
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.abs(b);
  for (const r of rows) {
    if (r.hardware !== 'h100-80gb-pcap') continue;
    const k = key(r);
    const i = seen.get(k) ?? 0;
    seen.set(k, i + 1);
    const b = base.get(k)?.[i];
    if (!b || !close(r.promptMs, 1.3 * b.promptMs) || !close(r.tokenMs, b.tokenMs) || !close(r.e2eMs, b.e2eMs)) return false;
    n++;
  }
  return n > 0;
}
