/**
 * predict reports accuracy only for measured steps of the model/GPU/TP it predicts for (a what-if gets
 * "no accuracy: …"), and '-' is standard input / output across commands (data on stdout, lines on stderr).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { main } from '../src/cli/main.js';
import { memoryIO } from '../src/cli/io.js';
import { tmpDir, handFit, synthDataset, writeJson, writeStepsFile, readCsv } from './predict-fixtures.js';
import { PREDICT_COLUMNS } from '../src/predict/csv.js';
import { stepToJson, type Step } from '../src/steps/step.js';
import { extensionFor } from '../src/cli/stdio.js';

const SEED_COEFS = [1.3, 1.6, 1.2, 0.8, 11, 4.5, 150];

/** Run the CLI in-process with `input` on standard input; `data` is what went to standard output as data. */
async function run(args: string[], input?: string): Promise<{ code: number; out: string; err: string; data: string }> {
  const io = memoryIO(input);
  const code = await main(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n'), data: io.data.join('') };
}

const parseCsv = (text: string): string[][] =>
  text
    .trim()
    .split('\n')
    .map((l) => l.split(','));

describe('predict: accuracy only for the same model/GPU/TP', () => {
  let dir: string;
  let fitPath: string;
  let stepsPath: string;
  let steps: Step[];
  beforeAll(() => {
    dir = tmpDir();
    // the steps' experiment id is the one the fit names, with its model/GPU/TP
    const ds = synthDataset('llama-3.1-8b', 'h100-sxm', 1, 50, 7);
    steps = ds.steps;
    stepsPath = writeStepsFile(path.join(dir, 'steps.jsonl'), steps);
    fitPath = writeJson(
      path.join(dir, 'fit.json'),
      handFit('seed', SEED_COEFS, { sigma: 200, dof: 500, experiments: [{ id: ds.id, model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: {}, rows: 50 }] }),
    );
  });

  it('same context: MAPE over the measured steps, error_pct in every row', async () => {
    const out = path.join(dir, 'same.csv');
    const r = await run(['predict', '--fit', fitPath, '--steps', stepsPath, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/; MAPE [\d.]+% over 50 measured steps, [\d.]+% inside the 95% interval/);
    expect(r.err).not.toMatch(/no accuracy|assumed/);
    expect(readCsv(out).rows.every((row) => row[8] !== '')).toBe(true);
  });

  it('what-if (another model, GPU and TP): "no accuracy", durations kept, error_pct empty', async () => {
    const out = path.join(dir, 'whatif.csv');
    const r = await run(['predict', '--fit', fitPath, '--steps', stepsPath, '--model', 'llama-3.1-70b', '--gpu', 'h200', '--tp', '4', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/no accuracy: measured steps are from llama-3\.1-8b \/ h100-sxm \/ TP 1, prediction is for llama-3\.1-70b \/ h200 \/ TP 4/);
    expect(r.err).not.toMatch(/MAPE/);
    const { rows } = readCsv(out);
    expect(rows).toHaveLength(50);
    for (const [i, row] of rows.entries()) {
      expect(Number(row[7])).toBeCloseTo(steps[i]!.durationUs!, 3);
      expect(row[8]).toBe('');
    }
  });

  it('only the TP differs: still no accuracy', async () => {
    const r = await run(['predict', '--fit', fitPath, '--steps', stepsPath, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '2', '--out', path.join(dir, 'tp2.csv')]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/no accuracy: measured steps are from llama-3\.1-8b \/ h100-sxm \/ TP 1, prediction is for llama-3\.1-8b \/ h100-sxm \/ TP 2/);
  });

  it('steps of an experiment the fit does not name: the error is given with the assumption spelled out', async () => {
    const other = writeStepsFile(
      path.join(dir, 'other.jsonl'),
      steps.slice(0, 10).map((s) => ({ ...s, experiment: 'elsewhere' })),
    );
    const r = await run(['predict', '--fit', fitPath, '--steps', other, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', path.join(dir, 'o.csv')]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /MAPE [\d.]+% over 10 measured steps, [\d.]+% inside the 95% interval of 'elsewhere', which the fit file does not name: assumed measured on llama-3\.1-8b \/ h100-sxm \/ TP 1/,
    );
  });

  it("'-': steps from standard input, CSV to standard output, the summary on standard error", async () => {
    const text = `${steps.map(stepToJson).join('\n')}\n`;
    const r = await run(['predict', '--fit', fitPath, '--steps', '-', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', '-'], text);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('');
    const rows = parseCsv(r.data);
    expect(rows[0]).toEqual([...PREDICT_COLUMNS]);
    expect(rows).toHaveLength(51);
    expect(r.err).toMatch(/predict: 50 steps → standard output .*MAPE [\d.]+% over 50 measured steps/);
    // the same bytes as a file output
    const file = path.join(dir, 'same2.csv');
    await run(['predict', '--fit', fitPath, '--steps', stepsPath, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', file]);
    expect(r.data).toBe(fs.readFileSync(file, 'utf8'));
  });

  it("a bad line on standard input is named '<stdin>:N'; empty input is refused", async () => {
    const r = await run(['predict', '--fit', fitPath, '--steps', '-', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', path.join(dir, 'bad.csv')], `${stepToJson(steps[0]!)}\n{"step": 1}\n`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^stepfit: error: <stdin>:2: /m);
    expect(r.err).not.toMatch(/stepfit-stdin-/);
    expect(fs.existsSync(path.join(dir, 'bad.csv'))).toBe(false);
    const e = await run(['predict', '--fit', fitPath, '--steps', '-', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', path.join(dir, 'bad.csv')], '');
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/<stdin>: standard input is empty/);
  });

  it("'-' rules: one input and one output at most, never a folder output or a manifest", async () => {
    const two = await run(['fit', '--steps', '-', '--targets', '-', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'], '');
    expect(two.code).toBe(2);
    expect(two.err).toMatch(/--steps and --targets are both '-'/);
    const dirOut = await run(['report', '--fit', fitPath, '--out', '-']);
    expect(dirOut.code).toBe(2);
    expect(dirOut.err).toMatch(/--out is a folder for this command: '-' \(standard output\) cannot be one/);
    const man = await run(['fit', '--manifest', '-'], 'experiments: []\n');
    expect(man.code).toBe(2);
    expect(man.err).toMatch(/--manifest cannot be '-' \(standard input\): its paths are relative to its folder/);
  });
});

describe("'-' in other commands", () => {
  let dir: string;
  let fitPath: string;
  beforeAll(() => {
    dir = tmpDir();
    fitPath = writeJson(
      path.join(dir, 'fit.json'),
      handFit('seed', SEED_COEFS, { sigma: 200, dof: 500, experiments: [{ id: 'e', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: {}, rows: 50 }] }),
    );
  });

  it('features --steps - --out -: the CSV on standard output, the same as a file', async () => {
    const steps = synthDataset('llama-3.1-8b', 'h100-sxm', 1, 20, 3).steps;
    const text = `${steps.map(stepToJson).join('\n')}\n`;
    const r = await run(['features', '--steps', '-', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', '-'], text);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('');
    const file = path.join(dir, 'f.csv');
    const f = await run(['features', '--steps', writeStepsFile(path.join(dir, 's.jsonl'), steps), '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--out', file]);
    expect(f.code, f.err).toBe(0);
    expect(r.data).toBe(fs.readFileSync(file, 'utf8'));
  });

  it('export --to blis --out -: the YAML on standard output, the BLIS command line on standard error', async () => {
    const r = await run(['export', '--fit', fitPath, '--to', 'blis', '--out', '-']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('');
    expect(r.data).toMatch(/^trained_physics_coefficients:/m);
    expect(r.err).toMatch(/^--latency-model trained-physics .*--beta-coeffs /m);
  });

  it('export --fit - reads the fit from standard input (fit … --json | export --fit -)', async () => {
    const r = await run(['export', '--fit', '-', '--to', 'json'], fs.readFileSync(fitPath, 'utf8'));
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ basis: 'seed' });
  });

  it('standard input is recognised by content: Parquet, gzip, JSON Lines, a JSON document, CSV, YAML', () => {
    const b = (s: string): Buffer => Buffer.from(s);
    expect(extensionFor(Buffer.from('PAR1\x15\x04', 'latin1'))).toBe('.parquet');
    expect(extensionFor(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('.jsonl.gz');
    expect(extensionFor(b('{"experiment":"e","step":0,"prefill":[],"decode":[5]}\n{"experiment"'))).toBe('.jsonl');
    expect(extensionFor(b('{\n  "stepfitFit": 1,\n'))).toBe('.json');
    expect(extensionFor(b('model,gpu,tp,isl,osl,concurrency\nqwen3-32b,h100-sxm,2,1024,128,8\n'))).toBe('.csv');
    expect(extensionFor(b('kind: poisson\nrequests: 20\n'))).toBe('.yaml');
  });

  it('simulate --workload - takes a YAML spec from standard input', async () => {
    const r = await run(
      ['simulate', '--engine', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--workload', '-', '--out', path.join(dir, 'sim')],
      'kind: poisson\nrequests: 10\nrate: 5\ninput: 128\noutput: 8\n',
    );
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'sim', 'summary.json'), 'utf8'))).toMatchObject({ requests: 10, finished: 10 });
  });

  it('sample --out -: step records on standard output', async () => {
    const r = await run(['sample', '--num-steps', '5', '--out', '-']);
    expect(r.code, r.err).toBe(0);
    const lines = r.data.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[0]!)).toHaveProperty('duration_us');
  });
});
