/**
 * The columnar Parquet step reader: each row group's column chunks are decoded straight into the typed
 * arrays of a `StepBatch` (parquet-pages.ts), the LIST columns' repetition/definition levels into
 * offsets, and every value checked against the rules of `validateStep` on the arrays — no object per row.
 *
 * Exactness: a row group the fast path cannot take as is — a shape the decoder leaves aside, a null list
 * or element, lists of different lengths, or any value `validateStep` would refuse — is read again by the
 * general reader (parquet-rows.ts: hyparquet + validateStep), which gives the same steps, the same
 * one-line messages and the same `onBad` skips as before. Both paths yield batches of consecutive rows.
 */
import fs from 'node:fs';
import { parquetSchema, type FileMetaData } from 'hyparquet';
import { InputError } from '../io/errors.js';
import { stepsToBatch, type StepBatch } from './batch.js';
import { decodeChunk, newScratch, Unsupported, type DecodedChunk, type LeafType, type Scratch } from './parquet-pages.js';
import { openParquet, ROW_GROUP, stepColumnsOf, stepRowsOfRange, type OpenParquet } from './parquet-rows.js';
import { anyEmptyRow, counts, durations, experimentIds, flatDefined, listOffsets, promptsCover, promptsOf, sameOffsets, stepsValid } from './parquet-columns.js';
import { MAX_TOKENS, type Step } from './step.js';

/** Row groups read by each path since the process started (tests and benchmarks check the fast path ran). */
export const rowGroupPaths = { fast: 0, general: 0 };

/** How the fast path reads one leaf column. */
interface Leaf {
  readonly type: LeafType;
  readonly maxRep: number;
  readonly maxDef: number;
  /** Definition level of an empty list (lists only). */
  readonly emptyDef: number;
}

/** The leaves of a step file the fast path can decode; null: read the whole file with the general reader. */
type Plan = Partial<Record<'experiment' | 'step' | 'duration_us' | 'prefill_tokens' | 'prefill_prior' | 'prefill_prompt' | 'decode', Leaf>>;

type Node = ReturnType<typeof parquetSchema>;
type Element = Node['element'];

const plainNumber = (e: Element): boolean => e.converted_type === undefined && (e.logical_type === undefined || (e.logical_type.type === 'INTEGER' && e.logical_type.isSigned));
const optional = (e: Element): number => (e.repetition_type === 'OPTIONAL' ? 1 : 0);

function flatLeaf(n: Node, ok: (e: Element) => boolean): Leaf | null {
  const e = n.element;
  if (n.children.length > 0 || e.repetition_type === 'REPEATED' || !ok(e)) return null;
  return { type: e.type as LeafType, maxRep: 0, maxDef: optional(e), emptyDef: 0 };
}

/** A standard 3-level LIST of INT32/INT64 (required or optional list and element). */
function listLeaf(n: Node): Leaf | null {
  const e = n.element;
  if (e.converted_type !== 'LIST' && e.logical_type?.type !== 'LIST') return null;
  if (e.repetition_type === 'REPEATED' || n.children.length !== 1) return null;
  const rep = n.children[0]!;
  if (rep.element.repetition_type !== 'REPEATED' || rep.children.length !== 1) return null;
  const leaf = rep.children[0]!;
  const le = leaf.element;
  if (leaf.children.length > 0 || le.repetition_type === 'REPEATED' || (le.type !== 'INT32' && le.type !== 'INT64') || !plainNumber(le)) return null;
  return { type: le.type, maxRep: 1, maxDef: optional(e) + 1 + optional(le), emptyDef: optional(e) };
}

function planOf(meta: FileMetaData): Plan | null {
  const plan: Plan = {};
  for (const n of parquetSchema(meta).children) {
    const name = n.element.name;
    let leaf: Leaf | null | undefined;
    if (name === 'experiment') leaf = flatLeaf(n, (e) => e.type === 'BYTE_ARRAY' && (e.converted_type === 'UTF8' || e.logical_type?.type === 'STRING'));
    else if (name === 'step') leaf = flatLeaf(n, (e) => (e.type === 'INT64' || e.type === 'INT32') && plainNumber(e));
    else if (name === 'duration_us') leaf = flatLeaf(n, (e) => (e.type === 'DOUBLE' || e.type === 'FLOAT') && e.converted_type === undefined && e.logical_type === undefined);
    else if (name === 'prefill_tokens' || name === 'prefill_prior' || name === 'prefill_prompt' || name === 'decode') leaf = listLeaf(n);
    else continue;
    if (!leaf) return null;
    plan[name] = leaf;
  }
  return plan;
}

/** The bytes of one column chunk of row group `g`, read from the open file into `buf` (grown as needed). */
function chunkBytes(fd: number, meta: FileMetaData, g: number, name: string, scratch: Scratch): { bytes: Uint8Array; codec: string; count: number } | null {
  const col = meta.row_groups[g]!.columns.find((c) => c.meta_data?.path_in_schema[0] === name);
  const md = col?.meta_data;
  if (!md) return null;
  const start = Number(md.dictionary_page_offset || md.data_page_offset);
  const len = Number(md.total_compressed_size);
  if (scratch.chunk.length < len) scratch.chunk = new Uint8Array(Math.max(len, scratch.chunk.length * 2));
  const bytes = scratch.chunk.subarray(0, len);
  if (fs.readSync(fd, bytes, 0, len, start) !== len) throw new Error('column chunk past the end of the file');
  return { bytes, codec: md.codec, count: Number(md.num_values) };
}

/** An open file on the fast path: its metadata, plan, and per-column buffers reused across row groups. */
interface Source {
  readonly fd: number;
  readonly meta: FileMetaData;
  readonly plan: Plan;
  readonly scratch: Map<string, Scratch>;
  /** Decode into the scratch buffers (batches valid until the next one is asked for). */
  readonly reuse: boolean;
}

/** The values a column may hold (validateStep's rules for counts), checked while decoding where possible. */
const RANGE: Partial<Record<keyof Plan, readonly [number, number]>> = { prefill_tokens: [1, MAX_TOKENS], prefill_prior: [0, MAX_TOKENS], prefill_prompt: [0, MAX_TOKENS], decode: [0, MAX_TOKENS] };

function decodeColumn(src: Source, g: number, name: keyof Plan): DecodedChunk | null {
  const leaf = src.plan[name];
  if (!leaf) return null;
  let scratch = src.scratch.get(name);
  if (!scratch) src.scratch.set(name, (scratch = newScratch(src.reuse)));
  const c = chunkBytes(src.fd, src.meta, g, name, scratch);
  if (!c) throw new Unsupported(`no chunk for column ${name}`);
  return decodeChunk(
    c.bytes,
    { type: leaf.type, maxRep: leaf.maxRep, maxDef: leaf.maxDef, codec: c.codec, count: c.count, range: RANGE[name], rows: Number(src.meta.row_groups[g]!.num_rows), emptyDef: leaf.emptyDef },
    scratch,
  );
}

/** One row group as full-length columns, or null when a row needs the general reader. */
interface GroupColumns {
  /** Each row's experiment as an index into `experimentNames`. */
  experiment: Int32Array;
  experimentNames: string[];
  step: Float64Array;
  durationUs: Float64Array;
  prefillOffsets: Int32Array;
  prefillTokens: Int32Array;
  prefillPrior: Int32Array;
  prefillPrompt: Int32Array;
  decodeOffsets: Int32Array;
  decodeContext: Int32Array;
}

function flatColumns(src: Source, g: number, n: number): Pick<GroupColumns, 'experiment' | 'experimentNames' | 'step' | 'durationUs'> | null {
  const ex = decodeColumn(src, g, 'experiment');
  const st = decodeColumn(src, g, 'step')!;
  const du = decodeColumn(src, g, 'duration_us');
  if (st.count !== n || (ex && ex.count !== n) || (du && du.count !== n)) throw new Error('column chunks of different lengths');
  if (st.nValues !== n || (ex && !flatDefined(ex, n)) || (du && !flatDefined(du, n))) return null;
  const step = st.values instanceof Float64Array ? st.values : Float64Array.from(st.values as Int32Array);
  if (!stepsValid(step, n)) return null;
  const { experiment, experimentNames } = experimentIds(ex, n);
  const durationUs = durations(du, n);
  if (!durationUs) return null;
  return { experiment, experimentNames, step, durationUs };
}

function listColumns(src: Source, g: number, n: number): Omit<GroupColumns, 'experiment' | 'experimentNames' | 'step' | 'durationUs'> | null {
  const tk = decodeColumn(src, g, 'prefill_tokens')!;
  const prefillOffsets = listOffsets(tk, n);
  const prefillTokens = prefillOffsets && counts(tk, true);
  if (!prefillOffsets || !prefillTokens) return null;
  const np = prefillTokens.length;
  let prefillPrior: Int32Array = new Int32Array(np);
  const pr = decodeColumn(src, g, 'prefill_prior');
  if (pr) {
    const o = listOffsets(pr, n);
    const v = o && sameOffsets(o, prefillOffsets) ? counts(pr, false) : null;
    if (!v) return null;
    prefillPrior = v;
  }
  let prefillPrompt: Int32Array;
  const pm = decodeColumn(src, g, 'prefill_prompt');
  if (pm) {
    const o = listOffsets(pm, n);
    const v = o && sameOffsets(o, prefillOffsets) ? counts(pm, false) : null;
    if (!v) return null;
    if (!promptsCover(v, prefillPrior, prefillTokens, np)) return null;
    prefillPrompt = v;
  } else {
    const p = promptsOf(prefillPrior, prefillTokens, np);
    if (!p) return null;
    prefillPrompt = p;
  }
  const dc = decodeColumn(src, g, 'decode')!;
  const decodeOffsets = listOffsets(dc, n);
  const decodeContext = decodeOffsets && counts(dc, false);
  if (!decodeOffsets || !decodeContext) return null;
  if (anyEmptyRow(prefillOffsets, decodeOffsets, n)) return null;
  return { prefillOffsets, prefillTokens, prefillPrior, prefillPrompt, decodeOffsets, decodeContext };
}

/** Rows [r0, r1) of a group's columns as one batch (offsets rebased to 0, value columns as views). */
function slice(c: GroupColumns, r0: number, r1: number, firstRow: number): StepBatch {
  const p0 = c.prefillOffsets[r0]!;
  const p1 = c.prefillOffsets[r1]!;
  const d0 = c.decodeOffsets[r0]!;
  const d1 = c.decodeOffsets[r1]!;
  const prefillOffsets = c.prefillOffsets.slice(r0, r1 + 1);
  const decodeOffsets = c.decodeOffsets.slice(r0, r1 + 1);
  for (let i = 0; i < prefillOffsets.length; i++) {
    prefillOffsets[i]! -= p0;
    decodeOffsets[i]! -= d0;
  }
  return {
    experiment: c.experimentNames[c.experiment[r0]!]!,
    n: r1 - r0,
    step: c.step.subarray(r0, r1),
    durationUs: c.durationUs.subarray(r0, r1),
    prefillOffsets,
    prefillTokens: c.prefillTokens.subarray(p0, p1),
    prefillPrior: c.prefillPrior.subarray(p0, p1),
    prefillPrompt: c.prefillPrompt.subarray(p0, p1),
    decodeOffsets,
    decodeContext: c.decodeContext.subarray(d0, d1),
    firstRow,
  };
}

/** Batches of a decoded group: split where the experiment changes and every ROW_GROUP rows. */
function groupBatches(c: GroupColumns, n: number, firstRow: number): StepBatch[] {
  const out: StepBatch[] = [];
  for (let r0 = 0; r0 < n; ) {
    const r1 = runEnd(c.experiment, r0, Math.min(n, r0 + ROW_GROUP));
    out.push(slice(c, r0, r1, firstRow + r0));
    r0 = r1;
  }
  return out;
}

/** The first row in (r0, end) whose experiment differs from row r0's, else end. */
function runEnd(ids: Int32Array, r0: number, end: number): number {
  const id = ids[r0]!;
  let r = r0 + 1;
  while (r < end && ids[r] === id) r++;
  return r;
}

/** The fast path for row group g: its batches, or null when the general reader must take it. */
function fastGroup(src: Source, g: number, firstRow: number): StepBatch[] | null {
  const n = Number(src.meta.row_groups[g]!.num_rows);
  if (n === 0) return [];
  try {
    const flat = flatColumns(src, g, n);
    const lists = flat && listColumns(src, g, n);
    if (!flat || !lists) return null;
    const cols: GroupColumns = {
      experiment: flat.experiment,
      experimentNames: flat.experimentNames,
      step: flat.step,
      durationUs: flat.durationUs,
      prefillOffsets: lists.prefillOffsets,
      prefillTokens: lists.prefillTokens,
      prefillPrior: lists.prefillPrior,
      prefillPrompt: lists.prefillPrompt,
      decodeOffsets: lists.decodeOffsets,
      decodeContext: lists.decodeContext,
    };
    return groupBatches(cols, n, firstRow);
  } catch (e) {
    if (e instanceof InputError) throw e;
    return null;
  }
}

/** Rows [start, end) through the general reader, as batches of consecutive rows (split at skipped rows too). */
async function* slowGroup(file: string, pq: OpenParquet, columns: readonly string[], start: number, end: number, onBad?: (message: string) => void): AsyncGenerator<StepBatch> {
  let buf: Step[] = [];
  let first = 0;
  for await (const { step, row } of stepRowsOfRange(file, pq, columns, start, end, onBad)) {
    if (buf.length > 0 && (buf.length >= ROW_GROUP || step.experiment !== buf[0]!.experiment || row !== first + buf.length)) {
      yield stepsToBatch(buf, first);
      buf = [];
    }
    if (buf.length === 0) first = row;
    buf.push(step);
  }
  if (buf.length > 0) yield stepsToBatch(buf, first);
}

/**
 * Validated steps of a Parquet step file as column batches of consecutive rows (at most ROW_GROUP rows,
 * split where the experiment changes); `rowGroups: [from, to)` reads only those row groups. With
 * `reuse: true` the batches' arrays are buffers reused from row group to row group: a batch is then valid
 * only until the next one is asked for (for consumers that finish each batch first, e.g. `features`).
 */
export async function* readStepBatches(file: string, opts: { rowGroups?: readonly [number, number]; onBad?: (message: string) => void; reuse?: boolean } = {}): AsyncGenerator<StepBatch> {
  const pq = await openParquet(file);
  const { meta } = pq;
  const columns = stepColumnsOf(file, meta);
  const plan = planOf(meta);
  const groups = meta.row_groups.length;
  const [g0, g1] = opts.rowGroups ?? [0, groups];
  let start = 0;
  for (let g = 0; g < Math.min(g0, groups); g++) start += Number(meta.row_groups[g]!.num_rows);
  const fd = fs.openSync(file, 'r');
  const src: Source | null = plan && { fd, meta, plan, scratch: new Map(), reuse: opts.reuse === true };
  try {
    for (let g = Math.max(0, g0); g < Math.min(g1, groups); g++) {
      const n = Number(meta.row_groups[g]!.num_rows);
      const fast = src && fastGroup(src, g, start + 1);
      rowGroupPaths[fast ? 'fast' : 'general']++;
      if (fast) yield* fast;
      else yield* slowGroup(file, pq, columns, start, start + n, opts.onBad);
      start += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}
