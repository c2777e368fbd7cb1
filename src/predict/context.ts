/** Resolve `--model/--gpu/--tp` into a basis context plus the names under which the fit may list it. */
import { loadArchitecture } from '../model/load.js';
import { checkParallelism } from '../model/arch.js';
import { loadGpu } from '../hardware/gpu.js';
import type { BasisContext } from '../basis/types.js';
import type { ContextRef } from './extrapolation.js';

export interface ResolvedContext {
  ctx: BasisContext;
  ref: ContextRef;
}

export function resolveContext(model: string, gpu: string, tp: number): ResolvedContext {
  const arch = loadArchitecture(model);
  checkParallelism(arch, tp);
  const g = loadGpu(gpu);
  return {
    ctx: Object.freeze({ arch, gpu: g, tp }),
    ref: { model: [model, arch.name], gpu: [gpu, g.id], tp },
  };
}
