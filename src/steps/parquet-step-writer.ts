/**
 * The fast step Parquet writer: the step schema, and steps buffered column-wise into typed arrays, one row
 * group (ROW_GROUP steps) at a time, each written as one uncompressed DATA_PAGE_V2 per column chunk
 * (parquet-step-group.ts; the RLE / bit-packed hybrid encoders in parquet-step-encode.ts) — no JS value per
 * list entry, no generic Dremel shredding. Header and footer by hyparquet-writer's ParquetWriter.
 * Values are checked as the generic writer it replaced checked them, with the same messages: a step number
 * must be a safe integer, a token count an integer in 0 … 2^31 − 1 (INT32).
 */
import { ParquetWriter } from 'hyparquet-writer';
import { InputError } from '../io/errors.js';
import type { FileByteWriter, SchemaElement } from './parquet-features.js';
import { durationChunk, experimentChunk, listChunk, Scratch, StepGroup, stepChunk } from './parquet-step-group.js';
import type { Step } from './step.js';

const listOf = (name: string): SchemaElement[] => [
  { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', type: 'INT32', repetition_type: 'REQUIRED' },
];

/** The step file schema (one row per step; lists are standard 3-level Parquet LISTs). */
export const STEP_SCHEMA: SchemaElement[] = [
  { name: 'root', num_children: 7 },
  { name: 'experiment', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'step', type: 'INT64', repetition_type: 'REQUIRED' },
  { name: 'duration_us', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  ...listOf('prefill_tokens'),
  ...listOf('prefill_prior'),
  ...listOf('prefill_prompt'),
  ...listOf('decode'),
];

/** Key/value metadata of a step file. */
export const STEP_KV = [
  { key: 'stepfit.schema', value: 'steps/1' },
  { key: 'stepfit.units', value: 'duration_us: microseconds; prefill/decode: tokens' },
];

const I32 = 2 ** 31 - 1;
/** Not a token count INT32 holds (an integer in 0 … 2^31 − 1). */
const badCount = (x: number): boolean => (x | 0) !== x || x < 0;

/** The first value of step `s` the generic writer refused, in its order (step, then each list), as its message. */
function refusal(s: Step, target: string): InputError {
  const where = `${target}: step ${s.step} of '${s.experiment}'`;
  if (!Number.isSafeInteger(s.step)) return new InputError(`${where}: expected a safe integer, got ${s.step}`);
  const lists = [s.prefill.map((c) => c.tokens), s.prefill.map((c) => c.prior), s.prefill.map((c) => c.prompt), s.decode];
  for (const l of lists) {
    for (const x of l) if (!Number.isInteger(x) || x < 0 || x > I32) return new InputError(`${where}: token count ${x} does not fit Parquet INT32 (max ${I32})`);
  }
  return new InputError(`${where}: cannot be written`);
}

/** Buffer one step (false: a value the schema cannot hold; nothing is kept then). */
function addStep(g: StepGroup, s: Step): boolean {
  const r = g.n;
  const st = s.step;
  if (!Number.isSafeInteger(st)) return false;
  const pf = s.prefill;
  const np = g.tokens.n;
  const tk = g.tokens.room(pf.length);
  const pr = g.prior.room(pf.length);
  const pm = g.prompt.room(pf.length);
  for (let i = 0; i < pf.length; i++) {
    const c = pf[i]!;
    const t = c.tokens;
    const p = c.prior;
    const q = c.prompt;
    if (badCount(t) || badCount(p) || badCount(q)) return false;
    tk[np + i] = t;
    pr[np + i] = p;
    pm[np + i] = q;
  }
  const dc = s.decode;
  const nd = g.decode.n;
  const dv = g.decode.room(dc.length);
  for (let i = 0; i < dc.length; i++) {
    const x = dc[i]!;
    if (badCount(x)) return false;
    dv[nd + i] = x;
  }
  g.tokens.n = g.prior.n = g.prompt.n = np + pf.length;
  g.decode.n = nd + dc.length;
  g.prefillOff[r + 1] = np + pf.length;
  g.decodeOff[r + 1] = nd + dc.length;
  g.exIdx[r] = g.experiment(s.experiment);
  g.step[r] = st;
  const d = s.durationUs;
  if (d === undefined || d === null) g.hasDur[r] = 0;
  else {
    g.hasDur[r] = 1;
    g.dur[r] = d;
  }
  g.n = r + 1;
  return true;
}

/**
 * Step rows written as Parquet onto an open byte writer (header at construction, one row group per `rowGroup`
 * steps, footer at `finish`). The caller owns the file (temp file, commit, abort).
 */
export class StepParquetEncoder {
  private readonly pw: ParquetWriter;
  private readonly g: StepGroup;
  private readonly sc = new Scratch();
  constructor(
    out: FileByteWriter,
    private readonly target: string,
    rowGroup: number,
  ) {
    this.pw = new ParquetWriter({ writer: out, schema: STEP_SCHEMA, createdBy: 'stepfit', kvMetadata: STEP_KV });
    this.g = new StepGroup(rowGroup);
  }

  /** Buffer one step; a full row group is written out. Throws InputError for a value the schema cannot hold. */
  add(s: Step): void {
    if (!addStep(this.g, s)) throw refusal(s, this.target);
    if (this.g.n >= this.g.cap) this.flush();
  }

  /** Write the buffered steps as a row group (nothing when none). */
  flush(): void {
    const g = this.g;
    if (g.n === 0) return;
    const pw = this.pw;
    const w = pw.writer;
    const start = w.offset;
    const columns = [
      experimentChunk(w, g, this.sc),
      stepChunk(w, g),
      durationChunk(w, g, this.sc),
      listChunk(w, 'prefill_tokens', g.prefillOff, g.n, g.tokens, this.sc),
      listChunk(w, 'prefill_prior', g.prefillOff, g.n, g.prior, this.sc),
      listChunk(w, 'prefill_prompt', g.prefillOff, g.n, g.prompt, this.sc),
      listChunk(w, 'decode', g.decodeOff, g.n, g.decode, this.sc),
    ];
    let total = 0n;
    for (const c of columns) total += c.meta_data!.total_uncompressed_size;
    pw.row_groups.push({ columns, total_byte_size: total, num_rows: BigInt(g.n), total_compressed_size: BigInt(w.offset - start) });
    pw.num_rows += BigInt(g.n);
    g.clear();
    w.flush?.();
  }

  /** Write the last row group and the footer (the byte writer is finished: flushed and closed). */
  finish(): void {
    this.flush();
    this.pw.finish();
  }
}
