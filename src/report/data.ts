/**
 * Report data: one pass over the steps (with measured `duration_us`) of a data set, collecting
 * per row the measurement, the fit's prediction (and 95% interval), the comparators' predictions on
 * the same row (seven-term seed refit on these rows, the analytical engine, a naive baseline) and
 * the batch descriptors the plots use; plus per-term contributions and the fit basis' normal
 * equations on these rows (identifiability on the report data).
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { stepToJson, type Step } from '../steps/step.js';
import { readSteps, stepFiles } from '../steps/io.js';
import { InputError } from '../io/errors.js';
import { getBasis } from '../basis/registry.js';
import type { LoadedFit } from '../predict/load.js';
import { makePredictor } from '../predict/predict.js';
import { fitDataset, NormalAccumulator, type FitDataset, type FitResult, type FitMethod } from '../fit/api.js';
import { engineModel } from '../engine/model.js';
import { F64Col, U32Col } from './columns.js';

export const PHASES = ['prefill-only', 'decode-only', 'mixed'] as const;
export type Phase = (typeof PHASES)[number];

/** Phase mix of a step: 0 prefill-only, 1 decode-only, 2 mixed. */
export function phaseOf(s: Step): 0 | 1 | 2 {
  if (s.decode.length === 0) return 0;
  return s.prefill.length === 0 ? 1 : 2;
}

/** KV context tokens the step attends over: Σ decode contexts + Σ prefill prior tokens. */
export function kvContext(s: Step): number {
  let c = 0;
  for (const x of s.decode) c += x;
  for (const ch of s.prefill) c += ch.prior;
  return c;
}

/** Tokens computed in the step: Σ prefill chunk tokens + one per decode. */
export function stepTokens(s: Step): number {
  let t = s.decode.length;
  for (const ch of s.prefill) t += ch.tokens;
  return t;
}

export type ComparatorId = 'fit' | 'seed' | 'engine' | 'naive';
export const COMPARATORS: readonly ComparatorId[] = ['fit', 'seed', 'engine', 'naive'];

export interface Comparator {
  id: ComparatorId;
  label: string;
  /** How it was obtained (method, in-sample or not). */
  description: string;
  /** Rows with a prediction (NaN elsewhere); 0 when unavailable. */
  rows: number;
  /** Why it is missing or partial. */
  note?: string;
}

export interface ReportExperiment {
  id: string;
  model: string;
  gpu: string;
  tp: number;
  groups: Record<string, string>;
  archName: string;
  gpuId: string;
  /** Steps used (with duration_us) and skipped (no duration_us). */
  rows: number;
  skipped: number;
}

export interface ReportData {
  loaded: LoadedFit;
  experiments: ReportExperiment[];
  n: number;
  exp: Uint32Array;
  phase: Uint32Array;
  measured: Float64Array;
  requests: Float64Array;
  tokens: Float64Array;
  context: Float64Array;
  pred: Record<ComparatorId, Float64Array>;
  lo: Float64Array | null;
  hi: Float64Array | null;
  comparators: Comparator[];
  /** Σ coef·regressor per term, overall and per phase, with row counts (mean contribution = sum / count). */
  contrib: { sum: Float64Array; byPhase: Float64Array[]; count: number[]; measuredByPhase: number[] };
  /** Normal equations of the fit basis on these rows (weighted as the fit was: 1 or 1/y²). */
  normal: NormalAccumulator;
  seedFit: FitResult | null;
  /** Whether these rows were the fit's training data (from input file hashes). */
  sample: { kind: 'in-sample' | 'held-out' | 'partly in-sample' | 'unknown'; detail: string };
}

export interface CollectOptions {
  /** Refit the seven-term seed basis on these rows (default true). */
  seed?: boolean;
  /** Evaluate the analytical engine (default true). */
  engine?: boolean;
  onProgress?: (stage: string, done: number, total: number) => void;
}

/** Method for the seed refit: the fit's own method when it transfers (ols, nnls, huber), else NNLS (as BLIS trained its seven betas). */
export function seedMethodFor(fitMethod: string): FitMethod {
  return fitMethod === 'ols' || fitMethod === 'nnls' || fitMethod === 'huber' ? fitMethod : 'nnls';
}

async function* stepsOf(src: FitDataset['experiments'][number]['steps']): AsyncGenerator<Step> {
  if (typeof src === 'string') {
    yield* readSteps(src);
    return;
  }
  const it = Array.isArray(src) ? src : (src as () => Iterable<Step> | AsyncIterable<Step>)();
  for await (const s of it as AsyncIterable<Step>) yield s;
}

/** SHA-256 of a file's bytes (streamed). */
function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * In-sample or held-out: compare the SHA-256 of the data's step files (or, for in-memory steps,
 * of their canonical JSON lines — as the fitter records them) with the fit's recorded inputs.
 */
async function sampleKind(loaded: LoadedFit, ds: FitDataset): Promise<ReportData['sample']> {
  const fitInputs = new Set(loaded.fit.provenance.inputs.map((i) => i.sha256));
  if (fitInputs.size === 0) return { kind: 'unknown', detail: 'the fit file records no input hashes: cannot tell whether these rows were its training data' };
  const hashes: string[] = [];
  for (const e of ds.experiments) {
    if (typeof e.steps === 'string') {
      for (const f of stepFiles(e.steps)) hashes.push(await sha256File(f));
    } else if (Array.isArray(e.steps)) {
      const h = crypto.createHash('sha256');
      for (const s of e.steps as readonly Step[]) h.update(stepToJson(s) + '\n');
      hashes.push(h.digest('hex'));
    } else return { kind: 'unknown', detail: "steps come from a generator: cannot tell whether these rows were the fit's training data" };
  }
  const hit = hashes.filter((h) => fitInputs.has(h)).length;
  if (hit === hashes.length) return { kind: 'in-sample', detail: 'every step file here was also a training input of the fit (same SHA-256): these accuracy numbers are in-sample' };
  if (hit === 0) return { kind: 'held-out', detail: 'none of these step files was a training input of the fit (by SHA-256): these accuracy numbers are out-of-sample' };
  return { kind: 'partly in-sample', detail: `${hit} of ${hashes.length} step files were training inputs of the fit (by SHA-256)` };
}

async function* measuredSteps(src: FitDataset['experiments'][number]['steps']): AsyncGenerator<Step> {
  for await (const s of stepsOf(src)) if (s.durationUs !== undefined) yield s;
}

/** Collect the report data (streams the step files once; the seed refit streams them again). */
export async function collectReportData(loaded: LoadedFit, ds: FitDataset, opts: CollectOptions = {}): Promise<ReportData> {
  const { fit } = loaded;
  const progress = opts.onProgress ?? (() => undefined);
  const p = fit.terms.length;
  const stages = ds.experiments.length + (opts.seed !== false ? 1 : 0);
  let stage = 0;

  // seven-term baseline refit on these rows
  let seedFit: FitResult | null = null;
  let seedNote: string | undefined;
  const seedMethod = seedMethodFor(fit.method.name);
  if (opts.seed !== false) {
    progress('refitting the seven-term seed baseline', stage, stages);
    try {
      // on the report's rows: measured steps only (request-level targets are not report rows)
      const measured: FitDataset = {
        experiments: ds.experiments.map((e) => ({ ...e, targets: undefined, steps: () => measuredSteps(e.steps) })),
      };
      seedFit = await fitDataset(measured, { basis: 'seed', method: seedMethod, weight: fit.method.weight, seed: 1, collinear: 'resolve' });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      seedNote = `seed refit failed: ${e.message}`;
    }
    stage++;
  } else seedNote = 'not requested (--no-seed)';
  const seedBasis = getBasis('seed');
  const fitBasis = loaded.basis;

  const exp = new U32Col(),
    phase = new U32Col();
  const measured = new F64Col(),
    requests = new F64Col(),
    tokens = new F64Col(),
    context = new F64Col();
  const pred = { fit: new F64Col(), seed: new F64Col(), engine: new F64Col(), naive: new F64Col() };
  const lo = new F64Col(),
    hi = new F64Col();
  const contrib = { sum: new Float64Array(p), byPhase: [0, 1, 2].map(() => new Float64Array(p)), count: [0, 0, 0], measuredByPhase: [0, 0, 0] };
  const normal = new NormalAccumulator(p);
  const relW = fit.method.weight === 'relative';
  const experiments: ReportExperiment[] = [];
  const engineNotes: string[] = [];
  let engineRows = 0;
  const cbuf = new Float64Array(p);
  const xrow = new Float64Array(p);
  const srow = new Float64Array(seedBasis.terms.length);
  const seedCoefs = seedFit ? seedFit.coefficients : null;

  for (let ei = 0; ei < ds.experiments.length; ei++) {
    const e = ds.experiments[ei]!;
    progress(`reading ${e.ref.id}`, stage, stages);
    const ctx = { arch: e.arch, gpu: e.gpu, tp: e.ref.tp };
    const pr = makePredictor(loaded, ctx);
    const fitCompiled = fitBasis.compile(ctx, loaded.fit.basisParams);
    const seedCompiled = seedBasis.compile(ctx);
    let eng: ((s: Step) => number) | null = null;
    if (opts.engine !== false) {
      try {
        const m = engineModel(ctx);
        eng = (s) => m.predictUs(s);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        engineNotes.push(`${e.ref.id}: ${err.message}`);
      }
    }
    const info: ReportExperiment = {
      id: e.ref.id,
      model: e.ref.model,
      gpu: e.ref.gpu,
      tp: e.ref.tp,
      groups: { ...e.ref.groups },
      archName: e.arch.name,
      gpuId: e.gpu.id,
      rows: 0,
      skipped: 0,
    };
    for await (const s of stepsOf(e.steps)) {
      if (s.durationUs === undefined) {
        info.skipped++;
        continue;
      }
      info.rows++;
      const ph = phaseOf(s);
      exp.push(ei);
      phase.push(ph);
      measured.push(s.durationUs);
      requests.push(s.prefill.length + s.decode.length);
      tokens.push(stepTokens(s));
      context.push(kvContext(s));
      const y = pr.contributions(s, cbuf);
      pred.fit.push(y);
      if (pr.hasInterval) {
        const q = pr.predict(s);
        lo.push(q.lo!);
        hi.push(q.hi!);
      }
      for (let j = 0; j < p; j++) {
        contrib.sum[j] += cbuf[j]!;
        contrib.byPhase[ph]![j] += cbuf[j]!;
      }
      contrib.count[ph]!++;
      contrib.measuredByPhase[ph] += s.durationUs;
      fitCompiled.row(s, xrow);
      normal.add(xrow, s.durationUs, relW ? 1 / (s.durationUs * s.durationUs) : 1);
      if (seedCoefs) {
        seedCompiled.row(s, srow);
        let t = 0;
        for (let j = 0; j < srow.length; j++) t += seedCoefs[j]! * srow[j]!;
        pred.seed.push(t);
      } else pred.seed.push(NaN);
      if (eng) {
        pred.engine.push(eng(s));
        engineRows++;
      } else pred.engine.push(NaN);
    }
    experiments.push(info);
    stage++;
  }
  const n = measured.n;
  if (n === 0) throw new InputError('report: the data holds no step with duration_us: nothing to compare predictions with');
  normal.flush();

  // naive baseline: per-phase-mix median of the measured step time on these rows
  const ph = phase.view();
  const meas = measured.view();
  const medians = [0, 1, 2].map((k) => {
    const v: number[] = [];
    for (let i = 0; i < n; i++) if (ph[i] === k) v.push(meas[i]!);
    v.sort((a, b) => a - b);
    if (v.length === 0) return NaN;
    const h = (v.length - 1) / 2;
    return v[Math.floor(h)]! + (h - Math.floor(h)) * (v[Math.ceil(h)]! - v[Math.floor(h)]!);
  });
  for (let i = 0; i < n; i++) pred.naive.push(medians[ph[i]!]!);

  const sample = await sampleKind(loaded, ds);
  const fitName = loaded.path.split('/').pop()!;
  const comparators: Comparator[] = [
    {
      id: 'fit',
      label: `${fit.basis} fit`,
      description: `${fitName}: basis '${fit.basis}' v${fit.basisVersion}, ${fit.method.name}${fit.method.weight === 'relative' ? ', relative weights' : ''} (${sample.kind})`,
      rows: n,
    },
    {
      id: 'seed',
      label: 'seven-term seed (refit here)',
      description: `the published seven-term crossmodel formulation refit on these rows (${seedMethod}${fit.method.weight === 'relative' ? ', relative weights' : ''}, in-sample)`,
      rows: seedFit ? n : 0,
      ...(seedNote ? { note: seedNote } : {}),
    },
    {
      id: 'engine',
      label: 'analytical engine',
      description: 'first-principles roofline with efficiency curves, no fitted numbers',
      rows: engineRows,
      ...(engineNotes.length ? { note: engineNotes.join('; ') } : opts.engine === false ? { note: 'not requested (--no-engine)' } : {}),
    },
    { id: 'naive', label: 'naive (phase median)', description: "median measured step time of the row's phase mix (prefill-only / decode-only / mixed) on these rows, in-sample", rows: n },
  ];
  progress('done', stages, stages);
  return {
    loaded,
    experiments,
    n,
    exp: exp.view(),
    phase: ph,
    measured: meas,
    requests: requests.view(),
    tokens: tokens.view(),
    context: context.view(),
    pred: { fit: pred.fit.view(), seed: pred.seed.view(), engine: pred.engine.view(), naive: pred.naive.view() },
    lo: lo.n === n ? lo.view() : null,
    hi: hi.n === n ? hi.view() : null,
    comparators,
    contrib,
    normal,
    seedFit,
    sample,
  };
}
