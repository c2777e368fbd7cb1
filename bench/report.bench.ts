/**
 * `stepfit report` peak RSS and wall time against the number of steps (issue 14 row 17), each
 * report in a child process of its own (peak RSS = the child's maxRSS), and the quantile sketch's
 * measured rank error. Sizes: BENCH_REPORT_STEPS (comma list, default 500000,1000000,2000000;
 * add 10000000 for the closing figure — its step file takes 3.8 GB in the temp folder).
 * Needs a built dist/ (npm run build).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { QuantileSketch } from '../src/report/sketch.js';
import { makeRng } from '../src/util/rng.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'stepfit.js');
const EXIT_RSS = "data:text/javascript,process.on('exit',()=>process.stderr.write('\\nMAXRSS_KB '+process.resourceUsage().maxRSS+'\\n'))";

function stepfit(args: string[]): { seconds: number; maxRssMiB: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', EXIT_RSS, bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`stepfit ${args[0]} failed (${r.status}): ${r.stderr}`);
  const kb = Number(/MAXRSS_KB (\d+)/.exec(r.stderr)?.[1] ?? NaN);
  return { seconds, maxRssMiB: kb / 1024 };
}

/** Largest |rank(sketch quantile) − q·n| / n over a few quantiles, on n values of several distributions. */
function sketchRankError(n: number): { name: string; err: number }[] {
  const rng = makeRng(7);
  const gens: Record<string, (i: number) => number> = {
    uniform: () => rng.next(),
    lognormal: () => Math.exp(2 * rng.normal()),
    ascending: (i) => i,
  };
  return Object.entries(gens).map(([name, g]) => {
    const xs = Float64Array.from({ length: n }, (_, i) => g(i));
    const s = new QuantileSketch();
    for (const x of xs) s.add(x);
    const sorted = xs.slice().sort();
    let err = 0;
    for (const q of [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
      const v = s.quantile(q);
      let lo = 0;
      while (lo < n && sorted[lo]! < v) lo++;
      let hi = lo;
      while (hi < n && sorted[hi] === v) hi++;
      const t = q * n;
      err = Math.max(err, t < lo ? (lo - t) / n : t > hi ? (t - hi) / n : 0);
    }
    return { name, err };
  });
}

export default async function (log: (s: string) => void): Promise<void> {
  for (const { name, err } of sketchRankError(1_000_000)) log(`sketch: ${name} 1M values, max rank error ${(err * 100).toFixed(3)}% of n (bound stated: 0.5%)`);
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) {
    log('report: dist/ missing: run npm run build first');
    return;
  }
  const sizes = (process.env['BENCH_REPORT_STEPS'] ?? '500000,1000000,2000000').split(',').map(Number);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-bench-report-'));
  try {
    const train = path.join(dir, 'train.jsonl');
    const fit = path.join(dir, 'fit.json');
    const m = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'];
    stepfit(['sample', '--num-steps', '20000', '--seed', '7', '--out', train]);
    stepfit(['fit', '--steps', train, ...m, '--out', fit]);
    for (const n of sizes) {
      const steps = path.join(dir, `steps-${n}.jsonl`);
      stepfit(['sample', '--num-steps', String(n), '--out', steps]);
      const r = stepfit(['report', '--fit', fit, '--steps', steps, ...m, '--out', path.join(dir, `rep-${n}`)]);
      log(`report: ${n} steps in ${r.seconds.toFixed(1)} s, peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
      fs.rmSync(steps, { force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
