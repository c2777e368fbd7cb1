/**
 * The one context resolver (issue 16): `--model`, `--gpu` and the parallelism become a frozen
 * deployment context — architecture, GPU datasheet, TP/PP/EP/DP, weight dtype — loaded and checked
 * once. A `DeploymentContext` is a `BasisContext` (arch, gpu, tp), so bases, fitted models and the
 * analytic engine take it as it is.
 */
import { loadGpu, type GpuSpec } from '../hardware/gpu.js';
import { checkParallelism, type Architecture, type Dtype } from './arch.js';
import { loadArchitecture } from './load.js';

export interface ContextSpec {
  /** A bundled model id (configs/models), a config.json path, or a directory holding config.json. */
  readonly model: string;
  /** A bundled GPU id (configs/hardware) or a datasheet JSON path. */
  readonly gpu: string;
  /** Tensor, pipeline, expert and data parallel degrees (default 1 each). */
  readonly tp?: number;
  readonly pp?: number;
  readonly ep?: number;
  readonly dp?: number;
  /** Weight dtype override (default: the model config's). */
  readonly weightDtype?: Dtype;
  /**
   * Check TP/PP/EP against the architecture (`checkParallelism`; default true). False where the
   * analytic engine validates the layout itself with its wider rules (EP across DP replicas, PP | L).
   */
  readonly check?: boolean;
}

export interface DeploymentContext {
  readonly arch: Architecture;
  readonly gpu: GpuSpec;
  readonly tp: number;
  readonly pp: number;
  readonly ep: number;
  readonly dp: number;
  /** Effective weight dtype: the override, else the model config's. */
  readonly dtype: Dtype;
  /** The `model` and `gpu` references as given (ids or paths), for messages and fit-file lookups. */
  readonly modelRef: string;
  readonly gpuRef: string;
}

/** Load and check a deployment context. @throws InputError naming the file, field or flag at fault. */
export function resolveDeployment(spec: ContextSpec): DeploymentContext {
  const arch = loadArchitecture(spec.model);
  const tp = spec.tp ?? 1;
  const pp = spec.pp ?? 1;
  const ep = spec.ep ?? 1;
  if (spec.check !== false) checkParallelism(arch, tp, { pp, ep });
  const gpu = loadGpu(spec.gpu);
  return Object.freeze({ arch, gpu, tp, pp, ep, dp: spec.dp ?? 1, dtype: spec.weightDtype ?? arch.weightDtype, modelRef: spec.model, gpuRef: spec.gpu });
}
