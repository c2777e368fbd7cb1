/**
 * Shape-aware GEMM tables (analytic/gemm-table.ts): hand values of the interpolation, the grid rule,
 * the fill of missing cells, the committed H100 tables' held-out errors against the 1-D curve, and
 * that version-1 efficiency files (no tables) are still read and give the 1-D curve's times.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGemmTable, gemmTableUs, onGrid, type GemmSample } from '../src/analytic/gemm-table.js';
import { efficiencyFilePath, readEfficiencyFile, tablesFromFile } from '../src/analytic/efficiency.js';
import { compileEngine } from '../src/analytic/context.js';
import { gemmOpUs } from '../src/analytic/step.js';
import { resolveDeployment } from '../src/model/context.js';
import { loadGpu } from '../src/hardware/gpu.js';

describe('GEMM table interpolation', () => {
  const tb = { m: [1, 4], n: [64, 256], k: [32, 128], us: [10, 20, 30, 40, 50, 60, 70, 80] };
  it('returns the measured times on grid points and log-interpolates between them', () => {
    expect(gemmTableUs(tb, 1, 64, 32)).toBeCloseTo(10, 12);
    expect(gemmTableUs(tb, 4, 256, 128)).toBeCloseTo(80, 12);
    expect(gemmTableUs(tb, 1, 64, 128)).toBeCloseTo(20, 12);
    // m = 2 is halfway between 1 and 4 in log space: geometric mean of 10 and 50
    expect(gemmTableUs(tb, 2, 64, 32)).toBeCloseTo(Math.sqrt(10 * 50), 12);
    // centre of the cube: geometric mean of all eight corners
    const g = Math.exp(tb.us.reduce((s, v) => s + Math.log(v), 0) / 8);
    expect(gemmTableUs(tb, 2, 128, 64)).toBeCloseTo(g, 10);
  });
  it('holds the efficiency above the grid (time ∝ size) and the time below it', () => {
    expect(gemmTableUs(tb, 8, 256, 128)).toBeCloseTo(160, 10);
    expect(gemmTableUs(tb, 4, 1024, 512)).toBeCloseTo(80 * 4 * 4, 8);
    expect(gemmTableUs(tb, 4, 16, 8)).toBeCloseTo(50, 12);
  });
});

describe('building a table', () => {
  it('keeps sizes 2^j and 3·2^j (and the largest) on the grid', () => {
    expect([1, 2, 3, 4, 6, 8, 12, 48, 96, 3072].every(onGrid)).toBe(true);
    expect([5, 10, 80, 160, 2560, 3584, 5120, 7168, 10240, 0, 1.5].some(onGrid)).toBe(false);
  });
  it('fills a missing corner at equal efficiency and keeps the measured times as they are', () => {
    const s: GemmSample[] = [];
    for (const m of [1, 2, 4])
      for (const n of [32, 64])
        for (const k of [32, 64]) {
          if (n === 64 && k === 64 && m === 1) continue; // missing
          let us = 5 * m * (n / 32) * (k / 32);
          if (m === 2 && n === 32 && k === 32) us = 1000; // a slow measurement stays: it is what the kernel did
          s.push({ m, n, k, us });
        }
    s.push({ m: 5, n: 32, k: 32, us: 1 }); // off the grid (5 ≠ 2^j, 3·2^j, not the largest m): not in the table
    s.push({ m: 8, n: 32, k: 32, us: 40 });
    const tb = buildGemmTable(s)!;
    expect(tb.m).toEqual([1, 2, 4, 8]);
    // the missing (1, 64, 64) takes the efficiency of (1, 64, 32): 10 µs × 2
    expect(gemmTableUs(tb, 1, 64, 64)).toBeCloseTo(20, 12);
    expect(gemmTableUs(tb, 2, 32, 32)).toBeCloseTo(1000, 9);
  });
});

describe('committed tables', () => {
  it('H100: the off-grid (held-out) shapes are predicted far better than by the 1-D curve', () => {
    const f = readEfficiencyFile(efficiencyFilePath('h100-sxm'));
    expect(f.stepfitEfficiency).toBe(2);
    for (const dt of ['bf16', 'fp8', 'fp8_block']) {
      const g = f.gemmShapes![dt]!;
      expect(g.heldOut.n).toBeGreaterThan(3000);
      expect(g.heldOut.mape!).toBeLessThan(6);
      expect(g.heldOut.mape!).toBeLessThan(g.heldOutCurve.mape! / 2);
    }
  });
  it('a version-1 file (no tables) is still read and uses the 1-D curve; gemmModel curve does the same', () => {
    const f = readEfficiencyFile(efficiencyFilePath('h100-sxm'));
    const { gemmShapes: _drop, ...rest } = f;
    const v1 = { ...rest, stepfitEfficiency: 1 };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-eff-')), 'v1.json');
    fs.writeFileSync(file, JSON.stringify(v1));
    const { arch, gpu } = resolveDeployment({ model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, check: false });
    const old = compileEngine({ arch, gpu, tp: 1 }, { efficiency: file });
    expect(old.gemmTable).toBeNull();
    const curve = compileEngine({ arch, gpu, tp: 1 }, { efficiency: 'auto', gemmModel: 'curve' });
    const table = compileEngine({ arch, gpu, tp: 1 }, { efficiency: 'auto' });
    expect(table.gemmTable).not.toBeNull();
    expect(gemmOpUs(old, 512, 4096, 4096)).toBe(gemmOpUs(curve, 512, 4096, 4096));
    // the table reproduces a measured grid point of the BF16 table to its 4 significant digits
    const t = tablesFromFile(f, loadGpu('h100-sxm'), 'x').gemm!.bf16!;
    const i = (t.m.indexOf(512) * t.n.length + t.n.indexOf(4096)) * t.k.length + t.k.indexOf(4096);
    expect(gemmOpUs(table, 512, 4096, 4096)).toBeCloseTo(t.us[i]!, 9);
  });
});

describe('FP8 GEMMs and their BF16 twin', () => {
  it('an FP8 GEMM (m, n, k) takes at most the BF16 table time of (m, n, k/2), and the FP8 table time when that is lower', () => {
    const { arch, gpu } = resolveDeployment({ model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, check: false });
    const e = compileEngine({ arch, gpu, tp: 1 }, { efficiency: 'auto', weightDtype: 'fp8' });
    const t = e.tables.gemm!;
    expect(e.gemmTable).toBe(t.fp8);
    expect(e.gemmBound).toBe(t.bf16);
    let bounded = 0;
    for (const [m, n, k] of [
      [4, 2560, 8192],
      [8192, 2560, 8192],
      [8192, 16384, 8192],
      [64, 14336, 4096],
    ] as const) {
      const fp8 = gemmTableUs(t.fp8!, m, n, k);
      const twin = gemmTableUs(t.bf16!, m, n, k / 2);
      expect(gemmOpUs(e, m, n, k)).toBeCloseTo(Math.min(fp8, twin), 9);
      if (twin < fp8) bounded++;
    }
    expect(bounded).toBeGreaterThan(0);
    // the 1-D curve mode has neither table nor bound
    const c = compileEngine({ arch, gpu, tp: 1 }, { efficiency: 'auto', weightDtype: 'fp8', gemmModel: 'curve' });
    expect(c.gemmTable).toBeNull();
    expect(c.gemmBound).toBeNull();
  });
});
