/**
 * The report on real measurements: Splitwise batch sweeps (real DGX-A100 / DGX-H100, pure prefill
 * and pure decode steps) reconstructed into steps, fitted, reported. Reads ../shared/data; skipped
 * with a printed reason when it is missing (fails under CI).
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { runCli } from './support/cli.js';
import { haveShared, sharedPath } from './support/shared.js';
import { tmpDir } from './predict-fixtures.js';

const SW = 'Mutinifni__splitwise-sim/data/perf_model.csv';

describe.runIf(haveShared(SW))('report on real Splitwise sweeps', () => {
  it('renders, and the fit beats the engine and the naive baseline on the same rows', async () => {
    const dir = tmpDir('stepfit-report-real-');
    const rec = await runCli(['reconstruct', '--format', 'sweep', '--in', sharedPath(SW), '--out-dir', path.join(dir, 'sw')]);
    expect(rec.code, rec.stderr).toBe(0);
    // two Llama-2-70B experiments (H100 TP4, A100 TP8): held-out report on the third (H100 TP8)
    const all = YAML.parse(fs.readFileSync(path.join(dir, 'sw', 'manifest.yaml'), 'utf8')) as { experiments: { id: string }[] };
    const pick = (ids: string[]): string => {
      const f = path.join(dir, 'sw', `m-${ids.length}-${ids[0]}.yaml`);
      fs.writeFileSync(f, YAML.stringify({ experiments: all.experiments.filter((e) => ids.includes(e.id)) }));
      return f;
    };
    const train = pick(['llama2-70b-h100-80gb-tp4', 'llama2-70b-a100-80gb-tp8']);
    const test = pick(['llama2-70b-h100-80gb-tp8']);
    const fit = path.join(dir, 'fit.json');
    const f = await runCli(['fit', '--manifest', train, '--basis', 'serving', '--out', fit]);
    expect(f.code, f.stderr).toBe(0);
    const out = path.join(dir, 'report');
    const r = await runCli(['report', '--fit', fit, '--manifest', test, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/held-out/);
    const mape = (label: string): number => Number(new RegExp(`\\| ${label.replace(/[()]/g, '\\$&')} \\| ([\\d.]+)% \\|`).exec(md)![1]);
    const fitMape = mape('serving fit');
    expect(fitMape).toBeLessThan(mape('naive (phase median)'));
    expect(fitMape).toBeLessThan(mape('analytical engine'));
    console.log(
      `Splitwise llama2-70b H100 TP8 held out: MAPE fit ${fitMape}%, seed ${mape('seven-term seed (refit here)')}%, engine ${mape('analytical engine')}%, naive ${mape('naive (phase median)')}%`,
    );
    expect(md).toMatch(/### By phase mix[\s\S]*prefill-only[\s\S]*decode-only/);
  });
});
