import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { runCli } from './support/cli.js';
import { tmpDir, synthDataset, writeStepsFile, writeJson } from './predict-fixtures.js';
import { loadFit } from '../src/predict/load.js';
import { makePredictor } from '../src/predict/predict.js';
import { readAllSteps } from '../src/steps/io.js';
import { loadDataset, computeMetrics } from '../src/fit/api.js';
import { collectReportData, phaseOf, kvContext } from '../src/report/data.js';
import { accuracyByGroup, overallMetrics, statsOf } from '../src/report/accuracy.js';
import { termReading, efficiencyPct } from '../src/report/coefficients.js';
import { scopeSvgIds } from '../src/report/html.js';
import { Reservoir } from '../src/report/rows.js';

let dir: string;
let fitPath: string;
let manifest: string;

beforeAll(async () => {
  dir = tmpDir('stepfit-report-');
  const ds = [synthDataset('llama-3.1-8b', 'h100-sxm', 1, 500, 31), synthDataset('llama-3.1-8b', 'h100-sxm', 2, 500, 32), synthDataset('qwen3-8b', 'a100-sxm-80gb', 1, 500, 33)];
  for (const d of ds) writeStepsFile(path.join(dir, `${d.id}.jsonl`), d.steps);
  manifest = path.join(dir, 'm.yaml');
  fs.writeFileSync(
    manifest,
    YAML.stringify({
      experiments: ds.map((d, i) => ({ id: d.id, steps: `${d.id}.jsonl`, model: d.model, gpu: d.gpu, tp: d.tp, groups: { workload: i === 2 ? 'code' : 'chat' } })),
    }),
  );
  fitPath = path.join(dir, 'fit.json');
  const r = await runCli(['fit', '--manifest', manifest, '--basis', 'roofline', '--cv', 'group:experiment', '--out', fitPath]);
  expect(r.code, r.stderr).toBe(0);
});

describe('report formulas', () => {
  it('phase mix, KV context, efficiency reading', () => {
    expect(phaseOf({ experiment: '', step: 0, prefill: [{ tokens: 5, prior: 0, prompt: 5 }], decode: [] })).toBe(0);
    expect(phaseOf({ experiment: '', step: 0, prefill: [], decode: [3] })).toBe(1);
    expect(phaseOf({ experiment: '', step: 0, prefill: [{ tokens: 5, prior: 7, prompt: 12 }], decode: [3, 4] })).toBe(2);
    expect(kvContext({ experiment: '', step: 0, prefill: [{ tokens: 5, prior: 7, prompt: 12 }], decode: [3, 4] })).toBe(14);
    expect(efficiencyPct(1.25)).toBe(80);
    expect(efficiencyPct(0)).toBeNull();
    expect(termReading('us', 1.25, [1, 2], 'fitted')).toBe('runs at 80% of peak (1/β, β = 1.25) (95% CI 50%–100%)');
    expect(termReading('count', 12.5, [10, 15], 'fitted')).toBe('12.50 µs (95% CI 10.00 to 15.00)');
    expect(termReading('us', 0.5, [null, null], 'fitted')).toMatch(/runs at 200% of peak.*above peak/);
    expect(termReading('count', 0, [null, null], 'merged:constant')).toMatch(/merged into 'constant'/);
  });

  it("SVG ids are scoped per plot so inline SVGs do not resolve each other's clip paths", () => {
    const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"><use href="#clip1"/></g></svg>';
    expect(scopeSvgIds(svg, 'p')).toBe('<svg><defs><clipPath id="p-clip1"><rect/></clipPath></defs><g clip-path="url(#p-clip1)"><use href="#p-clip1"/></g></svg>');
  });

  it('plot sampling (reservoir) is seeded, without repeats, keeps everything when small and is uniform', () => {
    const take = (n: number, k: number, seed = 1): number[] => {
      const r = new Reservoir<number>(k, seed);
      for (let i = 0; i < n; i++) r.add(i);
      return r.items;
    };
    expect(take(5, 10)).toEqual([0, 1, 2, 3, 4]);
    const a = take(10000, 300, 1);
    expect(a).toEqual(take(10000, 300, 1));
    expect(a).not.toEqual(take(10000, 300, 2));
    expect(new Set(a).size).toBe(300);
    // uniform: about as many sampled items from the first half of the stream as from the second
    const firstHalf = a.filter((i) => i < 5000).length;
    expect(firstHalf).toBeGreaterThan(120);
    expect(firstHalf).toBeLessThan(180);
  });
});

describe('report data and accuracy tables', () => {
  it("streamed grouped metrics agree with the fitter's computeMetrics per group; seed refit, engine and naive cover every row", async () => {
    const loaded = loadFit(fitPath);
    const ds = loadDataset({ manifest });
    const d = await collectReportData(loaded, ds);
    expect(d.n).toBe(1500);
    expect(d.sample.kind).toBe('in-sample');
    for (const c of d.comparators) expect(c.rows, `${c.id}: ${c.note ?? ''}`).toBe(1500);
    // the fit's predictions row by row, computed here independently of the report's pass
    const perExp = new Map<string, { p: number[]; m: number[] }>();
    for (const e of ds.experiments) {
      const pr = makePredictor(loaded, { arch: e.arch, gpu: e.gpu, tp: e.ref.tp });
      const rows = { p: [] as number[], m: [] as number[] };
      for (const s of await readAllSteps(e.steps as string)) {
        rows.p.push(pr.predict(s).predictedUs);
        rows.m.push(s.durationUs!);
      }
      perExp.set(e.ref.id, rows);
    }
    const all = computeMetrics(
      [...perExp.values()].flatMap((r) => r.p),
      [...perExp.values()].flatMap((r) => r.m),
    );
    const overall = overallMetrics(d, 'fit')!;
    // the report's overall numbers are the fit file's training numbers on the same rows
    expect(overall.mape).toBeCloseTo(loaded.fit.metrics.train.overall.mape, 6);
    // below SKETCH_K rows the sketch holds every value: quantiles are exact
    expect(statsOf(d, 'fit').ape.exact).toBe(true);
    for (const k of ['mape', 'medianApe', 'p90Ape', 'p99Ape', 'biasPct', 'rmseUs'] as const) expect(overall[k], k).toBeCloseTo(all[k], 6);
    expect(overall.r2!).toBeCloseTo(all.r2!, 9);
    const sections = accuracyByGroup(d);
    const byExp = sections.find((s) => s.dim === 'experiment')!;
    expect(byExp.rows.length).toBe(3);
    for (const row of byExp.rows) {
      const r = perExp.get(row.group)!;
      const m = computeMetrics(r.p, r.m);
      expect(row.n).toBe(m.n);
      expect(row.mape).toBeCloseTo(m.mape, 9);
      expect(row.medianApe).toBeCloseTo(m.medianApe, 6);
      expect(row.p90Ape).toBeCloseTo(m.p90Ape, 6);
      expect(row.rmseUs).toBeCloseTo(m.rmseUs, 6);
      // and with the fit file's own per-experiment training metrics
      expect(row.mape).toBeCloseTo(loaded.fit.metrics.train.byGroup['experiment']![row.group]!.mape, 6);
    }
    expect(sections.map((s) => s.dim)).toEqual(['experiment', 'model', 'gpu', 'tp', 'label:workload', 'phase']);
    // worst first
    for (const s of sections) for (let i = 1; i < s.rows.length; i++) expect(s.rows[i - 1]!.mape).toBeGreaterThanOrEqual(s.rows[i]!.mape);
    // phase groups partition the rows
    expect(sections.find((s) => s.dim === 'phase')!.rows.reduce((a, r) => a + r.n, 0)).toBe(1500);
    // per-term contributions add up to the predictions
    const predSum = [...perExp.values()].flatMap((r) => r.p).reduce((a, b) => a + b, 0);
    expect(Array.from(d.contrib.sum).reduce((a, b) => a + b, 0)).toBeCloseTo(predSum, 3);
    // every row is a plot point when there are fewer than MAX_POINTS
    expect(d.points.length).toBe(1500);
  });
});

describe('stepfit report', () => {
  it('writes index.html, report.md and every plot as SVG and PNG, with the same headline numbers', async () => {
    const out = path.join(dir, 'rep');
    const r = await runCli(['report', '--fit', fitPath, '--manifest', manifest, '--out', out, '--title', 'Test report']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(path.join(out, 'index.html'));
    const ids = ['pred-vs-measured', 'error-cdf', 'group-errors', 'residuals-batch', 'residuals-tokens', 'residuals-context', 'term-contributions'];
    for (const id of ids) {
      const svg = fs.readFileSync(path.join(out, 'plots', `${id}.svg`), 'utf8');
      expect(svg.startsWith('<svg'), id).toBe(true);
      expect(svg, id).toMatch(/class="mark-(symbol|line|rect|rule|tick)[^"]*"[^>]*>\s*<(path|line)/);
      const png = fs.readFileSync(path.join(out, 'plots', `${id}.png`));
      expect(png.subarray(0, 8).toString('hex'), id).toBe('89504e470d0a1a0a');
      expect(png.length, id).toBeGreaterThan(5000);
    }
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    // self-contained: no scripts, no external resources
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/@import|@font-face/i);
    const urls = [...html.matchAll(/(?:src|href)\s*=\s*"([^"#][^"]*)"/gi)].map((m) => m[1]);
    expect(urls).toEqual([]);
    expect([...html.matchAll(/https?:\/\/[^"\s)]+/g)].map((m) => m[0]).filter((u) => !/^http:\/\/www\.w3\.org\//.test(u))).toEqual([]);
    // the same headline numbers in both
    const head = /MAPE ([\d.]+%)<\/span>/.exec(html)![1]!;
    const stats = /id="headline-stats">([^<]+)</.exec(html)![1]!;
    expect(md).toContain(`**MAPE ${head}**`);
    expect(md).toContain(stats);
    // comparison rows: same labels and numbers
    for (const label of ['roofline fit', 'seven-term seed (refit here)', 'analytical engine', 'naive (phase median)']) {
      const htmlRow = new RegExp(`<td class="l">${label.replace(/[()]/g, '\\$&')}</td><td class="n">([^<]+)</td>`).exec(html);
      expect(htmlRow, label).not.toBeNull();
      expect(md).toMatch(new RegExp(`\\| ${label.replace(/[()]/g, '\\$&')} \\| ${htmlRow![1]!.replace(/[.+%]/g, '\\$&')} \\|`));
    }
    // markdown links point at files that exist
    for (const m of md.matchAll(/\]\((plots\/[^)]+)\)/g)) expect(fs.existsSync(path.join(out, m[1]!)), m[1]).toBe(true);
    // first screen content: where it is worst, and the in-sample label
    expect(html).toMatch(/Where it is worst/);
    expect(html).toMatch(/in-sample/);
    expect(r.stderr).toMatch(/report: 1,500 steps, MAPE [\d.]+%/);
  });

  it("without --steps/--manifest it reports on the fit's own training data (found by hash)", async () => {
    const out = path.join(dir, 'rep-default');
    const r = await runCli(['report', '--fit', fitPath, '--out', out, '--no-engine', '--no-seed']);
    expect(r.code, r.stderr).toBe(0);
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/Training data of the fit: manifest/);
    expect(md).toMatch(/\| seven-term seed \(refit here\) \| – \|/);
  });

  it('bad inputs: unwritable --out, corrupted or unknown fit, data without durations → one line, nothing written', async () => {
    const blocker = path.join(dir, 'blocker');
    fs.writeFileSync(blocker, 'x');
    const r1 = await runCli(['report', '--fit', fitPath, '--manifest', manifest, '--out', path.join(blocker, 'rep')]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/--out '.*blocker\/rep': cannot write the output there: '.*blocker' is not a directory/);
    expect(r1.stderr.trim().split('\n').length).toBe(1);

    const corrupt = path.join(dir, 'corrupt.json');
    fs.writeFileSync(corrupt, '{"stepfitFit": 1, "basis": "roofl');
    const out2 = path.join(dir, 'rep2');
    const r2 = await runCli(['report', '--fit', corrupt, '--manifest', manifest, '--out', out2]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/corrupt\.json: corrupted fit file, not valid JSON/);
    expect(fs.existsSync(out2)).toBe(false);

    const unknown = writeJson(path.join(dir, 'unknown.json'), { ...JSON.parse(fs.readFileSync(fitPath, 'utf8')), basis: 'mystery' });
    const r3 = await runCli(['report', '--fit', unknown, '--manifest', manifest, '--out', out2]);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/unknown\.json: fit file uses basis 'mystery', which this stepfit does not know/);
    expect(fs.existsSync(out2)).toBe(false);

    const nodur = path.join(dir, 'nodur.jsonl');
    fs.writeFileSync(nodur, '{"step": 0, "decode": [10, 20]}\n{"step": 1, "prefill": [{"tokens": 5, "prior": 0}]}\n');
    const r4 = await runCli(['report', '--fit', fitPath, '--steps', nodur, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', out2, '--no-seed']);
    expect(r4.code).toBe(1);
    expect(r4.stderr).toMatch(/no step with duration_us/);
    expect(fs.existsSync(out2)).toBe(false);

    const r5 = await runCli(['report', '--fit', fitPath, '--model', 'llama-3.1-8b', '--out', out2]);
    expect(r5.code).toBe(2);
    expect(r5.stderr).toMatch(/--model\/--gpu describe --steps/);
  });
});
