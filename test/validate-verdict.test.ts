/**
 * validate's verdict: a failed regression guard prints FAIL and exits 1; a missed aspirational target prints
 * "not met" and exits 0 unless --check. Synthetic SuiteResults (no data): the rules, not the numbers.
 */
import { describe, it, expect } from 'vitest';
import { formatSuiteText, suiteVerdict, verdictLines } from '../src/validate/format.js';
import type { SplitResult, SuiteResult } from '../src/validate/run.js';
import { exitOnVerdict } from '../src/cli/validate.js';
import { InputError } from '../src/io/errors.js';

const metrics = (mape: number) => ({ n: 10, mape, medianApe: mape, p90Ape: mape, p99Ape: mape, rmseUs: 1, r2: 0.9, biasPct: 0 });
const row = (config: string, mape: number, extra: Partial<SplitResult>): SplitResult =>
  ({
    split: 'interpolation',
    config,
    basis: 'seed v1',
    method: 'nnls, relative',
    trainRows: 10,
    testRows: 10,
    overall: metrics(mape),
    prefill: null,
    decode: null,
    coefficients: {},
    ...extra,
  }) as SplitResult;
const suite = (results: SplitResult[]): SuiteResult => ({ suite: 's', description: 'd', source: 'x', notes: [], splits: [{ name: 'interpolation', train: 'a', test: 'b' }], results });

describe('validate verdict: guards vs targets', () => {
  it('a reproduced reference is a passing guard; a missed target is "not met", not FAIL', () => {
    const s = suite([row('seed', 15.6, { reference: { mape: 15.5, tolerance: 0.5, ok: true } }), row('default', 7.7, { target: { mape: 7, ok: false } })]);
    const v = suiteVerdict(s);
    expect(v.guards).toEqual({ checked: 1, failed: [] });
    expect(v.targets.notMet).toEqual(['interpolation (default): MAPE 7.70 misses the target ≤ 7']);
    const text = formatSuiteText(s);
    expect(text).not.toMatch(/FAIL/);
    expect(text).toMatch(/guard: ref 15\.5 ±0\.5 PASS/);
    expect(text).toMatch(/target ≤ 7: not met/);
    expect(text).toMatch(/^guards: PASS \(1 of 1\)$/m);
  });

  it('a reference that does not reproduce prints FAIL in the row and in the closing line', () => {
    const s = suite([row('seed', 17, { reference: { mape: 15.5, tolerance: 0.5, ok: false } })]);
    const v = suiteVerdict(s);
    expect(v.guards.failed).toEqual(['interpolation (seed): MAPE 17.00 does not reproduce 15.5 ± 0.5']);
    expect(formatSuiteText(s)).toMatch(/guard: ref 15\.5 ±0\.5 FAIL/);
    expect(verdictLines(v)[0]).toMatch(/^guards: FAIL \(1 of 1\): interpolation \(seed\)/);
  });

  it('informational references are not guards; a suite without any says so', () => {
    const v = suiteVerdict(suite([row('seed', 20, { reference: { mape: 14.5, tolerance: 0.5, ok: null, why: 'collinear' } })]));
    expect(v.guards.checked).toBe(0);
    expect(verdictLines(v)).toEqual(['guards: none in this suite (nothing decides a FAIL)']);
  });

  it('exit code: a failed guard always exits 1; a missed target only under --check', () => {
    const code = (f: () => void): number => {
      try {
        f();
        return 0;
      } catch (e) {
        return e instanceof InputError ? e.exitCode : 70;
      }
    };
    expect(code(() => exitOnVerdict(['x (seed): MAPE 17 does not reproduce 15.5 ± 0.5'], [], false))).toBe(1);
    expect(() => exitOnVerdict(['x (seed): MAPE 17 does not reproduce 15.5 ± 0.5'], [], false)).toThrow(/^validate: FAIL: x \(seed\)/);
    expect(code(() => exitOnVerdict([], ['x (default): MAPE 7.7 misses the target ≤ 7'], false))).toBe(0);
    expect(code(() => exitOnVerdict([], ['x (default): MAPE 7.7 misses the target ≤ 7'], true))).toBe(1);
    expect(code(() => exitOnVerdict([], [], true))).toBe(0);
  });
});
