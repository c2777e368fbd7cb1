import { describe, expect, it } from 'vitest';
import { selectQuantiles, sortedQuantile } from '../src/fit/metrics.js';
import { makeRng } from '../src/util/rng.js';

const QS = [0, 0.01, 0.5, 0.9, 0.99, 1];
const bySort = (a: Float32Array, qs: readonly number[]): number[] => {
  const s = Float32Array.from(a).sort();
  return qs.map((q) => sortedQuantile(s, q));
};

describe('selectQuantiles (fit/metrics.ts): the same numbers as sorting', () => {
  it('on random, tied, sorted, reversed and tiny arrays', () => {
    const rng = makeRng(5);
    const cases: Float32Array[] = [Float32Array.of(3), Float32Array.of(2, 1), Float32Array.of(1, 1, 1, 1)];
    for (const n of [3, 7, 10, 101, 1000, 65_537]) {
      cases.push(Float32Array.from({ length: n }, () => rng.next()));
      cases.push(Float32Array.from({ length: n }, () => rng.int(0, 4))); // heavy ties
      cases.push(Float32Array.from({ length: n }, (_, i) => i));
      cases.push(Float32Array.from({ length: n }, (_, i) => n - i));
      cases.push(Float32Array.from({ length: n }, () => Math.exp(3 * rng.normal())));
    }
    for (const a of cases) expect(selectQuantiles(Float32Array.from(a), QS)).toEqual(bySort(a, QS));
  });
  it('empty arrays give NaN; arrays with NaN fall back to the sort order (NaN last)', () => {
    expect(selectQuantiles(new Float32Array(0), [0.5]).every(Number.isNaN)).toBe(true);
    const a = Float32Array.of(5, Number.NaN, 1, 3, 2);
    expect(selectQuantiles(Float32Array.from(a), [0, 0.5, 0.75])).toEqual(bySort(a, [0, 0.5, 0.75]));
  });
});
