/** Resolve `--model/--gpu/--tp` into a basis context plus the names under which the fit may list it. */
import { resolveDeployment } from '../model/context.js';
import type { BasisContext } from '../basis/types.js';
import type { ContextRef } from './extrapolation.js';

export interface ResolvedContext {
  ctx: BasisContext;
  ref: ContextRef;
}

export function resolveContext(model: string, gpu: string, tp: number): ResolvedContext {
  const { arch, gpu: g } = resolveDeployment({ model, gpu, tp });
  return {
    ctx: Object.freeze({ arch, gpu: g, tp }),
    ref: { model: [model, arch.name], gpu: [gpu, g.id], tp },
  };
}
