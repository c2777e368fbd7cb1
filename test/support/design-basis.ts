/** A test-only basis whose design row is the step's `decode` array: lets tests fit an arbitrary X through the real engine. */
import { batchEvaluator } from '../../src/basis/define.js';
import type { Basis } from '../../src/basis/types.js';
import type { Step } from '../../src/steps/step.js';

export function designBasis(names: string[]): Basis {
  return {
    name: 'design',
    version: 1,
    description: 'test design matrix',
    terms: names.map((n) => ({ name: n, unit: 'count' as const, prior: 0, meaning: n })),
    featureColumns: names,
    countColumns: new Set(),
    compile: () => {
      const row = (s: Step, out: Float64Array): void => {
        for (let j = 0; j < names.length; j++) out[j] = s.decode[j]!;
      };
      return { features: row, row, rowsBatch: batchEvaluator(row, names.length), featuresBatch: batchEvaluator(row, names.length) };
    },
  };
}
