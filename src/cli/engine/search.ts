/** `stepfit engine search`: TP/PP/EP/DP layouts of N GPUs that meet latency targets at the best throughput per GPU. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { z } from 'zod';
import { searchParallelism } from '../../analytic/search.js';
import { resolveDeployment } from '../../model/context.js';
import { type CliIO, floatOption, intOption } from '../io.js';
import { f1, f2, table } from './format.js';
import { addEngineFlags, addModelIds, addWorkload, EngineFlags, engineOptionsOf, ModelFlags, WorkloadFlags, workloadOf } from './options.js';

const SearchFlags = z.object({ ...ModelFlags.shape, ...EngineFlags.shape, ...WorkloadFlags.shape, gpus: z.number(), ttftMs: z.number().optional(), tpotMs: z.number().optional(), top: z.number() });

export function searchCommand(io: CliIO): CommandUnknownOpts {
  const c = new Command('search')
    .description('search TP/PP/EP/DP for N GPUs: meet TTFT/TPOT targets at maximum output throughput per GPU')
    .requiredOption('--gpus <n>', 'total GPUs', intOption('--gpus'))
    .option('--ttft-ms <ms>', 'TTFT target, ms', floatOption('--ttft-ms', 0))
    .option('--tpot-ms <ms>', 'TPOT target, ms', floatOption('--tpot-ms', 0))
    .option('--top <n>', 'rows to print', intOption('--top'), 10);
  addModelIds(c);
  addEngineFlags(c);
  addWorkload(c);
  return c.action(async (raw) => {
    const o = SearchFlags.parse(raw);
    const { arch, gpu } = resolveDeployment({ model: o.model, gpu: o.gpu, check: false });
    const res = searchParallelism(arch, gpu, o.gpus, engineOptionsOf(o), workloadOf(o, gpu), { ttftMs: o.ttftMs, tpotMs: o.tpotMs });
    if (o.json) {
      io.out(JSON.stringify(res, null, 2));
      return;
    }
    io.out(
      `${res.candidates.length} layouts of ${o.gpus} × ${gpu.id} for ${arch.name}; ${res.candidates.filter((x) => x.meets).length} meet the targets${res.best ? `; best: ${res.best.layout}` : ''}`,
    );
    io.out(
      table(
        ['layout', 'meets', 'TTFT ms', 'TPOT ms', 'tok/s', 'tok/s/GPU', 'concurrency', 'note'],
        res.candidates
          .slice(0, o.top)
          .map((x) => [
            x.layout,
            x.meets ? 'yes' : 'no',
            x.ttftMs === null ? '-' : f1(x.ttftMs),
            x.tpotMs === null ? '-' : f2(x.tpotMs),
            x.outputTokensPerS === null ? '-' : f1(x.outputTokensPerS),
            x.outputTokensPerSPerGpu === null ? '-' : f1(x.outputTokensPerSPerGpu),
            x.concurrency ?? '-',
            x.note ?? '',
          ]),
      ),
    );
    if (!res.best) io.out('no layout meets the targets');
  });
}
