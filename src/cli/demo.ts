/**
 * The main job on bundled sample data: runs the whole pipeline end to end and ends with the path
 * of its main output. Stages are added here as they land.
 */
import path from 'node:path';
import fs from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { main } from './main.js';
import { InputError } from '../io/errors.js';

export function demoCommand(io: CliIO) {
  return new Command('demo')
    .description('run the whole pipeline on the bundled sample data (the README quick start)')
    .option('--out <dir>', 'output directory', 'reports/demo')
    .action(async (o) => {
      const data = path.join(PACKAGE_ROOT, 'data', 'sample');
      const out = path.resolve(o.out);
      fs.mkdirSync(out, { recursive: true });
      const run = async (args: string[]): Promise<void> => {
        io.err(`$ stepfit ${args.join(' ')}`);
        const code = await main(args, io);
        if (code !== 0) throw new InputError(`demo stage 'stepfit ${args[0]}' failed with exit code ${code}`);
      };
      const steps = path.join(data, 'steps.jsonl');
      await run(['features', '--steps', steps, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--tp', '1', '--basis', 'seed', '--out', path.join(out, 'features.csv')]);
      io.out(path.join(out, 'features.csv'));
    });
}
