/**
 * Evaluate a fit file on data without refitting: predictions = Σ coef_j · row_j per row (steps
 * with duration_us, and request-level targets), metrics overall and by group.
 */
import { InputError } from '../io/errors.js';
import { fitBasisAndCoefs, type FitFile, type Metrics } from './fitfile.js';
import { RowSource, type FitDataset, type RowVisitor } from './dataset.js';
import { MetricCells } from './groups.js';

export interface Evaluation {
  rows: number;
  overall: Metrics;
  byGroup: Record<string, Record<string, Metrics>>;
}

function setup(fit: FitFile, ds: FitDataset): { src: RowSource; visitor: RowVisitor; cells: MetricCells } {
  const { basis, coefs } = fitBasisAndCoefs(fit);
  const cells = new MetricCells(ds);
  const visitor: RowVisitor = {
    row(x, y, e, _i, kind) {
      let pred = 0;
      for (let j = 0; j < coefs.length; j++) pred += coefs[j]! * x[j]!;
      cells.add(e, kind, pred, y);
    },
  };
  return { src: new RowSource(ds, basis, { params: fit.basisParams, allowUnmeasured: true }), visitor, cells };
}

const finish = (cells: MetricCells): Evaluation => {
  if (cells.n === 0) throw new InputError('nothing to evaluate: no step with duration_us and no request-level target');
  return { rows: cells.n, ...cells.grouped() };
};

/** Metrics of a fit on a data set (streams files). */
export async function evaluateFit(fit: FitFile, ds: FitDataset): Promise<Evaluation> {
  const { src, visitor, cells } = setup(fit, ds);
  await src.pass(visitor);
  return finish(cells);
}

/** Synchronous variant for in-memory data sets. */
export function evaluateFitSync(fit: FitFile, ds: FitDataset): Evaluation {
  const { src, visitor, cells } = setup(fit, ds);
  src.passSync(visitor);
  return finish(cells);
}
