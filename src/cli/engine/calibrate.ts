/** `stepfit engine calibrate`: efficiency curves of a GPU from per-operator microbenchmarks. */
import path from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { calibrate, efficiencyFileText } from '../../analytic/calibrate.js';
import { efficiencyFilePath } from '../../analytic/efficiency.js';
import { loadGpu } from '../../hardware/gpu.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { PACKAGE_ROOT } from '../../io/paths.js';
import type { CliIO } from '../io.js';
import { table } from './format.js';

export function calibrateCommand(io: CliIO): CommandUnknownOpts {
  return new Command('calibrate')
    .description('fit the efficiency curves of a GPU from per-operator microbenchmarks (AIConfigurator, Vidur) and write configs/efficiency/<gpu>.json')
    .requiredOption('--gpu <id|path>', 'GPU datasheet id or path')
    .option('--data <dir>', 'shared data root holding ai-dynamo__aiconfigurator/ and microsoft__vidur/', path.resolve(PACKAGE_ROOT, '..', 'shared', 'data'))
    .option('--aic-gpu <folder>', 'AIConfigurator system folder (default from the GPU id, e.g. h100_sxm)')
    .option('--vidur-gpu <folder>', "Vidur profiling folder (default from the GPU id, e.g. h100; '' for none)")
    .option('--out <file>', 'output file (default configs/efficiency/<gpu>.json)')
    .option('--json', 'print the calibration summary as JSON')
    .action(async (o) => {
      const gpu = loadGpu(o.gpu);
      const out = o.out ?? efficiencyFilePath(gpu.id);
      const { file, summary } = calibrate(gpu, {
        dataRoot: o.data,
        aicGpu: o.aicGpu,
        vidurGpu: o.vidurGpu,
        commandLine: `stepfit engine calibrate --gpu ${o.gpu}${o.aicGpu ? ` --aic-gpu ${o.aicGpu}` : ''}${o.vidurGpu !== undefined ? ` --vidur-gpu '${o.vidurGpu}'` : ''}`,
      });
      writeFileAtomic(out, efficiencyFileText(file));
      if (o.json) {
        io.out(JSON.stringify({ out, summary }, null, 2));
        return;
      }
      const pct = (x: number | null): string => (x === null ? '-' : x.toFixed(1));
      io.out(
        table(
          ['curve', 'train n', 'train MAPE %', 'held-out n', 'held-out MAPE %', 'held-out median %', 'held-out p90 %'],
          summary.map((s) => [s.curve, s.train.n, pct(s.train.mape), s.heldOut.n, pct(s.heldOut.mape), pct(s.heldOut.medianApe), pct(s.heldOut.p90Ape)]),
        ),
      );
      io.out(`wrote ${out}`);
    });
}
