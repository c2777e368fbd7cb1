/** Validation building blocks without real data: sweep parsing, pcap check, bounded Huber fit, CLI errors. */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cappedIsDerived, SPLITWISE_CSV } from '../src/validate/splitwise.js';
import { splitwiseSuite } from '../src/validate/suites.js';
import { engineOptions } from '../src/validate/run.js';
import { DEFAULT_CONFIG, SEED_CONFIG } from '../src/validate/suite.js';
import { getBasis } from '../src/basis/registry.js';
import { physicalBounds } from '../src/basis/types.js';
import { resolveOptions } from '../src/fit/api.js';
import { runCli } from './support/cli.js';

const HEAD = 'model,hardware,prompt_size,batch_size,token_size,peak_power,average_power,prompt_time,token_time,e2e_time,tensor_parallel';

/** A small Splitwise-format sweep under <root>/Mutinifni__splitwise-sim/data/perf_model.csv. */
function sweepRoot(lines: string[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-val-'));
  fs.mkdirSync(path.join(root, path.dirname(SPLITWISE_CSV)), { recursive: true });
  fs.writeFileSync(path.join(root, SPLITWISE_CSV), [HEAD, ...lines].join('\n') + '\n');
  return root;
}
const row = (model: string, hw: string, tp: number, p: number, b: number, pt: number, tt: number): string => `${model},${hw},${p},${b},128,0,0,${pt},${tt},1000,${tp}`;

describe('splitwise suite data (through reconstruct --format sweep)', () => {
  const lines = [
    row('llama2-70b', 'h100-80gb', 4, 512, 1, 60, 30),
    row('llama2-70b', 'h100-80gb', 4, 512, 32, 1700, 37),
    row('llama2-70b', 'h100-80gb', 8, 512, 1, 53, 30),
    row('llama2-70b', 'a100-80gb', 4, 512, 1, 127, 45),
    row('bloom-176b', 'h100-80gb', 8, 512, 1, 75, 36),
    row('llama2-70b', 'h100-80gb-pcap', 4, 512, 1, 78, 30),
    row('llama2-70b', 'h100-80gb-pcap', 4, 512, 32, 2210, 37),
  ];

  it('experiments with source labels; two steps per row; decode at prompt + tokens/2; ms → µs', async () => {
    const d = await splitwiseSuite.load(sweepRoot(lines));
    const e = d.experiments.find((x) => x.id === 'llama2-70b-h100-80gb-tp4')!;
    expect([e.model, e.gpu, e.tp, e.labels['source_model'], e.labels['source_hardware'], e.labels['power']]).toEqual(['llama-2-70b', 'h100-sxm', 4, 'llama2-70b', 'h100-80gb', 'nominal']);
    expect(e.steps.map((s) => [s.durationUs, s.prefill.length, s.decode.length])).toEqual([
      [60000, 1, 0],
      [30000, 0, 1],
      [1700000, 32, 0],
      [37000, 0, 32],
    ]);
    expect(e.steps[1]!.decode).toEqual([576]);
    expect(d.experiments).toHaveLength(5);
    expect(d.notes.join('\n')).toMatch(/h100-80gb-pcap rows are the h100-80gb rows with prompt_time × 1\.3 exactly/);
  });

  it('split membership: H100 = h100-80gb (never pcap); interpolation by batch; new model tests BLOOM', async () => {
    const d = await splitwiseSuite.load(sweepRoot(lines));
    const members = (name: string, side: 'inTrain' | 'inTest'): string[] => {
      const sp = splitwiseSuite.splits.find((x) => x.name === name)!;
      return d.experiments.flatMap((e) => e.steps.filter((s) => sp[side](e, s)).map((s) => `${e.id}#${s.step}`));
    };
    expect(members('interpolation', 'inTrain')).toEqual(['llama2-70b-h100-80gb-tp4#0', 'llama2-70b-h100-80gb-tp4#1']);
    expect(members('interpolation', 'inTest')).toEqual(['llama2-70b-h100-80gb-tp4#2', 'llama2-70b-h100-80gb-tp4#3']);
    expect(members('new TP', 'inTest')).toEqual(['llama2-70b-h100-80gb-tp8#0', 'llama2-70b-h100-80gb-tp8#1']);
    expect(members('new GPU', 'inTrain')).toEqual(['llama2-70b-a100-80gb-tp4#0', 'llama2-70b-a100-80gb-tp4#1']);
    expect(members('new model', 'inTest')).toEqual(['bloom-176b-h100-80gb-tp8#0', 'bloom-176b-h100-80gb-tp8#1']);
    for (const sp of splitwiseSuite.splits) for (const side of ['inTrain', 'inTest'] as const) expect(members(sp.name, side).some((m) => m.includes('pcap'))).toBe(false);
  });

  it('capped-power check: derived only when prefill × 1.3 and decode identical, step for step', async () => {
    const d = await splitwiseSuite.load(sweepRoot(lines));
    expect(cappedIsDerived(d.experiments)).toBe(true);
    const measured = await splitwiseSuite.load(sweepRoot([...lines.slice(0, 6), row('llama2-70b', 'h100-80gb-pcap', 4, 512, 32, 2210, 36)]));
    expect(cappedIsDerived(measured.experiments)).toBe(false);
    expect(measured.notes.join('\n')).toMatch(/not an exact derivation/);
    const none = await splitwiseSuite.load(sweepRoot(lines.slice(0, 5)));
    expect(cappedIsDerived(none.experiments)).toBe(false);
  });

  it('bad rows: one line naming the file, line and field', async () => {
    await expect(splitwiseSuite.load(sweepRoot([lines[0]!, 'llama2-70b,h100-80gb,512,x,128,0,0,1,1,1,4']))).rejects.toThrow(
      /perf_model\.csv:3: field 'batch_size' \(batch\): expected an integer ≥ 1, got 'x'$/,
    );
  });
});

describe('validation configurations', () => {
  it('default: serving basis, Huber with the physical bounds and ridge 1e-6 — a combination the fit engine accepts', () => {
    const basis = getBasis(DEFAULT_CONFIG.basis);
    const o = engineOptions(DEFAULT_CONFIG, basis);
    expect(o).toMatchObject({ method: 'huber', weight: 'relative', ridge: { lambda: 1e-6 } });
    expect(o.bounds).toEqual(physicalBounds(basis));
    const r = resolveOptions(o, basis);
    expect(r.bounds?.['weight']).toEqual([1, null]);
    expect(r.ridge?.lambda).toBe(1e-6);
  });

  it('seed: the published formulation — seed basis, NNLS, relative weights, no bounds or ridge', () => {
    const o = engineOptions(SEED_CONFIG, getBasis('seed'));
    expect(o).toMatchObject({ method: 'nnls', weight: 'relative' });
    expect(o.bounds).toBeUndefined();
    expect(o.ridge).toBeUndefined();
  });
});

describe('stepfit validate: usage and input errors', () => {
  it('unknown suite → one line, exit 1', async () => {
    const r = await runCli(['validate', '--suite', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stepfit: error: --suite: unknown suite 'nope' \(known: splitwise, llmservingsim, measured, serving\)$/);
  });

  it('missing data root → one line naming it, exit 1', async () => {
    const r = await runCli(['validate', '--suite', 'splitwise', '--data', '/nonexistent/shared']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("stepfit: error: --data: shared data root '/nonexistent/shared' not found (suite 'splitwise' needs the real measurements; pass --data <dir>)");
  });

  it('data root without the sweep → names the missing file', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-val-'));
    const r = await runCli(['validate', '--suite', 'splitwise', '--data', d]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stepfit: error: .*Mutinifni__splitwise-sim\/data\/perf_model\.csv: sweep CSV not found$/);
  });

  it('--suite is required (usage error, exit 2)', async () => {
    expect((await runCli(['validate'])).code).toBe(2);
  });
});
