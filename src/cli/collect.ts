/** `stepfit collect`: receive OTLP/HTTP traces (vLLM --otlp-traces-endpoint) and write span JSON Lines for `reconstruct --format vllm-request-spans`. */
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intOption } from './io.js';
import { UsageError } from '../io/errors.js';
import { parseListen, startCollector } from '../collect/server.js';

export function collectCommand(io: CliIO) {
  return new Command('collect')
    .description(
      'receive OTLP/HTTP traces (protobuf or JSON, POST /v1/traces) from vLLM and write OTLP JSON Lines for reconstruct --format vllm-request-spans; runs until Ctrl-C (SIGINT/SIGTERM flush and close the files)',
    )
    .option('--listen <[host]:port>', 'address to listen on', ':4318')
    .requiredOption('--out <dir>', 'directory for spans-<time>-<n>.jsonl files')
    .option('--rotate-mb <n>', 'start a new file after this many MiB', intOption('--rotate-mb'), 64)
    .action(async (o) => {
      let addr: { host: string; port: number };
      try {
        addr = parseListen(o.listen);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const c = await startCollector({ ...addr, out: o.out, rotateBytes: o.rotateMb * 1024 * 1024 });
      io.err(`collect: listening on http://${addr.host}:${c.port}/v1/traces, writing ${o.out} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void c.stop().then(() => resolve());
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      const s = c.stats;
      io.err(`collect: ${s.spans} spans in ${s.requests} requests → ${s.files.length} file(s)${s.rejected ? `; ${s.rejected} bad requests rejected` : ''}`);
      io.out(o.out);
    });
}
