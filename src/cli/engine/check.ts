/** `stepfit engine check`: a fitted model against the engine over a grid of batch shapes. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { z } from 'zod';
import { readFitFile } from '../../fit/fitfile.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { resolveDeployment } from '../../model/context.js';
import { checkFit } from '../../validate/engine-check.js';
import { type CliIO, floatOption } from '../io.js';
import { f1, table } from './format.js';
import { addEngineFlags, addModelIds, addParallelism, DeploymentFlags, deploymentOf, engineOptionsOf } from './options.js';

const CheckFlags = DeploymentFlags.extend({ fit: z.string(), threshold: z.number(), out: z.string().optional() });

type CheckResult = ReturnType<typeof checkFit>;

function pointsCsv(res: CheckResult): string {
  return (
    'kind,batch,tokens,context,fit_us,engine_us,diff_pct,flagged,extrapolated\n' +
    res.points.map((p) => `${p.kind},${p.batch},${p.tokens},${p.context},${p.fitUs.toFixed(3)},${p.engineUs.toFixed(3)},${p.diffPct.toFixed(2)},${p.flagged},${p.extrapolated.join('|')}`).join('\n') +
    '\n'
  );
}

/** The first 20 grid points that disagree or extrapolate. */
function flaggedTable(res: CheckResult): string | undefined {
  const show = res.points.filter((p) => p.flagged || p.extrapolated.length).slice(0, 20);
  if (!show.length) return undefined;
  return table(
    ['kind', 'batch', 'tokens', 'context', 'fit µs', 'engine µs', 'diff %', 'flag'],
    show.map((p) => [
      p.kind,
      p.batch,
      p.tokens,
      p.context,
      f1(p.fitUs),
      f1(p.engineUs),
      f1(p.diffPct),
      [p.flagged ? 'disagree' : '', ...p.extrapolated.map((x) => `extrapolates ${x}`)].filter(Boolean).join('; '),
    ]),
  );
}

export function checkCommand(io: CliIO): CommandUnknownOpts {
  const c = new Command('check')
    .description('compare a fitted model with the engine over a grid of batch shapes; flag disagreement and extrapolation')
    .requiredOption('--fit <file>', 'fit file (fits/*.json)')
    .option('--threshold <pct>', 'flag grid points where |fit − engine| / engine exceeds this, %', floatOption('--threshold', 0), 25)
    .option('--out <file>', 'write every grid point as CSV (atomically)');
  addModelIds(c);
  addParallelism(c);
  addEngineFlags(c);
  return c.action(async (raw) => {
    const o = CheckFlags.parse(raw);
    const fit = readFitFile(o.fit);
    const res = checkFit(fit, resolveDeployment(deploymentOf(o)), engineOptionsOf(o, o), { thresholdPct: o.threshold });
    if (o.out) writeFileAtomic(o.out, pointsCsv(res));
    if (o.json) {
      io.out(JSON.stringify(res, null, 2));
      return;
    }
    io.out(
      `fit ${o.fit} (${fit.basis} v${fit.basisVersion}) vs engine (${res.engine}): ${res.points.length} grid points; median |diff| ${f1(res.medianAbsDiffPct)}%; ${res.flagged} over ${o.threshold}%; ${res.extrapolated} outside the training ranges`,
    );
    const t = flaggedTable(res);
    if (t) io.out(t);
    for (const w of res.warnings) io.err(`warning: ${w}`);
  });
}
