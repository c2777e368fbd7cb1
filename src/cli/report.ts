import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Command } from '@commander-js/extra-typings';
import cliProgress from 'cli-progress';
import type { CliIO } from './io.js';
import { intOption } from './io.js';
import { InputError, UsageError } from '../io/errors.js';
import { writeFilesAtomic } from '../io/atomic.js';
import { loadFit, type LoadedFit } from '../predict/load.js';
import { loadDataset, type FitDataset } from '../fit/api.js';
import { datasetFromFlags } from './fit.js';
import { buildReport } from '../report/build.js';
import { pct, int } from '../report/format.js';
import { SkippedLines, SKIP_BAD_HELP } from './skip-bad.js';

/** Fail early (before any work) when `dir` cannot be created or written: its nearest existing ancestor must be a writable directory. */
export function checkWritableDir(dir: string, flag = '--out'): void {
  let p = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(p)) break;
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  let ok = false;
  let why = '';
  try {
    if (!fs.statSync(p).isDirectory()) why = `'${p}' is not a directory`;
    else {
      fs.accessSync(p, fs.constants.W_OK);
      ok = true;
    }
  } catch (e) {
    why = `'${p}' is not writable (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
  }
  if (!ok) throw new InputError(`${flag} '${dir}': cannot write the output there: ${why}`);
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * The fit's own training data, located from its provenance (for `report` without --steps/--manifest):
 * a manifest input, or — for a one-experiment fit — its single step file, each found at the
 * recorded path (relative to the current directory) with the recorded SHA-256.
 */
export function trainingDataset(loaded: LoadedFit): { ds: FitDataset; description: string } {
  const { fit } = loaded;
  const found = fit.provenance.inputs.filter((i) => fs.existsSync(i.path) && fs.statSync(i.path).isFile() && sha256(i.path) === i.sha256);
  const manifest = found.find((i) => /\.ya?ml$/i.test(i.path));
  if (manifest) return { ds: loadDataset({ manifest: manifest.path }), description: `Training data of the fit: manifest ${manifest.path} (from the fit file's provenance)` };
  const stepFiles = found.filter((i) => /\.jsonl(\.gz)?$/i.test(i.path));
  if (fit.experiments.length === 1 && stepFiles.length === 1) {
    const e = fit.experiments[0]!;
    return {
      ds: loadDataset({ steps: stepFiles[0]!.path, model: e.model, gpu: e.gpu, tp: e.tp, experiment: e.id, groups: e.groups }),
      description: `Training data of the fit: ${stepFiles[0]!.path} (from the fit file's provenance)`,
    };
  }
  throw new UsageError(
    `report: give --steps (with --model/--gpu/--tp) or --manifest: the training data of ${loaded.path} could not be located from its provenance (inputs must exist at their recorded paths with the recorded SHA-256)`,
  );
}

export function reportCommand(io: CliIO) {
  return new Command('report')
    .description(
      'accuracy report of a fit on measured steps: index.html (self-contained) + report.md + plots (SVG and PNG), against the seven-term baseline, the analytical engine and a naive baseline',
    )
    .requiredOption('--fit <file>', 'fit file (fits/*.json)')
    .option('--steps <path>', 'step records with duration_us (JSONL, .jsonl.gz, or a directory) of one experiment; needs --model/--gpu/--tp (was --data)')
    .option('--model <id|path>', 'model of --steps')
    .option('--gpu <id|path>', 'GPU of --steps')
    .option('--tp <n>', 'tensor-parallel degree of --steps', intOption('--tp'), 1)
    .option('--experiment <id>', 'experiment id of --steps (default <model>-<gpu>-tp<N>)')
    .option('--group <labels>', "labels of --steps' experiment, e.g. 'workload=sharegpt'")
    .option('--manifest <file>', 'many experiments: YAML/JSON manifest (experiments: [{id, steps, model, gpu, tp, groups}])')
    .option('--allow-outside', "let manifest paths leave the manifest's folder (refused by default)")
    .requiredOption('--out <dir>', 'output directory, e.g. reports/<name>/ (files replaced atomically)')
    .option('--title <text>', 'report title')
    .option('--no-seed', 'skip the seven-term seed baseline refit')
    .option('--no-engine', 'skip the analytical engine comparison')
    .option('--skip-bad', SKIP_BAD_HELP)
    .action(async (o) => {
      checkWritableDir(o.out);
      const loaded = loadFit(o.fit);
      let ds: FitDataset;
      let description: string;
      if (o.steps === undefined && o.manifest === undefined) {
        if (o.model !== undefined || o.gpu !== undefined) throw new UsageError('report: --model/--gpu describe --steps; give --steps too');
        ({ ds, description } = trainingDataset(loaded));
      } else {
        ds = datasetFromFlags({ steps: o.steps, manifest: o.manifest, model: o.model, gpu: o.gpu, tp: o.tp, experiment: o.experiment, group: o.group, allowOutside: o.allowOutside }, 'report');
        description = o.manifest !== undefined ? `Manifest ${o.manifest}` : `Steps ${o.steps} (${o.model}, ${o.gpu}, TP ${o.tp})`;
      }
      const skipped = new SkippedLines(o.skipBad === true);
      ds = skipped.dataset(ds);
      const bar = io.interactive
        ? new cliProgress.SingleBar({ stream: process.stderr, format: 'report [{bar}] {value}/{total} {stage}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
        : null;
      let started = false;
      const onProgress = (stage: string, done: number, total: number): void => {
        if (!bar) return;
        if (!started) {
          bar.start(total, done, { stage });
          started = true;
        }
        bar.setTotal(total);
        bar.update(done, { stage });
      };
      let result: Awaited<ReturnType<typeof buildReport>>;
      try {
        result = await buildReport(loaded, ds, o.out, { title: o.title, dataDescription: description, seed: o.seed, engine: o.engine, onProgress });
      } finally {
        if (started) bar!.stop();
      }
      writeFilesAtomic(result.files);
      const summary = skipped.summary();
      if (summary) io.err(summary);
      const m = result.model;
      const worst = m.worst[0];
      io.err(
        `report: ${int(m.n)} steps, MAPE ${pct(m.headline.mape)} (p90 ${pct(m.headline.p90Ape)})${worst ? `, worst ${worst.label} ${worst.group} ${pct(worst.mape)}` : ''}; ${result.files.length} files`,
      );
      io.out(path.join(o.out, 'index.html'));
    });
}
