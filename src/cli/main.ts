/**
 * stepfit CLI entry. `main(argv)` returns the exit code: 0 ok, 1 bad input, 2 usage error, 70 internal error.
 * Errors are one line on stderr (set STEPFIT_DEBUG=1 for stack traces).
 */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { InputError } from '../io/errors.js';
import { processIO, type CliIO } from './io.js';
import { COMMANDS } from './commands.js';
import { VERSION } from '../version.js';
import { guardOutputs, type OutputArg } from '../io/outputs.js';

/** Output flags per command (option keys); every other path-valued option that exists on disk is an input. */
const OUTPUT_FLAGS: Record<string, Record<string, readonly string[] | null>> = {
  reconstruct: { out: null, targets: null, labels: null, outDir: ['manifest.yaml'], manifest: null },
  simulate: { out: ['requests.csv', 'steps.jsonl', 'summary.json', 'traces.jsonl.gz', 'exp-config.yaml'], traceOut: null },
  report: { out: [] },
};
const DEFAULT_OUTPUTS: Record<string, readonly string[] | null> = { out: null };
const INPUT_FLAGS = ['steps', 'fit', 'in', 'manifest', 'data', 'workload', 'targets', 'model', 'gpu', 'efficiency'];
const flagOf = (key: string): string => '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** Refuse, before anything is read, an output that would overwrite an input or another output (io/outputs.ts). */
function guardCommandPaths(cmd: Command): void {
  const o = cmd.opts() as Record<string, unknown>;
  const outSpec = OUTPUT_FLAGS[cmd.name()] ?? DEFAULT_OUTPUTS;
  const outputs: OutputArg[] = [];
  for (const [k, writes] of Object.entries(outSpec)) {
    const v = o[k];
    if (typeof v === 'string') outputs.push(writes ? { flag: flagOf(k), path: v, writes } : { flag: flagOf(k), path: v });
  }
  const inputs = INPUT_FLAGS.filter((k) => !(k in outSpec) && typeof o[k] === 'string').map((k) => ({ flag: flagOf(k), path: o[k] as string }));
  if (outputs.length > 0) guardOutputs(outputs, inputs);
}

export function buildProgram(io: CliIO): Command {
  const program = new Command('stepfit')
    .description('Fit, check and export step-latency models for LLM serving.')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: false });
  for (const make of COMMANDS) program.addCommand(make(io) as unknown as Command);
  const configure = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(s.trim().split('\n')[0]!),
    });
    for (const sub of c.commands) configure(sub as Command);
  };
  configure(program);
  program.hook('preAction', (_root, action) => guardCommandPaths(action as unknown as Command));
  return program;
}

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const program = buildProgram(io);
  if (argv.length === 0) {
    program.outputHelp();
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      if (e.code === 'commander.executeSubCommandAsync') return e.exitCode;
      return 2;
    }
    if (e instanceof InputError) {
      io.err(`stepfit: error: ${e.message}`);
      return e.exitCode;
    }
    const err = e as Error;
    io.err(`stepfit: internal error: ${err?.message ?? String(e)}${process.env['STEPFIT_DEBUG'] ? '\n' + err?.stack : ' (set STEPFIT_DEBUG=1 for details)'}`);
    return 70;
  }
}
