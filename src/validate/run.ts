/**
 * Run a validation suite end to end through the library functions of the public commands:
 * suite data (reconstructed steps) → `fitDatasetSync` (stepfit fit) → fit file (`buildFitFile`) →
 * `fittedModel` (stepfit predict) on the held-out steps → metrics (`computeMetrics`), overall and per phase.
 */
import { resolveDeployment } from '../model/context.js';
import { fitDatasetSync, experimentFrom, type FitDataset, type FitOptions } from '../fit/api.js';
import { buildFitFile } from '../fit/build.js';
import { computeMetrics } from '../fit/metrics.js';
import type { Metrics } from '../fit/fitfile.js';
import { fittedModel } from '../predict/model.js';
import { getBasis } from '../basis/registry.js';
import { physicalBounds, type Basis } from '../basis/types.js';
import type { Step } from '../steps/step.js';
import type { RequestTarget } from '../steps/targets.js';
import { stepPhase, type FitConfig, type Split, type Suite, type SuiteData, type SuiteExperiment } from './suite.js';

export interface SplitResult {
  split: string;
  config: string;
  basis: string;
  /** e.g. 'nnls, relative' or 'huber + physical bounds, relative'. */
  method: string;
  trainRows: number;
  testRows: number;
  overall: Metrics;
  prefill: Metrics | null;
  decode: Metrics | null;
  coefficients: Record<string, number>;
  /** Basis parameters the fit used (e.g. the all-reduce knee fitted on the training rows) and how each was decided. */
  basisParams?: Record<string, number>;
  paramChoices?: { name: string; unit: string; value: number; source: 'profile' | 'default' | 'given'; interval?: [number, number]; reason: string }[];
  /** Published seed MAPE for this split (seed rows only) and whether it reproduced within tolerance (ok null: shown, not checked). */
  reference?: { mape: number; tolerance: number; ok: boolean | null; why?: string };
  /** Target MAPE (default rows only) and whether it is met. */
  target?: { mape: number; ok: boolean };
}

export interface SuiteResult {
  suite: string;
  description: string;
  source: string;
  notes: string[];
  splits: { name: string; train: string; test: string }[];
  results: SplitResult[];
}

/** Fit-engine options of a configuration (what `stepfit fit` would be given). */
export function engineOptions(cfg: FitConfig, basis: Basis): FitOptions {
  return {
    basis,
    method: cfg.method,
    weight: cfg.weight,
    seed: 1,
    cv: null,
    ...(cfg.bounds === 'physical' ? { bounds: physicalBounds(basis) } : {}),
    ...(cfg.ridge > 0 ? { ridge: { lambda: cfg.ridge } } : {}),
    ...(cfg.basisParams ? { basisParams: cfg.basisParams } : {}),
  };
}

const methodLabel = (c: FitConfig): string => `${c.method}${c.bounds === 'physical' ? ' + bounds' : ''}${c.ridge > 0 ? ` + ridge ${c.ridge.toExponential()}` : ''}, ${c.weight}`;

/** Measured steps of an experiment that a split uses, and the request-level targets it uses. */
interface Part {
  e: SuiteExperiment;
  steps: Step[];
  targets: RequestTarget[];
}

function partition(data: SuiteData, keep: (e: SuiteExperiment, s: Step) => boolean, keepT?: (e: SuiteExperiment, t: RequestTarget) => boolean): Part[] {
  const out: Part[] = [];
  for (const e of data.experiments) {
    const steps = e.steps.filter((s) => s.durationUs !== undefined && keep(e, s));
    const targets = keepT && e.targets ? e.targets.filter((t) => keepT(e, t)) : [];
    if (steps.length > 0 || targets.length > 0) out.push({ e, steps, targets });
  }
  return out;
}

/** Steps a fit needs: the measured ones, or (with targets) every step of the experiment, since targets sum over them. */
const fitSteps = (p: Part): readonly Step[] => (p.targets.length > 0 ? p.e.steps : p.steps);

export interface FittedConfig {
  coefs: Float64Array;
  basisParams: Record<string, number> | undefined;
  paramChoices: NonNullable<SplitResult['paramChoices']>;
}

/**
 * Fit one configuration on the training parts with the fit engine; coefficients in term order and the
 * basis parameters (fitted on the training parts only), read back from the fit file.
 */
export function fitConfig(cfg: FitConfig, train: readonly Part[]): FittedConfig {
  const basis = getBasis(cfg.basis);
  const ds: FitDataset = {
    experiments: train.map((p) =>
      experimentFrom({
        steps: [...fitSteps(p)],
        model: p.e.model,
        gpu: p.e.gpu,
        tp: p.e.tp,
        experiment: p.e.id,
        ...(p.targets.length > 0 ? { targets: p.targets } : {}),
      }),
    ),
  };
  const r = fitDatasetSync(ds, engineOptions(cfg, basis));
  // through the fit file, as `stepfit fit` writes it and `stepfit predict` reads it
  const file = buildFitFile(r, { commandLine: `stepfit validate (${cfg.label})`, inputs: [], gpus: {}, createdAt: '1970-01-01T00:00:00.000Z' });
  return {
    coefs: Float64Array.from(file.terms.map((t) => t.coef)),
    basisParams: file.basisParams,
    paramChoices: (file.diagnostics.basisParams ?? []).map(({ name, unit, value, source, interval, reason }) => ({ name, unit, value, source, ...(interval ? { interval } : {}), reason })),
  };
}

/** Predict held-out steps with fitted coefficients through the predict library's `fittedModel`. */
function predictParts(cfg: FitConfig, fc: FittedConfig, test: readonly Part[]): { pred: number[]; meas: number[]; phase: string[] } {
  const basis = getBasis(cfg.basis);
  const coefs = fc.coefs;
  const fit = {
    basis: basis.name,
    basisVersion: basis.version,
    basisParams: fc.basisParams,
    terms: basis.terms.map((t, j) => ({ name: t.name, coef: coefs[j]!, se: null, ci95: [null, null] as [null, null], status: 'fitted' })),
  };
  const pred: number[] = [];
  const meas: number[] = [];
  const phase: string[] = [];
  for (const { e, steps, targets } of test) {
    // fittedModel reads basis, basisVersion, basisParams and terms of the fit file
    const m = fittedModel(fit, resolveDeployment({ model: e.model, gpu: e.gpu, tp: e.tp, check: false }));
    for (const s of steps) {
      pred.push(m.predictUs(s));
      meas.push(s.durationUs!);
      phase.push(stepPhase(s));
    }
    if (targets.length > 0) {
      // a request-level target is predicted as the sum of its steps' predicted times; its phase is its kind
      const byNo = new Map(e.steps.map((s) => [s.step, s]));
      for (const t of targets) {
        let sum = 0;
        for (const k of t.steps) sum += m.predictUs(byNo.get(k)!);
        pred.push(sum);
        meas.push(t.durationUs);
        phase.push(t.kind);
      }
    }
  }
  return { pred, meas, phase };
}

function subset(p: { pred: number[]; meas: number[]; phase: string[] }, ph: string): Metrics | null {
  const idx = p.phase.map((x, i) => (x === ph ? i : -1)).filter((i) => i >= 0);
  return idx.length
    ? computeMetrics(
        idx.map((i) => p.pred[i]!),
        idx.map((i) => p.meas[i]!),
      )
    : null;
}

export function runSplit(suite: Suite, data: SuiteData, split: Split, cfg: FitConfig): SplitResult {
  const train = partition(data, split.inTrain, split.targetInTrain);
  const test = partition(data, split.inTest, split.targetInTest);
  const fc = fitConfig(cfg, train);
  const coefs = fc.coefs;
  const p = predictParts(cfg, fc, test);
  const basis = getBasis(cfg.basis);
  const r: SplitResult = {
    split: split.name,
    config: cfg.label,
    basis: `${basis.name} v${basis.version}`,
    method: methodLabel(cfg),
    trainRows: train.reduce((a, x) => a + x.steps.length + x.targets.length, 0),
    testRows: p.meas.length,
    overall: computeMetrics(p.pred, p.meas),
    prefill: subset(p, 'prefill'),
    decode: subset(p, 'decode'),
    coefficients: Object.fromEntries(basis.terms.map((t, j) => [t.name, coefs[j]!])),
    ...(fc.basisParams ? { basisParams: fc.basisParams, paramChoices: fc.paramChoices } : {}),
  };
  const ref = suite.reference?.seedMape[split.name];
  const info = suite.reference?.informational?.[split.name];
  if (cfg.label === 'seed' && ref !== undefined) {
    const tol = suite.reference!.tolerance;
    r.reference = { mape: ref, tolerance: tol, ok: Math.abs(r.overall.mape - ref) <= tol };
  } else if (cfg.label === 'seed' && info) {
    r.reference = { mape: info.mape, tolerance: suite.reference!.tolerance, ok: null, why: info.why };
  }
  const tgt = suite.targets?.[split.name];
  if (cfg.label === 'default' && tgt !== undefined) r.target = { mape: tgt, ok: r.overall.mape <= tgt };
  return r;
}

/** Run every split × configuration of a suite on loaded data. */
export function runSuite(suite: Suite, data: SuiteData, configs: readonly FitConfig[] = suite.configs): SuiteResult {
  const results: SplitResult[] = [];
  for (const split of suite.splits) for (const cfg of configs) results.push(runSplit(suite, data, split, cfg));
  return {
    suite: suite.name,
    description: suite.description,
    source: data.source,
    notes: [...data.notes],
    splits: suite.splits.map((s) => ({ name: s.name, train: s.trainDesc, test: s.testDesc })),
    results,
  };
}
