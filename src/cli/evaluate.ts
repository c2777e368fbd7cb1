import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intOption } from './io.js';
import { readFitFile } from '../fit/fitfile.js';
import { evaluateFit } from '../fit/evaluate.js';
import { metricsLine, groupTables } from '../fit/format.js';
import { datasetFromFlags } from './fit.js';
import { checkFit } from '../predict/load.js';
import { BASES } from '../basis/registry.js';
import { InputError } from '../io/errors.js';
import { closest } from '../io/keys.js';
import { SkippedLines, SKIP_BAD_HELP } from './skip-bad.js';

export function evaluateCommand(io: CliIO) {
  return new Command('evaluate')
    .description('accuracy of a fit file on given data without refitting: MAPE, median / p90 / p99 APE, RMSE, R², bias, overall and by group')
    .requiredOption('--fit <file>', 'fit file (fits/*.json)')
    .option('--steps <path>', 'step records with duration_us of one experiment (JSONL, .jsonl.gz, or a directory)')
    .option('--model <id|path>', 'model of that experiment')
    .option('--gpu <id|path>', 'GPU of that experiment')
    .option('--tp <n>', 'tensor-parallel degree of that experiment', intOption('--tp'), 1)
    .option('--experiment <id>', 'experiment id (default <model>-<gpu>-tp<N>)')
    .option('--group <labels>', "labels of that experiment, e.g. 'workload=sharegpt'")
    .option('--targets <file>', 'request-level targets of that experiment (JSONL)')
    .option('--manifest <file>', 'manifest of several experiments instead of --steps/--model/--gpu/--tp')
    .option('--allow-outside', "let manifest paths leave the manifest's folder (refused by default)")
    .option('--json', 'print {fit, rows, overall, byGroup} as JSON')
    .option('--skip-bad', SKIP_BAD_HELP)
    .action(async (o) => {
      const fit = readFitFile(o.fit);
      // a known basis, matching terms and sane numbers, each refusal naming the file and field
      if (!BASES[fit.basis]) {
        const hint = closest(fit.basis, Object.keys(BASES));
        throw new InputError(`${o.fit}: field 'basis': unknown basis '${fit.basis}'${hint ? ` (did you mean '${hint}'?)` : ''} (known: ${Object.keys(BASES).join(', ')})`);
      }
      checkFit(fit, o.fit);
      const skipped = new SkippedLines(o.skipBad === true);
      const ds = skipped.dataset(datasetFromFlags(o, 'evaluate'));
      const ev = await evaluateFit(fit, ds);
      const summary = skipped.summary();
      if (summary) io.err(summary);
      if (o.json) {
        io.out(JSON.stringify({ fit: o.fit, basis: fit.basis, rows: ev.rows, overall: ev.overall, byGroup: ev.byGroup }, null, 2));
        return;
      }
      io.out(
        `evaluate: ${o.fit} (basis ${fit.basis}, method ${fit.method.name}) on ${ev.rows} rows from ${ds.experiments.length === 1 ? ds.experiments[0]!.ref.id : `${ds.experiments.length} experiments`}`,
      );
      io.out(`overall: ${metricsLine(ev.overall)}`);
      for (const l of groupTables(ev.byGroup)) io.out(l);
    });
}
