import { Command } from '@commander-js/extra-typings';
import { resolveDeployment } from '../model/context.js';
import type { CliIO } from './io.js';
import { intOption, floatOption } from './io.js';
import { syntheticSteps } from '../basis/synthetic.js';
import { writeSteps } from '../steps/io.js';

export function sampleCommand(io: CliIO) {
  return new Command('sample')
    .description('generate synthetic step records from a known ground-truth formula plus noise (for demos and tests)')
    .option('--model <id|path>', 'model config id or path', 'llama-3.1-8b')
    .option('--gpu <id|path>', 'GPU datasheet id or path', 'h100-sxm')
    .option('--tp <n>', 'tensor-parallel degree', intOption('--tp'), 1)
    .option('--num-steps <n>', 'number of steps to generate (was --steps)', intOption('--num-steps'), 2000)
    .option('--max-num-batched-tokens <tokens>', 'max_num_batched_tokens: tokens per step (was --budget)', intOption('--max-num-batched-tokens'), 2048)
    .option('--max-num-seqs <n>', 'max_num_seqs: requests per step (was --max-seqs)', intOption('--max-num-seqs'), 64)
    .option('--noise <sigma>', 'log-normal noise σ on durations (0.03 ≈ 3%)', floatOption('--noise', 0), 0.03)
    .option('--seed <n>', 'random seed', intOption('--seed', 0), 1)
    .option('--experiment <name>', 'experiment name written on each record (default <model>-<gpu>-tp<N>)')
    .requiredOption('--out <file>', 'output step records (JSONL, or Parquet when the name ends in .parquet; written atomically)')
    .action(async (o) => {
      const { arch, gpu } = resolveDeployment({ model: o.model, gpu: o.gpu, tp: o.tp });
      const experiment = o.experiment ?? `${arch.name}-${gpu.id}-tp${o.tp}`;
      const n = await writeSteps(
        o.out,
        syntheticSteps(
          { arch, gpu, tp: o.tp },
          {
            steps: o.numSteps,
            seed: o.seed,
            experiment,
            budget: o.maxNumBatchedTokens,
            maxSeqs: o.maxNumSeqs,
            noise: o.noise,
          },
        ),
      );
      io.err(`sample: ${n} steps → ${o.out}`);
    });
}
