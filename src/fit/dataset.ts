/**
 * Fit data sets: experiments (model, GPU, TP, labels) with their steps — in memory, as a file /
 * directory streamed from disk, or as a re-runnable generator — and optional request-level targets.
 *
 * `RowSource` turns a data set into design rows for one basis, one pass at a time (the fitter
 * makes several passes: accumulate, [robust re-weighting], predict). Rows of an experiment come
 * in a fixed order every pass: its steps with a measured `duration_us`, then its targets
 * (each target's row = Σ of the basis rows of its steps, response = the target's duration_us).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import YAML from 'yaml';
import type { Architecture } from '../model/arch.js';
import { checkParallelism } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { loadGpu } from '../hardware/gpu.js';
import { loadArchitecture } from '../model/load.js';
import type { Basis, CompiledBasis } from '../basis/types.js';
import { validateStep, stepToJson, type Step } from '../steps/step.js';
import { stepFiles } from '../steps/io.js';
import { checkInside, loadManifest, type ManifestOptions } from '../steps/manifest.js';
import { MAX_LINE_BYTES, openInput } from '../io/lines.js';
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { isParquetPath, readStepsParquetRows } from '../steps/parquet.js';
import { readAllTargets as readTargetRows, type RequestTarget } from '../steps/targets.js';

export type { RequestTarget };

/** Where an experiment's steps come from: an array, a file / directory path (streamed), or a generator factory (called once per pass). */
export type StepSource = readonly Step[] | string | (() => Iterable<Step> | AsyncIterable<Step>);

export interface ExperimentSpec {
  readonly id: string;
  /** Model id or config path, as given (recorded in the fit file). */
  readonly model: string;
  /** GPU id or datasheet path, as given. */
  readonly gpu: string;
  readonly tp: number;
  /** Labels for grouped metrics / CV (e.g. workload). */
  readonly groups: Readonly<Record<string, string>>;
}

/** Where bad step lines go when they are skipped instead of failing the run (`--skip-bad`). */
export interface BadLineSink {
  /** Called once per bad line per pass (a multi-pass fit sees each line several times). */
  bad(message: string): void;
}

export interface FitExperiment {
  readonly ref: ExperimentSpec;
  readonly arch: Architecture;
  readonly gpu: GpuSpec;
  readonly steps: StepSource;
  /** Skip malformed step lines (reported here) instead of failing on the first one. */
  readonly skipBad?: BadLineSink;
  /** Request-level targets: rows in memory or a JSON Lines path. */
  readonly targets?: readonly RequestTarget[] | string;
}

export interface FitDataset {
  readonly experiments: readonly FitExperiment[];
  /** The manifest the data set came from (for provenance), if any. */
  readonly manifest?: string;
}

export interface SingleExperimentSpec {
  steps: StepSource;
  model: string;
  gpu: string;
  tp: number;
  /** Experiment id; default `<model name>-<gpu id>-tp<N>` (what `stepfit sample` writes). */
  experiment?: string;
  groups?: Record<string, string>;
  targets?: readonly RequestTarget[] | string;
}

/** One experiment from explicit values (loads and checks the model config and GPU datasheet). */
export function experimentFrom(spec: SingleExperimentSpec): FitExperiment {
  const arch = loadArchitecture(spec.model);
  checkParallelism(arch, spec.tp);
  const gpu = loadGpu(spec.gpu);
  if (typeof spec.steps === 'string') stepFiles(spec.steps);
  if (typeof spec.targets === 'string' && !fs.existsSync(spec.targets)) throw new InputError(`targets file '${spec.targets}' not found`);
  return {
    ref: { id: spec.experiment ?? `${arch.name}-${gpu.id}-tp${spec.tp}`, model: spec.model, gpu: spec.gpu, tp: spec.tp, groups: { ...(spec.groups ?? {}) } },
    arch,
    gpu,
    steps: spec.steps,
    targets: spec.targets,
  };
}

/**
 * Load a manifest (src/steps/manifest.ts format) as a data set. Entries may carry an optional
 * `targets:` path (request-level targets, relative to the manifest).
 */
export function datasetFromManifest(file: string, opts: ManifestOptions = {}): FitDataset {
  const m = loadManifest(file, opts);
  const raw = YAML.parse(fs.readFileSync(file, 'utf8')) as { experiments: Array<Record<string, unknown>> };
  const base = path.dirname(path.resolve(file));
  const experiments = m.experiments.map((e, i) => {
    const t = raw.experiments[i]?.['targets'];
    if (t !== undefined && (typeof t !== 'string' || t === '')) throw new InputError(`${file}: field 'experiments.${i}.targets': expected a path to a targets JSON Lines file`);
    const targets = typeof t === 'string' ? (path.isAbsolute(checkInside(file, base, `experiments.${i}.targets`, t, opts)) ? t : path.join(base, t)) : undefined;
    try {
      return experimentFrom({ steps: e.steps, model: e.model, gpu: e.gpu, tp: e.tp, experiment: e.id, groups: e.groups, targets });
    } catch (err) {
      if (err instanceof InputError) throw new InputError(`${file}: experiment '${e.id}': ${err.message}`);
      throw err;
    }
  });
  return { experiments, manifest: file };
}

/** `loadDataset({manifest})` or `loadDataset({steps, model, gpu, tp, experiment?, groups?, targets?})`. */
export function loadDataset(spec: ({ manifest: string } & ManifestOptions) | SingleExperimentSpec): FitDataset {
  if ('manifest' in spec) return datasetFromManifest(spec.manifest, spec);
  return { experiments: [experimentFrom(spec)] };
}

/** Read every step of a data set into memory (for small data: tests, validation suites). */
export async function materializeDataset(ds: FitDataset): Promise<FitDataset> {
  const experiments: FitExperiment[] = [];
  for (const e of ds.experiments) {
    const steps: Step[] = [];
    for await (const { step } of iterateSteps(e)) steps.push(step);
    const targets = typeof e.targets === 'string' ? await readTargetRows(e.targets) : e.targets;
    experiments.push({ ...e, steps, targets });
  }
  return { experiments, manifest: ds.manifest };
}

/**
 * Lines of a (possibly gzipped) text file in batches: one await per ~1 MiB chunk instead of one
 * per line. Blank lines are skipped but counted. Same errors as io/lines.ts `readLines`.
 */
export async function* readLineBatches(file: string): AsyncGenerator<{ lines: string[]; lineNos: number[] }> {
  const input = openInput(file);
  let rest = '';
  let lineNo = 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let first = true;
  let pending: string[] = [];
  let pendingLen = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      let piece: string;
      try {
        piece = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      } catch {
        throw new InputError(`${file}:${lineNo + 1}: not valid UTF-8 text (at or after this line)`);
      }
      if (first) {
        first = false;
        if (piece.charCodeAt(0) === 0xfeff) piece = piece.slice(1);
      }
      if (piece.indexOf('\n') < 0) {
        // no line ends in this chunk: keep it aside (no quadratic re-concatenation of a long line)
        pending.push(piece);
        pendingLen += piece.length;
        if (rest.length + pendingLen > MAX_LINE_BYTES) throw new InputError(`${file}:${lineNo + 1}: line longer than ${MAX_LINE_BYTES / (1024 * 1024)} MiB without a newline (not a JSON Lines file?)`);
        continue;
      }
      const text = rest + (pending.length > 0 ? pending.join('') : '') + piece;
      pending = [];
      pendingLen = 0;
      const parts = text.split('\n');
      rest = parts.pop()!;
      const lines: string[] = [];
      const lineNos: number[] = [];
      for (const raw of parts) {
        lineNo++;
        const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (l.trim() === '') continue;
        lines.push(l);
        lineNos.push(lineNo);
      }
      if (lines.length > 0) yield { lines, lineNos };
    }
    rest += pending.join('') + decoder.decode();
    if (rest.trim() !== '') yield { lines: [rest.endsWith('\r') ? rest.slice(0, -1) : rest], lineNos: [lineNo + 1] };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err instanceof InputError) throw err;
    if (err.code === 'Z_BUF_ERROR' || err.code === 'Z_DATA_ERROR' || /unexpected end|incorrect header/i.test(err.message)) {
      throw new InputError(`${file}:${lineNo + 1}: corrupt or truncated gzip data (${err.message})`);
    }
    throw new InputError(`${file}: read error: ${err.message}`);
  }
}

/** Parse and validate one step line. */
function parseStepLine(text: string, file: string, lineNo: number): Step {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}:${lineNo}: not valid JSON (${jsonErrorDetail(err)})`);
  }
  return validateStep(v, `${file}:${lineNo}`);
}

/** Steps of an experiment with where each came from (file:line, or a record index). */
async function* iterateSteps(e: FitExperiment): AsyncGenerator<{ step: Step; file: string | null; lineNo: number }> {
  const src = e.steps;
  if (typeof src === 'string') {
    for (const file of stepFiles(src)) {
      if (isParquetPath(file)) {
        for await (const { step, row } of readStepsParquetRows(file)) yield { step, file, lineNo: row };
        continue;
      }
      for await (const { lines, lineNos } of readLineBatches(file)) {
        for (let k = 0; k < lines.length; k++) {
          let step: Step;
          try {
            step = parseStepLine(lines[k]!, file, lineNos[k]!);
          } catch (err) {
            if (e.skipBad && err instanceof InputError) {
              e.skipBad.bad(err.message);
              continue;
            }
            throw err;
          }
          yield { step, file, lineNo: lineNos[k]! };
        }
      }
    }
    return;
  }
  const it = Array.isArray(src) ? src : (src as () => Iterable<Step> | AsyncIterable<Step>)();
  let k = 0;
  for await (const step of it as AsyncIterable<Step>) yield { step, file: null, lineNo: k++ };
}

export const ROW_KINDS = ['step', 'prefill', 'decode'] as const;
export type RowKind = 0 | 1 | 2;

/** Receives the design rows of one pass. `x` is reused between calls: copy it to keep it. */
export interface RowVisitor {
  row(x: Float64Array, y: number, experiment: number, index: number, kind: RowKind): void;
}

export interface ExperimentSummary {
  rows: number;
  stepRows: number;
  targetRows: number;
  stepsRead: number;
  ranges: { prefillTokens: [number, number]; decodeRequests: [number, number]; maxContext: number };
}

interface ExpState {
  readonly e: FitExperiment;
  /** One compiled basis per parameter variant (one unless the source profiles basis parameters). */
  readonly compiled: readonly CompiledBasis[];
  targets: readonly RequestTarget[] | null;
  targetsWhere: string;
  /** step number → indices of targets listing it (first pass only). */
  stepMap: Map<number, number[]> | null;
  targetRows: Float64Array | null;
  targetFound: Int32Array | null;
  /** Step numbers seen (first pass, only when there are targets). */
  seen: Set<number> | null;
  ranges: RangeAcc | null;
  summary: ExperimentSummary | null;
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
  private readonly scratch: Float64Array;
  /** Number of basis terms. */
  readonly pBasis: number;
  readonly variants: number;
  readonly termNames: readonly string[];
  private readonly st: ExpState[];
  private readonly x: Float64Array;
  private passes = 0;
  /** Row cache (stride p + 3: x, y, experiment, index, kind), filled during the first pass when under budget. */
  private cache: Float64Array | null = null;
  private cacheRows = 0;
  private cacheComplete = false;
  private readonly cacheBytes: number;

  /**
   * `cacheBytes` > 0: keep the design rows of the first pass in memory when they fit in that many
   * bytes, and replay them in later passes instead of re-reading and re-computing (multi-pass
   * methods such as Huber IRLS). Over budget, every pass streams the data again.
   */
  /** Evaluation mode: steps without duration_us are not rows (and not an error) when nothing needs them. */
  private readonly allowUnmeasured: boolean;
  constructor(
    readonly ds: FitDataset,
    readonly basis: Basis,
    opts: { allowUnmeasured?: boolean; cacheBytes?: number; params?: Readonly<Record<string, number>>; variants?: readonly Readonly<Record<string, number>>[]; varying?: readonly number[] } = {},
  ) {
    this.cacheBytes = opts.cacheBytes ?? 0;
    this.allowUnmeasured = opts.allowUnmeasured ?? false;
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
  }

  get experiments(): readonly FitExperiment[] {
    return this.ds.experiments;
  }
  /** Variant g's design row (pBasis columns) from a wide row `x`, into `out`. */
  variantRow(x: Float64Array, g: number, out: Float64Array): Float64Array {
    const pb = this.pBasis;
    for (let j = 0; j < pb; j++) out[j] = x[j]!;
    if (g > 0) {
      const k = this.varying.length;
      const off = pb + (g - 1) * k;
      for (let a = 0; a < k; a++) out[this.varying[a]!] = x[off + a]!;
    }
    return out;
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

  /** Visit every row (async: reads files). */
  async pass(v: RowVisitor): Promise<void> {
    this.passes++;
    if (this.replay(v)) return;
    v = this.recording(v);
    for (let ei = 0; ei < this.st.length; ei++) {
      const s = this.st[ei]!;
      if (s.summary === null && typeof s.e.targets === 'string') s.targets = await this.loadTargets(s, s.e.targets);
      this.begin(s);
      const st = { i: 0 };
      if (s.summary === null || s.summary.stepRows > 0) {
        const src = s.e.steps;
        if (typeof src === 'string') {
          for (const file of stepFiles(src)) {
            if (isParquetPath(file)) {
              for await (const { step, row } of readStepsParquetRows(file)) this.onStep(s, ei, step, file, row, v, st);
              continue;
            }
            for await (const { lines, lineNos } of readLineBatches(file)) {
              for (let k = 0; k < lines.length; k++) {
                let step: Step;
                try {
                  step = parseStepLine(lines[k]!, file, lineNos[k]!);
                } catch (err) {
                  if (s.e.skipBad && err instanceof InputError) {
                    s.e.skipBad.bad(err.message);
                    continue;
                  }
                  throw err;
                }
                this.onStep(s, ei, step, file, lineNos[k]!, v, st);
              }
            }
          }
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
      this.end(s, ei, v, st);
    }
    if (this.cache) this.cacheComplete = true;
  }

  /** Visit every row synchronously (in-memory arrays and sync generators only). */
  passSync(v: RowVisitor): void {
    if (!this.canSync) throw new Error('RowSource.passSync: data set has file inputs; use pass()');
    this.passes++;
    if (this.replay(v)) return;
    v = this.recording(v);
    for (let ei = 0; ei < this.st.length; ei++) {
      const s = this.st[ei]!;
      this.begin(s);
      const st = { i: 0 };
      if (s.summary === null || s.summary.stepRows > 0) {
        const src = s.e.steps as readonly Step[] | (() => Iterable<Step>);
        const it = Array.isArray(src) ? src : (src as () => Iterable<Step>)();
        if (!Array.isArray(it) && typeof (it as Iterable<Step>)[Symbol.iterator] !== 'function') {
          throw new Error(`RowSource.passSync: steps of experiment '${s.e.ref.id}' are an async iterable; use pass()`);
        }
        let k = 0;
        for (const step of it as Iterable<Step>) this.onStep(s, ei, step, null, k++, v, st);
      }
      this.end(s, ei, v, st);
    }
    if (this.cache) this.cacheComplete = true;
  }

  /** Replay the cached rows; false when there is no complete cache. */
  private replay(v: RowVisitor): boolean {
    if (!this.cacheComplete || !this.cache) return false;
    const c = this.cache;
    const p = this.p;
    const stride = p + 3;
    const x = this.x;
    for (let r = 0; r < this.cacheRows; r++) {
      const off = r * stride;
      for (let j = 0; j < p; j++) x[j] = c[off + j]!;
      const ik = c[off + p + 2]!;
      v.row(x, c[off + p]!, c[off + p + 1]!, Math.floor(ik / 4), (ik % 4) as RowKind);
    }
    return true;
  }

  /** Wrap a first-pass visitor so that rows are also recorded (until the byte budget is exceeded). */
  private recording(v: RowVisitor): RowVisitor {
    if (this.passes !== 1 || this.cacheBytes <= 0) return v;
    const stride = this.p + 3;
    this.cache = new Float64Array(stride * 1024);
    this.cacheRows = 0;
    return {
      row: (x, y, e, i, kind) => {
        const c = this.cache;
        if (c) {
          if ((this.cacheRows + 1) * stride > c.length) {
            if (c.length * 2 * 8 > this.cacheBytes) this.cache = null;
            else {
              const g = new Float64Array(c.length * 2);
              g.set(c);
              this.cache = g;
            }
          }
          const cc = this.cache;
          if (cc) {
            const off = this.cacheRows++ * stride;
            for (let j = 0; j < this.p; j++) cc[off + j] = x[j]!;
            cc[off + this.p] = y;
            cc[off + this.p + 1] = e;
            cc[off + this.p + 2] = i * 4 + kind;
          }
        }
        v.row(x, y, e, i, kind);
      },
    };
  }

  private async loadTargets(s: ExpState, file: string): Promise<RequestTarget[]> {
    const all = await readTargetRows(file);
    const mine = all.filter((t) => t.experiment === s.e.ref.id);
    if (mine.length > 0) return mine;
    const names = [...new Set(all.map((t) => t.experiment))];
    if (names.length === 1) return all; // a file that holds one experiment's targets under another name
    if (all.length === 0) throw new InputError(`${file}: no targets (empty file)`);
    throw new InputError(`${file}: no targets for experiment '${s.e.ref.id}' (found experiments: ${names.slice(0, 5).join(', ')})`);
  }

  private begin(s: ExpState): void {
    if (s.summary !== null) return;
    const t = s.targets;
    if (t && t.length > 0) {
      s.stepMap = new Map();
      for (let k = 0; k < t.length; k++) {
        for (const n of t[k]!.steps) {
          const l = s.stepMap.get(n);
          if (l) l.push(k);
          else s.stepMap.set(n, [k]);
        }
      }
      s.targetRows = new Float64Array(t.length * this.p);
      s.targetFound = new Int32Array(t.length);
      s.seen = new Set();
    }
    s.ranges = newRangeAcc();
  }

  private where(s: ExpState, file: string | null, lineNo: number): string {
    return file !== null ? `${file}:${lineNo}` : `experiment '${s.e.ref.id}' step record ${lineNo}`;
  }

  private onStep(s: ExpState, ei: number, step: Step, file: string | null, lineNo: number, v: RowVisitor, st: { i: number }): void {
    const x = this.x;
    const first = s.summary === null;
    const hasTargets = s.targets !== null && s.targets.length > 0;
    if (step.durationUs === undefined && !first) return; // only needed for target rows, which are cached after the first pass
    s.compiled[0]!.row(step, x);
    if (s.compiled.length > 1) {
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
    if (first) {
      for (let j = 0; j < this.p; j++) {
        if (!Number.isFinite(x[j]!)) {
          throw new InputError(
            `${this.where(s, file, lineNo)}: basis '${this.basis.name}' term '${this.termNames[j < this.pBasis ? j : this.varying[(j - this.pBasis) % this.varying.length]!]}' is ${x[j]} for this step (check model config '${s.e.ref.model}' and GPU datasheet '${s.e.ref.gpu}')`,
          );
        }
      }
      if (step.durationUs === undefined && !hasTargets && !this.allowUnmeasured) {
        throw new InputError(
          `${this.where(s, file, lineNo)}: field 'duration_us' missing: fitting needs the measured step time (µs) on every step, or request-level targets for experiment '${s.e.ref.id}'`,
        );
      }
      trackRanges(s.ranges!, step);
      if (s.stepMap) {
        s.seen!.add(step.step);
        const ts = s.stepMap.get(step.step);
        if (ts) {
          for (const k of ts) {
            const off = k * this.p;
            for (let j = 0; j < this.p; j++) s.targetRows![off + j] += x[j]!;
            s.targetFound![k]++;
          }
        }
      }
    }
    if (step.durationUs !== undefined) {
      const y = step.durationUs;
      if (!(y > 0) || !Number.isFinite(y)) throw new InputError(`${this.where(s, file, lineNo)}: field 'duration_us': expected a positive finite number (µs), got ${y}`);
      v.row(x, y, ei, st.i++, 0);
    }
  }

  private end(s: ExpState, ei: number, v: RowVisitor, st: { i: number }): void {
    const first = s.summary === null;
    const stepRows = st.i;
    const t = s.targets;
    if (first) {
      const acc = s.ranges!;
      if (acc.steps === 0) {
        const src = s.e.steps;
        throw new InputError(`${typeof src === 'string' ? src : `experiment '${s.e.ref.id}'`}: no step records (empty ${typeof src === 'string' ? 'file' : 'input'})`);
      }
      if (t && t.length > 0) {
        for (let k = 0; k < t.length; k++) {
          if (s.targetFound![k] !== t[k]!.steps.length) {
            const missing = t[k]!.steps.find((n) => !s.seen!.has(n));
            throw new InputError(
              `${s.targetsWhere}: target for request '${t[k]!.request}' (${t[k]!.kind}) ${missing === undefined ? "lists a step number that occurs more than once in the step records of experiment '" + s.e.ref.id + "'" : `lists step ${missing}, which is not in the steps of experiment '${s.e.ref.id}'`}`,
            );
          }
        }
      }
      s.summary = {
        rows: stepRows + (t?.length ?? 0),
        stepRows,
        targetRows: t?.length ?? 0,
        stepsRead: acc.steps,
        ranges: { prefillTokens: [acc.pfMin, acc.pfMax], decodeRequests: [acc.dcMin, acc.dcMax], maxContext: acc.maxCtx },
      };
      s.stepMap = null;
      s.targetFound = null;
      s.seen = null;
      s.ranges = null;
    }
    if (t && t.length > 0) {
      const x = this.x;
      for (let k = 0; k < t.length; k++) {
        for (let j = 0; j < this.p; j++) x[j] = s.targetRows![k * this.p + j]!;
        v.row(x, t[k]!.durationUs, ei, stepRows + k, t[k]!.kind === 'prefill' ? 1 : 2);
      }
    }
  }
}

interface RangeAcc {
  steps: number;
  pfMin: number;
  pfMax: number;
  dcMin: number;
  dcMax: number;
  maxCtx: number;
}
const newRangeAcc = (): RangeAcc => ({ steps: 0, pfMin: Infinity, pfMax: 0, dcMin: Infinity, dcMax: 0, maxCtx: 0 });
function trackRanges(a: RangeAcc, s: Step): void {
  a.steps++;
  let pf = 0;
  for (const c of s.prefill) {
    pf += c.tokens;
    if (c.prior + c.tokens > a.maxCtx) a.maxCtx = c.prior + c.tokens;
  }
  for (const c of s.decode) if (c > a.maxCtx) a.maxCtx = c;
  if (pf < a.pfMin) a.pfMin = pf;
  if (pf > a.pfMax) a.pfMax = pf;
  const dc = s.decode.length;
  if (dc < a.dcMin) a.dcMin = dc;
  if (dc > a.dcMax) a.dcMax = dc;
}

/** A path as recorded in provenance: relative to the working directory when inside it. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), path.resolve(p));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : path.resolve(p);
}

async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Inputs of a data set with their SHA-256 (step files, target files, model configs, GPU datasheets,
 * the manifest). In-memory steps / targets are hashed as their canonical JSON lines under
 * `memory:<experiment>/steps`; generator sources are listed as `generator:<experiment>` with
 * hash "unhashed" (not re-run just to hash).
 */
export async function hashDatasetInputs(ds: FitDataset): Promise<{ path: string; sha256: string }[]> {
  const out: { path: string; sha256: string }[] = [];
  const seen = new Set<string>();
  const addFile = async (p: string): Promise<void> => {
    const d = displayPath(p);
    if (seen.has(d)) return;
    seen.add(d);
    out.push({ path: d, sha256: await sha256File(p) });
  };
  if (ds.manifest) await addFile(ds.manifest);
  for (const e of ds.experiments) {
    if (typeof e.steps === 'string') {
      for (const f of stepFiles(e.steps)) await addFile(f);
    } else if (Array.isArray(e.steps)) {
      const h = crypto.createHash('sha256');
      for (const s of e.steps as readonly Step[]) h.update(stepToJson(s) + '\n');
      out.push({ path: `memory:${e.ref.id}/steps`, sha256: h.digest('hex') });
    } else {
      out.push({ path: `generator:${e.ref.id}`, sha256: 'unhashed' });
    }
    if (typeof e.targets === 'string') await addFile(e.targets);
    else if (e.targets) {
      const h = crypto.createHash('sha256');
      for (const t of e.targets) h.update(JSON.stringify(t) + '\n');
      out.push({ path: `memory:${e.ref.id}/targets`, sha256: h.digest('hex') });
    }
    if (fs.existsSync(e.arch.source)) await addFile(e.arch.source);
    if (fs.existsSync(e.gpu.file)) await addFile(e.gpu.file);
  }
  return out;
}
