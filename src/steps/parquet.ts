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
 * Every row read back goes through the same `validateStep` as a JSON line, so a Parquet file is held to
 * the same rules and a JSONL → Parquet → JSONL round trip is byte-identical.
 * Memory: writes go out one row group (ROW_GROUP steps) at a time; reads decode one row group at a time.
 */
import { commitTemp, discardTemp, prepareTemp } from '../io/atomic.js';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import type { FileMetaData } from 'hyparquet';

/** The writer's schema element type (hyparquet-writer pins its own hyparquet version). */
type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];
import { InputError } from '../io/errors.js';
import { validateStep, type Step } from './step.js';
import { stepsToBatch, type StepBatch } from './batch.js';

/** Steps per row group (and per read batch). */
export const ROW_GROUP = 16384;

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
const STEP_COLUMNS = ['experiment', 'step', 'duration_us', 'prefill_tokens', 'prefill_prior', 'prefill_prompt', 'decode'] as const;

/** Write a Parquet file atomically (temp file + rename, io/atomic.ts); `fill` writes the row groups. */
async function withParquetFile<T>(target: string, schema: SchemaElement[], kv: Record<string, string>, fill: (pw: ParquetWriter) => Promise<T>): Promise<T> {
  const tmp = prepareTemp(target);
  try {
    const pw = new ParquetWriter({ writer: fileWriter(tmp), schema, createdBy: 'stepfit', kvMetadata: Object.entries(kv).map(([key, value]) => ({ key, value })) });
    const r = await fill(pw);
    pw.finish();
    commitTemp(tmp, target);
    return r;
  } catch (e) {
    discardTemp(tmp);
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write output '${target}': ${(e as Error).message}`);
  }
}

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
      this.pw = new ParquetWriter({
        writer: fileWriter(this.tmp),
        schema: STEP_SCHEMA,
        createdBy: 'stepfit',
        kvMetadata: [
          { key: 'stepfit.schema', value: 'steps/1' },
          { key: 'stepfit.units', value: 'duration_us: microseconds; prefill/decode: tokens' },
        ],
      });
    } catch (e) {
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
      discardTemp(this.tmp);
      if (e instanceof InputError) throw e;
      throw new InputError(`cannot write output '${this.target}': ${(e as Error).message}`);
    }
  }
  abort(): void {
    if (this.done) return;
    this.done = true;
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

async function openParquet(file: string): Promise<{ buf: Awaited<ReturnType<typeof asyncBufferFromFile>>; meta: FileMetaData }> {
  try {
    const buf = await asyncBufferFromFile(file);
    const meta = await parquetMetadataAsync(buf);
    return { buf, meta };
  } catch (e) {
    throw new InputError(`${file}: not a readable Parquet file (${(e as Error).message})`);
  }
}

const num = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v);
const numList = (v: unknown): unknown => (Array.isArray(v) ? v.map(num) : v);

/**
 * Stream validated steps from a Parquet step file, one row group at a time, with each row's 1-based number.
 * Errors name the file, the row and the field (same wording as for JSON lines). With `onBad`, a row that
 * fails validation is reported there and skipped instead.
 */
export async function* readStepsParquetRows(file: string, onBad?: (message: string) => void): AsyncGenerator<{ step: Step; row: number }> {
  const { buf, meta } = await openParquet(file);
  const have = new Set(parquetSchema(meta).children.map((c) => c.element.name));
  for (const c of ['step', 'prefill_tokens', 'decode'] as const) {
    if (!have.has(c)) throw new InputError(`${file}: Parquet step file has no column '${c}' (expected columns ${STEP_COLUMNS.join(', ')})`);
  }
  const columns = STEP_COLUMNS.filter((c) => have.has(c));
  const total = Number(meta.num_rows);
  for (let start = 0; start < total; start += ROW_GROUP) {
    const end = Math.min(total, start + ROW_GROUP);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: buf, metadata: meta, columns: [...columns], rowStart: start, rowEnd: end });
    } catch (e) {
      throw new InputError(`${file}: rows ${start + 1}-${end}: cannot decode Parquet data (${(e as Error).message})`);
    }
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const row = start + i + 1;
      const where = `${file}: row ${row}`;
      let step: Step;
      try {
        const tokens = r['prefill_tokens'];
        const prior = r['prefill_prior'];
        const prompt = r['prefill_prompt'];
        let prefill: unknown = tokens;
        if (Array.isArray(tokens)) {
          if (prior !== undefined && prior !== null && (!Array.isArray(prior) || prior.length !== tokens.length))
            throw new InputError(`${where}: field 'prefill_prior': expected a list as long as 'prefill_tokens' (${tokens.length})`);
          if (prompt !== undefined && prompt !== null && (!Array.isArray(prompt) || prompt.length !== tokens.length))
            throw new InputError(`${where}: field 'prefill_prompt': expected a list as long as 'prefill_tokens' (${tokens.length})`);
          prefill = tokens.map((t, k) => {
            const c: Record<string, unknown> = { tokens: num(t) };
            if (Array.isArray(prior)) c['prior'] = num(prior[k]);
            if (Array.isArray(prompt)) c['prompt'] = num(prompt[k]);
            return c;
          });
        }
        const obj = {
          experiment: r['experiment'] ?? undefined,
          step: num(r['step']),
          duration_us: r['duration_us'] ?? undefined,
          prefill,
          decode: numList(r['decode']),
        };
        step = validateStep(obj, where);
      } catch (e) {
        if (onBad && e instanceof InputError) {
          onBad(e.message);
          continue;
        }
        throw e;
      }
      yield { step, row };
    }
  }
}

/** A feature table (`features --out x.parquet`): experiment, step, duration_us (µs, nullable), one DOUBLE column per feature. */
export interface FeatureTableWriter {
  add(s: Step, f: Float64Array): void;
}

/** Write a feature table atomically as Parquet; `fill` calls `add` per step. Returns the number of rows. */
export async function writeFeaturesParquet(target: string, featureColumns: readonly string[], kv: Record<string, string>, fill: (w: FeatureTableWriter) => Promise<void>): Promise<number> {
  const schema: SchemaElement[] = [
    { name: 'root', num_children: 3 + featureColumns.length },
    { name: 'experiment', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    { name: 'step', type: 'INT64', repetition_type: 'REQUIRED' },
    { name: 'duration_us', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
    ...featureColumns.map((name): SchemaElement => ({ name, type: 'DOUBLE', repetition_type: 'REQUIRED' })),
  ];
  return withParquetFile(target, schema, { 'stepfit.schema': 'features/1', ...kv }, async (pw) => {
    const k = featureColumns.length;
    let n = 0;
    let m = 0;
    let experiment: string[] = [];
    let step: bigint[] = [];
    let dur: (number | null)[] = [];
    let cols: Float64Array[] = featureColumns.map(() => new Float64Array(ROW_GROUP));
    const flush = (): void => {
      if (m === 0) return;
      pw.write({
        columnData: [
          { name: 'experiment', data: experiment },
          { name: 'step', data: step },
          { name: 'duration_us', data: dur },
          ...featureColumns.map((name, j) => ({ name, data: cols[j]!.subarray(0, m) })),
        ],
        rowGroupSize: m,
      });
      experiment = [];
      step = [];
      dur = [];
      cols = featureColumns.map(() => new Float64Array(ROW_GROUP));
      m = 0;
    };
    await fill({
      add(s, f) {
        experiment.push(s.experiment);
        step.push(big(s.step, `${target}: step ${s.step}`));
        dur.push(s.durationUs ?? null);
        for (let j = 0; j < k; j++) cols[j]![m] = f[j]!;
        m++;
        n++;
        if (m >= ROW_GROUP) flush();
      },
    });
    flush();
    return n;
  });
}

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
 * Validated steps of a Parquet step file as column batches (steps/batch.ts), at most `ROW_GROUP` rows each
 * and split where the experiment changes; `rowGroups: [from, to)` reads only those row groups.
 * Same rules and messages as `readStepsParquetRows`. (First version: built on the row reader; the
 * columnar fast path replaces its inside, not its signature.)
 */
export async function* readStepBatchesParquet(file: string, opts: { rowGroups?: readonly [number, number]; onBad?: (message: string) => void } = {}): AsyncGenerator<StepBatch> {
  const { meta } = await openParquet(file);
  let lo = 0;
  let hi = Number(meta.num_rows);
  if (opts.rowGroups) {
    const [g0, g1] = opts.rowGroups;
    let start = 0;
    for (let g = 0; g < meta.row_groups.length; g++) {
      const n = Number(meta.row_groups[g]!.num_rows);
      if (g === g0) lo = start;
      if (g === g1 - 1) hi = start + n;
      start += n;
    }
    if (g1 <= g0) hi = lo;
  }
  let buf: Step[] = [];
  let first = 0;
  for await (const { step, row } of readStepsParquetRows(file, opts.onBad)) {
    if (row <= lo) continue;
    if (row > hi) break;
    if (buf.length > 0 && (buf.length >= ROW_GROUP || step.experiment !== buf[0]!.experiment)) {
      yield stepsToBatch(buf, first);
      buf = [];
    }
    if (buf.length === 0) first = row;
    buf.push(step);
  }
  if (buf.length > 0) yield stepsToBatch(buf, first);
}
