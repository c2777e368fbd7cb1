/**
 * Design rows of a data set for one basis (`RowSource`). The fitter makes several passes (accumulate,
 * [robust re-weighting], predict); rows of an experiment come in a fixed order every pass: its steps with
 * a measured `duration_us`, then its targets (each target's row = Σ of the basis rows of its steps,
 * response = the target's duration_us). The first pass can keep the rows (row-cache.ts: in memory, then
 * spilled to a temporary file) so later passes replay them instead of reading and evaluating again.
 */
import { NormalAccumulator } from './accumulate.js';
import { BatchEvaluator, variantColumns, variantRowOf, type BatchRows } from './batch-rows.js';
import { irlsPassOf } from './huber.js';
import type { Basis } from '../basis/types.js';
import { isBatchSource, type BatchSource, type ExperimentSummary, type FitDataset, type FitExperiment, type RowVisitor } from './dataset-types.js';
import { RowCache, variantRows } from './row-cache.js';
import { RowPool, type PoolSetup } from './row-pool.js';
import { beginExperiment, endExperiment, firstPassChecks, firstPassChecksBatch, loadTargets, where, type ExpState, type RowChecks } from './row-targets.js';
import { parseStepLineOrSkip, readLineBatches } from './step-lines.js';
import { InputError } from '../io/errors.js';
import type { StepBatch } from '../steps/batch.js';
import { stepFiles } from '../steps/io.js';
import { isParquetPath, readStepBatchesParquet } from '../steps/parquet.js';
import type { Step } from '../steps/step.js';

/** Where the rows of one pass over an experiment stand: rows visited, step records read (record index of in-memory steps). */
interface PassState {
  i: number;
  k: number;
}

export interface RowSourceOptions {
  /** Evaluation mode: steps without duration_us are not rows (and not an error) when nothing needs them. */
  allowUnmeasured?: boolean;
  /**
   * > 0: keep the design rows of the first pass (up to this many bytes in memory) and replay them in later
   * passes instead of re-reading and re-computing; 0: every pass reads the data again.
   */
  cacheBytes?: number;
  /** Beyond `cacheBytes`, keep the rows in a temporary file instead of dropping the cache (default: when the steps come from files). */
  spill?: boolean;
  params?: Readonly<Record<string, number>>;
  variants?: readonly Readonly<Record<string, number>>[];
  varying?: readonly number[];
  /**
   * Read the rows from another source's kept rows instead of the data: variant `variant` of a wide
   * source whose first pass is complete (its rows bit-identical to what this source would compute).
   */
  from?: { source: RowSource; variant: number };
  /** > 1: read Parquet step files with this many worker threads (row-pool.ts); rows arrive in file order all the same. */
  workers?: number;
}

/**
 * Design rows of a data set for one basis; `pass`/`passSync` visit every row once, in the same order every time.
 * With `variants` (G basis-parameter records) a row is "wide" — one data pass serves a whole parameter
 * profile: variant 0's full design row (pBasis columns), then for each variant g ≥ 1 only its values of the
 * `varying` columns (the terms the parameters shape; every other column is the same in all variants —
 * checked on every row of the first pass). `variantRow(x, g, out)` assembles variant g's design row.
 */
export class RowSource {
  /** Row width: pBasis + (variants − 1) × |varying|. */
  readonly p: number;
  /** Columns that differ between variants. */
  readonly varying: readonly number[];
  /** Number of basis terms. */
  readonly pBasis: number;
  readonly variants: number;
  readonly termNames: readonly string[];
  private readonly scratch: Float64Array;
  private readonly st: ExpState[];
  private readonly x: Float64Array;
  private passes = 0;
  private readonly cache: RowCache | null;
  private readonly allowUnmeasured: boolean;
  private from: { source: RowSource; variant: number } | null;
  private readonly checks: RowChecks;
  private readonly evaluator: BatchEvaluator;
  private readonly variantParams: readonly Readonly<Record<string, number>>[];
  private readonly workers: number;
  private pool: RowPool | null = null;
  private readonly poolSetups = new Map<number, PoolSetup>();

  constructor(
    readonly ds: FitDataset,
    readonly basis: Basis,
    opts: RowSourceOptions = {},
  ) {
    this.allowUnmeasured = opts.allowUnmeasured ?? false;
    this.from = opts.from ?? null;
    if (ds.experiments.length === 0) throw new InputError('no experiments to fit');
    const variants = opts.variants ?? [opts.params ?? {}];
    if (variants.length === 0) throw new Error('RowSource: no parameter variants');
    this.pBasis = basis.terms.length;
    this.variants = variants.length;
    this.varying = variants.length > 1 ? [...(opts.varying ?? basis.terms.map((_, j) => j))] : [];
    this.p = this.pBasis + (variants.length - 1) * this.varying.length;
    this.scratch = new Float64Array(this.pBasis);
    this.termNames = basis.terms.map((t) => t.name);
    this.x = new Float64Array(this.p);
    this.checks = { basisName: basis.name, termOf: (j) => this.termNames[j < this.pBasis ? j : this.varying[(j - this.pBasis) % this.varying.length]!]!, allowUnmeasured: this.allowUnmeasured };
    const cacheBytes = opts.cacheBytes ?? 0;
    this.evaluator = new BatchEvaluator(this.pBasis, this.p, this.varying);
    this.variantParams = variants;
    this.workers = Math.max(1, Math.floor(opts.workers ?? 1));
    this.st = ds.experiments.map((e) => ({
      e,
      compiled: variants.map((v) => basis.compile({ arch: e.arch, gpu: e.gpu, tp: e.ref.tp }, v)),
      targets: typeof e.targets === 'string' ? null : (e.targets ?? null),
      targetsWhere: typeof e.targets === 'string' ? e.targets : `targets of experiment '${e.ref.id}'`,
      stepMap: null,
      targetRows: null,
      targetFound: null,
      seen: null,
      ranges: null,
      summary: null,
    }));
    // spill only what is costly to read again (files); in-memory steps and generators are re-run instead, and
    // in-memory arrays known to exceed the budget are not kept at all (the kept rows would be dropped at the budget)
    const spill = opts.spill ?? !this.canSync;
    const tooBig = !spill && this.knownRows() * (this.p + 3) * 8 > cacheBytes;
    this.cache = cacheBytes > 0 && !tooBig ? new RowCache(this.p, cacheBytes, spill) : null;
  }

  /** Rows the in-memory arrays (steps, batches, targets) can give at most (steps without a time give none); generators and files count 0. */
  private knownRows(): number {
    let n = 0;
    for (const { e } of this.st) {
      const src = e.steps;
      if (Array.isArray(src)) n += src.length;
      else if (isBatchSource(src) && Array.isArray(src.batches)) for (const b of src.batches as readonly StepBatch[]) n += b.n;
      if (Array.isArray(e.targets)) n += e.targets.length;
    }
    return n;
  }

  get experiments(): readonly FitExperiment[] {
    return this.ds.experiments;
  }
  /** Variant g's design row (pBasis columns) from a wide row `x`, into `out`. */
  variantRow(x: Float64Array, g: number, out: Float64Array): Float64Array {
    return variantRowOf(x, g, out, this.pBasis, this.varying);
  }
  /** Per-experiment row counts and data ranges (available after the first pass). */
  summaries(): ExperimentSummary[] {
    return this.st.map((s) => {
      if (!s.summary) throw new Error('RowSource.summaries() before the first pass');
      return s.summary;
    });
  }
  /** True when every experiment can be read synchronously (arrays or sync generators, targets in memory). */
  get canSync(): boolean {
    return this.st.every((s) => typeof s.e.steps !== 'string' && typeof s.e.targets !== 'string');
  }
  get passCount(): number {
    return this.passes;
  }
  /** Rows the cache wrote to its temporary file (0: none, or no cache). */
  get spilledRows(): number {
    return this.cache?.spilledRows ?? 0;
  }
  /** True when the first pass kept every row (later passes, and sources built `from` this one, replay them). */
  get rowsKept(): boolean {
    return this.cache?.ready ?? false;
  }
  /** Replay the kept rows as variant g's design rows (and keep them in `into`, when given). */
  replayVariant(g: number, v: RowVisitor, into: RowCache | null = null): void {
    if (!this.cache?.ready) throw new Error('RowSource.replayVariant: no complete row cache');
    this.cache.replay(variantRows(variantColumns(g, this.pBasis, this.varying), v, into), this.x);
  }
  /** First pass of a source built `from` another: its rows, its summaries; then the other's rows are released. */
  private readFrom(v: RowVisitor): boolean {
    const from = this.from;
    if (!from || this.passes !== 1) return false;
    from.source.replayVariant(from.variant, v, this.cache);
    const sums = from.source.summaries();
    this.st.forEach((s, e) => {
      s.summary = sums[e]!;
    });
    this.cache?.finish();
    from.source.close();
    this.from = null;
    return true;
  }
  /** Release the cache's temporary file (call when the fit is done; idempotent). */
  close(): void {
    this.cache?.close();
    this.pool?.close();
    this.pool = null;
  }

  /** Visit every row (async: reads files). */
  async pass(v: RowVisitor): Promise<void> {
    this.passes++;
    if (await this.parallelIrls(v)) return;
    if (this.replay(v) || this.readFrom(v)) return;
    v = this.recording(v);
    for (let ei = 0; ei < this.st.length; ei++) {
      const s = this.st[ei]!;
      if (s.summary === null && typeof s.e.targets === 'string') s.targets = await loadTargets(s, s.e.targets);
      beginExperiment(s, this.p);
      const st: PassState = { i: 0, k: 0 };
      if (s.summary === null || s.summary.stepRows > 0) {
        const src = s.e.steps;
        if (typeof src === 'string') await this.readFiles(s, ei, src, v, st);
        else if (isBatchSource(src)) {
          const it = typeof src.batches === 'function' ? src.batches() : src.batches;
          for await (const b of it as AsyncIterable<StepBatch>) this.onBatch(s, ei, b, null, null, v, st);
        } else {
          const it = Array.isArray(src) ? src : (src as () => Iterable<Step> | AsyncIterable<Step>)();
          let k = 0;
          if (typeof (it as Iterable<Step>)[Symbol.iterator] === 'function') {
            for (const step of it as Iterable<Step>) this.onStep(s, ei, step, null, k++, v, st);
          } else {
            for await (const step of it as AsyncIterable<Step>) this.onStep(s, ei, step, null, k++, v, st);
          }
        }
      }
      endExperiment(s, ei, v, st.i, this.x);
    }
    this.cache?.finish();
  }

  /** The step files of one experiment (JSON Lines in batches, Parquet by row group). */
  private async readFiles(s: ExpState, ei: number, src: string, v: RowVisitor, st: PassState): Promise<void> {
    for (const file of stepFiles(src)) {
      if (isParquetPath(file)) {
        if (this.workers > 1 && RowPool.canRun(this.basis, s.e)) {
          this.pool ??= new RowPool(this.workers);
          let setup = this.poolSetups.get(ei);
          if (!setup) {
            setup = { basis: this.basis.name, arch: s.e.arch, gpu: s.e.gpu, tp: s.e.ref.tp, variants: this.variantParams, varying: this.varying, pBasis: this.pBasis, p: this.p };
            this.poolSetups.set(ei, setup);
          }
          for await (const { batch, rows } of this.pool.rows(file, setup, s.summary === null && st.k === 0)) this.onBatch(s, ei, batch, file, rows, v, st);
        } else {
          for await (const b of readStepBatchesParquet(file)) this.onBatch(s, ei, b, file, null, v, st);
        }
        continue;
      }
      for await (const { lines, lineNos } of readLineBatches(file)) {
        for (let k = 0; k < lines.length; k++) {
          const step = parseStepLineOrSkip(lines[k]!, file, lineNos[k]!, s.e.skipBad);
          if (step) this.onStep(s, ei, step, file, lineNos[k]!, v, st);
        }
      }
    }
  }

  /** Visit every row synchronously (in-memory arrays and sync generators only). */
  passSync(v: RowVisitor): void {
    this.passes++;
    if (this.replay(v) || this.readFrom(v)) return;
    if (!this.canSync) throw new Error('RowSource.passSync: data set has file inputs; use pass()');
    v = this.recording(v);
    for (let ei = 0; ei < this.st.length; ei++) {
      const s = this.st[ei]!;
      beginExperiment(s, this.p);
      const st: PassState = { i: 0, k: 0 };
      if (s.summary === null || s.summary.stepRows > 0) {
        const src = s.e.steps;
        if (isBatchSource(src)) this.batchesSync(s, ei, src, v, st);
        else {
          const it = Array.isArray(src) ? src : (src as () => Iterable<Step>)();
          if (!Array.isArray(it) && typeof (it as Iterable<Step>)[Symbol.iterator] !== 'function') {
            throw new Error(`RowSource.passSync: steps of experiment '${s.e.ref.id}' are an async iterable; use pass()`);
          }
          let k = 0;
          for (const step of it as Iterable<Step>) this.onStep(s, ei, step, null, k++, v, st);
        }
      }
      endExperiment(s, ei, v, st.i, this.x);
    }
    this.cache?.finish();
  }

  /**
   * An IRLS pass of a profile's jobs (huber.ts IrlsPass) run by the worker threads over the kept rows, a share
   * of the jobs each; false when it is not one, there is one thread, or the rows are not kept.
   */
  private async parallelIrls(v: RowVisitor): Promise<boolean> {
    const irls = irlsPassOf(v);
    if (!irls || this.workers < 2 || irls.live.length < 2 || !this.cache?.ready) return false;
    this.pool ??= new RowPool(this.workers);
    const jobs = irls.live.map((j) => ({ variant: j.variant, beta: j.sol.beta, scale: j.scale }));
    const sums = await this.pool.irls({ rows: this.cache.shared(), pBasis: this.pBasis, varying: this.varying, relative: irls.relative, hk: irls.hk }, jobs);
    irls.live.forEach((j, a) => {
      j.acc = NormalAccumulator.fromTotals(this.pBasis, sums[a]!.totals, { trackRange: false });
      j.psi2 = sums[a]!.psi2;
      j.inliers = sums[a]!.inliers;
    });
    return true;
  }

  /** Replay the cached rows; false when there is no complete cache. */
  private replay(v: RowVisitor): boolean {
    if (!this.cache?.ready) return false;
    this.cache.replay(v, this.x);
    return true;
  }

  /** Wrap a first-pass visitor so that rows are also recorded. */
  private recording(v: RowVisitor): RowVisitor {
    const cache = this.cache;
    if (this.passes !== 1 || !cache) return v;
    return {
      row: (x, y, e, i, kind) => {
        cache.add(x, y, e, i, kind);
        v.row(x, y, e, i, kind);
      },
    };
  }

  /** Variant rows g ≥ 1 into the wide row's extra columns (first pass: check the other columns agree). */
  private fillVariants(s: ExpState, step: Step, first: boolean): void {
    const x = this.x;
    const pb = this.pBasis;
    const vc = this.varying;
    const k = vc.length;
    const sc = this.scratch;
    for (let g = 1; g < s.compiled.length; g++) {
      s.compiled[g]!.row(step, sc);
      if (first) {
        for (let j = 0; j < pb; j++) {
          if (sc[j] !== x[j] && !vc.includes(j))
            throw new Error(`internal: basis '${this.basis.name}' parameter variants differ in term '${this.termNames[j]}', which no parameter declares in 'affects'`);
        }
      }
      const off = pb + (g - 1) * k;
      for (let a = 0; a < k; a++) x[off + a] = sc[vc[a]!]!;
    }
  }

  /** The batches of an in-memory batch source, synchronously. */
  private batchesSync(s: ExpState, ei: number, src: BatchSource, v: RowVisitor, st: PassState): void {
    const it = typeof src.batches === 'function' ? src.batches() : src.batches;
    if (!Array.isArray(it) && typeof (it as Iterable<StepBatch>)[Symbol.iterator] !== 'function') {
      throw new Error(`RowSource.passSync: batches of experiment '${s.e.ref.id}' are an async iterable; use pass()`);
    }
    for (const b of it as Iterable<StepBatch>) this.onBatch(s, ei, b, null, null, v, st);
  }

  /**
   * Every row of a column batch (rows evaluated here, or already by a worker): the same checks, messages
   * and rows, in the same order, as `onStep` over the batch's steps.
   */
  private onBatch(s: ExpState, ei: number, b: StepBatch, file: string | null, pre: BatchRows | null, v: RowVisitor, st: PassState): void {
    const first = s.summary === null;
    // every term of every variant on an experiment's first batch (checks `affects`), then only the varying terms
    const br = pre ?? this.evaluator.evaluate(s.compiled, b, first && st.k === 0);
    const rows = br.rows;
    const p = this.p;
    const x = this.x;
    const k0 = st.k;
    st.k += b.n;
    const at = (r: number): string => where(s, file, file !== null ? b.firstRow + r : k0 + r);
    for (let r = 0; r < b.n; r++) {
      const y = b.durationUs[r]!;
      const measured = !Number.isNaN(y);
      if (!measured && !first) continue;
      const off = r * p;
      for (let j = 0; j < p; j++) x[j] = rows[off + j]!;
      if (r === br.mismatch) {
        throw new Error(`internal: basis '${this.basis.name}' parameter variants differ in term '${this.termNames[br.mismatchTerm]}', which no parameter declares in 'affects'`);
      }
      if (first) firstPassChecksBatch(this.checks, s, b, r, at, x);
      if (measured) {
        if (!(y > 0) || !Number.isFinite(y)) throw new InputError(`${at(r)}: field 'duration_us': expected a positive finite number (µs), got ${y}`);
        v.row(x, y, ei, st.i++, 0);
      }
    }
  }

  private onStep(s: ExpState, ei: number, step: Step, file: string | null, lineNo: number, v: RowVisitor, st: PassState): void {
    const first = s.summary === null;
    if (step.durationUs === undefined && !first) return; // only needed for target rows, which are cached after the first pass
    s.compiled[0]!.row(step, this.x);
    if (s.compiled.length > 1) this.fillVariants(s, step, first);
    if (first) firstPassChecks(this.checks, s, step, where(s, file, lineNo), this.x);
    if (step.durationUs !== undefined) {
      const y = step.durationUs;
      if (!(y > 0) || !Number.isFinite(y)) throw new InputError(`${where(s, file, lineNo)}: field 'duration_us': expected a positive finite number (µs), got ${y}`);
      v.row(this.x, y, ei, st.i++, 0);
    }
  }
}
