/**
 * The main job on bundled sample data (the README quick start): the whole pipeline end to end on
 * `data/sample/` — a vLLM OTLP scheduler trace simulated by `stepfit simulate` (1,200 requests,
 * llama-3.1-8b on h100-sxm, analytical-engine step times with noise, 10% of steps traced):
 *
 *   reconstruct → fit (default basis, 5-fold CV) → report → export (table) ,
 *   plus the seven-term seed fit exported for BLIS.
 *
 * It ends by printing the path of the report (stdout) and three next commands to try (stderr).
 */
import path from 'node:path';
import fs from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import type { RunCli } from './commands.js';
import { InputError } from '../io/errors.js';

export const DEMO_SAMPLE_DIR = path.join(PACKAGE_ROOT, 'data', 'sample');

export function demoCommand(io: CliIO, main: RunCli) {
  return new Command('demo')
    .description('run the whole pipeline (reconstruct → fit → report → export) on the bundled sample trace; prints the report path')
    .option('--in <dir>', 'experiment directory with traces.jsonl.gz + exp-config.yaml', DEMO_SAMPLE_DIR)
    .option('--model <id|path>', 'model of the sample', 'llama-3.1-8b')
    .option('--gpu <id|path>', 'GPU of the sample', 'h100-sxm')
    .option('--out <dir>', 'output directory (steps, fits, report, exports)', 'reports/demo')
    .action(async (o) => {
      const out = path.resolve(o.out);
      fs.mkdirSync(out, { recursive: true });
      const t0 = Date.now();
      const run = async (args: string[]): Promise<void> => {
        io.err(`\n$ stepfit ${args.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`);
        const code = await main(args, io);
        if (code !== 0) throw new InputError(`demo stage 'stepfit ${args[0]}' failed with exit code ${code}`);
      };
      const f = (name: string): string => path.join(out, name);
      const exp = ['--model', o.model, '--gpu', o.gpu, '--tp', '1'];
      await run([
        'reconstruct',
        '--format',
        'vllm-otlp',
        '--in',
        o.in,
        '--experiment',
        'sample',
        '--duration',
        'duration-us',
        '--out',
        f('steps.jsonl'),
        '--targets',
        f('targets.jsonl'),
        '--labels',
        f('requests.csv'),
      ]);
      await run(['fit', '--steps', f('steps.jsonl'), ...exp, '--experiment', 'sample', '--targets', f('targets.jsonl'), '--cv', 'kfold:5', '--out', f('fit.json')]);
      await run(['fit', '--steps', f('steps.jsonl'), ...exp, '--experiment', 'sample', '--targets', f('targets.jsonl'), '--basis', 'seed', '--out', f('fit-seed.json')]);
      await run([
        'report',
        '--fit',
        f('fit.json'),
        '--steps',
        f('steps.jsonl'),
        ...exp,
        '--experiment',
        'sample',
        '--title',
        'stepfit demo: simulated vLLM trace, Llama-3.1-8B on H100 SXM',
        '--out',
        f('report'),
      ]);
      await run(['export', '--fit', f('fit.json'), '--to', 'table', ...exp, '--batch', '1,8,32,64', '--context', '512,2048,8192', '--prefill', '0,512,1024', '--out', f('table.csv')]);
      await run(['export', '--fit', f('fit-seed.json'), '--to', 'blis', '--out', f('blis-defaults.yaml')]);
      io.err(`\ndemo finished in ${((Date.now() - t0) / 1000).toFixed(1)} s; outputs in ${out}`);
      const rel = (name: string): string => {
        const r = path.relative(process.cwd(), f(name));
        return r.startsWith('..') || path.isAbsolute(r) ? f(name) : r;
      };
      io.err(
        [
          '',
          'next, try:',
          `  stepfit predict --fit ${rel('fit.json')} --steps ${rel('steps.jsonl')} ${exp.join(' ')} --out ${rel('predicted.csv')}`,
          `  stepfit simulate --fit ${rel('fit.json')} ${exp.join(' ')} --workload poisson:rate=5,requests=200 --out ${rel('sim')}`,
          `  stepfit export --fit ${rel('fit.json')} --to blis --out ${rel('blis.yaml')}`,
        ].join('\n'),
      );
      io.out(path.join(out, 'report', 'index.html'));
    });
}
