/**
 * `stepfit validate --suite splitwise` on the real Splitwise sweeps (../shared/data):
 * the seed baseline reproduces the published numbers of the first three splits within ±0.5 points,
 * and the default (serving v4 basis, bounded Huber) beats it on every split. The all-reduce knee is fitted
 * on each split's training rows by profile likelihood (fixed grid 0.25–32 MiB): 22.6 / 8 / 16 / 16 MiB.
 * v4 scales the fixed-cost terms by the SM clock (1980 MHz / datasheet boost clock) instead of v3's
 * (989.5/F)^(1/3); interpolation and new TP are H100-only (scale 1) and unchanged.
 * Thresholds are the measured MAPEs (7.65 / 9.96 / 13.09 / 7.17) plus the same margin as before (≈ 0.4–0.5);
 * the new TP, new GPU and new model targets of issue 7 are met, interpolation is not (7.7 > 7: an
 * aspirational target, printed 'not met'; the run exits 0 since every regression guard passes, and
 * `--check` makes the miss exit 1: see reports/validation.md).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { haveShared, VENDORED_DATA as SHARED_DATA } from './support/shared.js';
import { runCli } from './support/cli.js';
import { SPLITWISE_CSV } from '../src/validate/splitwise.js';
import type { SuiteResult, SplitResult } from '../src/validate/run.js';

const have = haveShared(SPLITWISE_CSV);

describe.runIf(have)('validate --suite splitwise (real data)', () => {
  let res: SuiteResult;
  const get = (split: string, config: string): SplitResult => res.results.find((r) => r.split === split && r.config === config)!;

  beforeAll(async () => {
    const r = await runCli(['validate', '--suite', 'splitwise', '--data', SHARED_DATA, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    res = JSON.parse(r.stdout) as SuiteResult;
  });

  it('runs all four splits for the seed baseline and the default', () => {
    expect(res.splits.map((s) => s.name)).toEqual(['interpolation', 'new TP', 'new GPU', 'new model']);
    expect(res.results).toHaveLength(8);
    // test-set sizes: 10 rows × 2 steps; one experiment (105 rows × 2); three; one
    expect(res.results.map((r) => r.testRows)).toEqual([20, 20, 210, 210, 630, 630, 210, 210]);
  });

  it.each([
    ['interpolation', 15.5],
    ['new TP', 16.9],
    ['new GPU', 36.5],
  ] as const)('seed reproduces the published %s MAPE %d ± 0.5', (split, mape) => {
    const r = get(split, 'seed');
    expect(r.basis).toBe('seed v1');
    expect(r.method).toBe('nnls, relative');
    expect(Math.abs(r.overall.mape - mape)).toBeLessThanOrEqual(0.5);
    expect(r.reference?.ok).toBe(true);
  });

  // [split, issue target, measured-MAPE threshold, max default/seed ratio]
  // [split, issue target, measured-MAPE threshold, max default/seed ratio, knee fitted on the training rows (MiB)]
  it.each([
    ['interpolation', 7, 8.1, 0.55, 22.63],
    ['new TP', 10, 10.4, 0.65, 8],
    ['new GPU', 15, 13.5, 0.4, 16],
    ['new model', 8, 7.6, 0.4, 16],
  ] as const)('default on %s: target ≤ %d%% (checked honestly), MAPE ≤ %d%% as measured, beats the seed', (split, target, threshold, ratio, knee) => {
    const r = get(split, 'default');
    expect(r.basis).toBe('serving v4');
    expect(r.paramChoices).toHaveLength(1);
    expect(r.paramChoices![0]).toMatchObject({ name: 'tp_comm_knee_mib', source: 'profile' });
    expect(r.basisParams!['tp_comm_knee_mib']).toBeCloseTo(knee, 2);
    expect(r.overall.mape).toBeLessThanOrEqual(threshold);
    expect(r.target?.mape).toBe(target);
    expect(r.target?.ok).toBe(r.overall.mape <= target);
    expect(r.overall.mape).toBeLessThan(ratio * get(split, 'seed').overall.mape);
  });

  // serving v2 = this knee with v3's TFLOPS latency scale: 11.0 / 10.8 / 14.6 / 9.1; the H100-only splits are unchanged by v4's clock scale
  it("ablation --basis-param tp_comm_knee_mib=2.63 (the microbenchmark knee, fixed) with v4's clock scale: 11.0 / 10.8 / 14.0 / 9.2", async () => {
    const r = await runCli(['validate', '--suite', 'splitwise', '--data', SHARED_DATA, '--json', '--basis-param', 'tp_comm_knee_mib=2.63']);
    expect(r.code, r.stderr).toBe(0);
    const v2 = (JSON.parse(r.stdout) as SuiteResult).results.filter((x) => x.config === 'default');
    expect(v2.map((x) => x.overall.mape.toFixed(1))).toEqual(['11.0', '10.8', '14.0', '9.2']);
    for (const x of v2) expect(x.paramChoices![0]).toMatchObject({ source: 'given', value: 2.63 });
  });

  it('JSON carries the verdict: 3 guards pass, 3 of 4 targets met', () => {
    const v = (res as unknown as { verdict: { guards: { checked: number; failed: string[] }; targets: { checked: number; notMet: string[] } } }).verdict;
    expect(v.guards).toEqual({ checked: 3, failed: [] });
    expect(v.targets.checked).toBe(4);
    expect(v.targets.notMet).toHaveLength(1);
    expect(v.targets.notMet[0]).toMatch(/^interpolation \(default\): MAPE 7\.\d+ misses the target ≤ 7$/);
  });

  it('--check fails (exit 1) naming the missed targets', async () => {
    const r = await runCli(['validate', '--suite', 'splitwise', '--data', SHARED_DATA, '--check']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/target not met: interpolation \(default\): MAPE 7\.\d+ misses the target ≤ 7/);
    expect(r.stderr).not.toMatch(/target ≤ (8|10|15)\b/);
    expect(r.stderr).not.toMatch(/does not reproduce/);
  });

  it('reports per-phase MAPE, p90 and bias; default coefficients respect the physical bounds', () => {
    for (const r of res.results) {
      expect(r.prefill!.n + r.decode!.n).toBe(r.testRows);
      expect(Number.isFinite(r.overall.p90Ape)).toBe(true);
      expect(Number.isFinite(r.overall.biasPct)).toBe(true);
    }
    for (const r of res.results.filter((x) => x.config === 'default')) {
      for (const t of ['prefill_gemm', 'decode_gemm', 'prefill_attn', 'kv', 'weight', 'tp_comm']) expect(r.coefficients[t]!).toBeGreaterThanOrEqual(1 - 1e-9);
      for (const v of Object.values(r.coefficients)) expect(v).toBeGreaterThanOrEqual(-1e-9);
    }
  });

  it('text table: one line per split × config with the check column; guards PASS/FAIL, targets met/not met; exit 0', async () => {
    const r = await runCli(['validate', '--suite', 'splitwise', '--data', SHARED_DATA]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(/FAIL/);
    expect(r.stdout).toMatch(/^interpolation\s+seed\s.*guard: ref 15\.5 ±0\.5 PASS$/m);
    expect(r.stdout).toMatch(/^interpolation\s+default\s.*target ≤ 7: not met$/m);
    expect(r.stdout).toMatch(/^new TP\s+default\s.*target ≤ 10: met$/m);
    expect(r.stdout).toMatch(/^guards: PASS \(3 of 3\)$/m);
    expect(r.stdout).toMatch(/^targets \(aspirational\): 3 of 4 met; not met: interpolation/m);
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => /^(interpolation|new TP|new GPU|new model)\s+(seed|default)\s/.test(l))).toHaveLength(8);
    expect(r.stdout).toMatch(/^interpolation\s+seed\s+seed v1\s+nnls, relative\s+20\s+15\.5\s/m);
    expect(r.stdout).toMatch(/^new TP\s+default\s+serving v4, tp_comm_knee_mib 8 fitted\s/m);
    expect(r.stdout).toMatch(/h100-80gb-pcap rows are the h100-80gb rows with prompt_time × 1\.3 exactly/);
  });
});
