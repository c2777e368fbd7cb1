/**
 * Columnar step records and feature tables as Apache Parquet (hyparquet reads, hyparquet-writer writes),
 * so stepfit's outputs go straight into DuckDB / Polars / pandas / Spark and big inputs skip JSON.
 *
 * Step schema (one row per step; lists are standard 3-level Parquet LISTs):
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
import { ParquetWriter } from 'hyparquet-writer';
import { parquetReadObjects } from 'hyparquet';

import { InputError } from '../io/errors.js';
import type { Step } from './step.js';
import { batchStep, type StepBatch } from './batch.js';
import { openParquet, ROW_GROUP } from './parquet-rows.js';
import { readStepBatches } from './parquet-batch.js';
import { FileByteWriter, type SchemaElement } from './parquet-features.js';

export { ROW_GROUP } from './parquet-rows.js';

export const isParquetPath = (p: string): boolean => /\.parquet$/i.test(p);

const listOf = (name: string): SchemaElement[] => [
  { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', type: 'INT32', repetition_type: 'REQUIRED' },
];

const STEP_SCHEMA: SchemaElement[] = [
  { name: 'root', num_children: 7 },
  { name: 'experiment', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'step', type: 'INT64', repetition_type: 'REQUIRED' },
  { name: 'duration_us', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  ...listOf('prefill_tokens'),
  ...listOf('prefill_prior'),
  ...listOf('prefill_prompt'),
  ...listOf('decode'),
];

const I32 = 2 ** 31 - 1;
const i32 = (x: number, where: string): number => {
  if (!Number.isInteger(x) || x < 0 || x > I32) throw new InputError(`${where}: token count ${x} does not fit Parquet INT32 (max ${I32})`);
  return x;
};
const big = (x: number, where: string): bigint => {
  if (!Number.isSafeInteger(x)) throw new InputError(`${where}: expected a safe integer, got ${x}`);
  return BigInt(x);
};

function stepColumns(batch: readonly Step[], target: string) {
  const m = batch.length;
  const experiment = new Array<string>(m);
  const step = new Array<bigint>(m);
  const dur = new Array<number | null>(m);
  const pt = new Array<number[]>(m);
  const pp = new Array<number[]>(m);
  const pr = new Array<number[]>(m);
  const dc = new Array<number[]>(m);
  for (let i = 0; i < m; i++) {
    const s = batch[i]!;
    const where = `${target}: step ${s.step} of '${s.experiment}'`;
    experiment[i] = s.experiment;
    step[i] = big(s.step, where);
    dur[i] = s.durationUs ?? null;
    pt[i] = s.prefill.map((c) => i32(c.tokens, where));
    pp[i] = s.prefill.map((c) => i32(c.prior, where));
    pr[i] = s.prefill.map((c) => i32(c.prompt, where));
    dc[i] = s.decode.map((d) => i32(d, where));
  }
  return [
    { name: 'experiment', data: experiment },
    { name: 'step', data: step },
    { name: 'duration_us', data: dur },
    { name: 'prefill_tokens', data: pt },
    { name: 'prefill_prior', data: pp },
    { name: 'prefill_prompt', data: pr },
    { name: 'decode', data: dc },
  ];
}

/**
 * A streaming, atomic Parquet step writer: `add` batches of steps (buffered into row groups of ROW_GROUP),
 * then `commit()` renames the file into place; `abort()` removes the temp file.
 */
export class StepParquetWriter {
  private readonly tmp: string;
  private readonly pw: ParquetWriter;
  private out: FileByteWriter | undefined;
  private batch: Step[] = [];
  private done = false;
  count = 0;
  /** `rowGroup`: steps per row group (default ROW_GROUP). */
  constructor(
    readonly target: string,
    private readonly rowGroup = ROW_GROUP,
  ) {
    this.tmp = prepareTemp(target);
    try {
      this.out = new FileByteWriter(this.tmp);
      this.pw = new ParquetWriter({
        writer: this.out,
        schema: STEP_SCHEMA,
        createdBy: 'stepfit',
        kvMetadata: [
          { key: 'stepfit.schema', value: 'steps/1' },
          { key: 'stepfit.units', value: 'duration_us: microseconds; prefill/decode: tokens' },
        ],
      });
    } catch (e) {
      this.out?.close();
      throw new InputError(`cannot write output '${target}': ${(e as Error).message}`);
    }
  }
  private flush(): void {
    if (this.batch.length === 0) return;
    const m = this.batch.length;
    try {
      this.pw.write({ columnData: stepColumns(this.batch, this.target), rowGroupSize: m });
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(`cannot write output '${this.target}': ${(e as Error).message}`);
    }
    this.batch = [];
  }
  add(steps: readonly Step[]): void {
    for (const s of steps) {
      this.batch.push(s);
      this.count++;
      if (this.batch.length >= this.rowGroup) this.flush();
    }
  }
  commit(): void {
    if (this.done) return;
    this.done = true;
    try {
      this.flush();
      this.pw.finish();
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
    let buf: Step[] = [];
    for await (const s of steps as AsyncIterable<Step>) {
      buf.push(s);
      if (buf.length >= 4096) {
        w.add(buf);
        buf = [];
      }
    }
    w.add(buf);
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
