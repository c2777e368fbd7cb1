import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { haveShared, SHARED_DATA } from './support/shared.js';
import { FIT_SCHEMA_VERSION } from '../src/fit/fitfile.js';
import { seedBasis } from '../src/basis/seed.js';
import { readEfficiencyFile } from '../src/analytic/efficiency.js';
import { parsePrefill, parseDecode } from '../src/cli/engine.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-engine-'));

describe('stepfit engine step', () => {
  it('prints a per-operator table, and JSON with the same total', async () => {
    const args = ['engine', 'step', '--model', 'llama-3.1-70b', '--gpu', 'h100-sxm', '--tp', '4', '--prefill', '512', '--decode', '16x1024'];
    const t = await runCli(args);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/attn_decode/);
    expect(t.stdout).toMatch(/tp_allreduce/);
    const j = await runCli([...args, '--json']);
    expect(j.code).toBe(0);
    const o = JSON.parse(j.stdout) as { us: number; ops: { us: number }[]; decodeRequests: number };
    expect(o.decodeRequests).toBe(16);
    expect(o.ops.reduce((s, x) => s + x.us, 0)).toBeCloseTo(o.us, 6);
    expect(t.stdout).toContain(`total: ${o.us.toFixed(1)} µs`);
  });
  it('predicts a step file and reports MAPE against duration_us', async () => {
    const d = tmp();
    const steps = path.join(d, 's.jsonl');
    fs.writeFileSync(
      steps,
      [
        { experiment: 'e', step: 0, duration_us: 20000, prefill: [{ tokens: 512, prior: 0 }], decode: [] },
        { experiment: 'e', step: 1, decode: [600, 700] },
      ]
        .map((x) => JSON.stringify(x))
        .join('\n') + '\n',
    );
    const out = path.join(d, 'p.csv');
    const r = await runCli(['engine', 'step', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--steps', steps, '--out', out, '--json']);
    expect(r.code).toBe(0);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('experiment,step,duration_us,engine_us');
    expect(lines).toHaveLength(3);
    const s = JSON.parse(r.stdout) as { steps: number; measured: number; mapePct: number };
    expect(s.steps).toBe(2);
    expect(s.measured).toBe(1);
    const pred = Number(lines[1]!.split(',')[3]);
    expect(s.mapePct).toBeCloseTo((Math.abs(pred - 20000) / 20000) * 100, 3);
  });
  it('bad inputs: one line, non-zero exit', async () => {
    const cases: [string[], number, RegExp][] = [
      [['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '3', '--decode', '4'], 1, /TP 3 does not divide field 'num_attention_heads' \(32\)/],
      [['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--pp', '3', '--decode', '4'], 1, /PP 3 does not divide field 'num_hidden_layers' \(32\)/],
      [['--model', 'mixtral-8x7b', '--gpu', 'h100-sxm', '--tp', '4', '--ep', '3', '--decode', '4'], 1, /EP 3 does not divide the number of experts \(8\)/],
      [['--model', 'llama-3.1-8b', '--gpu', 'a100-sxm-80gb', '--weight-dtype', 'fp8', '--decode', '4'], 1, /has no FP8 tensor cores/],
      [['--model', 'llama-3.1-70b', '--gpu', 'h100-sxm', '--decode', '4'], 1, /does not fit: .*weights 141\.\d+ GB/],
      [['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--prefill', '12x'], 2, /option '--prefill'/],
      [['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'], 2, /give --prefill and\/or --decode/],
      [['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--decode', '4', '--efficiency', '/nonexistent.json'], 1, /efficiency file '\/nonexistent.json' not found/],
    ];
    for (const [args, code, re] of cases) {
      const r = await runCli(['engine', 'step', ...args]);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
  it('with PP: slowest stage, and the bubble (p−1)/(m+p−1) for m micro-batches', async () => {
    const r = await runCli(['engine', 'step', '--model', 'llama-3.1-70b', '--gpu', 'h100-sxm', '--tp', '2', '--pp', '4', '--decode', '32x2000', '--micro-batches', '8', '--json']);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as { us: number; stageUs: number; pipeline: { stages: number; microBatches: number; bubbleFraction: number; flushUs: number } };
    expect(o.pipeline.bubbleFraction).toBeCloseTo(3 / 11, 12);
    expect(o.pipeline.flushUs).toBeCloseTo(11 * o.stageUs, 6);
    expect(o.stageUs).toBeLessThan(o.us / 3);
    expect(o.stageUs).toBeGreaterThan(o.us / 5);
  });
  it('parses --prefill and --decode specs', () => {
    expect(parsePrefill('512,2x128@1024')).toEqual([
      { tokens: 512, prior: 0, prompt: 512 },
      { tokens: 128, prior: 1024, prompt: 1152 },
      { tokens: 128, prior: 1024, prompt: 1152 },
    ]);
    expect(parseDecode('3x10,7')).toEqual([10, 10, 10, 7]);
  });
});

describe('stepfit engine memory / serve / search', () => {
  it('memory: JSON figures; a model that does not fit exits 1 with the numbers', async () => {
    const ok = await runCli(['engine', 'memory', '--model', 'llama-3.1-70b', '--gpu', 'h100-sxm', '--tp', '4', '--json']);
    expect(ok.code).toBe(0);
    const m = JSON.parse(ok.stdout) as { fits: boolean; maxSequences: number; weightBytes: number };
    expect(m.fits).toBe(true);
    expect(m.weightBytes / 1e9).toBeCloseTo(35.3, 0);
    const bad = await runCli(['engine', 'memory', '--model', 'llama-3.1-70b', '--gpu', 'l40s', '--tp', '2']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/does not fit: llama-3.1-70b on l40s at TP 2: weights .* exceed the usable/);
  });
  it('serve: aggregated and disaggregated JSON', async () => {
    const a = await runCli(['engine', 'serve', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--input', '512', '--output', '64', '--concurrency', '8', '--price', '2', '--json']);
    expect(a.code).toBe(0);
    const o = JSON.parse(a.stdout) as { ttftMs: number; tpotMs: number; outputTokensPerS: number; cost: { dollarsPerMTokens: number } };
    expect(o.ttftMs).toBeGreaterThan(0);
    expect(o.tpotMs).toBeGreaterThan(0);
    expect(o.cost.dollarsPerMTokens).toBeCloseTo((2 / 3600 / o.outputTokensPerS) * 1e6, 6);
    const d = await runCli(['engine', 'serve', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--input', '512', '--output', '64', '--disagg', '--decode-instances', '2', '--json']);
    expect(d.code).toBe(0);
    expect((JSON.parse(d.stdout) as { gpus: number; kvHandoffMs: number }).gpus).toBe(3);
    const dp = await runCli(['engine', 'serve', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--input', '512', '--output', '64', '--concurrency', '16', '--dp', '2', '--json']);
    const dpo = JSON.parse(dp.stdout) as { gpus: number; deployment: string };
    expect(dpo.gpus).toBe(2);
    expect(dpo.deployment).toMatch(/DP2/);
    const t = await runCli(['engine', 'serve', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--input', '512', '--output', '64', '--concurrency', '8']);
    expect(t.stdout).toMatch(/TTFT ms/);
  });
  it('search: table with the best layout', async () => {
    const r = await runCli([
      'engine',
      'search',
      '--model',
      'llama-3.1-8b',
      '--gpu',
      'h100-sxm',
      '--gpus',
      '2',
      '--input',
      '512',
      '--output',
      '64',
      '--max-seqs',
      '16',
      '--ttft-ms',
      '1000',
      '--tpot-ms',
      '100',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/best: TP\d PP\d DP\d/);
  });
});

describe('stepfit engine check', () => {
  it('compares a fit file with the engine and writes the grid', async () => {
    const m = { n: 0, mape: 0, medianApe: 0, p90Ape: 0, p99Ape: 0, rmseUs: 0, r2: null, biasPct: 0 };
    const fit = {
      stepfitFit: FIT_SCHEMA_VERSION,
      basis: 'seed',
      basisVersion: seedBasis.version,
      terms: seedBasis.terms.map((t, i) => ({ name: t.name, coef: [1, 1, 1, 1, 0, 0, 0][i]!, se: null, ci95: [null, null], status: 'fitted' })),
      method: { name: 'ols', weight: 'none', options: {} },
      residual: { sigma: 0, scale: 'absolute', dof: 1 },
      covariance: null,
      experiments: [{ id: 'e', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: {}, rows: 10, ranges: { prefillTokens: [0, 1024], decodeRequests: [0, 16], maxContext: 4096 } }],
      metrics: { train: { overall: m, byGroup: {} }, cv: null },
      diagnostics: { rank: 7, conditionNumber: null, notes: [], dropped: [], merged: [] },
      provenance: { stepfitVersion: 'test', createdAt: '2025-01-01T00:00:00Z', commandLine: 'test', inputs: [], gpus: {} },
    };
    const d = tmp();
    const f = path.join(d, 'fit.json');
    fs.writeFileSync(f, JSON.stringify(fit));
    const out = path.join(d, 'grid.csv');
    const r = await runCli(['engine', 'check', '--fit', f, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--threshold', '30', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/grid points; median \|diff\| [\d.]+%; \d+ over 30%; \d+ outside the training ranges/);
    expect(fs.readFileSync(out, 'utf8').split('\n')[0]).toBe('kind,batch,tokens,context,fit_us,engine_us,diff_pct,flagged,extrapolated');
    const j = await runCli(['engine', 'check', '--fit', f, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--json']);
    const o = JSON.parse(j.stdout) as { points: { extrapolated: string[] }[]; extrapolated: number };
    expect(o.extrapolated).toBe(o.points.filter((p) => p.extrapolated.length).length);
    expect(o.extrapolated).toBeGreaterThan(0);
    const bad = await runCli(['engine', 'check', '--fit', path.join(d, 'missing.json'), '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/fit file '.*missing.json' not found/);
  });
});

describe('stepfit engine calibrate', () => {
  it.skipIf(!haveShared('ai-dynamo__aiconfigurator/aic-core/src/aiconfigurator_core/systems/data/a100_sxm'))('writes an efficiency file with sources, commits and held-out errors', async () => {
    const out = path.join(tmp(), 'a100.json');
    const r = await runCli(['engine', 'calibrate', '--gpu', 'a100-sxm-80gb', '--data', SHARED_DATA, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/held-out MAPE %/);
    const f = readEfficiencyFile(out);
    expect(f.sources.map((s) => s.commit)).toEqual(['095f58a51c4ca8e61b66ec108d86f223f8d559ce', '7d47513363ec447a741ac5e47241580b47724fbf']);
    expect(Object.keys(f.ops).sort()).toEqual(['attn_decode.bf16', 'attn_prefill.bf16', 'elementwise', 'gemm.bf16']);
    expect(f.ops['gemm.bf16']!.heldOut.n).toBeGreaterThan(1000);
    // using it as --efficiency gives the same prediction as the committed file
    const a = await runCli(['engine', 'step', '--model', 'llama-3.1-8b', '--gpu', 'a100-sxm-80gb', '--decode', '8x512', '--efficiency', out, '--json']);
    const b = await runCli(['engine', 'step', '--model', 'llama-3.1-8b', '--gpu', 'a100-sxm-80gb', '--decode', '8x512', '--json']);
    expect((JSON.parse(a.stdout) as { us: number }).us).toBeCloseTo((JSON.parse(b.stdout) as { us: number }).us, 9);
  });
  it('a GPU without microbenchmarks or a wrong data root is a clear error', async () => {
    const r = await runCli(['engine', 'calibrate', '--gpu', 'mi300x', '--data', SHARED_DATA, '--out', path.join(tmp(), 'x.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no AIConfigurator system folder is known for GPU 'mi300x'/);
    const r2 = await runCli(['engine', 'calibrate', '--gpu', 'h100-sxm', '--data', tmp(), '--out', path.join(tmp(), 'x.json')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/gemm_perf.csv: file not found/);
  });
});
