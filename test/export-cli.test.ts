import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { runCli } from './support/cli.js';
import { tmpDir, handFit, synthDataset, writeJson, writeStepsFile, readCsv } from './predict-fixtures.js';
import { blisExport, BLIS_BETA_ORDER } from '../src/export/blis.js';
import { readFitFile } from '../src/fit/fitfile.js';

let dir: string;
let seedFit: string;
let rooflineFit: string;
let stepsFile: string;

beforeAll(async () => {
  dir = tmpDir('stepfit-export-');
  // two TPs so the fitter can identify the tp term; written as files for `stepfit fit`
  const a = synthDataset('llama-3.1-8b', 'h100-sxm', 1, 400, 21);
  const b = synthDataset('llama-3.1-8b', 'h100-sxm', 2, 400, 22);
  const c = synthDataset('qwen3-8b', 'h100-sxm', 1, 400, 23);
  for (const d of [a, b, c]) writeStepsFile(path.join(dir, `${d.id}.jsonl`), d.steps);
  stepsFile = path.join(dir, `${a.id}.jsonl`);
  fs.writeFileSync(path.join(dir, 'm.yaml'), YAML.stringify({ experiments: [a, b, c].map((d) => ({ id: d.id, steps: `${d.id}.jsonl`, model: d.model, gpu: d.gpu, tp: d.tp })) }));
  seedFit = path.join(dir, 'seed.json');
  rooflineFit = path.join(dir, 'roofline.json');
  for (const [basis, out] of [
    ['seed', seedFit],
    ['roofline', rooflineFit],
  ] as const) {
    const r = await runCli(['fit', '--manifest', path.join(dir, 'm.yaml'), '--basis', basis, '--method', 'nnls', '--weight', 'relative', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
  }
});

describe('export --to blis', () => {
  it('writes a defaults.yaml fragment that parses, with 7 betas in BLIS order equal to the seed coefficients', async () => {
    const out = path.join(dir, 'blis.yaml');
    const r = await runCli(['export', '--fit', seedFit, '--to', 'blis', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const doc = YAML.parse(fs.readFileSync(out, 'utf8')) as Record<string, { beta_coeffs: number[]; alpha_coeffs?: number[] }>;
    expect(Object.keys(doc)).toEqual(['trained_physics_coefficients']);
    const betas = doc['trained_physics_coefficients']!.beta_coeffs;
    const fit = readFitFile(seedFit);
    expect(betas.length).toBe(7);
    expect(fit.terms.map((t) => t.name)).toEqual(BLIS_BETA_ORDER.map((b) => b.term));
    expect(betas).toEqual(fit.terms.map((t) => t.coef)); // exact: shortest round-trip decimals
    // BLIS needs alpha whenever beta is given: a fit without α terms exports zeros (with a warning)
    expect(doc['trained_physics_coefficients']!.alpha_coeffs).toEqual([0, 0, 0]);
    expect(r.stderr).toMatch(/no α terms .*exported as 0,0,0/);
    // the command-line string on stdout carries the same numbers in the same order
    const m = /--latency-model trained-physics --model meta-llama\/llama-3\.1-8b --hardware H100 --tp 1 --alpha-coeffs 0,0,0 --beta-coeffs (\S+)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(m![1]!.split(',').map(Number)).toEqual(betas);
    // every beta is named in the header comment next to its stepfit term
    const text = fs.readFileSync(out, 'utf8');
    BLIS_BETA_ORDER.forEach((b, i) => expect(text).toContain(`${b.beta} ${b.term.padEnd(8)} ${b.blis} = ${String(betas[i])}`));
  });

  it('older BLIS (trained-roofline) gets its own key and a warning that β4 is ignored there', () => {
    const fit = handFit('seed', [1.1, 1.3, 1.2, 0.7, 20, 4, 150]);
    const b = blisExport(fit, 'x.json', 'trained-roofline');
    const doc = YAML.parse(b.yaml) as Record<string, { beta_coeffs: number[] }>;
    expect(doc['trained_roofline_defaults']!.beta_coeffs).toEqual([1.1, 1.3, 1.2, 0.7, 20, 4, 150]);
    expect(b.flags).toMatch(/^--latency-model trained-roofline .*--alpha-coeffs 0,0,0 --beta-coeffs 1\.1,1\.3,1\.2,0\.7,20,4,150$/);
    expect(b.warnings.join('\n')).toMatch(/trained-roofline sets T_tp = 0/);
  });

  it('refuses a basis BLIS cannot represent, and negative coefficients, saying why', async () => {
    const r = await runCli(['export', '--fit', rooflineFit, '--to', 'blis', '--out', path.join(dir, 'no.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/basis 'roofline' cannot be exported to BLIS: .*computes the seven-term seed regressors, not the 10 'roofline' terms/);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    expect(fs.existsSync(path.join(dir, 'no.yaml'))).toBe(false);
    const neg = writeJson(path.join(dir, 'neg.json'), handFit('seed', [1.1, -0.2, 1.2, 0.7, 20, 4, 150]));
    const r2 = await runCli(['export', '--fit', neg, '--to', 'blis']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/BLIS rejects negative or non-finite coefficients, and this fit has decode = -0.2; refit with --method nnls/);
  });
});

describe('export --to table', () => {
  it('rows reproduce `predict --grid` exactly (same shapes, same strings)', async () => {
    const table = path.join(dir, 'table.csv');
    const pred = path.join(dir, 'pred.csv');
    const shape = ['--model', 'llama-2-7b', '--gpu', 'a100-sxm-80gb', '--tp', '2'];
    const r1 = await runCli([
      'export',
      '--fit',
      rooflineFit,
      '--to',
      'table',
      ...shape,
      '--batch',
      '0,1,8,64',
      '--context',
      '128,4096',
      '--prefill',
      '0,256,2048',
      '--prior',
      '0,1024',
      '--out',
      table,
    ]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stderr).toMatch(/note: extrapolating: model 'llama-2-7b' not in the fit/);
    const r2 = await runCli(['predict', '--fit', rooflineFit, '--grid', 'batch=0,1,8,64;context=128,4096;prefill=0,256,2048;prior=0,1024', ...shape, '--out', pred]);
    expect(r2.code, r2.stderr).toBe(0);
    const t = readCsv(table);
    const p = readCsv(pred);
    expect(t.header).toEqual(['batch_size', 'decode_context', 'prefill_tokens', 'prefill_prior', 'predicted_us', 'pi95_lo_us', 'pi95_hi_us']);
    expect(t.rows.length).toBe(4 * 2 * 3 * 2 - 2 * 2); // batch 0 × prefill 0 skipped (× 2 contexts × 2 priors)
    // predict's fixed header adds experiment, step and the (empty on grid rows) duration_us, error_pct
    expect(p.rows.every((r) => r[7] === '' && r[8] === '')).toBe(true);
    expect(p.rows.map((r) => [...r.slice(2, 7), ...r.slice(9)])).toEqual(t.rows);
    // predictions grow with batch at fixed context (sanity: the table is not constant)
    const at = (b: number): number => Number(t.rows.find((r) => r[0] === String(b) && r[1] === '4096' && r[2] === '0')![4]);
    expect(at(64)).toBeGreaterThan(at(8));
    expect(at(8)).toBeGreaterThan(at(1));
  });

  it('needs --model/--gpu and a batch list', async () => {
    const r = await runCli(['export', '--fit', rooflineFit, '--to', 'table', '--batch', '1', '--context', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --model and --gpu/);
    const r2 = await runCli(['export', '--fit', rooflineFit, '--to', 'table', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--context', '1']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/'batch' is required/);
  });
});

describe('export --to json', () => {
  it('round trip: predictions from the model JSON equal those from the fit file, byte for byte', async () => {
    const mj = path.join(dir, 'model.json');
    const r = await runCli(['export', '--fit', rooflineFit, '--to', 'json', '--out', mj]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(fs.readFileSync(mj, 'utf8')) as { stepfitModel: number; basis: string; terms: { name: string; coef: number; unit: string; meaning: string }[] };
    expect(doc.stepfitModel).toBe(1);
    expect(doc.basis).toBe('roofline');
    expect(doc.terms.map((t) => t.coef)).toEqual(readFitFile(rooflineFit).terms.map((t) => t.coef));
    expect(doc.terms.every((t) => t.meaning.length > 0 && (t.unit === 'us' || t.unit === 'count'))).toBe(true);
    const a = path.join(dir, 'a.csv');
    const b = path.join(dir, 'b.csv');
    const args = ['--steps', stepsFile, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1'];
    expect((await runCli(['predict', '--fit', rooflineFit, ...args, '--out', a])).code).toBe(0);
    const rb = await runCli(['predict', '--fit', mj, ...args, '--out', b]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(fs.readFileSync(b, 'utf8')).toBe(fs.readFileSync(a, 'utf8'));
  });

  it('refuses a model JSON of another version', async () => {
    const mj = writeJson(path.join(dir, 'model-v9.json'), { stepfitModel: 9, basis: 'roofline' });
    const r = await runCli(['export', '--fit', mj, '--to', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/model-v9\.json: model JSON version 9 is not supported/);
  });
});

describe('export: bad inputs', () => {
  it('unknown basis / basis version / schema version, corrupted fit → one clear line, exit 1, nothing written', async () => {
    const good = JSON.parse(fs.readFileSync(seedFit, 'utf8')) as Record<string, unknown>;
    const files = {
      basis: writeJson(path.join(dir, 'bad-basis.json'), { ...good, basis: 'transformer9000' }),
      bver: writeJson(path.join(dir, 'bad-bver.json'), { ...good, basisVersion: 2 }),
      schema: writeJson(path.join(dir, 'bad-schema.json'), { ...good, stepfitFit: 2 }),
      terms: writeJson(path.join(dir, 'bad-terms.json'), { ...good, terms: (good['terms'] as unknown[]).slice(0, 5) }),
    };
    const corrupt = path.join(dir, 'corrupt.json');
    fs.writeFileSync(corrupt, fs.readFileSync(seedFit, 'utf8').slice(0, 200));
    const cases: [string, RegExp][] = [
      [files.basis, /bad-basis\.json: fit file uses basis 'transformer9000', which this stepfit does not know \(known: .*seed.*\)/],
      [files.bver, /bad-bver\.json: fit file uses basis 'seed' version 2; this stepfit has version 1/],
      [files.schema, /bad-schema\.json: fit file schema version 2 is not supported/],
      [files.terms, /bad-terms\.json: field 'terms': names \[prefill, decode, weight, tp, layers\] do not match basis 'seed'/],
      [corrupt, /corrupt\.json: corrupted fit file, not valid JSON/],
    ];
    for (const to of ['blis', 'json', 'table'] as const) {
      for (const [f, msg] of cases) {
        const out = path.join(dir, `out-${to}.txt`);
        const extra = to === 'table' ? ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--batch', '1', '--context', '1'] : [];
        const r = await runCli(['export', '--fit', f, '--to', to, ...extra, '--out', out]);
        expect(r.code, `${to} ${f}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toMatch(msg);
        expect(r.stderr.trim().split('\n').length).toBe(1);
        expect(fs.existsSync(out)).toBe(false);
      }
    }
  });

  it('an output path that cannot be written → clear error, nothing left behind', async () => {
    const blocker = path.join(dir, 'i-am-a-file');
    fs.writeFileSync(blocker, 'x');
    for (const to of ['blis', 'json', 'table'] as const) {
      const out = path.join(blocker, 'sub', 'x.out');
      const extra = to === 'table' ? ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--batch', '1', '--context', '1'] : [];
      const r = await runCli(['export', '--fit', seedFit, '--to', to, ...extra, '--out', out]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/cannot write output .*x\.out/);
      expect(fs.existsSync(out)).toBe(false);
    }
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('unknown --to is a usage error', async () => {
    const r = await runCli(['export', '--fit', seedFit, '--to', 'vidur']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Allowed choices are blis, table, json/);
  });
});
