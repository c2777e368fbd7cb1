/**
 * The analytical engine as a `StepTimeModel` (src/predict/model.ts), for the simulator, reports
 * and checks: `engineModel({arch, gpu, tp}, opts).predictUs(step)` = engine step latency in µs.
 */
import type { Step } from '../steps/step.js';
import type { BasisContext } from '../basis/types.js';
import type { StepTimeModel } from '../steps/step.js';
import { compileEngine, type Engine, type EngineOptions } from './context.js';
import { engineStepBreakdown, type StepBreakdown } from './step.js';

export interface EngineModel extends StepTimeModel {
  readonly engine: Engine;
  /** Full per-operator breakdown of a step. */
  breakdown(step: Step): StepBreakdown;
}

/**
 * Build the engine step-time model. `ctx` is the usual basis context (arch, gpu, tp) and may carry
 * `pp` / `ep`; `opts` as in `EngineOptions` (efficiency 'auto' = calibrated file when present).
 * Validation errors (parallelism, FP8 on a GPU without FP8) are thrown here as InputError.
 */
export function engineModel(ctx: BasisContext & { pp?: number; ep?: number }, opts: EngineOptions = {}): EngineModel {
  const engine = compileEngine(ctx, opts);
  const calibrated = engine.tables.calibrated.length > 0 ? 'calibrated' : 'default curves';
  return {
    name: `engine (${engine.gpu.id}, TP${engine.tp}${engine.pp > 1 ? ` PP${engine.pp}` : ''}${engine.ep > 1 ? ` EP${engine.ep}` : ''}, ${calibrated})`,
    engine,
    predictUs: (step: Step): number => engineStepBreakdown(step, engine, false).us,
    breakdown: (step: Step): StepBreakdown => engineStepBreakdown(step, engine),
  };
}
