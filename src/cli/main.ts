/**
 * stepfit CLI entry. `main(argv)` returns the exit code: 0 ok, 1 bad input, 2 usage error, 70 internal error.
 * Errors are one line on stderr (set STEPFIT_DEBUG=1 for stack traces).
 */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { InputError } from '../io/errors.js';
import { installPipeGuards, processIO, type CliIO } from './io.js';
import { installTempCleanup, setStdoutSink } from '../io/atomic.js';
import { checkOutputsAgainstInputs } from '../io/guard.js';
import { pathRoles } from './io-roles.js';
import { renameDeprecatedFlags } from './flags.js';
import { COMMANDS, type CommandEntry } from './commands.js';
import { VERSION } from '../version.js';
import { keyOf, newStdioState, routeIO, spoolStdin, stdioPlan, unspool, type StdioState } from './stdio.js';

/**
 * The commands a command line needs: only the one it names (the common case, so that a command loads
 * only its own modules), or every command for help, version, suggestions and unknown names.
 */
export function commandsFor(argv: readonly string[]): readonly CommandEntry[] {
  const named = COMMANDS.find((c) => c.name === argv[0]);
  return named ? [named] : COMMANDS;
}

/** The stepfit program with the commands `argv` needs (all of them when argv is not given). */
export async function buildProgram(io: CliIO, stdio: StdioState = newStdioState(), argv?: readonly string[]): Promise<Command> {
  const factories = await Promise.all((argv ? commandsFor(argv) : COMMANDS).map((c) => c.load()));
  const program = new Command('stepfit')
    .description('Fit, check and export step-latency models for LLM serving.')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: false });
  for (const make of factories) program.addCommand(make(io, main) as unknown as Command);
  const configure = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`stepfit: ${s.trim().split('\n')[0]!}`),
    });
    for (const sub of c.commands) configure(sub as Command);
  };
  configure(program);
  // before any command reads: no output may be one of its inputs (io/guard.ts, cli/io-roles.ts);
  // '-' is standard input / output (cli/stdio.ts)
  program.hook('preAction', async (_root, action) => {
    const parent = action.parent && action.parent !== program ? `${action.parent.name()} ` : '';
    const roles = pathRoles(`${parent}${action.name()}`, action.opts() as Record<string, unknown>);
    if (!roles) return;
    const plan = stdioPlan(roles.inputs, roles.outputs);
    checkOutputsAgainstInputs(roles.inputs, roles.outputs);
    stdio.dataOnStdout = plan.dataOnStdout;
    if (plan.stdinFlag) {
      if (!io.stdin) throw new InputError(`${plan.stdinFlag} '-': no standard input here`);
      const file = await spoolStdin(io.stdin());
      stdio.spooled.push(file);
      action.setOptionValue(keyOf(plan.stdinFlag), file);
    }
  });
  return program;
}

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  if (io === processIO) {
    installPipeGuards();
    installTempCleanup();
  }
  const stdio = newStdioState();
  const outer = io;
  io = routeIO(outer, stdio);
  setStdoutSink(outer.write ? { write: (c) => outer.write!(c) } : null);
  const program = await buildProgram(io, stdio, argv);
  if (argv.length === 0) {
    program.outputHelp();
    return 2;
  }
  try {
    await program.parseAsync(
      renameDeprecatedFlags(program as never, argv, (line) => io.err(line)),
      { from: 'user' },
    );
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
    io.err(`stepfit: internal error: ${unspool(stdio, err?.message ?? String(e))}${process.env['STEPFIT_DEBUG'] ? '\n' + err?.stack : ' (set STEPFIT_DEBUG=1 for details)'}`);
    return 70;
  }
}
