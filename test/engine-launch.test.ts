/**
 * Eager execution (no CUDA graphs): every kernel lasts at least the host launch time,
 * t = max(t_roofline, launchUs) per call; the default launch time is half the gap between vLLM's
 * eager and CUDA-graph custom all-reduce latency floors at 2 GPUs in the GPU's calibrated tables.
 */
import { describe, it, expect } from 'vitest';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { compileEngine, defaultLaunchUs } from '../src/analytic/context.js';
import { engineStepBreakdown } from '../src/analytic/step.js';
import { DEFAULTS, loadEfficiency } from '../src/analytic/efficiency.js';

const step = (bs: number) => ({ experiment: 'x', step: 0, prefill: [], decode: new Array<number>(bs).fill(512) });

describe('eager execution: kernel launch floor', () => {
  const arch = loadArchitecture('llama-3.1-8b');
  const h100 = loadGpu('h100-sxm');
  it('default launch time = (eager − graph all-reduce floor at 2 GPUs) / 2; uncalibrated (20 − 6)/2 = 7 µs', () => {
    const t = loadEfficiency(h100, 'auto');
    expect(defaultLaunchUs(t)).toBeCloseTo((t.allreduce.eager['2']!.latencyUs - t.allreduce.graph['2']!.latencyUs) / 2, 12);
    expect(defaultLaunchUs(t)).toBeGreaterThan(5);
    expect(defaultLaunchUs(t)).toBeLessThan(10);
    expect(defaultLaunchUs(loadEfficiency(loadGpu('a100-sxm-80gb'), 'auto'))).toBeGreaterThan(15);
    expect(defaultLaunchUs(loadEfficiency(h100, 'default'))).toBe((DEFAULTS.allreduce.eagerLatencyUs - DEFAULTS.allreduce.graphLatencyUs) / 2);
  });
  it('hand-computed: each kernel call becomes max(graph time, launchUs); graph mode is unchanged', () => {
    const g = compileEngine({ arch, gpu: h100, tp: 1 }, { efficiency: 'default' });
    const e = compileEngine({ arch, gpu: h100, tp: 1 }, { efficiency: 'default', execution: 'eager', launchUs: 30 });
    const bg = engineStepBreakdown(step(1), g);
    const be = engineStepBreakdown(step(1), e);
    let want = 0;
    for (const o of bg.ops) want += Math.max(o.us / o.calls, 30) * o.calls; // TP1: no collectives
    expect(be.us).toBeCloseTo(want, 6);
    expect(be.us).toBeGreaterThan(bg.us);
    // a launch time of 0 is the graph-mode step
    expect(engineStepBreakdown(step(1), compileEngine({ arch, gpu: h100, tp: 1 }, { efficiency: 'default', execution: 'eager', launchUs: 0 })).us).toBeCloseTo(bg.us, 9);
  });
  it('eager execution flattens decode steps in batch size (launch-bound) and defaults the all-reduce to eager', () => {
    const e = compileEngine({ arch, gpu: h100, tp: 4 }, { efficiency: 'auto', execution: 'eager', launchUs: 20 });
    expect(e.options.allreduce).toBe('eager');
    const g = compileEngine({ arch, gpu: h100, tp: 4 }, { efficiency: 'auto' });
    const ratio = (x: typeof e): number => engineStepBreakdown(step(32), x).us / engineStepBreakdown(step(1), x).us;
    expect(ratio(e)).toBeLessThan(ratio(g));
  });
  it('bad values are clear errors', () => {
    expect(() => compileEngine({ arch, gpu: h100, tp: 1 }, { execution: 'lazy' as 'eager' })).toThrow(/execution must be 'graph' or 'eager'/);
    expect(() => compileEngine({ arch, gpu: h100, tp: 1 }, { launchUs: -1 })).toThrow(/launch time must be ≥ 0/);
  });
});
