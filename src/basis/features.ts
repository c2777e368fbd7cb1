/** CSV form of basis features: `experiment,step,duration_us,<feature columns>`. */
import type { Basis } from './types.js';
import type { Step } from '../steps/step.js';

export function featureCsvHeader(b: Basis): string {
  return ['experiment', 'step', 'duration_us', ...b.featureColumns].join(',');
}

const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function featureCsvRow(b: Basis, s: Step, f: Float64Array): string {
  let row = `${csvField(s.experiment)},${s.step},${s.durationUs ?? ''}`;
  for (let i = 0; i < b.featureColumns.length; i++) row += ',' + String(f[i]);
  return row;
}
