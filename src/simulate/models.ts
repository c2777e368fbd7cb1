/**
 * Step-time models the simulator can run on, all behind `StepTimeModel` (src/predict/model.ts):
 * fitted coefficients (a fit file on its basis), the analytical engine, or the synthetic ground
 * truth of src/steps/synthetic.ts (known formula; for tests and demos).
 */
import type { BasisContext } from '../basis/types.js';
import type { StepTimeModel } from '../predict/model.js';
import { fittedModel } from '../predict/model.js';
import { readFitFile } from '../fit/fitfile.js';
import { resolveFitRef } from '../io/fit-ref.js';
import { engineModel } from '../analytic/model.js';
import type { EngineOptions } from '../analytic/context.js';
import { rooflineConsts } from '../basis/roofline.js';
import { syntheticTruthUs } from '../basis/synthetic.js';

export type StepModelChoice = { readonly kind: 'fit'; readonly file: string } | { readonly kind: 'engine'; readonly options?: EngineOptions } | { readonly kind: 'synthetic' };

/** The synthetic ground truth (src/steps/synthetic.ts `syntheticTruthUs`) as a step model. */
export function syntheticTruthModel(ctx: BasisContext): StepTimeModel {
  const c = rooflineConsts(ctx);
  return { name: 'synthetic truth (src/steps/synthetic.ts)', predictUs: (s) => syntheticTruthUs(c, s) };
}

/** Build the chosen step model for one (model, GPU, TP[, EP]) context. */
export function buildStepModel(choice: StepModelChoice, ctx: BasisContext & { ep?: number }): StepTimeModel {
  switch (choice.kind) {
    case 'fit': {
      const fit = readFitFile(resolveFitRef(choice.file)); // a published fit id or a file path
      const m = fittedModel(fit, ctx);
      return { name: `${m.name} (${choice.file})`, predictUs: (s) => m.predictUs(s) };
    }
    case 'engine':
      return engineModel(ctx, choice.options ?? {});
    case 'synthetic':
      return syntheticTruthModel(ctx);
  }
}
