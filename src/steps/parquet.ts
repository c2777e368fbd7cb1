/**
 * Columnar step records and feature tables as Apache Parquet (hyparquet reads; written from typed arrays by parquet-step-writer.ts and parquet-features.ts),
 * so stepfit's outputs go straight into DuckDB / Polars / pandas / Spark and big inputs skip JSON.
 *
 * Step schema (STEP_SCHEMA in parquet-step-writer.ts; one row per step; lists are standard 3-level Parquet LISTs):
 *   experiment   STRING (UTF8)        required
 *   step         INT64                required
 *   duration_us  DOUBLE (µs)          optional (null: not measured)
 *   prefill_tokens, prefill_prior, prefill_prompt   LIST<INT32>  one entry per prefill chunk, same length
 *   decode       LIST<INT32>          context length of each decoding request
 * (token counts above 2^31 − 1 are refused with a clear error on write)
 *
 * Every row read back is held to the rules of `validateStep` (checked on the decoded columns by
 * parquet-batch.ts, or by `validateStep` itself on the general path, parquet-rows.ts), so a Parquet file
 * meets the same rules with the same messages as a JSON line, and JSONL → Parquet → JSONL is byte-identical.
 * Memory: writes go out one row group (ROW_GROUP steps) at a time; reads decode one row group at a time.
 */
import { commitTemp, discardTemp, prepareTemp } from '../io/atomic.js';
import { parquetReadObjects } from 'hyparquet';

import { InputError } from '../io/errors.js';
import type { Step } from './step.js';
import { batchStep, type StepBatch } from './batch.js';
import { openParquet, ROW_GROUP } from './parquet-rows.js';
import { readStepBatches } from './parquet-batch.js';
import { FileByteWriter } from './parquet-features.js';
import { StepParquetEncoder } from './parquet-step-writer.js';

export { ROW_GROUP } from './parquet-rows.js';

export { isParquetPath } from './parquet-path.js';

/**
 * A streaming, atomic Parquet step writer: `add` batches of steps (buffered into row groups of ROW_GROUP),
 * then `commit()` renames the file into place; `abort()` removes the temp file.
 */
export class StepParquetWriter {
  private readonly tmp: string;
  private readonly enc: StepParquetEncoder;
  private out: FileByteWriter | undefined;
  private done = false;
  count = 0;
  /** `rowGroup`: steps per row group (default ROW_GROUP). */
  constructor(
    readonly target: string,
    rowGroup = ROW_GROUP,
  ) {
    this.tmp = prepareTemp(target);
    try {
      this.out = new FileByteWriter(this.tmp);
      this.enc = new StepParquetEncoder(this.out, target, rowGroup);
    } catch (e) {
      this.out?.close();
      throw new InputError(`cannot write output '${target}': ${(e as Error).message}`);
    }
  }
  add(steps: readonly Step[]): void {
    for (const s of steps) this.addStep(s);
  }
  /** One step (its values are copied into the row group's arrays: the caller need not keep it). */
  addStep(s: Step): void {
    try {
      this.enc.add(s);
      this.count++;
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(`cannot write output '${this.target}': ${(e as Error).message}`);
    }
  }
  commit(): void {
    if (this.done) return;
    this.done = true;
    try {
      this.enc.finish();
      commitTemp(this.tmp, this.target);
    } catch (e) {
      this.out?.close();
      discardTemp(this.tmp);
      if (e instanceof InputError) throw e;
      throw new InputError(`cannot write output '${this.target}': ${(e as Error).message}`);
    }
  }
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.out?.close();
    discardTemp(this.tmp);
  }
}

/** Write steps atomically as Parquet (schema above). Returns the number of steps. */
export async function writeStepsParquet(target: string, steps: AsyncIterable<Step> | Iterable<Step>): Promise<number> {
  const w = new StepParquetWriter(target);
  try {
    // Step by step, none kept (a buffer of steps would outlive young-generation GCs: +60 % CPU when streaming);
    // a plain iterable (an array, a generator) without a microtask per step.
    if (Symbol.iterator in steps) for (const s of steps) w.addStep(s);
    else for await (const s of steps) w.addStep(s);
    w.commit();
    return w.count;
  } catch (e) {
    w.abort();
    throw e;
  }
}

/**
 * Stream validated steps from a Parquet step file with each row's 1-based number (the columnar reader,
 * parquet-batch.ts, one step record per row). Errors name the file, the row and the field (same wording
 * as for JSON lines). With `onBad`, a row that fails validation is reported there and skipped instead.
 */
export async function* readStepsParquetRows(file: string, onBad?: (message: string) => void): AsyncGenerator<{ step: Step; row: number }> {
  for await (const b of readStepBatches(file, onBad ? { onBad } : {})) {
    for (let r = 0; r < b.n; r++) yield { step: batchStep(b, r), row: b.firstRow + r };
  }
}

export { writeFeaturesParquet, type FeatureTableWriter } from './parquet-features.js';

/** Read a whole Parquet table into row objects (tests and small files; INT64 as bigint). */
export async function readParquetRows(file: string): Promise<Record<string, unknown>[]> {
  const { buf, meta } = await openParquet(file);
  return parquetReadObjects({ file: buf, metadata: meta });
}

/** Number of row groups of a Parquet step file (the unit `readStepBatchesParquet` can be split by, e.g. across workers). */
export async function parquetRowGroupCount(file: string): Promise<number> {
  const { meta } = await openParquet(file);
  return meta.row_groups.length;
}

/**
 * Validated steps of a Parquet step file as column batches (steps/batch.ts) of consecutive rows, at most
 * `ROW_GROUP` rows each and split where the experiment changes; `rowGroups: [from, to)` reads only those
 * row groups. Same rules and messages as `readStepsParquetRows`. Columns are decoded straight into typed
 * arrays (parquet-batch.ts); shapes the fast decoder leaves aside go through hyparquet's general reader.
 */
export function readStepBatchesParquet(file: string, opts: { rowGroups?: readonly [number, number]; onBad?: (message: string) => void } = {}): AsyncGenerator<StepBatch> {
  return readStepBatches(file, opts);
}
