/**
 * Basis parameters (Basis.params): the serving basis' all-reduce knee `tp_comm_knee_mib` is fitted on
 * the training rows by profile likelihood over its fixed grid, falls back to its default (2.63 MiB,
 * microbenchmarks) when the data cannot identify it, can be fixed by the caller, and is carried by the
 * fit file / model JSON into every prediction.
 */
import { describe, it, expect } from 'vitest';
import type { Step } from '../src/steps/step.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { fitDatasetSync } from '../src/fit/program.js';
import { chi2Crit95 } from '../src/fit/profile.js';
import type { FitOptions } from '../src/fit/options.js';
import type { FitDataset } from '../src/fit/dataset.js';
import { buildFitFile } from '../src/fit/build.js';
import { evaluateFitSync } from '../src/fit/evaluate.js';
import { fittedModel } from '../src/predict/model.js';
import { checkFit } from '../src/predict/load.js';
import { fitFromModelJson, ModelJson } from '../src/predict/modeljson.js';
import { physicalBounds, logGrid } from '../src/basis/types.js';
import { servingBasis, COMM_KNEE_GRID_MIB, COMM_KNEE_MIB } from '../src/basis/serving.js';
import { makeRng } from '../src/util/rng.js';

const arch = loadArchitecture('llama-2-70b');
const gpu = loadGpu('h100-sxm');
const p = servingBasis.terms.length;
// true coefficients in term order (prefill_gemm … constant)
const BETA = [1.3, 1.1, 2, 1, 1.1, 1, 5, 4, 100, 80, 150, 5000];
const DEFAULT_OPTS: Omit<FitOptions, 'basis'> = { method: 'huber', weight: 'relative', seed: 1, bounds: physicalBounds(servingBasis), ridge: { lambda: 1e-6 } };

/** Steps of one TP: prefill batches (64 – 16k tokens) and decode batches, durations from the serving basis at knee `knee` (MiB) with 2% noise. */
function experiment(tp: number, knee: number, seed: number): { id: string; steps: Step[] } {
  const rng = makeRng(seed);
  const compiled = servingBasis.compile({ arch, gpu, tp }, { tp_comm_knee_mib: knee });
  const x = new Float64Array(p);
  const steps: Step[] = [];
  const id = `tp${tp}`;
  let n = 0;
  const add = (prefill: Step['prefill'], decode: number[]): void => {
    const s0: Step = { experiment: id, step: n++, prefill, decode };
    compiled.row(s0, x);
    let y = 0;
    for (let j = 0; j < p; j++) y += BETA[j]! * x[j]!;
    steps.push({ ...s0, durationUs: y * (1 + 0.02 * (2 * rng.next() - 1)) });
  };
  for (const batch of [1, 2, 4, 8, 16]) {
    for (const prompt of [64, 128, 256, 512, 1024])
      add(
        Array.from({ length: batch }, () => ({ tokens: prompt, prior: 0, prompt })),
        [],
      );
    for (const ctx of [256, 1024, 2048])
      add(
        [],
        Array.from({ length: batch * 4 }, () => ctx),
      );
  }
  return { id, steps };
}

const dataset = (tps: number[], knee: number): FitDataset => ({
  experiments: tps.map((tp, i) => {
    const e = experiment(tp, knee, 100 + i);
    return { ref: { id: e.id, model: 'llama-2-70b', gpu: 'h100-sxm', tp, groups: {} }, arch, gpu, steps: e.steps };
  }),
});

describe('the knee grid is fixed in advance', () => {
  it('0.25 – 32 MiB in ×√2 steps (15 values); default 2.63 MiB', () => {
    expect(COMM_KNEE_GRID_MIB).toHaveLength(15);
    expect(COMM_KNEE_GRID_MIB[0]).toBe(0.25);
    expect(COMM_KNEE_GRID_MIB[14]).toBeCloseTo(32, 9);
    expect(COMM_KNEE_GRID_MIB[6]).toBeCloseTo(2, 9);
    expect(logGrid(1, 8, 2)).toEqual([1, 2, 4, 8]);
    expect(COMM_KNEE_MIB).toBeCloseTo(2.63, 9);
    expect(servingBasis.version).toBe(4);
    expect(chi2Crit95(1)).toBeCloseTo(3.841, 3);
  });
});

describe('profile likelihood of the knee on the training rows', () => {
  // 0.5 MiB = 32 tokens of Llama-2-70B, below the smallest prefill step (64 tokens): resolved to one grid step only
  it.each([
    [4, 0],
    [16, 0],
    [0.5, 1],
  ])('recovers a true knee of %d MiB from TP 2/4/8 data within %d grid steps (Huber + bounds + ridge, the default)', (knee, steps) => {
    const r = fitDatasetSync(dataset([2, 4, 8], knee), { ...DEFAULT_OPTS, basis: servingBasis });
    expect(Math.abs(Math.log(r.basisParams['tp_comm_knee_mib']! / knee) / Math.log(Math.SQRT2))).toBeLessThanOrEqual(steps + 1e-9);
    const c = r.paramChoices[0]!;
    expect(c.source).toBe('profile');
    expect(c.grid).toEqual([...COMM_KNEE_GRID_MIB]);
    // the chosen value is the argmin of the recorded training objective, and inside its 95% interval
    const best = c.objective!.indexOf(Math.min(...c.objective!));
    expect(c.grid![best]).toBe(c.value);
    expect(c.interval![0]).toBeLessThanOrEqual(knee);
    expect(c.interval![1]).toBeGreaterThanOrEqual(knee);
    expect(r.diagnostics.notes[0]).toMatch(/^basis parameter tp_comm_knee_mib = .* MiB: fitted on the training rows/);
    if (steps === 0) expect(r.coefficients[6]).toBeCloseTo(5, 0); // tp_comm_large
  });

  it('least-squares methods profile the weighted RSS (nnls)', () => {
    const r = fitDatasetSync(dataset([2, 4, 8], 4), { method: 'nnls', weight: 'relative', seed: 1, basis: servingBasis });
    expect(r.paramChoices[0]!.source).toBe('profile');
    expect(r.basisParams['tp_comm_knee_mib']).toBe(4);
  });

  it('TP 1 data cannot identify it: the microbenchmark default, and the fit says why', () => {
    const r = fitDatasetSync(dataset([1], 4), { ...DEFAULT_OPTS, basis: servingBasis });
    expect(r.basisParams['tp_comm_knee_mib']).toBeCloseTo(2.63, 9);
    const c = r.paramChoices[0]!;
    expect(c.source).toBe('default');
    expect(c.reason).toMatch(/'tp_comm_large' is 0 on every training row/);
    expect(r.diagnostics.notes.some((n) => /tp_comm_knee_mib = 2\.63 MiB \(default\): not identifiable/.test(n))).toBe(true);
  });

  it('a flat profile (the knee-shaped term cannot matter: upper-bounded at 0) falls back to the default', () => {
    const bounds = { ...physicalBounds(servingBasis), tp_comm_large: [0, 0] as [number, number] };
    const r = fitDatasetSync(dataset([2, 4, 8], 4), { ...DEFAULT_OPTS, bounds, basis: servingBasis });
    expect(r.paramChoices[0]!.source).toBe('default');
    expect(r.paramChoices[0]!.reason).toMatch(/flat profile/);
    expect(r.basisParams['tp_comm_knee_mib']).toBeCloseTo(2.63, 9);
  });

  it('a given value is used as is (no profile); unknown or bad parameters are clear errors', () => {
    const r = fitDatasetSync(dataset([2, 4, 8], 4), { ...DEFAULT_OPTS, basis: servingBasis, basisParams: { tp_comm_knee_mib: 2.63 } });
    expect(r.paramChoices[0]).toMatchObject({ source: 'given', value: 2.63 });
    expect(r.passes).toBeLessThan(fitDatasetSync(dataset([2, 4, 8], 4), { ...DEFAULT_OPTS, basis: servingBasis }).passes);
    expect(() => fitDatasetSync(dataset([2], 4), { ...DEFAULT_OPTS, basis: servingBasis, basisParams: { knee: 1 } })).toThrow(
      /--basis-param: unknown parameter 'knee' for basis 'serving' \(parameters: tp_comm_knee_mib\)/,
    );
    expect(() => fitDatasetSync(dataset([2], 4), { ...DEFAULT_OPTS, basis: servingBasis, basisParams: { tp_comm_knee_mib: -1 } })).toThrow(/expected a positive number \(MiB\)/);
  });
});

describe('the fitted knee travels with the fit', () => {
  const r = fitDatasetSync(dataset([2, 4, 8], 16), { ...DEFAULT_OPTS, basis: servingBasis });
  const fit = buildFitFile(r, { commandLine: 'test', inputs: [], gpus: {}, createdAt: '1970-01-01T00:00:00.000Z' });
  const test = experiment(8, 16, 7).steps;
  const ctx = { arch, gpu, tp: 8 };

  it('fit file: basisParams and the profile in diagnostics', () => {
    expect(fit.basisParams).toEqual({ tp_comm_knee_mib: 16 });
    expect(fit.diagnostics.basisParams![0]).toMatchObject({ name: 'tp_comm_knee_mib', unit: 'MiB', value: 16, source: 'profile' });
  });

  it('fittedModel and evaluateFit predict with the fitted knee (the default knee would predict differently)', () => {
    const m = fittedModel(fit, ctx);
    const compiled = servingBasis.compile(ctx, { tp_comm_knee_mib: 16 });
    const x = new Float64Array(p);
    const big = test.find((s) => s.prefill.length === 16 && s.prefill[0]!.tokens === 1024)!;
    compiled.row(big, x);
    let y = 0;
    for (let j = 0; j < p; j++) y += r.coefficients[j]! * x[j]!;
    expect(m.predictUs(big)).toBeCloseTo(y, 6);
    const { basisParams: _drop, ...old } = fit; // a file without basisParams: the basis defaults
    expect(Math.abs(fittedModel(old, ctx).predictUs(big) - y) / y).toBeGreaterThan(0.01);
    const ev = evaluateFitSync(fit, { experiments: [{ ref: { id: 't', model: 'llama-2-70b', gpu: 'h100-sxm', tp: 8, groups: {} }, arch, gpu, steps: test }] });
    expect(ev.overall.mape).toBeLessThan(2.5);
  });

  it('model JSON keeps basisParams; loading checks their names', () => {
    const mj = ModelJson.parse({
      stepfitModel: 1,
      basis: fit.basis,
      basisVersion: fit.basisVersion,
      basisParams: fit.basisParams,
      terms: fit.terms.map((t, j) => ({ ...t, unit: servingBasis.terms[j]!.unit, meaning: servingBasis.terms[j]!.meaning })),
      method: fit.method,
      residual: fit.residual,
      covariance: fit.covariance,
      trainedOn: fit.experiments,
      accuracy: { train: fit.metrics.train.overall, cv: null },
      source: { fit: 'x.json', sha256: '', createdAt: '', stepfitVersion: '0' },
    });
    expect(fitFromModelJson(mj).basisParams).toEqual({ tp_comm_knee_mib: 16 });
    expect(() => checkFit({ ...fit, basisParams: { knee: 3 } }, 'f.json')).toThrow(/f\.json: field 'basisParams': unknown parameter 'knee'/);
    expect(checkFit(fit, 'f.json').basis.name).toBe('serving');
  });
});
