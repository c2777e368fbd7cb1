/**
 * Validation (a), continued: calibration is deterministic (re-running it reproduces the committed
 * curves) and the AIConfigurator-calibrated GEMM curves are cross-checked against Vidur's GEMM
 * timings (a different measurement setup, never used for GEMM calibration).
 */
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { haveShared, SHARED_DATA } from './support/shared.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { loadArchitecture } from '../src/model/load.js';
import { readEfficiencyFile, efficiencyFilePath } from '../src/analytic/efficiency.js';
import { apeStats } from '../src/analytic/fitcurve.js';
import { calibrate } from '../src/analytic/calibrate.js';
import { readCsv, vidurFiles, vidurRows, vidurGemmShape } from '../src/analytic/microbench.js';
import { compileEngine } from '../src/analytic/context.js';
import { gemmOpUs } from '../src/analytic/step.js';

const AIC_REL = 'ai-dynamo__aiconfigurator/aic-core/src/aiconfigurator_core/systems/data';

describe('calibration is reproducible and cross-checked', () => {
  const have = haveShared(path.join(AIC_REL, 'a100_sxm'));
  it.skipIf(!have)('re-running calibrate on A100 reproduces the committed curves', () => {
    const gpu = loadGpu('a100-sxm-80gb');
    const { file } = calibrate(gpu, { dataRoot: SHARED_DATA });
    const committed = readEfficiencyFile(efficiencyFilePath('a100-sxm-80gb'));
    expect(file.ops).toEqual(committed.ops);
    expect(file.allreduce).toEqual(committed.allreduce);
    expect(file.sources.map((s) => s.files.map((x) => x.sha256))).toEqual(committed.sources.map((s) => s.files.map((x) => x.sha256)));
  });
  it.skipIf(!haveShared('microsoft__vidur/data/profiling/compute/h100'))('cross-source: AIConfigurator-calibrated GEMM curves vs Vidur GEMM timings (never used for GEMM calibration)', () => {
    const lines: string[] = [];
    for (const [g, v, max] of [
      ['h100-sxm', 'h100', 30],
      ['a100-sxm-80gb', 'a100', 20],
    ] as const) {
      const e = compileEngine({ arch: loadArchitecture('llama-2-7b'), gpu: loadGpu(g), tp: 1 }, { efficiency: 'auto' });
      const pred: number[] = [];
      const meas: number[] = [];
      for (const f of vidurFiles(SHARED_DATA, v)) {
        for (const r of vidurRows(readCsv(f, []))) {
          const s = vidurGemmShape(r);
          if (!s) continue;
          pred.push(gemmOpUs(e, s.m, s.n, s.k));
          meas.push(r.us);
        }
      }
      const st = apeStats(pred, meas);
      const bias = (pred.reduce((a, p, i) => a + (p - meas[i]!) / meas[i]!, 0) / pred.length) * 100;
      lines.push(`${g}: Vidur QKV/O/up/down GEMMs n ${st.n}, MAPE ${st.mape}%, bias ${bias.toFixed(1)}%`);
      expect(st.n).toBeGreaterThan(10000);
      expect(st.mape!).toBeLessThan(max);
    }
    console.log(lines.join('\n'));
  });
});
