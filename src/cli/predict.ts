import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intOption } from './io.js';
import { UsageError } from '../io/errors.js';
import { withAtomicWriter } from '../io/atomic.js';
import { readSteps } from '../steps/io.js';
import { loadFit } from '../predict/load.js';
import { resolveContext } from '../predict/context.js';
import { makePredictor } from '../predict/predict.js';
import { ExtrapolationCheck } from '../predict/extrapolation.js';
import { parseGridSpec } from '../predict/grid.js';
import { predictStepsCsv, predictGridCsv, newStats } from '../predict/stream.js';
import { accuracyClauses, contextLabel, provenanceOf } from '../predict/accuracy.js';
import { PREDICT_COLUMNS } from '../predict/csv.js';
import { FITS_DIR } from '../io/fit-ref.js';
import { nearestFits, nearestLine, readCards, readTransfers } from '../fits/nearest.js';
import { SkippedLines, SKIP_BAD_HELP } from './skip-bad.js';

export function predictCommand(io: CliIO) {
  return new Command('predict')
    .description('predict step times (µs) with 95% prediction intervals from a fit file, for step records or a grid of batch shapes')
    .requiredOption('--fit <file>', 'fit file (fits/*.json) or a published fit id (stepfit fits list)')
    .option('--steps <path>', "step records to predict (JSONL, .jsonl.gz, .parquet, a directory, or '-' for standard input); with duration_us the error is reported when they ran on this model/GPU/TP")
    .option(
      '--grid <spec>',
      "grid of batch shapes instead of --steps, e.g. 'batch=1,8,64;context=512,4096;prefill=0,512,2048' (keys batch, context, prefill, prior; ranges a..b, a..b+step, a..b*factor)",
    )
    .requiredOption('--model <id|path>', 'model: a configs/models id or a HuggingFace config.json path')
    .requiredOption('--gpu <id|path>', 'GPU: a configs/hardware id or a datasheet JSON path')
    .option('--tp <n>', 'tensor-parallel degree', intOption('--tp'), 1)
    .option('--experiment <name>', "experiment name written on grid rows (default 'grid')")
    .requiredOption('--out <file>', `output CSV (written atomically; '-' for standard output), columns ${PREDICT_COLUMNS.join(',')}`)
    .option('--skip-bad', SKIP_BAD_HELP)
    .action(async (o) => {
      const skipped = new SkippedLines(o.skipBad === true);
      if ((o.steps === undefined) === (o.grid === undefined)) throw new UsageError('predict: give exactly one of --steps or --grid');
      const grid = o.grid !== undefined ? parseGridSpec(o.grid) : null;
      const loaded = loadFit(o.fit);
      const { ctx, ref } = resolveContext(o.model, o.gpu, o.tp);
      const pr = makePredictor(loaded, ctx);
      const check = new ExtrapolationCheck(loaded.fit, ref);
      const stats = newStats();
      await withAtomicWriter(o.out, async (w) => {
        const chunks = grid
          ? predictGridCsv(grid, pr, stats, check, o.experiment ?? 'grid')
          : predictStepsCsv(readSteps(o.steps!, skipped.readOptions()), pr, stats, check, provenanceOf(loaded.fit, ref));
        for await (const c of chunks) await w.write(c);
      });
      const summary = skipped.summary();
      if (summary) io.err(summary);
      printExtrapolation(io, 'predict', check);
      // with a published fit (an id from stepfit fits list): say when the asked model/GPU has none of its own
      const near = path.resolve(path.dirname(loaded.path)) === FITS_DIR ? nearestFits(o.model, o.gpu, readCards(), readTransfers()) : null;
      if (near) io.err(`predict: note: ${nearestLine(o.model, o.gpu, near)}`);
      let line = `predict: ${stats.rows} ${grid ? 'grid points' : 'steps'} → ${o.out === '-' ? 'standard output' : o.out} (${pr.name}, ${ctx.arch.name}, ${ctx.gpu.id}, TP ${o.tp})`;
      for (const c of accuracyClauses(stats.accuracy, contextLabel(o.model, o.gpu, o.tp), pr.hasInterval)) line += `; ${c}`;
      if (!pr.hasInterval) line += '; no prediction interval (fit file has no residual degrees of freedom)';
      else if (!pr.hasCovariance) line += '; intervals cover residual noise only (fit file has no covariance)';
      io.err(line);
    });
}

/**
 * A new model / GPU / TP is what a what-if asks for: a note. Steps beyond the training ranges are a warning
 * (the fit has never seen such batches, whatever the context).
 */
export function printExtrapolation(io: CliIO, cmd: string, check: ExtrapolationCheck): void {
  const ctx = check.contextSummary();
  if (ctx) io.err(`${cmd}: note: ${ctx}`);
  const ranges = check.rangeSummary();
  if (ranges) io.err(`${cmd}: warning: ${ranges}`);
}
