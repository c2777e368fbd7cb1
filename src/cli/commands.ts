/**
 * Every CLI command, in the order `stepfit --help` lists them. Adding a command: one file in cli/, one line here.
 * Commands are loaded on demand (cli/main.ts loads only the one a command line names; help loads them all), so
 * that `stepfit features` does not pay for the report's plotting libraries or the planner's bundler at start.
 */
import type { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CommandFactory = (io: CliIO, run: RunCli) => Command<any, any, any>;

/** Runs a whole stepfit command line (cli/main.ts `main`), handed to commands that run others (demo). */
export type RunCli = (argv: string[], io: CliIO) => Promise<number>;

export interface CommandEntry {
  /** The command's name on the command line (must equal the name its factory gives it; tested). */
  readonly name: string;
  readonly load: () => Promise<CommandFactory>;
}

export const COMMANDS: readonly CommandEntry[] = [
  // the pipeline, in order
  { name: 'demo', load: async () => (await import('./demo.js')).demoCommand },
  { name: 'collect', load: async () => (await import('./collect.js')).collectCommand },
  { name: 'reconstruct', load: async () => (await import('./reconstruct.js')).reconstructCommand },
  { name: 'features', load: async () => (await import('./features.js')).featuresCommand },
  { name: 'fit', load: async () => (await import('./fit.js')).fitCommand },
  { name: 'evaluate', load: async () => (await import('./evaluate.js')).evaluateCommand },
  { name: 'predict', load: async () => (await import('./predict.js')).predictCommand },
  { name: 'report', load: async () => (await import('./report.js')).reportCommand },
  { name: 'export', load: async () => (await import('./export.js')).exportCommand },
  // checking and using
  { name: 'validate', load: async () => (await import('./validate.js')).validateCommand },
  { name: 'engine', load: async () => (await import('./engine.js')).engineCommand },
  { name: 'planner', load: async () => (await import('./planner.js')).plannerCommand },
  { name: 'simulate', load: async () => (await import('./simulate.js')).simulateCommand },
  { name: 'sample', load: async () => (await import('./sample.js')).sampleCommand },
  { name: 'fits', load: async () => (await import('./fits.js')).fitsCommand },
];
