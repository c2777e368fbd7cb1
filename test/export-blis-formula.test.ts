/**
 * The BLIS export checked against BLIS itself, as read in its source (inference-sim/inference-sim at
 * commit f90a1e3a): a port, written here from the Go source, of TrainedPhysicsModel.StepTime for a
 * dense model with 7 betas (sim/latency/trained_physics_model.go), BLIS's argument checks for
 * --alpha-coeffs / --beta-coeffs (cmd/root.go) and NewTrainedPhysicsModel's counts; and the α fit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blisExport } from '../src/export/blis.js';
import { makePredictor } from '../src/predict/predict.js';
import { resolveContext } from '../src/predict/context.js';
import { getBasis } from '../src/basis/registry.js';
import { fitAlpha } from '../src/fit/alpha.js';
import { makeRng } from '../src/util/rng.js';
import type { Step } from '../src/steps/step.js';
import { handFit, tmpDir, writeJson } from './predict-fixtures.js';
import { runCli } from './support/cli.js';

/** BLIS's H100 entry of hardware_config.json. */
const BLIS_H100 = { TFlopsPeak: 989.5, BwPeakTBs: 3.35 };

interface DenseModel {
  L: number;
  d: number;
  heads: number;
  kvHeads: number;
  dFF: number;
  tp: number;
  bpp: number;
}

/** Port of TrainedPhysicsModel.StepTime (dense, 7 betas: β₈ = 0, no prefill/decode split, β_EP unused at DP 1). */
function blisStepTime(m: DenseModel, hw: typeof BLIS_H100, beta: number[], step: Step): number {
  const batchSize = step.prefill.length + step.decode.length;
  if (batchSize === 0) return 1;
  const L = m.L,
    d = m.d,
    tp = m.tp,
    dH = Math.floor(m.d / m.heads),
    dKV = m.kvHeads * dH,
    hPerGPU = m.heads / tp;
  const flopsPeakUs = hw.TFlopsPeak * 1e6,
    bwHbmUs = hw.BwPeakTBs * 1e6;
  let pfTok = 0,
    dcTok = 0,
    sumCtx = 0,
    pfAttn = 0;
  for (const c of step.prefill) {
    pfTok += c.tokens;
    pfAttn += 4 * hPerGPU * c.tokens * (c.prompt + c.tokens / 2) * dH;
  }
  for (const ctx of step.decode) {
    dcTok++;
    sumCtx += ctx;
  }
  let tPfCompute = 0,
    tPfKv = 0,
    tDcCompute = 0,
    tDcKv = 0;
  if (pfTok > 0) {
    tPfCompute = ((L * 2 * pfTok * d * (2 * d + 2 * dKV)) / tp + L * pfAttn + (L * pfTok * 6 * d * m.dFF) / tp) / flopsPeakUs;
    tPfKv = (L * 2 * (dKV / tp) * pfTok * 2) / bwHbmUs;
  }
  if (dcTok > 0) {
    tDcCompute = ((L * 2 * dcTok * d * (2 * d + 2 * dKV)) / tp + L * 4 * hPerGPU * sumCtx * dH + (L * dcTok * 6 * d * m.dFF) / tp) / flopsPeakUs;
    tDcKv = (L * 2 * (dKV / tp) * 2 * (sumCtx + dcTok)) / bwHbmUs;
  }
  const tWeight = ((L * d * (2 * d + 2 * dKV) * m.bpp) / tp + (L * 3 * d * m.dFF * m.bpp) / tp) / bwHbmUs;
  const tTp = 0; // TP 1
  const t = beta[0]! * Math.max(tPfCompute, tPfKv) + beta[1]! * Math.max(tDcCompute, tDcKv) + beta[2]! * tWeight + beta[3]! * tTp + beta[4]! * L + beta[5]! * batchSize + beta[6]!;
  return t;
}

/** BLIS's checks on the printed command line (cmd/root.go and NewTrainedPhysicsModel), as a list of failures. */
function blisArgChecks(flags: string, hardwareKeys: string[]): string[] {
  const errs: string[] = [];
  const get = (k: string): string | undefined => new RegExp(`--${k} (\\S+)`).exec(flags)?.[1];
  const alpha = get('alpha-coeffs'),
    beta = get('beta-coeffs');
  if ((alpha === undefined) !== (beta === undefined)) errs.push('--alpha-coeffs and --beta-coeffs must be given together');
  const nums = (s: string | undefined) => (s ?? '').split(',').map(Number);
  for (const [n, xs] of [
    ['alpha', nums(alpha)],
    ['beta', nums(beta)],
  ] as const)
    xs.forEach((x, i) => {
      if (!Number.isFinite(x) || x < 0) errs.push(`--${n}-coeffs[${i}] must be a finite non-negative number`);
    });
  if (nums(alpha).length < 3) errs.push('AlphaCoeffs requires at least 3 elements');
  if (nums(beta).length < 7) errs.push('BetaCoeffs requires at least 7 elements');
  const lm = get('latency-model');
  if (!['roofline', 'blackbox', 'crossmodel', 'trained-roofline', 'trained-physics'].includes(lm ?? '')) errs.push(`unknown --latency-model ${lm}`);
  const hw = get('hardware');
  if (hw !== undefined && !hardwareKeys.includes(hw)) errs.push(`hardware ${hw} not in hardware_config.json`);
  if (!get('model')) errs.push('--model missing');
  if (!(Number(get('tp')) > 0)) errs.push('--tp must be > 0');
  return errs;
}

function steps(n: number): Step[] {
  const rng = makeRng(3);
  return Array.from({ length: n }, (_, i) => {
    const np = rng.int(0, 2),
      nd = rng.int(np === 0 ? 1 : 0, 64);
    return {
      experiment: 'x',
      step: i + 1,
      prefill: Array.from({ length: np }, () => {
        const prompt = rng.int(16, 8000);
        const tokens = rng.int(1, Math.min(prompt, 2048));
        return { tokens, prior: Math.max(0, prompt - tokens - rng.int(0, 100)), prompt };
      }),
      decode: Array.from({ length: nd }, () => rng.int(1, 16000)),
    };
  });
}

describe("export --to blis against BLIS's own step-time formula and argument checks", () => {
  it('seed-fit predictions and the ported BLIS formula on the exported coefficients agree to 1 µs (Llama-3.1-8B, H100, TP 1)', () => {
    const betas = [1.12, 1.31, 1.18, 0.5, 21.5, 3.7, 142];
    const fit = handFit('seed', betas, { experiments: [{ id: 'x', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: {}, rows: 0 }] });
    const ex = blisExport(fit, 'x.json');
    const { ctx } = resolveContext('llama-3.1-8b', 'h100-sxm', 1);
    const pr = makePredictor({ fit, basis: getBasis('seed'), path: 'x.json' } as Parameters<typeof makePredictor>[0], ctx);
    const a = ctx.arch;
    const m: DenseModel = { L: a.numLayers, d: a.hiddenSize, heads: a.numHeads, kvHeads: a.numKvHeads, dFF: a.intermediateSize, tp: 1, bpp: 2 };
    let worst = 0;
    for (const s of steps(400)) worst = Math.max(worst, Math.abs(pr.predict(s).predictedUs - blisStepTime(m, BLIS_H100, ex.betaCoeffs, s)));
    console.log(`BLIS port vs stepfit seed prediction: max |Δ| ${worst.toExponential(2)} µs over 400 steps`);
    expect(worst).toBeLessThan(1);
    expect(blisArgChecks(ex.flags, ['H100', 'A100-SXM', 'A100-80', 'L40S'])).toEqual([]);
  });

  it("α fitted from request data are exported as alpha_coeffs and pass BLIS's checks; a GPU BLIS lacks is named", async () => {
    const rng = makeRng(7);
    const rows = Array.from({ length: 400 }, () => {
      const n = rng.int(1, 500);
      return { apiUs: 1500 + 200 * (rng.next() - 0.5), postUs: 700 + 40 * n + 100 * (rng.next() - 0.5), outputTokens: n };
    });
    const a = fitAlpha(rows, 'synthetic');
    const [a0, a1, a2] = a.terms;
    for (const [t, truth] of [
      [a0!, 1500],
      [a1!, 700],
      [a2!, 40],
    ] as const) {
      expect(t.ci95[0]!).toBeLessThan(truth);
      expect(t.ci95[1]!).toBeGreaterThan(truth);
    }
    const dir = tmpDir('stepfit-blis-alpha-');
    const fit = { ...handFit('seed', [1, 1, 1, 0, 20, 4, 150], { experiments: [{ id: 'x', model: 'llama-3.1-8b', gpu: 'h200', tp: 1, groups: {}, rows: 0 }] }), alpha: a };
    const f = writeJson(path.join(dir, 'f.json'), fit);
    const r = await runCli(['export', '--fit', f, '--to', 'blis', '--out', path.join(dir, 'b.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`--alpha-coeffs ${a0!.coef},${a1!.coef},${a2!.coef}`);
    expect(r.stderr).toMatch(/GPU 'h200' is not in BLIS's hardware list/);
    expect(fs.readFileSync(path.join(dir, 'b.yaml'), 'utf8')).toMatch(/alpha_coeffs: \[/);
    expect(blisArgChecks(r.stdout, ['H100', 'A100-SXM', 'A100-80', 'L40S'])).toEqual([]);
  });
});

describe('α data from files', () => {
  it('request labels with API events give α₀ = queue − arrival and α₁ + α₂·n = departure − last token; labels without API events give none', async () => {
    const { alphaFromFile } = await import('../src/fit/alpha-data.js');
    const dir = tmpDir('stepfit-alpha-');
    const rng = makeRng(9);
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      const n = rng.int(2, 400),
        q = rng.int(0, 5000),
        pf = rng.int(1000, 90000),
        dc = rng.int(5000, 900000);
      const api = 2000 + 100 * (rng.next() - 0.5),
        post = 500 + 30 * n + 50 * (rng.next() - 0.5);
      lines.push(
        JSON.stringify({
          experiment: 'e',
          request: `r${i}`,
          prompt_tokens: 100,
          output_tokens: n,
          preemptions: 0,
          finished: true,
          queueing_us: q,
          ttft_us: api + q + pf,
          prefill_us: pf,
          decode_us: dc,
          e2e_us: api + q + pf + dc + post,
          prefill_gap_us: 0,
          decode_gap_us: 0,
        }),
      );
    }
    const f = path.join(dir, 'labels.jsonl');
    fs.writeFileSync(f, lines.join('\n') + '\n');
    const a = await alphaFromFile(f);
    expect(a.n).toEqual({ api: 300, post: 300 });
    expect(a.terms[0]!.coef).toBeCloseTo(2000, -1);
    expect(a.terms[1]!.coef).toBeCloseTo(500, -1);
    expect(a.terms[2]!.coef).toBeCloseTo(30, 0);
    const none = path.join(dir, 'none.jsonl');
    fs.writeFileSync(
      none,
      JSON.stringify({
        experiment: 'e',
        request: 'r',
        prompt_tokens: 1,
        output_tokens: 3,
        preemptions: 0,
        finished: true,
        queueing_us: 5,
        ttft_us: 15,
        prefill_us: 10,
        decode_us: 20,
        e2e_us: 35,
        prefill_gap_us: 0,
        decode_gap_us: 0,
      }) + '\n',
    );
    const b = await alphaFromFile(none);
    expect(b.terms.map((t) => t.status)).toEqual(['not-in-data', 'not-in-data', 'not-in-data']);
  });
});
