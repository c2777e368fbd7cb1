import { alphaFromFile } from '../fit/alpha-data.js';
import { formatAlpha } from '../fit/alpha.js';
import { Command, Option } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intOption, floatOption } from './io.js';
import { InputError, UsageError } from '../io/errors.js';
import { BASES, DEFAULT_BASIS } from '../basis/registry.js';
import { loadDataset, type FitDataset } from '../fit/dataset.js';
import { fitDataset } from '../fit/program.js';
import { AUTO_MAX_WORKERS, AUTO_MIN_GROUPS, autoWorkers } from '../fit/row-pool.js';
import { parseCv, FIT_METHODS, DEFAULT_RIDGE_LAMBDA, type CvSpec, type FitMethod, type FitOptions, type TermBounds } from '../fit/options.js';
import { buildFitFile, fitProvenance } from '../fit/build.js';
import { writeFitFile } from '../fit/fitfile.js';
import { formatFit } from '../fit/format.js';
import { DEFAULT_FIT } from '../fit/defaults.js';
import { getBasis } from '../basis/registry.js';
import { physicalBounds } from '../basis/types.js';
import { skippedSummary } from './skip-bad.js';

/** Re-exported from skip-bad.ts (where it moved so that `features` does not load the fit). */
export { skippedSummary };

/** `a=1,b=2` → {a: '1', b: '2'} (for --bounds / --prior / --group). */
export function parseAssignments(flag: string, spec: string): [string, string][] {
  const out: [string, string][] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new UsageError(`${flag}: expected name=value pairs separated by commas, got '${part}'`);
    out.push([part.slice(0, i).trim(), part.slice(i + 1).trim()]);
  }
  return out;
}

/** --cv parsed at the command line into a typed scheme (a malformed scheme is a usage error, exit 2, like every other option value). */
export function cvOption(v: string): CvSpec {
  try {
    return parseCv(v);
  } catch (e) {
    if (e instanceof InputError) throw new UsageError(e.message);
    throw e;
  }
}

const parseNum = (flag: string, name: string, v: string): number => {
  const x = Number(v);
  if (v === '' || !Number.isFinite(x)) throw new UsageError(`${flag}: term '${name}': expected a number, got '${v}'`);
  return x;
};

/** `--bounds prefill=0:,constant=0:1e4` → {prefill: [0, null], constant: [0, 1e4]} (empty side = unbounded). */
export function parseBounds(spec: string): Record<string, [number | null, number | null]> {
  const out: Record<string, [number | null, number | null]> = {};
  for (const [name, v] of parseAssignments('--bounds', spec)) {
    const m = /^([^:]*):([^:]*)$/.exec(v);
    if (!m) throw new UsageError(`--bounds: term '${name}': expected lo:hi (either side may be empty), got '${v}'`);
    out[name] = [m[1]!.trim() === '' ? null : parseNum('--bounds', name, m[1]!.trim()), m[2]!.trim() === '' ? null : parseNum('--bounds', name, m[2]!.trim())];
  }
  return out;
}

/** Data-set flags shared by `fit` and `evaluate`. */
export function datasetFromFlags(
  o: { steps?: string; manifest?: string; model?: string; gpu?: string; tp?: number; experiment?: string; group?: string; targets?: string; allowOutside?: boolean },
  cmd: string,
): FitDataset {
  if (o.manifest !== undefined) {
    const extra = (['steps', 'model', 'gpu', 'experiment', 'group', 'targets'] as const).filter((k) => o[k] !== undefined);
    if (extra.length > 0) throw new UsageError(`${cmd}: --manifest describes the experiments; drop ${extra.map((k) => '--' + k).join(', ')}`);
    return loadDataset({ manifest: o.manifest, allowOutside: o.allowOutside === true });
  }
  if (o.steps === undefined) throw new UsageError(`${cmd}: give --steps with --model/--gpu/--tp for one experiment, or --manifest for many`);
  if (o.model === undefined || o.gpu === undefined) throw new UsageError(`${cmd}: --steps needs --model and --gpu (and --tp, default 1)`);
  const groups = o.group ? Object.fromEntries(parseAssignments('--group', o.group)) : {};
  return loadDataset({ steps: o.steps, model: o.model, gpu: o.gpu, tp: o.tp ?? 1, experiment: o.experiment, groups, targets: o.targets });
}

export function commandLine(cmd: { parent: unknown }): string {
  const raw = (cmd.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];
  return ['stepfit', ...raw].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** The flags of `fit` as commander parses them. */
interface FitFlags {
  basis: string;
  method?: FitMethod;
  weight: 'none' | 'relative';
  bounds?: string;
  lambda?: number;
  prior?: string;
  huberK?: number;
  huberMaxIter?: number;
  basisParam?: string;
  cv?: CvSpec;
  seed: number;
  bootstrap: number;
  onCollinear: 'resolve' | 'fail';
}

/** `--bounds`: 'physical' | 'none' | per-term spec; default physical for huber and bounded (DEFAULT_FIT), none otherwise. */
function boundsFromFlags(o: FitFlags, method: FitMethod): TermBounds | undefined {
  const spec = o.bounds ?? (method === 'huber' || method === 'bounded' ? DEFAULT_FIT.bounds : 'none');
  if (spec === 'physical') return physicalBounds(getBasis(o.basis));
  if (spec === 'none') return undefined;
  return parseBounds(spec);
}

/** The typed fit options from the command line (every string parsed here; the fitter sees no option text). */
export function fitOptionsFromFlags(o: FitFlags): FitOptions {
  const method: FitMethod = o.method ?? (o.basis === 'seed' ? 'nnls' : DEFAULT_FIT.method);
  const opts: FitOptions = { basis: o.basis, method, weight: o.weight, seed: o.seed, cv: o.cv ?? null, bootstrap: o.bootstrap, collinear: o.onCollinear };
  if (o.basisParam !== undefined) opts.basisParams = Object.fromEntries(parseAssignments('--basis-param', o.basisParam).map(([k, v]) => [k, parseNum('--basis-param', k, v)]));
  const bounds = boundsFromFlags(o, method);
  if (bounds) opts.bounds = bounds;
  if (o.lambda !== undefined || o.prior !== undefined) {
    if (method === 'ols' || method === 'nnls') throw new UsageError(`--lambda / --prior apply to --method ridge, bounded or huber (got --method ${method})`);
    const lambda = o.lambda ?? (method === 'ridge' ? DEFAULT_RIDGE_LAMBDA : DEFAULT_FIT.boundedRidgeLambda);
    opts.ridge = { lambda, prior: o.prior ? Object.fromEntries(parseAssignments('--prior', o.prior).map(([k, v]) => [k, parseNum('--prior', k, v)])) : undefined };
  } else if ((method === 'huber' || method === 'bounded') && opts.bounds !== undefined) {
    opts.ridge = { lambda: DEFAULT_FIT.boundedRidgeLambda };
  }
  if (o.huberK !== undefined || o.huberMaxIter !== undefined) {
    if (method !== 'huber') throw new UsageError(`--huber-k / --huber-max-iter apply to --method huber (got --method ${method})`);
    opts.huber = { k: o.huberK, maxIter: o.huberMaxIter };
  }
  return opts;
}

/** The data-set flags (one experiment, or a manifest). */
function withDatasetOptions(c: Command) {
  return c
    .option('--steps <path>', 'step records of one experiment (JSONL, .jsonl.gz, .parquet, or a directory)')
    .option('--model <id|path>', 'model of that experiment: a configs/models id or a config.json path')
    .option('--gpu <id|path>', 'GPU of that experiment: a configs/hardware id or a datasheet path')
    .option('--tp <n>', 'tensor-parallel degree of that experiment', intOption('--tp'), 1)
    .option('--experiment <id>', 'experiment id (default <model>-<gpu>-tp<N>)')
    .option('--group <labels>', "labels of that experiment for grouped metrics / CV, e.g. 'workload=sharegpt'")
    .option('--targets <file>', 'request-level targets of that experiment (JSONL: experiment, request, kind, steps, duration_us)')
    .option('--manifest <file>', 'YAML/JSON manifest: experiments: [{id, steps, model, gpu, tp, groups, targets?}] (paths relative to it)')
    .option('--allow-outside', "let manifest paths leave the manifest's folder (refused by default)");
}

/** The fit flags: basis, method and its settings, CV, seed, bootstrap. */
function withMethodOptions(c: ReturnType<typeof withDatasetOptions>) {
  return c
    .addOption(new Option('--basis <name>', 'basis (terms) to fit').choices(Object.keys(BASES)).default(DEFAULT_BASIS))
    .addOption(
      new Option(
        '--method <m>',
        "ols (with standard errors) | nnls (all terms ≥ 0, the published baseline's choice) | bounded (--bounds) | ridge (toward a prior) | huber (robust IRLS). Default: huber with physical bounds and λ = 1e-6 (the held-out validation winner); nnls for --basis seed (as published)",
      ).choices(FIT_METHODS as FitMethod[]),
    )
    .addOption(
      new Option('--weight <w>', 'row weights: relative = 1/y² (minimise squared relative error, what MAPE measures) | none').choices(['none', 'relative'] as const).default('relative' as const),
    )
    .option(
      '--bounds <spec>',
      "per-term bounds, e.g. 'prefill=0.5:4,constant=0:' (empty side = unbounded; unlisted terms unbounded), or 'physical' (each term's physical lower bound: ≥ 1 for times at datasheet peak, ≥ 0 otherwise) or 'none'; default: physical for --method huber and bounded, none otherwise",
    )
    .option(
      '--lambda <x>',
      'ridge strength λ on the column-scaled normal equations (each diagonal = 1; λ → ∞ returns the prior); default 1e-3 for ridge, 1e-6 for bounded and huber',
      floatOption('--lambda', 0),
    )
    .option('--prior <spec>', "ridge prior per term, e.g. 'prefill=1,constant=0' (default: the basis priors: multipliers 1, counts 0)")
    .option('--huber-k <k>', 'Huber threshold in robust-scale units', floatOption('--huber-k', 0))
    .option('--huber-max-iter <n>', 'Huber IRLS iteration cap (one pass over the data each)', intOption('--huber-max-iter'))
    .option(
      '--basis-param <spec>',
      "fix basis parameters instead of fitting them, e.g. 'tp_comm_knee_mib=2.63' (default: every parameter is fitted on the training rows by profile likelihood over its fixed grid, falling back to its default when the data cannot identify it)",
    )
    .option('--cv <scheme>', "cross-validation: 'kfold:K' (seeded) or 'group:<experiment|model|gpu|tp|label>' (leave one group out)", cvOption)
    .option('--seed <n>', 'seed for k-fold assignment and bootstrap', intOption('--seed', 0), 1)
    .option('--bootstrap <n>', 'Poisson-bootstrap replicates for standard errors / percentile intervals (0 = analytic)', intOption('--bootstrap', 0), 0)
    .addOption(
      new Option('--on-collinear <mode>', 'terms the data cannot identify: resolve (drop / merge them, recorded in the fit file) | fail')
        .choices(['resolve', 'fail'] as const)
        .default('resolve' as const),
    );
}

/** `--workers`: a positive integer or 'auto'. */
function workersOption(v: string): number | 'auto' {
  return v === 'auto' ? 'auto' : intOption('--workers')(v);
}

/** `--skip-bad`: every experiment reports its bad lines into `skipped` instead of failing. */
function withSkipBad(ds: FitDataset, skipped: Set<string>): FitDataset {
  return {
    ...ds,
    experiments: ds.experiments.map((e) => ({
      ...e,
      skipBad: {
        bad: (m: string) => {
          skipped.add(m);
        },
      },
    })),
  };
}

export function fitCommand(io: CliIO) {
  return withMethodOptions(
    withDatasetOptions(new Command('fit').description('fit basis coefficients to measured step times (one experiment, or many via a manifest); prints the coefficient table and writes a fit file')),
  )
    .option(
      '--alpha-from <file>',
      'also fit BLIS α terms (API time before queueing, post-decode fixed + per output token) from request labels (reconstruct --format vllm-otlp --labels) or vllm request spans; stored in the fit file with CIs',
    )
    .option('--out <file>', 'fit file to write (atomically), e.g. fits/x.json; without it nothing is written')
    .option('--json', 'print the fit file JSON on stdout instead of the table')
    .option('--skip-bad', 'skip malformed step lines (listed in a summary) instead of stopping at the first one')
    .option(
      '--workers <n|auto>',
      `threads that read Parquet step files and evaluate their design rows (the fit does not depend on the count); auto: the available cores, at most ${AUTO_MAX_WORKERS}, when the Parquet input has ≥ ${AUTO_MIN_GROUPS} row groups (≈ 1M steps), else 1`,
      workersOption,
      'auto' as const,
    )
    .action(async (o, cmd) => {
      const skipped = new Set<string>();
      const ds0 = datasetFromFlags(o, 'fit');
      const ds = o.skipBad ? withSkipBad(ds0, skipped) : ds0;
      const opts = fitOptionsFromFlags(o);
      opts.workers = o.workers === 'auto' ? await autoWorkers(ds) : o.workers;
      const t0 = process.hrtime.bigint();
      const result = await fitDataset(ds, opts);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const fit = buildFitFile(result, await fitProvenance(ds, commandLine(cmd as unknown as { parent: unknown })));
      if (o.alphaFrom !== undefined) fit.alpha = await alphaFromFile(o.alphaFrom);
      if (o.out !== undefined) writeFitFile(o.out, fit);
      if (o.json) io.out(JSON.stringify(fit, null, 2));
      else io.out([...formatFit(fit), ...(fit.alpha ? formatAlpha(fit.alpha) : [])].join('\n'));
      if (skipped.size > 0) io.err(skippedSummary(skipped));
      io.err(
        `fit: ${result.rows} rows, ${result.passes} pass${result.passes > 1 ? 'es' : ''} over the data, ${seconds.toFixed(2)} s${o.out !== undefined ? ` → ${o.out}` : ' (no --out: nothing written)'}`,
      );
    });
}
