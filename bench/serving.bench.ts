/**
 * Serving speed (issue 12): a 1,000-scenario batch through the closed-loop benchmark model
 * (`engine serve --scenarios`, one process) and the `validate --suite serving` run (when
 * ../shared/data is present).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measure } from './util.js';
import { readScenarios, predictScenarios } from '../src/analytic/scenarios.js';
import { DEFAULT_HOST_COSTS } from '../src/analytic/host-costs.js';
import { runServingSuite } from '../src/validate/serving.js';
import { PACKAGE_ROOT } from '../src/io/paths.js';

export default async function (log: (s: string) => void): Promise<void> {
  const lines = ['model,gpu,dtype,tp,ep,dp,isl,osl,concurrency'];
  for (const model of ['qwen3-32b', 'llama-3.1-70b', 'qwen3-30b-a3b', 'mixtral-8x7b', 'llama-3.1-8b']) {
    for (const tp of [2, 4, 8, 1])
      for (const isl of [128, 1024, 4096, 8192, 2000]) for (const c of [1, 4, 8, 16, 32, 64, 128, 256, 512, 1024]) lines.push(`${model},h100-sxm,,${tp},1,1,${isl},256,${c}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-bench-'));
  const file = path.join(dir, 'scenarios.csv');
  fs.writeFileSync(file, lines.slice(0, 1001).join('\n') + '\n');
  const r = await measure(() => {
    const { rows, columns } = readScenarios(file);
    return predictScenarios(rows, columns, { efficiency: 'auto' }, DEFAULT_HOST_COSTS, {}, file);
  });
  log(`engine serve --scenarios: ${r.result.rows} scenarios (${r.result.predicted} predicted) in ${r.seconds.toFixed(2)} s; peak RSS ${r.peakRssMiB.toFixed(0)} MiB`);
  const data = path.resolve(PACKAGE_ROOT, '..', 'shared', 'data');
  if (!fs.existsSync(data)) {
    log(`validate --suite serving: skipped (no ${data})`);
    return;
  }
  const v = await measure(() => runServingSuite(data));
  log(`validate --suite serving: ${v.result.rows} deployments, 5 fits + ablation in ${v.seconds.toFixed(2)} s`);
}
