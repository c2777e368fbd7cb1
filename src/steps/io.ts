/** Streaming reader/writer for canonical step files (JSON Lines, optionally gzipped; or a directory of them). */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { readLines } from '../io/lines.js';
import { withAtomicWriter } from '../io/atomic.js';
import { validateStep, stepToJson, type Step } from './step.js';
import { isParquetPath, readStepsParquetRows, writeStepsParquet } from './parquet.js';
import { readStepBatches as readParquetBatches } from './parquet-batch.js';
import { stepsToBatch, type StepBatch } from './batch.js';

export interface ReadStepsOptions {
  /** Default experiment name for records without one. */
  experiment?: string;
  /** Skip bad lines instead of failing; each is reported through onBad. */
  skipBad?: boolean;
  onBad?: (message: string) => void;
  /**
   * readStepBatches only: Parquet batches may live in buffers reused from row group to row group, each
   * valid until the next batch is asked for (for consumers that finish a batch before the next).
   */
  reuse?: boolean;
}

/** The files a `--steps` value names: a file, or every *.jsonl / *.jsonl.gz / *.parquet in a directory (sorted). */
export function stepFiles(p: string): string[] {
  if (!fs.existsSync(p)) throw new InputError(`${p}: steps file or directory not found`);
  if (fs.statSync(p).isDirectory()) {
    const files = fs
      .readdirSync(p)
      .filter((f) => /\.jsonl(\.gz)?$/.test(f) || isParquetPath(f))
      .sort()
      .map((f) => path.join(p, f));
    if (files.length === 0) throw new InputError(`${p}: directory holds no *.jsonl, *.jsonl.gz or *.parquet step files`);
    return files;
  }
  return [p];
}

/** Validated steps of one JSON Lines file (optionally gzipped) with their line numbers; bad lines as in `readSteps`. */
async function* readJsonlSteps(file: string, opts: ReadStepsOptions): AsyncGenerator<{ step: Step; lineNo: number }> {
  for await (const { text, lineNo } of readLines(file)) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      const msg = `${file}:${lineNo}: not valid JSON (${jsonErrorDetail(e)})`;
      if (opts.skipBad) {
        opts.onBad?.(msg);
        continue;
      }
      throw new InputError(msg);
    }
    try {
      const s = validateStep(v, `${file}:${lineNo}`);
      yield { step: s.experiment === '' && opts.experiment ? { ...s, experiment: opts.experiment } : s, lineNo };
    } catch (e) {
      if (opts.skipBad && e instanceof InputError) {
        opts.onBad?.(e.message);
        continue;
      }
      throw e;
    }
  }
}

/** Stream validated steps from a file or directory. Throws InputError with file:line on the first bad record. */
export async function* readSteps(p: string, opts: ReadStepsOptions = {}): AsyncGenerator<Step> {
  for (const file of stepFiles(p)) {
    if (isParquetPath(file)) {
      const onBad = opts.skipBad ? (m: string) => opts.onBad?.(m) : undefined;
      for await (const { step: s } of readStepsParquetRows(file, onBad)) {
        yield s.experiment === '' && opts.experiment ? { ...s, experiment: opts.experiment } : s;
      }
      continue;
    }
    for await (const { step } of readJsonlSteps(file, opts)) yield step;
  }
}

/** Rows per batch made from JSON Lines. */
const JSONL_BATCH = 4096;

/**
 * Validated steps of a file or directory as column batches (steps/batch.ts), same rules, messages and
 * skipping as `readSteps`: Parquet files decoded column-wise (parquet-batch.ts), JSON Lines grouped
 * into batches of up to 4096 lines split where the experiment changes.
 */
export async function* readStepBatches(p: string, opts: ReadStepsOptions = {}): AsyncGenerator<StepBatch> {
  const rename = (b: StepBatch): StepBatch => (b.experiment === '' && opts.experiment ? { ...b, experiment: opts.experiment } : b);
  for (const file of stepFiles(p)) {
    if (isParquetPath(file)) {
      const onBad = opts.skipBad ? (m: string) => opts.onBad?.(m) : undefined;
      for await (const b of readParquetBatches(file, { ...(onBad ? { onBad } : {}), reuse: opts.reuse === true })) yield rename(b);
      continue;
    }
    let buf: Step[] = [];
    let first = 0;
    for await (const { step, lineNo } of readJsonlSteps(file, opts)) {
      if (buf.length > 0 && (buf.length >= JSONL_BATCH || step.experiment !== buf[0]!.experiment)) {
        yield stepsToBatch(buf, first);
        buf = [];
      }
      if (buf.length === 0) first = lineNo;
      buf.push(step);
    }
    if (buf.length > 0) yield stepsToBatch(buf, first);
  }
}

/** Read all steps into memory (for small files: tests, sweeps, validation suites). */
export async function readAllSteps(p: string, opts: ReadStepsOptions = {}): Promise<Step[]> {
  const out: Step[] = [];
  for await (const s of readSteps(p, opts)) out.push(s);
  return out;
}

/** Write steps atomically as JSON Lines, or as Parquet when `target` ends in .parquet (see parquet.ts). */
export async function writeSteps(target: string, steps: AsyncIterable<Step> | Iterable<Step>): Promise<number> {
  if (isParquetPath(target)) return writeStepsParquet(target, steps);
  return withAtomicWriter(target, async (w) => {
    let n = 0;
    let buf = '';
    for await (const s of steps as AsyncIterable<Step>) {
      buf += stepToJson(s) + '\n';
      n++;
      if (buf.length > 1 << 16) {
        await w.write(buf);
        buf = '';
      }
    }
    if (buf) await w.write(buf);
    return n;
  });
}
