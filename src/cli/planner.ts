/**
 * `stepfit planner --out planner.html [--fit f.json ...]` — write the self-contained capacity-planner
 * page (engine, bundled configs, optional fit summaries; no network) atomically.
 */
import fs from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { InputError } from '../io/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { plannerHtml } from '../planner/build.js';
import { VERSION } from '../version.js';

export function plannerCommand(io: CliIO) {
  return new Command('planner')
    .description('write a self-contained HTML capacity planner: pick model, GPU, parallelism and load, see TTFT/TPOT/throughput/cost from the engine, in the browser, offline')
    .requiredOption('--out <file>', 'output HTML file (written atomically)')
    .option('--fit <file...>', 'fit files (fits/*.json) whose held-out error the page shows')
    .option('--json', 'print a JSON summary instead of a line')
    .action(async (o) => {
      const fits = o.fit ?? [];
      for (const f of fits) if (!fs.existsSync(f)) throw new InputError(`fit file '${f}' not found`);
      const html = await plannerHtml({ fitFiles: fits, version: VERSION });
      writeFileAtomic(o.out, html);
      const summary = { out: o.out, bytes: Buffer.byteLength(html), fits: fits.length };
      if (o.json) io.out(JSON.stringify(summary, null, 2));
      else io.out(`wrote ${o.out} (${(summary.bytes / 1024).toFixed(0)} KiB, self-contained; ${fits.length} fit file(s) embedded)`);
    });
}
