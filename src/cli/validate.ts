import path from 'node:path';
import fs from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { InputError, UsageError } from '../io/errors.js';
import { parseAssignments } from './fit.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { SUITES, getSuite } from '../validate/suites.js';
import { runSuite } from '../validate/run.js';
import { formatSuiteJson, formatSuiteMarkdown, formatSuiteText, suiteFailures } from '../validate/format.js';

/**
 * Real-data root: --data, else $STEPFIT_SHARED_DATA, else ../shared/data next to the package when it exists,
 * else the subsets vendored in the package's data/ (with their licenses and provenance: data/<source>/README.md).
 */
export function sharedDataRoot(flag: string | undefined): string {
  const given = flag ?? process.env['STEPFIT_SHARED_DATA'];
  if (given !== undefined) return path.resolve(given);
  const shared = path.join(PACKAGE_ROOT, '..', 'shared', 'data');
  return fs.existsSync(shared) ? path.resolve(shared) : path.join(PACKAGE_ROOT, 'data');
}

export function validateCommand(io: CliIO) {
  return new Command('validate')
    .description('run a named suite of held-out train/test splits on real measurements (reconstruct → fit → predict) and print accuracy: the seed baseline vs the default basis/method')
    .requiredOption('--suite <name>', `validation suite (${Object.keys(SUITES).join(', ')})`)
    .option('--data <dir>', 'root of the real data (default $STEPFIT_SHARED_DATA, else ../shared/data, else the vendored subsets in the package data/)')
    .option('--json', 'print the full result as JSON (metrics, coefficients, checks)')
    .option('--markdown', 'print the table as GitHub Markdown')
    .option('--check', 'deprecated no-op: validate always exits 1 when a seed number does not reproduce or a default misses its target (a printed FAIL)')
    .option('--basis-param <spec>', "ablation: fix the default configuration's basis parameters instead of fitting them on each split's training rows, e.g. 'tp_comm_knee_mib=2.63' (serving v2's knee)")
    .action(async (o) => {
      const suite = getSuite(o.suite);
      const root = sharedDataRoot(o.data);
      if (!fs.existsSync(root)) throw new InputError(`--data: shared data root '${root}' not found (suite '${suite.name}' needs the real measurements; pass --data <dir>)`);
      let configs = suite.configs;
      if (o.basisParam !== undefined) {
        const bp = Object.fromEntries(parseAssignments('--basis-param', o.basisParam).map(([k, v]) => {
          const x = Number(v);
          if (v === '' || !Number.isFinite(x)) throw new UsageError(`--basis-param: parameter '${k}': expected a number, got '${v}'`);
          return [k, x];
        }));
        configs = configs.map((c) => (c.label === 'default' ? { ...c, basisParams: bp } : c));
      }
      const res = runSuite(suite, await suite.load(root), configs);
      io.out(o.json ? formatSuiteJson(res) : o.markdown ? formatSuiteMarkdown(res) : formatSuiteText(res));
      const fails = suiteFailures(res);
      // the exit code matches the table: any printed FAIL exits 1 (--check is kept as a no-op for old scripts)
      if (fails.length > 0) throw new InputError(`validate: ${fails.length} check${fails.length > 1 ? 's' : ''} FAIL: ${fails.join('; ')}`);
    });
}
