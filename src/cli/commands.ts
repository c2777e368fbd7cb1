/** Every CLI command, in the order `stepfit --help` lists them. Adding a command: one file in cli/, one line here. */
import type { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { featuresCommand } from './features.js';
import { sampleCommand } from './sample.js';
import { demoCommand } from './demo.js';
import { simulateCommand } from './simulate.js';
import { predictCommand } from './predict.js';
import { reportCommand } from './report.js';
import { exportCommand } from './export.js';
import { fitCommand } from './fit.js';
import { evaluateCommand } from './evaluate.js';
import { engineCommand } from './engine.js';
import { validateCommand } from './validate.js';
import { reconstructCommand } from './reconstruct.js';
import { collectCommand } from './collect.js';
import { plannerCommand } from './planner.js';
import { fitsCommand } from './fits.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CommandFactory = (io: CliIO, run: RunCli) => Command<any, any, any>;

/** Runs a whole stepfit command line (cli/main.ts `main`), handed to commands that run others (demo). */
export type RunCli = (argv: string[], io: CliIO) => Promise<number>;

export const COMMANDS: CommandFactory[] = [
  // the pipeline, in order
  demoCommand,
  collectCommand,
  reconstructCommand,
  featuresCommand,
  fitCommand,
  evaluateCommand,
  predictCommand,
  reportCommand,
  exportCommand,
  // checking and using
  validateCommand,
  engineCommand,
  plannerCommand,
  simulateCommand,
  sampleCommand,
  fitsCommand,
];
