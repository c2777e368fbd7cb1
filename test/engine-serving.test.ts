import { describe, it, expect } from 'vitest';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { compileEngine } from '../src/analytic/context.js';
import { engineStepBreakdown } from '../src/analytic/step.js';
import { serveMetrics, replay } from '../src/analytic/serving.js';
import { costMetrics } from '../src/analytic/cost.js';
import { searchParallelism } from '../src/analytic/search.js';
import { checkFit, checkGrid } from '../src/validate/engine-check.js';
import { FIT_SCHEMA_VERSION, type FitFile } from '../src/fit/fitfile.js';
import { seedBasis } from '../src/basis/seed.js';
import { engineModel } from '../src/analytic/model.js';

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);
const h100 = loadGpu('h100-sxm');
const llama8 = loadArchitecture('llama-3.1-8b');

describe('serving metrics (aggregated)', () => {
  it('one request at a time: TTFT = its prefill step; e2e = TTFT + Σ decode steps at contexts I … I+O−2', () => {
    const e = compileEngine({ arch: llama8, gpu: h100, tp: 1 }, { efficiency: 'default' });
    const I = 700;
    const O = 50;
    const r = replay(e, I, O, 1, 2048);
    const t = (prefill: { tokens: number; prior: number; prompt: number }[], decode: number[]): number => engineStepBreakdown({ experiment: 'x', step: 0, prefill, decode }, e).us / 1e6;
    const ttft = t([{ tokens: I, prior: 0, prompt: I }], []);
    let dec = 0;
    for (let g = 1; g < O; g++) dec += t([], [I + g - 1]);
    expect(rel(r.ttftS, ttft)).toBeLessThan(1e-9);
    expect(rel(r.e2eS, ttft + dec)).toBeLessThan(1e-9);
    expect(rel(r.tpotS, dec / (O - 1))).toBeLessThan(1e-9);
  });
  it('a prompt longer than the chunk budget is prefilled in chunks (TTFT = Σ chunk steps)', () => {
    const e = compileEngine({ arch: llama8, gpu: h100, tp: 1 }, { efficiency: 'default' });
    const r = replay(e, 5000, 4, 1, 2048);
    const t = (tokens: number, prior: number): number => engineStepBreakdown({ experiment: 'x', step: 0, prefill: [{ tokens, prior, prompt: 5000 }], decode: [] }, e).us / 1e6;
    expect(rel(r.ttftS, t(2048, 0) + t(2048, 2048) + t(904, 4096))).toBeLessThan(1e-9);
  });
  it('more concurrency raises throughput and TPOT; the KV cache caps concurrency', () => {
    const ctx = { arch: llama8, gpu: h100, tp: 1 };
    const w = { inputTokens: 1024, outputTokens: 128 };
    const a = serveMetrics(ctx, { efficiency: 'default' }, { ...w, concurrency: 1 });
    const b = serveMetrics(ctx, { efficiency: 'default' }, { ...w, concurrency: 32 });
    expect(b.outputTokensPerS).toBeGreaterThan(5 * a.outputTokensPerS);
    expect(b.tpotMs).toBeGreaterThan(a.tpotMs);
    const big = serveMetrics({ arch: loadArchitecture('llama-3.1-70b'), gpu: h100, tp: 4 }, { efficiency: 'default' }, { inputTokens: 30000, outputTokens: 2000, concurrency: 1000 });
    expect(big.limitedBy).toBe('KV-cache memory');
    expect(big.concurrency).toBe(Math.floor(big.memory.maxKvTokens / 32000));
    const dp = serveMetrics(ctx, { efficiency: 'default', dp: 2 }, { ...w, concurrency: 64 });
    expect(dp.gpus).toBe(2);
    expect(rel(dp.outputTokensPerS, 2 * b.outputTokensPerS)).toBeLessThan(1e-9);
  });
  it("steady state is consistent: tokens/s = requests/s × O, and Little's law λ·e2e = concurrency", () => {
    const ctx = { arch: llama8, gpu: h100, tp: 1 };
    for (const [I, O, C] of [
      [512, 1, 4],
      [512, 64, 16],
      [3000, 200, 48],
    ] as const) {
      const r = serveMetrics(ctx, { efficiency: 'default' }, { inputTokens: I, outputTokens: O, concurrency: C });
      expect(rel(r.outputTokensPerS, r.requestsPerS * O), `${I}/${O}/${C}`).toBeLessThan(0.02);
      expect(rel(r.requestsPerS * r.e2eS, C), `${I}/${O}/${C}`).toBeLessThan(0.05);
    }
  });
  it('open loop: an offered rate beyond capacity is reported', () => {
    const ctx = { arch: llama8, gpu: h100, tp: 1 };
    const ok = serveMetrics(ctx, { efficiency: 'default' }, { inputTokens: 512, outputTokens: 64, ratePerS: 1 });
    expect(ok.keepsUp).toBe(true);
    expect(ok.requestsPerS).toBeCloseTo(1, 1);
    const over = serveMetrics(ctx, { efficiency: 'default' }, { inputTokens: 512, outputTokens: 64, ratePerS: 10 * ok.capacityRequestsPerS });
    expect(over.keepsUp).toBe(false);
  });
  it('a model that cannot fit is a clear error with the numbers', () => {
    expect(() => serveMetrics({ arch: loadArchitecture('llama-3.1-70b'), gpu: h100, tp: 1 }, {}, { inputTokens: 100, outputTokens: 10 })).toThrow(/does not fit: .*weights 141\.\d+ GB/);
  });
});

describe('serving metrics (disaggregated)', () => {
  it('KV handoff = 10 µs + I·L·2·kvH·d_h·2 bytes / (prefill TP · link · 0.7); TPOT = one decode step of the decode pool', () => {
    const arch = loadArchitecture('llama-3.1-70b');
    const r = serveMetrics(
      { arch, gpu: h100, tp: 4 },
      { efficiency: 'default' },
      { inputTokens: 2000, outputTokens: 100, concurrency: 16 },
      { prefillTp: 4, prefillInstances: 1, decodeInstances: 1, kvLinkGBs: 50 },
    );
    const bytes = 2000 * 80 * 2 * 8 * 128 * 2;
    expect(r.kvHandoffMs!).toBeCloseTo((10e-6 + bytes / (4 * 50e9 * 0.7)) * 1e3, 9);
    const e = compileEngine({ arch, gpu: h100, tp: 4 }, { efficiency: 'default' });
    const ctxs = Array.from({ length: 16 }, (_, i) => Math.round(2000 + ((i + 0.5) * 100) / 16));
    expect(r.tpotMs).toBeCloseTo(engineStepBreakdown({ experiment: 'x', step: 0, prefill: [], decode: ctxs }, e).us / 1e3, 9);
    expect(r.gpus).toBe(8);
    // Little's law in the closed loop
    expect(rel(r.requestsPerS * r.e2eS, 16)).toBeLessThan(1e-3);
  });
});

describe('energy and cost (hand-computed)', () => {
  it('P = GPUs·TDP·fraction·PUE; J/token = P/(tokens/s); $/Mtok; gCO₂/Mtok', () => {
    const c = costMetrics({ gpus: 4, outputTokensPerS: 1000 }, h100, { pricePerGpuHour: 2, pue: 1.2, carbonGPerKWh: 400, powerFraction: 0.7 });
    expect(c.facilityPowerW).toBeCloseTo(4 * 700 * 0.7 * 1.2, 9);
    expect(c.joulesPerOutputToken).toBeCloseTo(2.352, 9);
    expect(c.kWhPerMTokens).toBeCloseTo(2.352e6 / 3.6e6, 9);
    expect(c.gCo2PerMTokens).toBeCloseTo((2.352e6 / 3.6e6) * 400, 9);
    expect(c.dollarsPerMTokens!).toBeCloseTo(((4 * 2) / 3600 / 1000) * 1e6, 9);
    expect(costMetrics({ gpus: 1, outputTokensPerS: 1 }, h100, {}).dollarsPerMTokens).toBeNull();
  });
});

describe('parallelism search', () => {
  it('enumerates TP·PP·DP = N, skips what cannot fit, ranks layouts that meet the targets by tokens/s per GPU', () => {
    const w = { inputTokens: 512, outputTokens: 64, maxSeqs: 32 };
    const r = searchParallelism(llama8, h100, 2, { efficiency: 'default' }, w, { ttftMs: 1000, tpotMs: 100 });
    expect(r.candidates.map((c) => c.layout).sort()).toEqual(['TP1 PP1 DP2', 'TP1 PP2 DP1', 'TP2 PP1 DP1']);
    expect(r.best).not.toBeNull();
    const meets = r.candidates.filter((c) => c.meets);
    for (let i = 1; i < meets.length; i++) expect(meets[i]!.outputTokensPerSPerGpu!).toBeLessThanOrEqual(meets[i - 1]!.outputTokensPerSPerGpu!);
    const none = searchParallelism(llama8, h100, 2, { efficiency: 'default' }, w, { tpotMs: 0.01 });
    expect(none.best).toBeNull();
    const seventy = searchParallelism(loadArchitecture('llama-3.1-70b'), h100, 2, { efficiency: 'default' }, w, {});
    expect(seventy.candidates.find((c) => c.layout === 'TP1 PP1 DP2')!.note).toBe('does not fit memory');
  });
});

/** A fit file over the seed basis (built here; no dependency on the fitter). */
function seedFit(coefs: number[], ranges?: { prefillTokens: [number, number]; decodeRequests: [number, number]; maxContext: number }): FitFile {
  const m = { n: 0, mape: 0, medianApe: 0, p90Ape: 0, p99Ape: 0, rmseUs: 0, r2: null, biasPct: 0 };
  return {
    stepfitFit: FIT_SCHEMA_VERSION,
    basis: seedBasis.name,
    basisVersion: seedBasis.version,
    terms: seedBasis.terms.map((t, i) => ({ name: t.name, coef: coefs[i]!, se: null, ci95: [null, null], status: 'fitted' })),
    method: { name: 'ols', weight: 'none', options: {} },
    residual: { sigma: 0, scale: 'absolute', dof: 1 },
    covariance: null,
    experiments: [{ id: 'e', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: {}, rows: 10, ...(ranges ? { ranges } : {}) }],
    metrics: { train: { overall: m, byGroup: {} }, cv: null },
    diagnostics: { rank: 7, conditionNumber: null, notes: [], dropped: [], merged: [] },
    provenance: { stepfitVersion: 'test', createdAt: '2025-01-01T00:00:00Z', commandLine: 'test', inputs: [], gpus: {} },
  };
}

describe('fit vs engine check', () => {
  const ctx = { arch: llama8, gpu: h100, tp: 1 };
  it('diff = (fit − engine)/engine on every grid point; the threshold decides the flags', () => {
    const grid = checkGrid();
    const eng = engineModel(ctx, { efficiency: 'default' });
    const r = checkFit(seedFit([1, 1, 1, 1, 0, 0, 0]), ctx, { efficiency: 'default' }, { thresholdPct: 1e9 });
    expect(r.points.length).toBe(grid.length);
    r.points.forEach((p, i) => {
      expect(p.engineUs).toBeCloseTo(eng.predictUs(grid[i]!.step), 9);
      expect(p.diffPct).toBeCloseTo(((p.fitUs - p.engineUs) / p.engineUs) * 100, 9);
    });
    expect(r.flagged).toBe(0);
    const strict = checkFit(seedFit([1, 1, 1, 1, 0, 0, 0]), ctx, { efficiency: 'default' }, { thresholdPct: 0 });
    expect(strict.flagged).toBe(grid.length);
    // a constant 1e9 µs fit disagrees everywhere
    const absurd = checkFit(seedFit([0, 0, 0, 0, 0, 0, 1e9]), ctx, { efficiency: 'default' }, { thresholdPct: 50 });
    expect(absurd.flagged).toBe(grid.length);
  });
  it('flags extrapolation beyond the training ranges and warns when the fit never saw this context', () => {
    const r = checkFit(seedFit([1, 1, 1, 1, 0, 0, 0], { prefillTokens: [0, 600], decodeRequests: [0, 16], maxContext: 3000 }), ctx, { efficiency: 'default' }, { thresholdPct: 25 });
    const p = (kind: string, batch: number, ctxLen: number) => r.points.find((x) => x.kind === kind && x.batch === batch && x.context === ctxLen)!;
    expect(p('decode', 8, 2048).extrapolated).toEqual([]);
    expect(p('decode', 32, 2048).extrapolated).toEqual(['decode batch']);
    expect(p('decode', 8, 8192).extrapolated).toEqual(['context']);
    expect(r.points.find((x) => x.kind === 'prefill' && x.tokens === 8192)!.extrapolated).toContain('prefill tokens');
    expect(r.warnings).toEqual([]);
    const other = checkFit(seedFit([1, 1, 1, 1, 0, 0, 0]), { arch: loadArchitecture('llama-3.1-70b'), gpu: h100, tp: 4 }, { efficiency: 'default' }, { thresholdPct: 25 });
    expect(other.warnings.join(' ')).toMatch(/no experiment with model 'llama-3.1-70b'/);
    expect(other.warnings.join(' ')).toMatch(/no training ranges/);
  });
});
