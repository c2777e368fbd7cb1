import { Command, Option } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intOption } from './io.js';
import { UsageError } from '../io/errors.js';
import { writeFileAtomic, withAtomicWriter } from '../io/atomic.js';
import { loadFit } from '../predict/load.js';
import { resolveContext } from '../predict/context.js';
import { makePredictor } from '../predict/predict.js';
import { ExtrapolationCheck } from '../predict/extrapolation.js';
import { printExtrapolation } from './predict.js';
import { makeGrid, parseValueList, countGridSteps, type GridKey } from '../predict/grid.js';
import { blisExport, BLIS_BACKENDS, type BlisBackend } from '../export/blis.js';
import { tableCsv } from '../export/table.js';
import { toModelJson, modelJsonText } from '../export/json.js';

const TARGETS = ['blis', 'table', 'json'] as const;

export function exportCommand(io: CliIO) {
  return new Command('export')
    .description('export a fit for simulators: blis (defaults.yaml fragment + --beta-coeffs flags), table (predicted step time over a batch-shape grid, CSV), json (stepfit model JSON)')
    .requiredOption('--fit <file>', 'fit file (fits/*.json) or a stepfit model JSON')
    .addOption(new Option('--to <format>', 'blis | table | json').choices(TARGETS).makeOptionMandatory())
    .option('--out <file>', "output file (written atomically); '-' or none: standard output")
    .addOption(
      new Option(
        '--blis-backend <name>',
        'blis: the BLIS latency model the fragment is for (trained-physics: current BLIS, key trained_physics_coefficients; trained-roofline: older releases, key trained_roofline_defaults)',
      )
        .choices(BLIS_BACKENDS as BlisBackend[])
        .default('trained-physics' as BlisBackend),
    )
    .option('--model <id|path>', 'table: model (configs/models id or config.json path)')
    .option('--gpu <id|path>', 'table: GPU (configs/hardware id or datasheet path)')
    .option('--tp <n>', 'table: tensor-parallel degree', intOption('--tp'), 1)
    .option('--batch <list>', 'table: decode batch sizes (requests), e.g. 0,1,8,64 or 1..256*2')
    .option('--context <list>', 'table: KV context of each decoding request (tokens), e.g. 512,2048,8192')
    .option('--prefill <list>', 'table: prefill tokens in the step (one chunk; 0 = none), e.g. 0,512,2048', '0')
    .option('--prior <list>', 'table: tokens of the prefill request already in the KV cache', '0')
    .action(async (o) => {
      const loaded = loadFit(o.fit);
      const emit = async (text: string): Promise<void> => {
        if (o.out !== undefined) writeFileAtomic(o.out, text);
        else io.out(text.replace(/\n$/, ''));
      };
      if (o.to === 'blis') {
        const tableOnly = (['model', 'gpu', 'batch', 'context'] as const).filter((k) => o[k] !== undefined);
        if (tableOnly.length) throw new UsageError(`export --to blis: ${tableOnly.map((k) => '--' + k).join(', ')} apply to --to table`);
        const b = blisExport(loaded.fit, loaded.path, o.blisBackend);
        await emit(b.yaml);
        for (const w of b.warnings) io.err(`export: ${b.notes.has(w) ? 'note' : 'warning'}: ${w}`);
        io.err(
          `export: BLIS ${o.blisBackend} fragment (${b.alphaCoeffs.length} alpha_coeffs${loaded.fit.alpha ? '' : ' (zeros: no α in the fit)'}, ${b.betaCoeffs.length} beta_coeffs)${o.out !== undefined ? ` → ${o.out}` : ''}`,
        );
        if (o.out !== undefined) io.out(b.flags);
        return;
      }
      if (o.to === 'json') {
        await emit(modelJsonText(toModelJson(loaded.fit, loaded.basis, loaded.path)));
        io.err(`export: stepfit model JSON (basis ${loaded.fit.basis} v${loaded.fit.basisVersion}, ${loaded.fit.terms.length} terms)${o.out !== undefined ? ` → ${o.out}` : ''}`);
        return;
      }
      // table
      if (o.model === undefined || o.gpu === undefined) throw new UsageError('export --to table: needs --model and --gpu (and --tp, default 1)');
      const lists: Partial<Record<GridKey, number[]>> = {};
      if (o.batch !== undefined) lists.batch = parseValueList(o.batch, '--batch');
      if (o.context !== undefined) lists.context = parseValueList(o.context, '--context');
      lists.prefill = parseValueList(o.prefill, '--prefill');
      lists.prior = parseValueList(o.prior, '--prior');
      const grid = makeGrid(lists, 'export --to table');
      const { ctx, ref } = resolveContext(o.model, o.gpu, o.tp);
      const pr = makePredictor(loaded, ctx);
      const check = new ExtrapolationCheck(loaded.fit, ref);
      if (o.out !== undefined) {
        await withAtomicWriter(o.out, async (w) => {
          for (const c of tableCsv(grid, pr, check)) await w.write(c);
        });
      } else {
        let all = '';
        for (const c of tableCsv(grid, pr, check)) all += c;
        io.out(all.replace(/\n$/, ''));
      }
      printExtrapolation(io, 'export', check);
      io.err(`export: table of ${countGridSteps(grid)} batch shapes (${pr.name}, ${ctx.arch.name}, ${ctx.gpu.id}, TP ${o.tp})${o.out !== undefined ? ` → ${o.out}` : ''}`);
    });
}
