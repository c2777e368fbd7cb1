/**
 * The general Parquet step reader: hyparquet decodes rows into objects, each validated by the same
 * `validateStep` as a JSON line. It reads any file hyparquet reads (pyarrow/pandas, Polars, DuckDB, Spark);
 * the columnar reader (parquet-batch.ts) uses it for whatever its fast decoder leaves aside, and for
 * row groups with a bad row, so that messages and `--skip-bad` behave exactly the same on both paths.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { InputError } from '../io/errors.js';
import { validateStep, type Step } from './step.js';

/** Steps per row group when stepfit writes, and the most rows of one read batch. */
export const ROW_GROUP = 16384;

export const STEP_COLUMNS = ['experiment', 'step', 'duration_us', 'prefill_tokens', 'prefill_prior', 'prefill_prompt', 'decode'] as const;

export interface OpenParquet {
  readonly buf: AsyncBuffer;
  readonly meta: FileMetaData;
}

export async function openParquet(file: string): Promise<OpenParquet> {
  try {
    const buf = await asyncBufferFromFile(file);
    const meta = await parquetMetadataAsync(buf);
    return { buf, meta };
  } catch (e) {
    throw new InputError(`${file}: not a readable Parquet file (${(e as Error).message})`);
  }
}

/** The step columns the file has; throws the one-line error when a required one is missing. */
export function stepColumnsOf(file: string, meta: FileMetaData): string[] {
  const have = new Set(parquetSchema(meta).children.map((c) => c.element.name));
  for (const c of ['step', 'prefill_tokens', 'decode'] as const) {
    if (!have.has(c)) throw new InputError(`${file}: Parquet step file has no column '${c}' (expected columns ${STEP_COLUMNS.join(', ')})`);
  }
  return STEP_COLUMNS.filter((c) => have.has(c));
}

const num = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v);
const numList = (v: unknown): unknown => (Array.isArray(v) ? v.map(num) : v);

/** One decoded row as the object `validateStep` checks (lists of chunks rebuilt from the parallel lists). */
function rowToStep(r: Record<string, unknown>, where: string): Step {
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
  return validateStep(obj, where);
}

/**
 * Validated steps of rows [start, end) (0-based) with each row's 1-based number, decoded by hyparquet
 * at most ROW_GROUP rows at a time (chunks aligned to multiples of ROW_GROUP from row 1). Errors name the file, the row and the field (same wording as for JSON lines);
 * with `onBad`, a row that fails validation is reported there and skipped instead.
 */
export async function* stepRowsOfRange(
  file: string,
  pq: OpenParquet,
  columns: readonly string[],
  start: number,
  end: number,
  onBad?: (message: string) => void,
): AsyncGenerator<{ step: Step; row: number }> {
  for (let lo = start; lo < end; ) {
    const hi = Math.min(end, (Math.floor(lo / ROW_GROUP) + 1) * ROW_GROUP);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: pq.buf, metadata: pq.meta, columns: [...columns], rowStart: lo, rowEnd: hi });
    } catch (e) {
      throw new InputError(`${file}: rows ${lo + 1}-${hi}: cannot decode Parquet data (${(e as Error).message})`);
    }
    for (let i = 0; i < rows.length; i++) {
      const row = lo + i + 1;
      let step: Step;
      try {
        step = rowToStep(rows[i]!, `${file}: row ${row}`);
      } catch (e) {
        if (onBad && e instanceof InputError) {
          onBad(e.message);
          continue;
        }
        throw e;
      }
      yield { step, row };
    }
    lo = hi;
  }
}
