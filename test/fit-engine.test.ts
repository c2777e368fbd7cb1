/**
 * Statistical behaviour of the fitting engine on generated data with known coefficients:
 * interval coverage, robustness, relative weighting, identifiability diagnostics, CV, bootstrap,
 * request-level targets, streaming = in-memory.
 */
import { describe, it, expect } from 'vitest';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { fitDataset, fitDatasetSync } from '../src/fit/program.js';
import type { FitOptions } from '../src/fit/options.js';
import { loadDataset, materializeDataset, type FitDataset, type FitExperiment, type RequestTarget } from '../src/fit/dataset.js';
import { evaluateFitSync } from '../src/fit/evaluate.js';
import { buildFitFile } from '../src/fit/build.js';
import { InputError } from '../src/io/errors.js';
import { syntheticSteps } from '../src/basis/synthetic.js';
import { makeRng, type Rng } from '../src/util/rng.js';
import { designBasis } from './support/design-basis.js';

const arch8b = loadArchitecture('llama-3.1-8b');
const h100 = loadGpu('h100-sxm');
const designExp = (id: string, X: number[][], y: (number | undefined)[], targets?: RequestTarget[]): FitExperiment => ({
  ref: { id, model: 'm', gpu: 'g', tp: 1, groups: {} },
  arch: arch8b,
  gpu: h100,
  steps: X.map((r, i) => ({ experiment: id, step: i, durationUs: y[i], prefill: [], decode: r })),
  targets,
});
const designData = (X: number[][], y: (number | undefined)[], targets?: RequestTarget[]): FitDataset => ({ experiments: [designExp('d', X, y, targets)] });
const base: Omit<FitOptions, 'basis'> = { method: 'ols', weight: 'none', seed: 1 };

describe('OLS 95% intervals cover the true coefficients at the nominal rate', () => {
  const beta = [50, 3, -2];
  const basis = designBasis(['c', 'a', 'b']);
  const run = (weight: 'none' | 'relative', noise: (rng: Rng, mu: number) => number): { overall: number; perTerm: number[] } => {
    const S = 600;
    const hits = [0, 0, 0];
    for (let seed = 1; seed <= S; seed++) {
      const rng = makeRng(1000 + seed);
      const X: number[][] = [];
      const y: number[] = [];
      for (let i = 0; i < 40; i++) {
        const a = rng.next() * 10;
        const x = [1, a, (a * a) / 10 + rng.next() * 5];
        X.push(x);
        y.push(noise(rng, x[0]! * beta[0]! + x[1]! * beta[1]! + x[2]! * beta[2]!));
      }
      const r = fitDatasetSync(designData(X, y), { ...base, basis, weight });
      r.terms.forEach((t, j) => {
        if (t.ci95[0]! <= beta[j]! && beta[j]! <= t.ci95[1]!) hits[j]++;
      });
    }
    return { overall: (hits[0]! + hits[1]! + hits[2]!) / (3 * S), perTerm: hits.map((h) => h / S) };
  };
  it('homoscedastic noise, unweighted OLS (t intervals, 37 dof): 1800 intervals', () => {
    const c = run('none', (rng, mu) => mu + 4 * rng.normal());
    expect(c.overall).toBeGreaterThan(0.93);
    expect(c.overall).toBeLessThan(0.97);
    for (const p of c.perTerm) {
      expect(p).toBeGreaterThan(0.91);
      expect(p).toBeLessThan(0.985);
    }
  });
  it('multiplicative noise, relative weights (w = 1/y²)', () => {
    const c = run('relative', (rng, mu) => mu * (1 + 0.05 * rng.normal()));
    expect(c.overall).toBeGreaterThan(0.92);
    expect(c.overall).toBeLessThan(0.975);
  });
});

describe('robust and weighted fitting', () => {
  it('Huber ignores planted outliers that wreck OLS', () => {
    const basis = designBasis(['c', 'a', 'b']);
    const rng = makeRng(77);
    const beta = [100, 5, 2];
    const X: number[][] = [];
    const y: number[] = [];
    const clean: boolean[] = [];
    for (let i = 0; i < 500; i++) {
      const x = [1, rng.next() * 20, rng.next() * 10];
      const out = rng.next() < 0.08;
      X.push(x);
      y.push(x[0]! * beta[0]! + x[1]! * beta[1]! + x[2]! * beta[2]! + 3 * rng.normal() + (out ? 150 + 50 * rng.next() : 0));
      clean.push(!out);
    }
    const ols = fitDatasetSync(designData(X, y), { ...base, basis, method: 'ols' });
    const hub = fitDatasetSync(designData(X, y), { ...base, basis, method: 'huber' });
    const errOls = Math.abs(ols.terms[0]!.coef - beta[0]!);
    const errHub = Math.abs(hub.terms[0]!.coef - beta[0]!);
    expect(errOls).toBeGreaterThan(10);
    expect(errHub).toBeLessThan(errOls / 5);
    hub.terms.forEach((t, j) => expect(Math.abs(t.coef - beta[j]!), t.name).toBeLessThan(4 * t.se! + 0.02 * Math.abs(beta[j]!)));
    // on the clean rows Huber predicts better
    const err = (b: number[]) => X.reduce((s, x, i) => (clean[i] ? s + Math.abs(x[0]! * b[0]! + x[1]! * b[1]! + x[2]! * b[2]! - y[i]!) : s), 0);
    expect(err(hub.terms.map((t) => t.coef))).toBeLessThan(err(ols.terms.map((t) => t.coef)));
    expect(hub.options.huber!.converged).toBe(true);
    expect(hub.residual.sigma).toBeGreaterThan(2);
    expect(hub.residual.sigma).toBeLessThan(4.5);
  });
  it('relative weighting lowers MAPE vs plain OLS on heteroscedastic data', () => {
    const basis = designBasis(['c', 'x']);
    const rng = makeRng(5);
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const x = Math.exp(rng.next() * Math.log(1000));
      X.push([1, x]);
      y.push((20 + 3 * x + 0.002 * x * x) * (1 + 0.03 * rng.normal()));
    }
    const plain = fitDatasetSync(designData(X, y), { ...base, basis, weight: 'none' });
    const rel = fitDatasetSync(designData(X, y), { ...base, basis, weight: 'relative' });
    expect(rel.metrics.train.overall.mape).toBeLessThan(0.7 * plain.metrics.train.overall.mape);
    expect(rel.residual.scale).toBe('relative');
  });
});

describe('identifiability diagnostics', () => {
  const rng = makeRng(3);
  const X: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 300; i++) {
    const a = rng.next() * 10;
    const b = rng.next() * 10;
    X.push([1, a, b, a + 2 * b]);
    y.push(10 + a + b + rng.normal());
  }
  const basis = designBasis(['c', 'a', 'b', 'e']);
  it('an exactly collinear column is named and dropped (recorded), the rest is fitted', () => {
    const r = fitDatasetSync(designData(X, y), { ...base, basis });
    const pr = r.diagnostics.problems.find((p) => p.kind === 'collinear')!;
    expect(pr).toBeDefined();
    expect(pr.terms).toEqual(expect.arrayContaining(['a', 'b', 'e']));
    expect(r.diagnostics.rank).toBe(3);
    expect(r.diagnostics.conditionNumber).toBeNull();
    expect(r.diagnostics.dropped).toHaveLength(1);
    const dropped = r.terms.find((t) => t.status === 'dropped')!;
    expect(dropped.coef).toBe(0);
    expect(dropped.se).toBeNull();
    expect(r.diagnostics.notes.join('\n')).toMatch(/collinear.*dropped/);
    expect(r.metrics.train.overall.mape).toBeLessThan(5);
  });
  it('--on-collinear fail: a clear error naming the terms, no numbers', () => {
    expect(() => fitDatasetSync(designData(X, y), { ...base, basis, collinear: 'fail' })).toThrow(InputError);
    expect(() => fitDatasetSync(designData(X, y), { ...base, basis, collinear: 'fail' })).toThrow(/not identifiable: terms 'a', 'b', 'e'|not identifiable: terms '.*', '.*', '.*' are collinear/);
  });
  it('a nearly collinear column is reported as ill-conditioned with the terms that trade off, but kept', () => {
    const r2 = makeRng(4);
    const X2 = X.map((r) => [r[0]!, r[1]!, r[2]!, r[3]! + 0.0005 * r2.normal()]);
    const r = fitDatasetSync(designData(X2, y), { ...base, basis });
    const pr = r.diagnostics.problems.find((p) => p.kind === 'ill-conditioned')!;
    expect(pr.terms).toEqual(expect.arrayContaining(['a', 'b', 'e']));
    expect(r.diagnostics.dropped).toEqual([]);
    expect(r.diagnostics.activeConditionNumber!).toBeGreaterThan(1e4);
  });
  it('NNLS with a merged constant and a collinear set (phase indicators × L, constant): keeps the merge target, drops the term whose removal fits best', () => {
    // columns: c = 1, w = 5 (constant → merged into c), pl = 32·[prefill step], dl = 32·[decode-only step], x
    // truth: 500 + 30·dl + 5·x — dropping dl would need a negative pl under NNLS; dropping pl (or c) fits
    const r3 = makeRng(8);
    const Xc: number[][] = [];
    const yc: number[] = [];
    for (let i = 0; i < 400; i++) {
      const pf = r3.next() < 0.4 ? 1 : 0;
      const x = r3.next() * 100;
      Xc.push([1, 5, 32 * pf, 32 * (1 - pf), x]);
      yc.push((500 + 30 * 32 * (1 - pf) + 5 * x) * (1 + 0.01 * r3.normal()));
    }
    const b5 = designBasis(['c', 'w', 'pl', 'dl', 'x']);
    for (const method of ['nnls', 'ols'] as const) {
      const r = fitDatasetSync(designData(Xc, yc), { ...base, basis: b5, method, weight: 'relative' });
      const st = Object.fromEntries(r.terms.map((t) => [t.name, t.status]));
      expect(st['w'], method).toBe('merged:c');
      expect(st['c'], method).toBe('fitted');
      expect(st['pl'], method).toBe('dropped');
      expect(r.metrics.train.overall.mape, method).toBeLessThan(1.5);
      for (const m of r.diagnostics.merged) expect(['fitted', 'at-bound']).toContain(st[m.into]);
    }
  });
  it('ridge keeps every term (the prior identifies them) and says so', () => {
    const r = fitDatasetSync(designData(X, y), { ...base, basis, method: 'ridge', ridge: { lambda: 1e-3 } });
    expect(r.terms.every((t) => t.status === 'fitted')).toBe(true);
    expect(r.diagnostics.notes.join('\n')).toMatch(/determined by the prior/);
  });
});

describe('seed basis on one model / GPU / TP (bundled sample)', () => {
  const ds = loadDataset({ steps: 'data/sample/steps.jsonl', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 });
  it('flags layers (β5) vs constant (β7) as not separately identifiable, merges them, drops tp (0 at TP 1)', async () => {
    const r = await fitDataset(ds, { basis: 'seed', method: 'nnls', weight: 'relative', seed: 1 });
    const pr = r.diagnostics.problems.find((p) => p.kind === 'constant')!;
    expect(pr.terms).toEqual(expect.arrayContaining(['layers', 'constant', 'weight']));
    expect(r.diagnostics.merged).toEqual(
      expect.arrayContaining([
        { term: 'layers', into: 'constant' },
        { term: 'weight', into: 'constant' },
      ]),
    );
    expect(r.diagnostics.dropped).toContain('tp');
    expect(r.terms.map((t) => t.status)).toEqual(['fitted', 'fitted', 'merged:constant', 'dropped', 'merged:constant', 'fitted', 'fitted']);
    expect(r.diagnostics.notes.join('\n')).toMatch(/'weight', 'layers' are constant in every training row, like 'constant'/);
    expect(r.diagnostics.rank).toBe(4);
  });
  it('with --on-collinear fail it refuses, naming layers and constant', async () => {
    await expect(fitDataset(ds, { basis: 'seed', method: 'ols', weight: 'relative', seed: 1, collinear: 'fail' })).rejects.toThrow(/'layers'.*'constant'|'constant'.*'layers'/);
  });
  it('streaming the file and fitting the same steps in memory give identical results', async () => {
    const mem = await materializeDataset(ds);
    const opts: FitOptions = { basis: 'roofline', method: 'huber', weight: 'relative', seed: 3, cv: 'kfold:4' };
    const a = await fitDataset(ds, opts);
    const b = fitDatasetSync(mem, opts);
    const c = await fitDataset(ds, { ...opts, rowCacheBytes: 0 }); // re-reads the file on every IRLS pass
    expect(JSON.stringify({ ...a, passes: 0 })).toBe(JSON.stringify({ ...b, passes: 0 }));
    expect(JSON.stringify({ ...c, passes: 0 })).toBe(JSON.stringify({ ...b, passes: 0 }));
    expect(a.passes).toBeGreaterThan(3);
  });
});

describe('several experiments: identification, grouped CV, evaluation', () => {
  const exp = (model: string, tp: number, groups: Record<string, string>, seed: number): FitExperiment => {
    const arch = loadArchitecture(model);
    const steps = [...syntheticSteps({ arch, gpu: h100, tp }, { steps: 700, seed, experiment: `${model}-tp${tp}` })];
    return { ref: { id: `${model}-tp${tp}`, model, gpu: 'h100-sxm', tp, groups }, arch, gpu: h100, steps };
  };
  const ds: FitDataset = { experiments: [exp('llama-3.1-8b', 1, { workload: 'chat' }, 1), exp('llama-3.1-8b', 2, { workload: 'code' }, 2), exp('qwen3-8b', 1, { workload: 'chat' }, 3)] };
  it('seed basis over models and TPs identifies layers, weight and tp (nothing merged)', () => {
    const r = fitDatasetSync(ds, { basis: 'seed', method: 'ols', weight: 'relative', seed: 1 });
    expect(r.diagnostics.merged).toEqual([]);
    expect(r.diagnostics.dropped).toEqual([]);
    expect(r.diagnostics.rank).toBe(7);
    expect(r.terms.every((t) => t.status === 'fitted' && t.se !== null)).toBe(true);
    expect(Object.keys(r.metrics.train.byGroup['experiment']!)).toHaveLength(3);
    expect(Object.keys(r.metrics.train.byGroup['workload']!)).toEqual(['chat', 'code']);
    expect(Object.keys(r.metrics.train.byGroup['tp']!)).toEqual(['1', '2']);
  });
  it('leave-one-group-out CV: folds per group value, each held-out row predicted once; fold-level unidentifiable terms reported', () => {
    const r = fitDatasetSync(ds, { basis: 'seed', method: 'nnls', weight: 'relative', seed: 1, cv: 'group:tp' });
    const cv = r.metrics.cv!;
    expect(cv.folds.map((f) => f.fold)).toEqual(['tp=1', 'tp=2']);
    expect(cv.folds[0]!.metrics.n + cv.folds[1]!.metrics.n).toBe(r.rows);
    expect(cv.overall.n).toBe(r.rows);
    // training on TP 1 only: tp is all-zero there
    expect(cv.folds.find((f) => f.fold === 'tp=2')!.dropped).toContain('tp');
    expect(r.diagnostics.notes.join('\n')).toMatch(/CV fold tp=2: .*'tp'/);
    const m = fitDatasetSync(ds, { basis: 'seed', method: 'nnls', weight: 'relative', seed: 1, cv: 'group:workload' });
    expect(m.metrics.cv!.folds.map((f) => f.fold)).toEqual(['workload=chat', 'workload=code']);
    expect(() => fitDatasetSync(ds, { basis: 'seed', method: 'nnls', weight: 'relative', seed: 1, cv: 'group:nope' })).toThrow(/has no 'nope' label/);
  });
  it('k-fold CV is seeded: balanced folds, same seed → same result, other seed → other folds', () => {
    const a = fitDatasetSync(ds, { basis: 'roofline', method: 'nnls', weight: 'relative', seed: 7, cv: 'kfold:5' });
    const b = fitDatasetSync(ds, { basis: 'roofline', method: 'nnls', weight: 'relative', seed: 7, cv: 'kfold:5' });
    const c = fitDatasetSync(ds, { basis: 'roofline', method: 'nnls', weight: 'relative', seed: 8, cv: 'kfold:5' });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a.metrics.cv)).not.toBe(JSON.stringify(c.metrics.cv));
    for (const f of a.metrics.cv!.folds) expect(Math.abs(f.metrics.n - a.rows / 5)).toBeLessThanOrEqual(3);
    expect(a.metrics.cv!.seed).toBe(7);
  });
  it('evaluateFit reproduces the training metrics of a fit file on its own data', () => {
    const r = fitDatasetSync(ds, { basis: 'roofline', method: 'nnls', weight: 'relative', seed: 1 });
    const file = buildFitFile(r, { commandLine: 'test', inputs: [], gpus: {}, createdAt: 'T' });
    const ev = evaluateFitSync(file, ds);
    expect(ev.rows).toBe(r.rows);
    expect(ev.overall.mape).toBeCloseTo(r.metrics.train.overall.mape, 10);
    expect(ev.byGroup['model']).toEqual(r.metrics.train.byGroup['model']);
  });
});

describe('bootstrap standard errors', () => {
  it('Poisson-bootstrap SEs agree with analytic OLS SEs; seeded and reproducible', () => {
    const basis = designBasis(['c', 'a', 'b']);
    const rng = makeRng(21);
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 400; i++) {
      const x = [1, rng.next() * 10, rng.next() * 10];
      X.push(x);
      y.push(30 + 2 * x[1]! - x[2]! + 2 * rng.normal());
    }
    const an = fitDatasetSync(designData(X, y), { ...base, basis });
    const bs = fitDatasetSync(designData(X, y), { ...base, basis, bootstrap: 300 });
    const bs2 = fitDatasetSync(designData(X, y), { ...base, basis, bootstrap: 300 });
    expect(JSON.stringify(bs.terms)).toBe(JSON.stringify(bs2.terms));
    bs.terms.forEach((t, j) => {
      expect(t.coef).toBe(an.terms[j]!.coef);
      expect(t.se! / an.terms[j]!.se!).toBeGreaterThan(0.8);
      expect(t.se! / an.terms[j]!.se!).toBeLessThan(1.25);
      expect(t.ci95[0]!).toBeLessThan(t.coef);
      expect(t.ci95[1]!).toBeGreaterThan(t.coef);
    });
    expect(bs.diagnostics.notes.join('\n')).toMatch(/300 Poisson-bootstrap replicates/);
  });
});

describe('request-level targets', () => {
  const basis = designBasis(['c', 'a', 'b']);
  const beta = [40, 3, 0.5];
  const rng = makeRng(9);
  const X: number[][] = [];
  const yTrue: number[] = [];
  for (let i = 0; i < 600; i++) {
    const x = [1, rng.int(1, 64), rng.int(0, 4000)];
    X.push(x);
    yTrue.push(x[0]! * beta[0]! + x[1]! * beta[1]! + x[2]! * beta[2]!);
  }
  const targets: RequestTarget[] = [];
  for (let s = 0; s + 6 <= 600; s += 3) {
    const len = 1 + (s % 6);
    const steps = Array.from({ length: len }, (_, k) => s + k);
    targets.push({ experiment: 'd', request: `r${s}`, kind: s % 2 ? 'decode' : 'prefill', steps, durationUs: steps.reduce((a, k) => a + yTrue[k]!, 0) });
  }
  it("targets alone (steps without duration_us) recover the coefficients: each target row = Σ of its steps' rows", () => {
    const r = fitDatasetSync(
      designData(
        X,
        X.map(() => undefined),
        targets,
      ),
      { ...base, basis },
    );
    expect(r.rows).toBe(targets.length);
    r.terms.forEach((t, j) => expect(Math.abs(t.coef - beta[j]!) / beta[j]!).toBeLessThan(1e-8));
    expect(Object.keys(r.metrics.train.byGroup['row']!)).toEqual(['prefill', 'decode']);
  });
  it('steps and targets together: one row per measured step plus one per target', () => {
    const r = fitDatasetSync(designData(X, yTrue, targets), { ...base, basis });
    expect(r.rows).toBe(600 + targets.length);
    expect(r.experiments[0]!.rows).toBe(600 + targets.length);
    expect(Object.keys(r.metrics.train.byGroup['row']!)).toEqual(['step', 'prefill', 'decode']);
  });
  it('a target listing a step that does not exist is a clear error', () => {
    const bad = [...targets, { experiment: 'd', request: 'ghost', kind: 'decode' as const, steps: [5, 9999], durationUs: 10 }];
    expect(() => fitDatasetSync(designData(X, yTrue, bad), { ...base, basis })).toThrow(/request 'ghost' \(decode\) lists step 9999, which is not in the steps of experiment 'd'/);
  });
});

describe('bad inputs to the engine', () => {
  const basis = designBasis(['c', 'a', 'b']);
  it('fewer rows than terms', () => {
    expect(() =>
      fitDatasetSync(
        designData(
          [
            [1, 2, 3],
            [1, 3, 1],
          ],
          [5, 6],
        ),
        { ...base, basis },
      ),
    ).toThrow(/too few rows: 2 rows .* for the 3 terms/);
  });
  it('a step without duration_us (and no targets)', () => {
    expect(() =>
      fitDatasetSync(
        designData(
          [
            [1, 2, 3],
            [1, 3, 1],
            [1, 1, 1],
            [1, 5, 2],
          ],
          [5, 6, undefined, 3],
        ),
        { ...base, basis },
      ),
    ).toThrow(/step record 2: field 'duration_us' missing/);
  });
  it('a non-finite feature names the term', () => {
    expect(() =>
      fitDatasetSync(
        designData(
          [
            [1, 2, 3],
            [1, Infinity, 1],
            [1, 1, 1],
            [1, 5, 2],
          ],
          [5, 6, 2, 3],
        ),
        { ...base, basis },
      ),
    ).toThrow(/step record 1: basis 'design' term 'a' is Infinity/);
  });
  it('empty input', () => {
    expect(() => fitDatasetSync(designData([], []), { ...base, basis })).toThrow(/no step records/);
  });
  it('option errors name the option', () => {
    expect(() => fitDatasetSync(designData([[1, 2, 3]], [5]), { ...base, basis, method: 'bounded' })).toThrow(/--method bounded needs --bounds/);
    expect(() => fitDatasetSync(designData([[1, 2, 3]], [5]), { ...base, basis, method: 'bounded', bounds: { zz: [0, null] } })).toThrow(/--bounds: unknown term 'zz'/);
    expect(() => fitDatasetSync(designData([[1, 2, 3]], [5]), { ...base, basis, cv: 'kfold:1' })).toThrow(/--cv kfold:1/);
    expect(() => fitDatasetSync(designData([[1, 2, 3]], [5]), { ...base, basis, method: 'ridge', ridge: { lambda: -1 } })).toThrow(/--lambda/);
  });
});
