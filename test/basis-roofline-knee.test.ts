/**
 * The `serving` basis' all-reduce knee (COMM_KNEE_BYTES) is derived from microbenchmarks that no
 * validation split sees: AIConfigurator's vLLM 0.14 custom all-reduce sweeps (H100 SXM, A100 SXM).
 * Hand values for the n½ estimator; the constant recomputed from the real CSVs.
 */
import { describe, it, expect } from 'vitest';
import { halfPerformanceBytes, eagerKneeBytes, readAllReduceCsv, AIC_ALLREDUCE_CSV, type AllReduceCurve } from '../src/validate/comm-knee.js';
import { COMM_KNEE_BYTES } from '../src/basis/serving.js';
import { haveShared, sharedPath } from './support/shared.js';

const MiB = 2 ** 20;

describe('n½ estimator (hand values)', () => {
  it('t = 10 µs + B / (100 B/µs): floor 10 µs, slope 0.01 µs/B → n½ = 1000 B', () => {
    const bytes = [128, 1024, 4096, 64 * MiB, 128 * MiB, 256 * MiB];
    const us = bytes.map((b) => (b <= 4096 ? 10 : 10 + b / 100));
    expect(halfPerformanceBytes({ bytes, us })).toBeCloseTo(1000, 6);
  });

  it('floor is a median (one outlier ignored); eager knee is the median over eager curves only', () => {
    const big = [64 * MiB, 128 * MiB];
    const mk = (backend: string, floor: number, bw: number): AllReduceCurve => ({
      gpu: 'x',
      backend,
      gpus: 2,
      bytes: [128, 256, 512, ...big],
      us: [floor, floor, 50 * floor, ...big.map((b) => floor + b / bw)],
    });
    expect(halfPerformanceBytes(mk('e', 20, 1e5))).toBeCloseTo(2e6, 3);
    const curves = [mk('vllm_eager', 20, 1e5), mk('vllm_eager', 30, 1e5), mk('vllm_eager', 40, 1e5), mk('vllm_graph', 1, 1e5)];
    expect(eagerKneeBytes(curves)).toBeCloseTo(3e6, 3);
  });

  it('rejects a curve without floor or asymptote sizes', () => {
    expect(() => halfPerformanceBytes({ bytes: [1e6, 2e6], us: [1, 2] })).toThrow(/need sizes/);
  });
});

const have = haveShared(AIC_ALLREDUCE_CSV('h100_sxm')) && haveShared(AIC_ALLREDUCE_CSV('a100_sxm'));

describe.runIf(have)('COMM_KNEE_BYTES from the real all-reduce microbenchmarks', () => {
  it('equals the median eager-mode n½ of H100 + A100 at 2/4/8 GPUs (2.63 MiB, within 0.005 MiB)', () => {
    const curves = ['h100_sxm', 'a100_sxm'].flatMap((g) => readAllReduceCsv(sharedPath(AIC_ALLREDUCE_CSV(g)), g));
    expect(
      curves
        .filter((c) => c.backend === 'vllm_eager')
        .map((c) => c.gpus)
        .sort(),
    ).toEqual([2, 2, 4, 4, 8, 8]);
    const each = curves.filter((c) => c.backend === 'vllm_eager').map((c) => halfPerformanceBytes(c) / MiB);
    for (const v of each) expect(v).toBeGreaterThan(1.5), expect(v).toBeLessThan(4);
    expect(Math.abs(eagerKneeBytes(curves) - COMM_KNEE_BYTES) / MiB).toBeLessThan(0.005);
  });
});
