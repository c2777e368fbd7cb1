/**
 * What the planner computes, through the same exported functions `stepfit engine serve` calls
 * (loadArchitecture, loadGpu, serveMetrics, costMetrics): the page and the CLI run the same code on
 * the same inputs. Pure apart from the config reads, which go through node:fs (the real one under
 * Node, the page's in-memory one in the browser).
 */
import { loadArchitecture } from '../model/load.js';
import { loadGpu, type GpuSpec } from '../hardware/gpu.js';
import { serveMetrics, type ServeResult } from '../analytic/serving.js';
import { costMetrics, type CostResult } from '../analytic/cost.js';
import { engineOptionsOf, workloadOfState, costOfState, type PlannerState } from './state.js';

/** Exactly the object `stepfit engine serve --json` prints. */
export type ServeJson = ServeResult & { cost: CostResult };

export interface PlanContext {
  modelRef: string;
  state: PlannerState;
  gpu: GpuSpec;
  ctx: Parameters<typeof serveMetrics>[0];
}

/** Resolve model and GPU once (`modelRef`: a bundled id or a config.json path). */
export function planContext(modelRef: string, state: PlannerState): PlanContext {
  const arch = loadArchitecture(modelRef);
  const gpu = loadGpu(state.gpu);
  return { modelRef, state, gpu, ctx: { arch, gpu, tp: state.tp } };
}

/** The serve result for the state's workload, or for closed-loop `concurrency` when given. */
export function planServe(p: PlanContext, concurrency?: number): ServeJson {
  const r = serveMetrics(p.ctx, engineOptionsOf(p.state), workloadOfState(p.state, concurrency));
  return { ...r, cost: costMetrics(r, p.gpu, costOfState(p.state)) };
}

/** Concurrency grid for the sweeps: 1, 2, 4, … below the cap, then the cap. */
export function concurrencyGrid(cap: number, maxPoints = 10): number[] {
  const out: number[] = [];
  for (let c = 1; c < cap; c *= 2) out.push(c);
  out.push(cap);
  if (out.length <= maxPoints) return out;
  // keep the ends, thin the middle evenly
  const step = (out.length - 1) / (maxPoints - 1);
  return [...new Set(Array.from({ length: maxPoints }, (_, i) => out[Math.round(i * step)]!))];
}

/** Per-deployment caps on requests in flight: KV-cache memory and max_num_seqs (both × PP virtual engines × DP). */
export function batchCaps(r: ServeResult, s: PlannerState): { kv: number; maxSeqs: number } {
  return { kv: Math.floor(r.memory.maxKvTokens / (s.input + s.output)) * s.dp, maxSeqs: s.maxSeqs * s.pp * s.dp };
}
