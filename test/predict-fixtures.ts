/**
 * Hand-built fit files for predict / report / export tests (no dependency on the fitter):
 * a dense least-squares solve (ml-matrix QR) of a basis over given steps, with the covariance
 * σ²(XᵀWX)⁻¹ the fit file schema describes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Matrix, QrDecomposition, inverse } from 'ml-matrix';
import { FIT_SCHEMA_VERSION, type FitFile } from '../src/fit/fitfile.js';
import { getBasis } from '../src/basis/registry.js';
import type { BasisContext } from '../src/basis/types.js';
import type { Step } from '../src/steps/step.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { syntheticSteps } from '../src/basis/synthetic.js';
import { stepToJson } from '../src/steps/step.js';

export function tmpDir(prefix = 'stepfit-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function ctxOf(model: string, gpu: string, tp: number): BasisContext {
  return { arch: loadArchitecture(model), gpu: loadGpu(gpu), tp };
}

const zeroMetrics = { n: 0, mape: 0, medianApe: 0, p90Ape: 0, p99Ape: 0, rmseUs: 0, r2: null, biasPct: 0 };

/** A fit file with given coefficients (no data): covariance diag(se²) when `se` given. */
export function handFit(
  basisName: string,
  coefs: number[],
  opts: { se?: number[]; sigma?: number; dof?: number; scale?: 'absolute' | 'relative'; experiments?: FitFile['experiments'] } = {},
): FitFile {
  const basis = getBasis(basisName);
  const p = basis.terms.length;
  if (coefs.length !== p) throw new Error(`handFit: ${basisName} has ${p} terms`);
  const se = opts.se;
  const cov = se ? Array.from({ length: p * p }, (_, k) => (Math.floor(k / p) === k % p ? se[k % p]! ** 2 : 0)) : null;
  return {
    stepfitFit: FIT_SCHEMA_VERSION,
    basis: basis.name,
    basisVersion: basis.version,
    terms: basis.terms.map((t, i) => ({
      name: t.name,
      coef: coefs[i]!,
      se: se ? se[i]! : null,
      ci95: se ? [coefs[i]! - 1.96 * se[i]!, coefs[i]! + 1.96 * se[i]!] : [null, null],
      status: 'fitted',
    })),
    method: { name: 'ols', weight: opts.scale === 'relative' ? 'relative' : 'none', options: {} },
    residual: { sigma: opts.sigma ?? 0, scale: opts.scale ?? 'absolute', dof: opts.dof ?? 100 },
    covariance: cov,
    experiments: opts.experiments ?? [],
    metrics: { train: { overall: zeroMetrics, byGroup: {} }, cv: null },
    diagnostics: { rank: p, conditionNumber: null, notes: [], dropped: [], merged: [] },
    provenance: { stepfitVersion: 'test', createdAt: '2025-01-01T00:00:00Z', commandLine: 'handFit', inputs: [], gpus: {} },
  };
}

export interface Dataset {
  ctx: BasisContext;
  steps: Step[];
  id: string;
  model: string;
  gpu: string;
  tp: number;
}

export function synthDataset(model: string, gpu: string, tp: number, n: number, seed: number, noise = 0.03): Dataset {
  const ctx = ctxOf(model, gpu, tp);
  const id = `${model}-${gpu}-tp${tp}`;
  return { ctx, id, model, gpu, tp, steps: [...syntheticSteps(ctx, { steps: n, seed, experiment: id, noise })] };
}

/**
 * Least-squares fit of `basisName` over datasets (weight 'relative' divides each row by y).
 * Terms whose column is all zero are dropped (coef 0, status 'dropped').
 */
export function lsqFit(basisName: string, data: Dataset[], weight: 'none' | 'relative' = 'none'): FitFile {
  const basis = getBasis(basisName);
  const p = basis.terms.length;
  const rows: number[][] = [];
  const ys: number[] = [];
  const exps: FitFile['experiments'] = [];
  for (const d of data) {
    const c = basis.compile(d.ctx);
    const r = new Float64Array(p);
    let pf: [number, number] = [Infinity, -Infinity];
    let dc: [number, number] = [Infinity, -Infinity];
    let mc = 0;
    for (const s of d.steps) {
      c.row(s, r);
      const w = weight === 'relative' ? 1 / s.durationUs! : 1;
      rows.push(Array.from(r, (x) => x * w));
      ys.push(s.durationUs! * w);
      const t = s.prefill.reduce((a, ch) => a + ch.tokens, 0);
      pf = [Math.min(pf[0], t), Math.max(pf[1], t)];
      dc = [Math.min(dc[0], s.decode.length), Math.max(dc[1], s.decode.length)];
      for (const x of s.decode) mc = Math.max(mc, x);
      for (const ch of s.prefill) mc = Math.max(mc, ch.prior + ch.tokens);
    }
    exps.push({ id: d.id, model: d.model, gpu: d.gpu, tp: d.tp, groups: {}, rows: d.steps.length, ranges: { prefillTokens: pf, decodeRequests: dc, maxContext: mc } });
  }
  // identifiable columns: non-zero, and not a constant multiple of an earlier kept column
  const X0 = new Matrix(rows);
  const keep: number[] = [];
  for (let j = 0; j < p; j++) {
    const col = X0.getColumn(j);
    if (col.every((x) => x === 0)) continue;
    const trial = new Matrix(rows.map((r) => [...keep.map((k) => r[k]!), r[j]!]));
    const qr = new QrDecomposition(trial);
    const R = qr.upperTriangularMatrix;
    const diag = Array.from({ length: keep.length + 1 }, (_, i) => Math.abs(R.get(i, i)));
    const scale = Math.max(...diag);
    if (diag[keep.length]! > 1e-9 * scale) keep.push(j);
  }
  const X = new Matrix(rows.map((r) => keep.map((k) => r[k]!)));
  const y = Matrix.columnVector(ys);
  const beta = new QrDecomposition(X).solve(y).getColumn(0);
  const resid = ys.map((yi, i) => yi - keep.reduce((a, k, j) => a + rows[i]![k]! * beta[j]!, 0));
  const dof = ys.length - keep.length;
  const sigma = Math.sqrt(resid.reduce((a, r) => a + r * r, 0) / dof);
  const covK = inverse(X.transpose().mmul(X)).mul(sigma * sigma);
  const coefs = new Array<number>(p).fill(0);
  const se: (number | null)[] = new Array<number | null>(p).fill(null);
  const cov = new Array<number>(p * p).fill(0);
  keep.forEach((k, i) => {
    coefs[k] = beta[i]!;
    se[k] = Math.sqrt(covK.get(i, i));
    keep.forEach((k2, i2) => {
      cov[k * p + k2] = covK.get(i, i2);
    });
  });
  const dropped = basis.terms.filter((_, j) => !keep.includes(j)).map((t) => t.name);
  const fit = handFit(basisName, coefs, { sigma, dof, scale: weight === 'relative' ? 'relative' : 'absolute', experiments: exps });
  fit.terms = basis.terms.map((t, j) => ({
    name: t.name,
    coef: coefs[j]!,
    se: se[j]!,
    ci95: se[j] === null ? [null, null] : [coefs[j]! - 1.96 * se[j]!, coefs[j]! + 1.96 * se[j]!],
    status: keep.includes(j) ? 'fitted' : 'dropped',
  }));
  fit.covariance = cov;
  fit.diagnostics = { rank: keep.length, conditionNumber: null, notes: dropped.map((d) => `${d}: not identifiable in this data, fixed at 0`), dropped, merged: [] };
  return fit;
}

export function writeJson(file: string, v: unknown): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(v, null, 2));
  return file;
}

export function writeStepsFile(file: string, steps: Step[]): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, steps.map(stepToJson).join('\n') + '\n');
  return file;
}

/** Parse a simple CSV (no quoted commas) into header + rows of strings. */
export function readCsv(file: string): { header: string[]; rows: string[][] } {
  const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  return { header: lines[0]!.split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}
