/**
 * A step-time model: anything that maps a step to predicted µs for one (model, GPU, TP) context.
 * Implemented by fitted coefficients (predict/model.ts `fittedModel`) and by the analytical engine
 * (engine/model.ts); used by predict, report, export and the simulator. Lives with the step record
 * (the bottom layer) so that the engine need not import predict.
 */
import type { Step } from './step.js';

export interface StepTimeModel {
  readonly name: string;
  /** Predicted wall time of the step in µs. */
  predictUs(step: Step): number;
}
