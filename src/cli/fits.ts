import fs from 'node:fs';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { InputError } from '../io/errors.js';
import { readCards } from '../fits/nearest.js';
import { FITS_DIR } from '../io/fit-ref.js';
import { rebuildFits } from '../fits/build.js';
import { FIT_SOURCES } from '../fits/sources.js';

const num = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '—');

export function fitsCommand(io: CliIO) {
  const cmd = new Command('fits').description('published fits (fits/): list, show, rebuild');
  cmd
    .command('list')
    .description('table of the published fits: id, model, GPU, TP, rows, in-sample and held-out MAPE, creation date')
    .action(() => {
      const cards = readCards();
      if (cards.length === 0) {
        io.out('no published fits (run stepfit fits rebuild)');
        return;
      }
      const rows = cards.map((c) => {
        const fit = JSON.parse(fs.readFileSync(path.join(FITS_DIR, `${c.id}.json`), 'utf8')) as { provenance?: { createdAt?: string } };
        return [c.id, c.model, c.gpu, String(c.tp), `${c.rows}`, num(c.inSample.mape), num(c.heldOut.mape), (fit.provenance?.createdAt ?? '').slice(0, 10)];
      });
      const head = ['id', 'model', 'GPU', 'TP', 'rows', 'in-sample MAPE %', 'held-out MAPE %', 'date'];
      const w = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
      for (const r of [head, ...rows])
        io.out(
          r
            .map((x, j) => x.padEnd(w[j]!))
            .join('  ')
            .trimEnd(),
        );
    });
  cmd
    .command('show')
    .description('one published fit: source, commit, regenerating command, errors, coefficients, BLIS fragment path')
    .argument('<id>', 'fit id (stepfit fits list)')
    .action((id) => {
      const c = readCards().find((x) => x.id === id);
      if (!c) throw new InputError(`fits show: no published fit '${id}' (stepfit fits list shows the ids)`);
      io.out(JSON.stringify(c, null, 2));
    });
  cmd
    .command('rebuild')
    .description('regenerate every published fit from its real data (deterministic except the creation time); sources whose data is absent are skipped')
    .option('--only <ids>', 'comma-separated fit ids (no README/transfer rewrite)')
    .option('--source <names>', `comma-separated sources (${FIT_SOURCES.map((s) => s.name).join(', ')}); no README/transfer rewrite`)
    .option('--out <dir>', 'output folder (default: the published fits/)')
    .action(async (o) => {
      const r = await rebuildFits({ dir: o.out ?? FITS_DIR, only: o.only?.split(',').map((s) => s.trim()), sources: o.source?.split(',').map((s) => s.trim()), log: (l) => io.err(l) });
      for (const s of r.skipped) io.out(`skipped ${s.source}: ${s.why}`);
      io.out(`fits rebuild: ${r.written.length} fits written, ${r.skipped.length} source(s) skipped, ${r.transfers.length} transfer rows → ${o.out ?? FITS_DIR}`);
    });
  return cmd;
}
