import path from 'node:path';
import fs from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { InputError, UsageError } from '../io/errors.js';
import { parseAssignments } from './fit.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { SUITES, getSuite } from '../validate/suites.js';
import { runSuite } from '../validate/run.js';
import { formatSuiteJson, formatSuiteMarkdown, formatSuiteText, suiteVerdict } from '../validate/format.js';
import { runServingSuite, formatServingMarkdown, servingVerdict } from '../validate/serving.js';

/** Bundled real-data subsets (data/vendor: the files the validation suites read, with their licenses). */
export const VENDORED_DATA = path.join(PACKAGE_ROOT, 'data', 'vendor');

/** Real-data root: --data, else $STEPFIT_SHARED_DATA, else the bundled subsets in data/vendor. */
export function sharedDataRoot(flag: string | undefined): string {
  return path.resolve(flag ?? process.env['STEPFIT_SHARED_DATA'] ?? VENDORED_DATA);
}

export function validateCommand(io: CliIO) {
  return new Command('validate')
    .description('run a named suite of held-out train/test splits on real measurements (reconstruct → fit → predict) and print accuracy: the seed baseline vs the default basis/method')
    .requiredOption(
      '--suite <name>',
      `validation suite (${[...Object.keys(SUITES), 'serving'].join(', ')}; serving = engine serve against real vLLM deployments on H100, leave-one-model-out + in-sample)`,
    )
    .option('--data <dir>', 'root of the real data (default $STEPFIT_SHARED_DATA, else the bundled subsets in data/vendor)')
    .option('--json', 'print the full result as JSON (metrics, coefficients, checks)')
    .option('--markdown', 'print the table as GitHub Markdown')
    .option('--check', 'also exit 1 when an aspirational target is not met (a failed regression guard always exits 1)')
    .option(
      '--basis-param <spec>',
      "ablation: fix the default configuration's basis parameters instead of fitting them on each split's training rows, e.g. 'tp_comm_knee_mib=2.63' (serving v2's knee)",
    )
    .action(async (o) => {
      if (o.suite === 'serving') {
        const root = sharedDataRoot(o.data);
        if (!fs.existsSync(root)) throw new InputError(`--data: shared data root '${root}' not found (suite 'serving' needs the real measurements; pass --data <dir>)`);
        const res = runServingSuite(root);
        const v = servingVerdict(res);
        io.out(o.json ? JSON.stringify({ ...res, verdict: v }, null, 2) : formatServingMarkdown(res));
        exitOnVerdict(v.guards.failed, v.targets.notMet, o.check === true);
        return;
      }
      const suite = getSuite(o.suite);
      const root = sharedDataRoot(o.data);
      if (!suite.bundled && !fs.existsSync(root)) throw new InputError(`--data: shared data root '${root}' not found (suite '${suite.name}' needs the real measurements; pass --data <dir>)`);
      let configs = suite.configs;
      if (o.basisParam !== undefined) {
        const bp = Object.fromEntries(
          parseAssignments('--basis-param', o.basisParam).map(([k, v]) => {
            const x = Number(v);
            if (v === '' || !Number.isFinite(x)) throw new UsageError(`--basis-param: parameter '${k}': expected a number, got '${v}'`);
            return [k, x];
          }),
        );
        configs = configs.map((c) => (c.label === 'default' ? { ...c, basisParams: bp } : c));
      }
      const res = runSuite(suite, await suite.load(root), configs);
      io.out(o.json ? formatSuiteJson(res) : o.markdown ? formatSuiteMarkdown(res) : formatSuiteText(res));
      const v = suiteVerdict(res);
      exitOnVerdict(v.guards.failed, v.targets.notMet, o.check === true);
    });
}

/** The exit code matches what was printed: a failed guard (printed FAIL) exits 1; a missed target only under --check. */
export function exitOnVerdict(guardsFailed: readonly string[], targetsNotMet: readonly string[], check: boolean): void {
  if (guardsFailed.length > 0) throw new InputError(`validate: FAIL: ${guardsFailed.join('; ')}`);
  if (check && targetsNotMet.length > 0) throw new InputError(`validate --check: target not met: ${targetsNotMet.join('; ')}`);
}
