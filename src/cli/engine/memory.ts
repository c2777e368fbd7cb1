/** `stepfit engine memory`: per-GPU memory, max concurrent tokens and sequences. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { z } from 'zod';
import { engineMemory, type MemoryOptions } from '../../analytic/memory.js';
import { engineModel } from '../../analytic/model.js';
import { InputError, UsageError } from '../../io/errors.js';
import { resolveDeployment } from '../../model/context.js';
import { type CliIO, floatOption, intOption } from '../io.js';
import { table } from './format.js';
import { addEngineFlags, addModelIds, addParallelism, DeploymentFlags, deploymentOf, engineOptionsOf } from './options.js';

const MemoryFlags = DeploymentFlags.extend({ maxModelLen: z.number(), gpuMemUtil: z.number(), maxBatchedTokens: z.number() });

export function memoryCommand(io: CliIO): CommandUnknownOpts {
  const c = new Command('memory')
    .description('per-GPU memory: weights + KV cache + activations + reserved; max concurrent tokens and sequences')
    .option('--max-model-len <tokens>', 'context length per sequence for the max-sequences figure', intOption('--max-model-len'), 4096)
    .option('--gpu-mem-util <fraction>', 'fraction of GPU memory the engine may use (vLLM gpu_memory_utilization)', floatOption('--gpu-mem-util', 0.01), 0.9)
    .option('--max-batched-tokens <n>', 'tokens per step (sizes activations)', intOption('--max-batched-tokens'), 8192);
  addModelIds(c);
  addParallelism(c);
  addEngineFlags(c);
  return c.action(async (raw) => {
    const o = MemoryFlags.parse(raw);
    if (o.gpuMemUtil > 1) throw new UsageError(`option '--gpu-mem-util' expects a fraction in (0, 1], got ${o.gpuMemUtil}`);
    const model = engineModel(resolveDeployment(deploymentOf(o)), engineOptionsOf(o, o));
    const mo: MemoryOptions = { maxModelLen: o.maxModelLen, gpuMemUtil: o.gpuMemUtil, maxBatchedTokens: o.maxBatchedTokens };
    const m = engineMemory(model.engine, mo);
    if (o.json) {
      io.out(JSON.stringify(m, null, 2));
      if (!m.fits) throw new InputError(`does not fit: ${m.reason}`);
      return;
    }
    const gb = (b: number): string => (b / 1e9).toFixed(2);
    io.out(`${model.name}`);
    io.out(
      table(
        ['per GPU', 'GB'],
        [
          ['capacity', gb(m.capacityBytes)],
          ['usable (× gpu-mem-util)', gb(m.usableBytes)],
          ['weights', gb(m.weightBytes)],
          ['activations (peak)', gb(m.activationBytes)],
          ['reserved (runtime, NCCL)', gb(m.reservedBytes)],
          ['KV cache', gb(m.kvCacheBytes)],
        ],
      ),
    );
    io.out(`KV bytes per token per GPU: ${m.kvBytesPerToken.toFixed(0)}; max tokens in KV: ${m.maxKvTokens}; max sequences of ${o.maxModelLen} tokens: ${m.maxSequences}`);
    if (!m.fits) throw new InputError(`does not fit: ${m.reason}`);
  });
}
