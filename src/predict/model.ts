/**
 * A step-time model: anything that maps a step to predicted µs for one (model, GPU, TP) context.
 * Implemented by fitted coefficients (fit file + basis) and by the analytical engine; used by
 * predict, report, export and the simulator.
 */
import type { Step } from '../steps/step.js';
import type { BasisContext } from '../basis/types.js';
import { fitBasisAndCoefs, type FitFile } from '../fit/fitfile.js';

export type { StepTimeModel } from '../steps/step.js';
import type { StepTimeModel } from '../steps/step.js';

/** Fitted coefficients applied to a basis compiled for `ctx` with the fit's basis parameters (`fit.basisParams`, defaults when absent). */
export function fittedModel(
  fit: Pick<FitFile, 'basis' | 'basisVersion' | 'terms' | 'basisParams'>,
  ctx: BasisContext,
): StepTimeModel & { row(step: Step, out: Float64Array): void; readonly coefs: Float64Array } {
  const { basis, coefs } = fitBasisAndCoefs(fit);
  const compiled = basis.compile(ctx, fit.basisParams);
  const row = new Float64Array(coefs.length);
  return {
    name: `${basis.name} v${basis.version} fit`,
    coefs,
    row: (s, out) => compiled.row(s, out),
    predictUs(step: Step): number {
      compiled.row(step, row);
      let t = 0;
      for (let i = 0; i < coefs.length; i++) t += coefs[i]! * row[i]!;
      return t;
    },
  };
}
