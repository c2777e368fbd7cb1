/**
 * One simulation from inputs to metrics, without file I/O (the CLI streams the outputs):
 * engine limits from flags / memory, the simulator, per-request metrics and the summary.
 */
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import type { StepTimeModel } from '../predict/model.js';
import type { Workload } from './workload.js';
import { ServingSimulator, type EngineLimits, type SimOptions, type StepView } from './simulator.js';
import { gpuBlocksFromMemory } from '../scheduler/kv.js';
import { LogHistogram, requestMetrics, summarize, type RequestMetrics } from './metrics.js';

export interface LimitInputs {
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  blockSize: number;
  /** Explicit KV blocks per GPU (as vLLM logs num_gpu_blocks); otherwise from memory. */
  numGpuBlocks?: number;
  gpuMemoryUtilization: number;
  /** Fixed activation / CUDA-graph reserve in GB for the memory-derived block count (default: the engine's activations + reserved). */
  kvReserveGB?: number;
  maxModelLen?: number;
  prefixCaching: boolean;
  reserveFullIsl: boolean;
  watermark: number;
}

/** Engine limits, deriving the block count from memory when not given. */
export function resolveLimits(l: LimitInputs, ctx: { arch: Architecture; gpu: GpuSpec; tp: number; ep?: number }): EngineLimits & { blocksFrom: string } {
  const numGpuBlocks =
    l.numGpuBlocks ??
    gpuBlocksFromMemory({
      ...ctx,
      blockSize: l.blockSize,
      utilization: l.gpuMemoryUtilization,
      maxNumBatchedTokens: l.maxNumBatchedTokens,
      maxNumSeqs: l.maxNumSeqs,
      ...(l.kvReserveGB !== undefined ? { reserveGB: l.kvReserveGB } : {}),
    });
  return {
    maxNumSeqs: l.maxNumSeqs,
    maxNumBatchedTokens: l.maxNumBatchedTokens,
    blockSize: l.blockSize,
    numGpuBlocks,
    ...(l.maxModelLen !== undefined ? { maxModelLen: l.maxModelLen } : {}),
    prefixCaching: l.prefixCaching,
    reserveFullIsl: l.reserveFullIsl,
    watermark: l.watermark,
    blocksFrom:
      l.numGpuBlocks !== undefined
        ? 'given'
        : `memory: ${ctx.gpu.memCapacityGB} GiB × ${l.gpuMemoryUtilization} − weights − ${l.kvReserveGB !== undefined ? `${l.kvReserveGB} GB reserve` : 'activations − reserved (engine memory formula)'}`,
  };
}

export interface SimulationOutcome {
  readonly sim: ServingSimulator;
  readonly metrics: RequestMetrics[];
  readonly summary: Record<string, unknown>;
}

/** Per-request metrics and the summary of a finished simulation. */
export function outcome(sim: ServingSimulator, itl: LogHistogram | undefined, extra: Record<string, unknown> = {}): SimulationOutcome {
  const results = sim.results();
  const metrics = results.map(requestMetrics);
  let end = 0;
  let start = Infinity;
  for (const r of results) {
    start = Math.min(start, r.arrivalNs);
    if (Number.isFinite(r.finishNs)) end = Math.max(end, r.finishNs);
  }
  end = Math.max(end, sim.nowNs);
  const makespanS = Number.isFinite(start) ? (end - start) / 1e9 : 0;
  const summary = {
    ...extra,
    ...summarize({ metrics, makespanS, steps: sim.steps, busyS: sim.busyNs / 1e9, preemptions: sim.totalPreemptions, ...(itl ? { itl } : {}) }),
    ...(sim.nonPositivePredictions > 0 ? { warnings: [`${sim.nonPositivePredictions} steps had a non-positive model prediction (clamped to 1 µs)`] } : {}),
  };
  return { sim, metrics, summary };
}

/** Run a whole simulation in memory (tests, checks, benchmarks). */
export function simulate(workload: Workload, model: StepTimeModel, o: Omit<SimOptions, 'model'>, onStep?: (v: StepView) => void): SimulationOutcome {
  const itl = new LogHistogram();
  const sim = new ServingSimulator(workload, { ...o, model, itlHistogram: itl });
  sim.runAll(onStep);
  return outcome(sim, itl, { model: model.name, workload: workload.description });
}
