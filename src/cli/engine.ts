/**
 * `stepfit engine step|serve|search|memory|calibrate|check` — the analytical engine from the command line.
 * One file per subcommand under cli/engine/: parse options into typed objects (cli/engine/options.ts) →
 * resolve the context once (model/context.ts) → call src/analytic → print a table (or `--json`) / write files atomically.
 */
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { calibrateCommand } from './engine/calibrate.js';
import { checkCommand } from './engine/check.js';
import { memoryCommand } from './engine/memory.js';
import { searchCommand } from './engine/search.js';
import { serveCommand } from './engine/serve.js';
import { stepCommand } from './engine/step.js';

export { table } from './engine/format.js';
export { parseDecode, parsePrefill } from './engine/step.js';

export function engineCommand(io: CliIO) {
  return new Command('engine')
    .description('analytical engine: step time, memory, serving metrics, parallelism search, calibration and fit checks (no fitted numbers)')
    .addCommand(stepCommand(io))
    .addCommand(serveCommand(io))
    .addCommand(searchCommand(io))
    .addCommand(memoryCommand(io))
    .addCommand(calibrateCommand(io))
    .addCommand(checkCommand(io));
}
