/**
 * Honest step-level prediction intervals: the fit stores a residual scale per row kind
 * (`residual.byKind`), and predict uses the step rows' σ, not the σ pooled with request-level target
 * rows (sums over many steps, whose relative residuals are much smaller).
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { KindScaleAccumulator } from '../src/fit/residuals.js';
import { fitDatasetSync, experimentFrom, buildFitFile, type FitFile } from '../src/fit/api.js';
import { physicalBounds } from '../src/basis/types.js';
import { getBasis } from '../src/basis/registry.js';
import { checkFit } from '../src/predict/load.js';
import { makePredictor, stepNoise } from '../src/predict/predict.js';
import { tQuantile } from '../src/util/stats.js';
import type { Step } from '../src/steps/step.js';
import type { RequestTarget } from '../src/steps/targets.js';
import { synthDataset, tmpDir } from './predict-fixtures.js';
import { runCli } from './support/cli.js';
import { makeRng } from '../src/util/rng.js';

describe('KindScaleAccumulator (per-kind residual scale)', () => {
  it('hand values: n, dof = n − Σh, q95 / rms / mad', () => {
    const a = new KindScaleAccumulator(1);
    const eps = [0.1, -0.2, 0.3, -0.4, 0.5];
    eps.forEach((e, i) => a.add(e, 0.2, 0, i));
    expect(a.n).toBe(5);
    expect(a.dof()).toBeCloseTo(4, 12); // 5 − 5·0.2
    // |ε| sorted 0.1 … 0.5; type-7 q95: h = 4·0.95 = 3.8 → 0.4 + 0.8·0.1 = 0.48; median 0.3
    expect(a.quantileAbs(0.95)).toBeCloseTo(0.48, 12);
    const infl = Math.sqrt(5 / 4);
    expect(a.result('q95').sigma).toBeCloseTo((0.48 / tQuantile(0.975, 4)) * infl, 12);
    expect(a.result('mad').sigma).toBeCloseTo(1.4826 * 0.3 * infl, 12);
    expect(a.result('rms').sigma).toBeCloseTo(Math.sqrt((0.01 + 0.04 + 0.09 + 0.16 + 0.25) / 4), 12);
    expect(a.result('q95')).toMatchObject({ n: 5, estimator: 'q95' });
  });

  it('normal errors: q95, rms and 1.4826·MAD all estimate σ; beyond the reservoir the sample stays representative and reproducible', () => {
    // deterministic N(0, 0.05²) by the inverse CDF at stratified points (Box–Muller-free, no RNG)
    const n = 20_000;
    const z: number[] = [];
    const rng = (k: number): number => ((k * 0.6180339887498949) % 1) + 1e-9;
    for (let k = 0; k < n; k++) {
      const u1 = rng(k + 1),
        u2 = rng(7 * k + 3);
      z.push(0.05 * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
    }
    const big = new KindScaleAccumulator(7);
    const small = new KindScaleAccumulator(7, 2048);
    const small2 = new KindScaleAccumulator(7, 2048);
    z.forEach((e, i) => {
      big.add(e, 0, 0, i);
      small.add(e, 0, 0, i);
      small2.add(e, 0, 0, i);
    });
    for (const est of ['q95', 'rms', 'mad'] as const) expect(Math.abs(big.result(est).sigma / 0.05 - 1)).toBeLessThan(0.05);
    expect(Math.abs(small.result('q95').sigma / big.result('q95').sigma - 1)).toBeLessThan(0.08);
    expect(small.result('q95').sigma).toBe(small2.result('q95').sigma);
    expect(small.n).toBe(n);
  });

  it('heavy tails: q95 keeps 95% of the residuals inside t·σ where 1.4826·MAD does not', () => {
    const a = new KindScaleAccumulator(3);
    // 80% N-ish small errors (±2%), 20% large (±15%): a Huber-fit-like mixture
    const eps: number[] = [];
    for (let i = 0; i < 1000; i++) eps.push((i % 5 === 0 ? 0.15 : 0.02) * (i % 2 ? 1 : -1) * (0.5 + ((i * 37) % 100) / 100));
    eps.forEach((e, i) => a.add(e, 0, 0, i));
    const inside = (s: number): number => eps.filter((e) => Math.abs(e) <= tQuantile(0.975, a.dof()) * s).length / eps.length;
    expect(inside(a.result('q95').sigma)).toBeGreaterThanOrEqual(0.95);
    expect(inside(a.result('mad').sigma)).toBeLessThan(0.9);
  });
});

/**
 * Synthetic experiment like a sampled trace: every `measuredEvery`-th step measured, and request-level
 * targets summing `g` consecutive steps, one starting every `stride` steps (overlapping, as requests do).
 */
function withTargets(steps: Step[], measuredEvery: number, g: number, stride: number, id: string): { steps: Step[]; targets: RequestTarget[] } {
  const out = steps.map((s, i) => (i % measuredEvery === 0 ? s : { ...s, durationUs: undefined }));
  const targets: RequestTarget[] = [];
  for (let a = 0; a + g <= steps.length; a += stride) {
    const grp = steps.slice(a, a + g);
    targets.push({ experiment: id, request: `r${a}`, kind: (a / stride) % 2 === 0 ? 'prefill' : 'decode', steps: grp.map((s) => s.step), durationUs: grp.reduce((t, s) => t + s.durationUs!, 0) });
  }
  return { steps: out, targets };
}

function coverage(fit: FitFile, steps: readonly Step[], ctx: Parameters<typeof makePredictor>[1]): number {
  const pr = makePredictor(checkFit(fit, 'mem'), ctx);
  let k = 0;
  for (const s of steps) {
    const q = pr.predict(s);
    if (s.durationUs! >= q.lo! && s.durationUs! <= q.hi!) k++;
  }
  return k / steps.length;
}

/**
 * Steps with a known truth the basis represents exactly: shapes from the synthetic scheduler, time
 * = roofline basis row · β_true × (1 + σ·N(0,1)) (seeded), so the step rows' residual σ is the noise σ.
 */
function knownNoiseSteps(n: number, seed: number, noise: number): { steps: Step[]; ctx: ReturnType<typeof synthDataset>['ctx']; id: string } {
  const d = synthDataset('llama-3.1-8b', 'h100-sxm', 1, n, seed, 0);
  const c = getBasis('roofline').compile(d.ctx);
  const beta = getBasis('roofline').terms.map((t) => (t.prior > 0 ? 1.3 * t.prior : 5));
  const x = new Float64Array(beta.length);
  const rng = makeRng(seed * 7919 + 1);
  const steps = d.steps.map((s) => {
    c.row(s, x);
    const mu = x.reduce((a, v, j) => a + v * beta[j]!, 0);
    return { ...s, durationUs: mu * (1 + noise * rng.normal()) };
  });
  return { steps, ctx: d.ctx, id: d.id };
}

describe('step intervals from step rows, not pooled with request-level targets', () => {
  const noise = 0.05;
  const train = knownNoiseSteps(6000, 21, noise);
  const { steps, targets } = withTargets(train.steps, 10, 10, 2, train.id);
  const basis = getBasis('roofline');
  for (const method of ['huber', 'ols'] as const) {
    it(`${method}, relative weights: held-out coverage of fresh steps is nominal (90–99%); the pooled σ alone is too narrow`, () => {
      const r = fitDatasetSync(
        { experiments: [experimentFrom({ steps, targets, model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, experiment: train.id })] },
        {
          basis,
          method,
          weight: 'relative',
          seed: 1,
          ...(method === 'huber' ? { bounds: physicalBounds(basis), ridge: { lambda: 1e-6 } } : {}),
        },
      );
      const fit = buildFitFile(r, { commandLine: 'test', inputs: [], gpus: {}, createdAt: '1970-01-01T00:00:00.000Z' });
      const bk = fit.residual.byKind!;
      expect(bk.step!.n).toBe(600);
      expect(bk.prefill!.n + bk.decode!.n).toBe(targets.length);
      expect(bk.step!.estimator).toBe('q95');
      // the step rows' σ recovers the known noise; target rows (sums of 10 steps) are far tighter
      expect(Math.abs(bk.step!.sigma / noise - 1)).toBeLessThan(0.15);
      expect(bk.decode!.sigma).toBeLessThan(0.5 * bk.step!.sigma);
      expect(fit.residual.sigma).toBeLessThan(0.7 * bk.step!.sigma);
      expect(stepNoise(fit.residual)).toMatchObject({ sigma: bk.step!.sigma, source: 'step rows' });

      const test = knownNoiseSteps(2000, 22, noise);
      const after = coverage(fit, test.steps, test.ctx);
      expect(after).toBeGreaterThanOrEqual(0.9);
      expect(after).toBeLessThanOrEqual(0.99);
      // an older file (no byKind) falls back to the pooled σ: the defect this fixes
      const old = JSON.parse(JSON.stringify(fit)) as FitFile;
      delete old.residual.byKind;
      expect(stepNoise(old.residual)).toMatchObject({ sigma: fit.residual.sigma, source: 'all rows' });
      expect(coverage(old, test.steps, test.ctx)).toBeLessThan(0.9);
    });
  }
});

describe('bundled sample trace (the demo): step coverage ≥ 90%', () => {
  it('reconstruct → fit (steps + request-level targets, default Huber) → predict the measured steps', async () => {
    const dir = tmpDir();
    const f = (n: string): string => path.join(dir, n);
    const exp = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1'];
    let r = await runCli([
      'reconstruct',
      '--format',
      'vllm-otlp',
      '--in',
      'data/sample',
      '--experiment',
      'sample',
      '--duration',
      'duration-us',
      '--out',
      f('steps.jsonl'),
      '--targets',
      f('targets.jsonl'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    r = await runCli(['fit', '--steps', f('steps.jsonl'), ...exp, '--experiment', 'sample', '--targets', f('targets.jsonl'), '--out', f('fit.json')]);
    expect(r.code, r.stderr).toBe(0);
    const fit = JSON.parse(fs.readFileSync(f('fit.json'), 'utf8')) as FitFile;
    expect(fit.residual.byKind?.step?.n).toBeGreaterThan(500);
    const cover = async (fitPath: string): Promise<number> => {
      const p = await runCli(['predict', '--fit', fitPath, '--steps', f('steps.jsonl'), ...exp, '--out', f('p.csv')]);
      expect(p.code, p.stderr).toBe(0);
      const m = /([\d.]+)% inside the 95% interval/.exec(p.stderr);
      expect(m, p.stderr).not.toBeNull();
      return Number(m![1]);
    };
    const after = await cover(f('fit.json'));
    expect(after).toBeGreaterThanOrEqual(90);
    expect(after).toBeLessThanOrEqual(99);
    delete fit.residual.byKind;
    fs.writeFileSync(f('old.json'), JSON.stringify(fit));
    expect(await cover(f('old.json'))).toBeLessThan(90); // pooled σ (old files): 82.4% when this was written
  });
});
