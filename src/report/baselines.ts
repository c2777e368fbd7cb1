/**
 * The report's baselines that need the data before the main pass: the naive baseline's
 * per-phase-mix median of the measured step time, and the seven-term seed basis refit.
 *
 * - One pass counts the rows and fills a quantile sketch per phase mix (medians exact up to
 *   SKETCH_K rows per phase mix, within RANK_ERROR·n in rank beyond: sketch.ts).
 * - The seed refit uses every row up to SEED_MAX_ROWS; beyond, a seeded uniform sample of about
 *   SEED_MAX_ROWS rows (each row kept with probability SEED_MAX_ROWS / n, the same rows on every
 *   pass). A Huber refit takes one pass per IRLS iteration: on a sample the fitter replays its row
 *   cache (≈ 80 B per row) instead of re-reading millions of steps per iteration, and the memory
 *   stays bounded. Its predictions are still scored on every row.
 */
import { InputError } from '../io/errors.js';
import type { Step } from '../steps/step.js';
import type { LoadedFit } from '../predict/load.js';
import { fitDataset, type FitDataset, type FitResult, type FitMethod } from '../fit/api.js';
import { makeRng } from '../util/rng.js';
import { QuantileSketch } from './sketch.js';
import { measuredSteps, phaseOf } from './steps.js';

/** Rows the seed refit uses at most (beyond: a seeded uniform sample of about this many). */
export const SEED_MAX_ROWS = 1_000_000;

export interface Baselines {
  seedFit: FitResult | null;
  seedNote?: string;
  seedMethod: FitMethod;
  /** Rows the seed refit used (all rows, or the sample's size). */
  seedRows: number;
  /** Median measured step time per phase mix (prefill-only, decode-only, mixed); NaN without rows. */
  medians: [number, number, number];
}

/** Method for the seed refit: the fit's own method when it transfers (ols, nnls, huber), else NNLS (as BLIS trained its seven betas). */
export function seedMethodFor(fitMethod: string): FitMethod {
  return fitMethod === 'ols' || fitMethod === 'nnls' || fitMethod === 'huber' ? fitMethod : 'nnls';
}

/** One pass: the number of rows and the median measured step time per phase mix. */
async function phaseMedians(ds: FitDataset): Promise<{ rows: number; medians: [number, number, number] }> {
  const sketches = [new QuantileSketch(), new QuantileSketch(), new QuantileSketch()];
  let rows = 0;
  for (const e of ds.experiments) {
    for await (const s of measuredSteps(e)) {
      sketches[phaseOf(s)]!.add(s.durationUs!);
      rows++;
    }
  }
  return { rows, medians: sketches.map((s) => s.quantile(0.5)) as [number, number, number] };
}

/** The steps of a stream kept with probability `keep` (seeded: the same rows on every call). */
async function* sampled(src: AsyncIterable<Step>, keep: number, seed: number): AsyncGenerator<Step> {
  const rng = makeRng(seed);
  for await (const s of src) if (rng.next() < keep) yield s;
}

async function refitSeed(loaded: LoadedFit, ds: FitDataset, method: FitMethod, keep: number): Promise<{ seedFit: FitResult | null; seedNote?: string }> {
  // on the report's rows: measured steps only (request-level targets are not report rows)
  const measured: FitDataset = {
    experiments: ds.experiments.map((e, ei) => ({
      ...e,
      targets: undefined,
      steps: () => (keep < 1 ? sampled(measuredSteps(e), keep, 1000 + ei) : measuredSteps(e)),
    })),
  };
  try {
    return { seedFit: await fitDataset(measured, { basis: 'seed', method, weight: loaded.fit.method.weight, seed: 1, collinear: 'resolve' }) };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { seedFit: null, seedNote: `seed refit failed: ${e.message}` };
  }
}

/** The naive baseline's medians and the seed refit (unless `seed` is false). */
export async function reportBaselines(loaded: LoadedFit, ds: FitDataset, seed: boolean, maxSeedRows = SEED_MAX_ROWS): Promise<Baselines> {
  const seedMethod = seedMethodFor(loaded.fit.method.name);
  const { rows, medians } = await phaseMedians(ds);
  if (!seed) return { seedFit: null, seedNote: 'not requested (--no-seed)', seedMethod, seedRows: 0, medians };
  const keep = rows > maxSeedRows ? maxSeedRows / rows : 1;
  const refit = await refitSeed(loaded, ds, seedMethod, keep);
  return { ...refit, seedMethod, seedRows: refit.seedFit?.rows ?? 0, medians };
}
