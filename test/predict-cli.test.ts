import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { tmpDir, handFit, lsqFit, synthDataset, writeJson, writeStepsFile, readCsv, ctxOf } from './predict-fixtures.js';
import { tQuantile, quadForm, normalQuantile } from '../src/util/stats.js';
import { intervalHalfWidth, makePredictor } from '../src/predict/predict.js';
import { checkFit } from '../src/predict/load.js';
import { parseGridSpec, parseValueList, gridPoints, gridStep, countGridSteps, gridToSpec } from '../src/predict/grid.js';
import { ExtrapolationCheck } from '../src/predict/extrapolation.js';
import { seedBasis } from '../src/basis/seed.js';
import type { Step } from '../src/steps/step.js';

const SEED_COEFS = [1.3, 1.6, 1.2, 0.8, 11, 4.5, 150];
const SEED_SE = [0.01, 0.02, 0.01, 0.05, 0.5, 0.2, 10];

describe('formulas', () => {
  it('t quantiles match tables (0.975): ν = 1, 2, 3, 5, 10, 30, 1000', () => {
    const table: [number, number][] = [
      [1, 12.706205],
      [2, 4.302653],
      [3, 3.182446],
      [5, 2.570582],
      [10, 2.228139],
      [30, 2.042272],
      [1000, 1.962339],
      [1e7, 1.959964],
    ];
    for (const [v, t] of table) expect(Math.abs(tQuantile(0.975, v) - t) / t, `ν=${v}`).toBeLessThan(1e-6);
    expect(tQuantile(0.995, 4)).toBeCloseTo(4.604095, 5);
    expect(tQuantile(0.025, 10)).toBeCloseTo(-tQuantile(0.975, 10), 10);
  });

  it('normal quantile: Φ⁻¹(0.975) = 1.959964, Φ⁻¹(0.001) = −3.090232', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 6);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
  });

  it('quadratic form xᵀCx on a hand example', () => {
    // x = (1, 2), C = [[2, 1], [1, 3]] → 2 + 2·2·1 + 4·3 = 18
    expect(quadForm(Float64Array.from([1, 2]), [2, 1, 1, 3], 2)).toBe(18);
  });

  it('interval half-width: absolute t·√(v + σ²), relative t·√(v + (σŷ)²)', () => {
    expect(intervalHalfWidth(1000, 9, 4, 'absolute', 2)).toBeCloseTo(2 * 5, 12);
    expect(intervalHalfWidth(1000, 0, 0.05, 'relative', 2)).toBeCloseTo(2 * 50, 12);
    expect(intervalHalfWidth(100, 16, 0.03, 'relative', 1.96)).toBeCloseTo(1.96 * 5, 12);
  });
});

describe('grid spec', () => {
  it('parses lists and ranges', () => {
    expect(parseValueList('1,8,64', 'x')).toEqual([1, 8, 64]);
    expect(parseValueList('1..64*2', 'x')).toEqual([1, 2, 4, 8, 16, 32, 64]);
    expect(parseValueList('0..2048+512', 'x')).toEqual([0, 512, 1024, 1536, 2048]);
    expect(parseValueList('3..5', 'x')).toEqual([3, 4, 5]);
    const g = parseGridSpec('batch=0,2;context=100;prefill=0,512');
    expect(g).toEqual({ batch: [0, 2], context: [100], prefill: [0, 512], prior: [0] });
    expect(parseGridSpec(gridToSpec(g))).toEqual(g);
    // batch 0 × prefill 0 is skipped: (0,512), (2,0), (2,512)
    const pts = [...gridPoints(g)];
    expect(pts.map((p) => [p.batch, p.prefill])).toEqual([
      [0, 512],
      [2, 0],
      [2, 512],
    ]);
    expect(countGridSteps(g)).toBe(3);
    const s = gridStep(pts[2]!, 7);
    expect(s).toEqual({ experiment: 'grid', step: 7, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: [100, 100] });
  });

  it('refuses bad specs with one clear message', () => {
    expect(() => parseGridSpec('batch=1;context=1;colour=3')).toThrow(/unknown key 'colour'/);
    expect(() => parseGridSpec('context=512')).toThrow(/'batch' is required/);
    expect(() => parseGridSpec('batch=4')).toThrow(/'context' is required/);
    expect(() => parseGridSpec('batch=1,x;context=1')).toThrow(/'x' is not a non-negative integer/);
    expect(() => parseGridSpec('batch=0;prefill=0')).toThrow(/every grid point is empty/);
    expect(() => parseGridSpec('batch=0..5*2;context=1')).toThrow(/geometric/);
    expect(() => parseGridSpec('batch=1;batch=2;context=1')).toThrow(/given twice/);
  });
});

describe('stepfit predict', () => {
  let dir: string;
  let steps: Step[];
  let fitPath: string;
  beforeAll(() => {
    dir = tmpDir();
    steps = synthDataset('llama-3.1-8b', 'h100-sxm', 1, 300, 3).steps;
    writeStepsFile(path.join(dir, 'steps.jsonl'), steps);
    const ranges = { prefillTokens: [0, 2048] as [number, number], decodeRequests: [0, 64] as [number, number], maxContext: 8192 };
    fitPath = writeJson(
      path.join(dir, 'seed.json'),
      handFit('seed', SEED_COEFS, {
        se: SEED_SE,
        sigma: 200,
        dof: 500,
        experiments: [{ id: 'e', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: {}, rows: 500, ranges }],
      }),
    );
  });

  it('steps with durations: columns, Σβ·x by hand, error and interval by the formula', async () => {
    const out = path.join(dir, 'p.csv');
    const r = await runCli(['predict', '--fit', fitPath, '--steps', path.join(dir, 'steps.jsonl'), '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const { header, rows } = readCsv(out);
    expect(header).toEqual(['experiment', 'step', 'batch_size', 'decode_context', 'prefill_tokens', 'prefill_prior', 'predicted_us', 'duration_us', 'error_pct', 'pi95_lo_us', 'pi95_hi_us']);
    expect(rows.length).toBe(steps.length);
    const c = seedBasis.compile(ctxOf('llama-3.1-8b', 'h100-sxm', 1));
    const x = new Float64Array(7);
    const t = tQuantile(0.975, 500);
    for (const i of [0, 1, 57, 299]) {
      const s = steps[i]!;
      c.row(s, x);
      const y = SEED_COEFS.reduce((a, b, k) => a + b * x[k]!, 0);
      const v = SEED_SE.reduce((a, se, k) => a + (se * x[k]!) ** 2, 0);
      const h = t * Math.sqrt(v + 200 * 200);
      const row = rows[i]!;
      expect(row[0]).toBe(s.experiment);
      expect(Number(row[1])).toBe(s.step);
      expect(row.slice(2, 6)).toEqual(['', '', '', '']); // grid columns: empty on step rows
      expect(Number(row[6])).toBeCloseTo(y, 3);
      expect(Number(row[7])).toBeCloseTo(s.durationUs!, 3);
      expect(Number(row[8])).toBeCloseTo(((y - s.durationUs!) / s.durationUs!) * 100, 2);
      expect(Number(row[9])).toBeCloseTo(y - h, 2);
      expect(Number(row[10])).toBeCloseTo(y + h, 2);
    }
    expect(r.stderr).not.toMatch(/extrapolating/);
    expect(r.stderr).toMatch(/MAPE [\d.]+% over 300 measured steps/);
  });

  it('steps without durations: the same header, empty duration_us and error_pct', async () => {
    const f = writeStepsFile(
      path.join(dir, 'nodur.jsonl'),
      steps.slice(0, 5).map(({ durationUs: _d, ...s }) => s),
    );
    const out = path.join(dir, 'nodur.csv');
    const r = await runCli(['predict', '--fit', fitPath, '--steps', f, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const { header, rows } = readCsv(out);
    expect(header).toEqual(['experiment', 'step', 'batch_size', 'decode_context', 'prefill_tokens', 'prefill_prior', 'predicted_us', 'duration_us', 'error_pct', 'pi95_lo_us', 'pi95_hi_us']);
    expect(rows).toHaveLength(5);
    for (const row of rows) expect([row[7], row[8]]).toEqual(['', '']);
  });

  it('grid: rows equal step-by-step predictions of the same shapes', async () => {
    const out = path.join(dir, 'grid.csv');
    const spec = 'batch=0,1,16;context=512,4096;prefill=0,256,2048';
    const r = await runCli(['predict', '--fit', fitPath, '--grid', spec, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const { header, rows } = readCsv(out);
    expect(header).toEqual(['experiment', 'step', 'batch_size', 'decode_context', 'prefill_tokens', 'prefill_prior', 'predicted_us', 'duration_us', 'error_pct', 'pi95_lo_us', 'pi95_hi_us']);
    const g = parseGridSpec(spec);
    expect(rows.length).toBe(countGridSteps(g));
    const pr = makePredictor(checkFit(handFit('seed', SEED_COEFS, { se: SEED_SE, sigma: 200, dof: 500 }), 'x'), ctxOf('llama-3.1-8b', 'h100-sxm', 1));
    [...gridPoints(g)].forEach((p, i) => {
      const row = rows[i]!;
      expect(row.slice(2, 6).map(Number)).toEqual([p.batch, p.context, p.prefill, p.prior]);
      expect(Number(row[6])).toBeCloseTo(pr.predict(gridStep(p, i)).predictedUs, 3);
    });
  });

  it('a model/GPU/TP the fit never saw is a note (what a what-if asks); shapes beyond the training ranges are a warning', async () => {
    const out = path.join(dir, 'x.csv');
    const r = await runCli(['predict', '--fit', fitPath, '--grid', 'batch=1,128;context=512,16384', '--model', 'llama-2-70b', '--gpu', 'a100-sxm-80gb', '--tp', '4', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const note = r.stderr.split('\n').filter((l) => /note: extrapolating/.test(l));
    expect(note).toHaveLength(1);
    expect(note[0]).toMatch(/^predict: note: extrapolating: model 'llama-2-70b' not in the fit.*GPU 'a100-sxm-80gb' not in the fit.*TP 4 not in the fit \(fit saw: 1\)$/);
    const warn = r.stderr.split('\n').filter((l) => /warning/.test(l));
    expect(warn.length).toBe(1);
    expect(warn[0]).toMatch(/^predict: warning: extrapolating: 3 of 4 steps beyond the training ranges/);
    expect(warn[0]).toMatch(/decode batch > 64 \(up to 128\)/);
    expect(warn[0]).toMatch(/context > 8192 \(up to 16384\)/);
  });

  it('extrapolation check: same context inside ranges is silent; a new combination is named', () => {
    const fit = handFit('seed', SEED_COEFS, {
      experiments: [
        { id: 'a', model: 'configs/models/llama-3.1-8b.json', gpu: 'h100-sxm', tp: 1, groups: {}, rows: 1, ranges: { prefillTokens: [0, 100], decodeRequests: [0, 4], maxContext: 1000 } },
        { id: 'b', model: 'llama-2-7b', gpu: 'a100-sxm-80gb', tp: 2, groups: {}, rows: 1 },
      ],
    });
    const ok = new ExtrapolationCheck(fit, { model: ['llama-3.1-8b'], gpu: ['h100-sxm'], tp: 1 });
    expect(ok.observe({ experiment: '', step: 0, prefill: [{ tokens: 50, prior: 0, prompt: 50 }], decode: [900] })).toBe(false);
    expect(ok.summary()).toBeNull();
    expect(ok.observe({ experiment: '', step: 1, prefill: [], decode: [1001] })).toBe(true);
    expect(ok.summary()).toMatch(/1 of 2 steps beyond the training ranges: 1 with context > 1000/);
    const combo = new ExtrapolationCheck(fit, { model: ['llama-3.1-8b'], gpu: ['a100-sxm-80gb'], tp: 2 });
    expect(combo.summary()).toMatch(/combination model 'llama-3.1-8b' × GPU 'a100-sxm-80gb' × TP 2 is not in the fit/);
  });

  it('bad inputs: one clear line, non-zero exit, no output written', async () => {
    const out = path.join(dir, 'bad.csv');
    const base = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', out];
    const unknownBasis = writeJson(path.join(dir, 'unknown-basis.json'), { ...handFit('seed', SEED_COEFS), basis: 'quantum' });
    const oldVersion = writeJson(path.join(dir, 'old-version.json'), { ...handFit('seed', SEED_COEFS), basisVersion: 99 });
    const schema = writeJson(path.join(dir, 'schema.json'), { ...handFit('seed', SEED_COEFS), stepfitFit: 7 });
    const corrupt = path.join(dir, 'corrupt.json');
    fs.writeFileSync(corrupt, fs.readFileSync(fitPath, 'utf8').slice(0, 300));
    const badCov = writeJson(path.join(dir, 'badcov.json'), { ...handFit('seed', SEED_COEFS), covariance: [1, 2, 3] });
    const cases: [string[], RegExp, number][] = [
      [['--fit', unknownBasis, '--grid', 'batch=1;context=1'], /unknown-basis\.json: fit file uses basis 'quantum', which this stepfit does not know/, 1],
      [['--fit', oldVersion, '--grid', 'batch=1;context=1'], /old-version\.json: fit file uses basis 'seed' version 99; this stepfit has version 1/, 1],
      [['--fit', schema, '--grid', 'batch=1;context=1'], /schema\.json: fit file schema version 7 is not supported/, 1],
      [['--fit', corrupt, '--grid', 'batch=1;context=1'], /corrupt\.json: corrupted fit file, not valid JSON/, 1],
      [['--fit', badCov, '--grid', 'batch=1;context=1'], /badcov\.json: field 'covariance': expected 7×7 = 49 numbers/, 1],
      [['--fit', fitPath, '--grid', 'batch=1;context=1', '--steps', path.join(dir, 'steps.jsonl')], /exactly one of --steps or --grid/, 2],
      [['--fit', fitPath], /exactly one of --steps or --grid/, 2],
      [['--fit', fitPath, '--grid', 'batch=1;ctx=1'], /unknown key 'ctx'/, 2],
      [['--fit', path.join(dir, 'nope.json'), '--grid', 'batch=1;context=1'], /fit file '.*nope\.json' not found/, 1],
    ];
    for (const [args, msg, code] of cases) {
      const r = await runCli(['predict', ...args, ...base]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n').length, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(out)).toBe(false);
    }
  });

  it('a bad step record midway leaves no output behind', async () => {
    const f = path.join(dir, 'badstep.jsonl');
    fs.writeFileSync(
      f,
      steps
        .slice(0, 3)
        .map((s) => JSON.stringify({ experiment: s.experiment, step: s.step, prefill: s.prefill, decode: s.decode }))
        .join('\n') + '\n{"step": 9, "decode": [-1]}\n',
    );
    const out = path.join(dir, 'badstep.csv');
    const r = await runCli(['predict', '--fit', fitPath, '--steps', f, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/badstep\.jsonl:4: field 'decode\[0\]'/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('unwritable output directory: clear error, nothing written', async () => {
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    fs.chmodSync(ro, 0o555);
    // root can write into a 0555 directory: then use a path whose parent is a regular file
    const isRoot = process.getuid?.() === 0;
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, 'x');
    const target = isRoot ? path.join(blocker, 'sub', 'p.csv') : path.join(ro, 'p.csv');
    const r = await runCli(['predict', '--fit', fitPath, '--grid', 'batch=1;context=1', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot write output .*p\.csv/);
    expect(fs.existsSync(target)).toBe(false);
  });
});

describe('prediction intervals are calibrated on held-out synthetic data', () => {
  it('relative-weighted roofline fit: ~95% of fresh steps fall inside the 95% interval', async () => {
    const train = synthDataset('llama-3.1-8b', 'h100-sxm', 1, 3000, 11, 0.05);
    const fit = lsqFit('roofline', [train], 'relative');
    const test = synthDataset('llama-3.1-8b', 'h100-sxm', 1, 2000, 12, 0.05);
    const pr = makePredictor(checkFit(fit, 'mem'), train.ctx);
    let inside = 0;
    for (const s of test.steps) {
      const p = pr.predict(s);
      if (s.durationUs! >= p.lo! && s.durationUs! <= p.hi!) inside++;
    }
    const cover = inside / test.steps.length;
    expect(cover).toBeGreaterThan(0.92);
    expect(cover).toBeLessThan(0.98);
  });
});
