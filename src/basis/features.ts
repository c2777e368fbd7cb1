/** CSV form of basis features: `experiment,step,duration_us,<feature columns>`. */
import type { Basis } from './types.js';
import type { Step } from '../steps/step.js';
import type { StepBatch } from '../steps/batch.js';

export function featureCsvHeader(b: Basis): string {
  return ['experiment', 'step', 'duration_us', ...b.featureColumns].join(',');
}

const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function featureCsvRow(b: Basis, s: Step, f: Float64Array): string {
  let row = `${csvField(s.experiment)},${s.step},${s.durationUs ?? ''}`;
  for (let i = 0; i < b.featureColumns.length; i++) row += ',' + String(f[i]);
  return row;
}

/** `featureCsvRow` of every row of a batch (features row-major in `f`), each line ending in a newline. */
export function featureCsvRows(b: Basis, batch: StepBatch, f: Float64Array): string {
  const k = b.featureColumns.length;
  const ex = csvField(batch.experiment);
  let out = '';
  for (let r = 0; r < batch.n; r++) {
    const d = batch.durationUs[r]!;
    let row = `${ex},${batch.step[r]!},${Number.isNaN(d) ? '' : d}`;
    for (let j = 0, q = r * k; j < k; j++, q++) row += ',' + String(f[q]);
    out += row + '\n';
  }
  return out;
}
