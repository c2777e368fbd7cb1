/** Parquet step records and feature tables: exact round trips against JSONL, and clear errors. */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';
import { readAllSteps, writeSteps } from '../src/steps/io.js';
import { stepToJson, type Step } from '../src/steps/step.js';
import { readParquetRows, readStepsParquetRows, StepParquetWriter } from '../src/steps/parquet.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pq-'));
const SAMPLE = path.join(REPO_ROOT, 'data', 'sample', 'steps.jsonl');
const TRACE = path.join(REPO_ROOT, 'data', 'sample', 'traces.jsonl.gz');
const ONE = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'];

describe('Parquet step records', () => {
  it('JSONL → Parquet → JSONL is byte-identical (prompt, unmeasured steps, empty lists, several row groups)', async () => {
    const d = tmp();
    const steps = await readAllSteps(SAMPLE);
    const extra: Step[] = [
      { experiment: 'x,"q"', step: 2 ** 40, prefill: [{ tokens: 7, prior: 3, prompt: 100 }], decode: [] },
      { experiment: '', step: 0, durationUs: 1e-3, prefill: [], decode: [0, 5] },
    ];
    const all = [...steps, ...extra];
    const pq = path.join(d, 's.parquet');
    const w = new StepParquetWriter(pq, 300); // several row groups, the last one partial
    w.add(all);
    w.commit();
    expect(w.count).toBe(all.length);
    const back = await readAllSteps(pq);
    expect(back.length).toBe(all.length);
    expect(back.map(stepToJson).join('\n')).toBe(all.map(stepToJson).join('\n'));
    expect(fs.readdirSync(d)).toEqual(['s.parquet']);
  });

  it('writeSteps picks Parquet by the .parquet extension', async () => {
    const d = tmp();
    const steps = (await readAllSteps(SAMPLE)).slice(0, 50);
    const pq = path.join(d, 'w.parquet');
    expect(await writeSteps(pq, steps)).toBe(50);
    expect((await readAllSteps(pq)).map(stepToJson)).toEqual(steps.map(stepToJson));
    expect(fs.readFileSync(pq).subarray(0, 4).toString()).toBe('PAR1');
  });

  it('reconstruct --out x.parquet holds exactly the steps of --out x.jsonl', async () => {
    const d = tmp();
    const j = path.join(d, 'steps.jsonl');
    const p = path.join(d, 'steps.parquet');
    const args = ['reconstruct', '--format', 'vllm-otlp', '--in', TRACE, '--experiment', 'sample', '--duration', 'duration-us'];
    expect((await runCli([...args, '--out', j])).code).toBe(0);
    const r = await runCli([...args, '--out', p]);
    expect(r.code, r.stderr).toBe(0);
    const fromPq = (await readAllSteps(p)).map(stepToJson).join('\n') + '\n';
    expect(fromPq).toBe(fs.readFileSync(j, 'utf8'));
  }, 60_000);

  it('fit --steps x.parquet gives the same coefficients as the JSONL file', async () => {
    const d = tmp();
    const p = path.join(d, 's.parquet');
    await writeSteps(p, await readAllSteps(SAMPLE));
    const coefs = async (steps: string, basis: string): Promise<number[]> => {
      const r = await runCli(['fit', '--steps', steps, ...ONE, '--basis', basis, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { terms: { coef: number }[] }).terms.map((t) => t.coef);
    };
    for (const basis of ['seed', 'roofline']) {
      const a = await coefs(SAMPLE, basis);
      const b = await coefs(p, basis);
      expect(b.length).toBe(a.length);
      for (let i = 0; i < a.length; i++) expect(Math.abs(b[i]! - a[i]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(a[i]!)));
    }
  }, 60_000);

  it('features --out x.parquet holds the same numbers as the CSV', async () => {
    const d = tmp();
    const csv = path.join(d, 'f.csv');
    const pq = path.join(d, 'f.parquet');
    expect((await runCli(['features', '--steps', SAMPLE, ...ONE, '--out', csv])).code).toBe(0);
    const r = await runCli(['features', '--steps', SAMPLE, ...ONE, '--out', pq]);
    expect(r.code, r.stderr).toBe(0);
    const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
    const header = lines[0]!.split(',');
    const rows = await readParquetRows(pq);
    expect(rows.length).toBe(lines.length - 1);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const asCsv = header.map((h) => (h === 'duration_us' ? String(row[h] ?? '') : String(row[h]))).join(',');
      expect(asCsv).toBe(lines[i + 1]);
    }
  }, 60_000);

  it('a bad row names file, row and field; exit 1; a non-Parquet file is one clear line', async () => {
    const d = tmp();
    const p = path.join(d, 'bad.parquet');
    const w = new StepParquetWriter(p);
    w.add([
      { experiment: 'e', step: 0, durationUs: 5, prefill: [], decode: [3] },
      { experiment: 'e', step: 1, durationUs: -2, prefill: [], decode: [3] },
    ]);
    w.commit();
    await expect(async () => {
      for await (const _ of readStepsParquetRows(p)) {
        /* drain */
      }
    }).rejects.toThrow(/bad\.parquet: row 2: field 'duration_us'/);
    const r = await runCli(['fit', '--steps', p, ...ONE, '--basis', 'seed', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    expect(r.stderr).toMatch(/bad\.parquet: row 2: field 'duration_us': expected a positive/);
    const junk = path.join(d, 'junk.parquet');
    fs.writeFileSync(junk, 'not parquet at all\n');
    const r2 = await runCli(['features', '--steps', junk, ...ONE, '--out', path.join(d, 'o.csv')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr.trim().split('\n').length).toBe(1);
    expect(r2.stderr).toMatch(/junk\.parquet: not a readable Parquet file/);
    expect(fs.existsSync(path.join(d, 'o.csv'))).toBe(false);
  }, 60_000);
});
