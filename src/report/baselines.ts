/**
 * The report's baselines that need the data before the main pass: the seven-term seed basis refit
 * on the report's rows, and the naive baseline's per-phase-mix median of the measured step time.
 * The medians are taken from the seed refit's first pass over each experiment (a tap on its step
 * stream); an experiment that pass did not read to the end (no refit, or it failed) gets a pass of
 * its own. Medians come from a quantile sketch: exact up to SKETCH_K rows per phase mix, within
 * RANK_ERROR·n in rank beyond (sketch.ts).
 */
import { InputError } from '../io/errors.js';
import type { Step } from '../steps/step.js';
import type { LoadedFit } from '../predict/load.js';
import { fitDataset, type FitDataset, type FitResult, type FitMethod } from '../fit/api.js';
import { QuantileSketch } from './sketch.js';
import { measuredSteps, phaseOf } from './steps.js';

export interface Baselines {
  seedFit: FitResult | null;
  seedNote?: string;
  seedMethod: FitMethod;
  /** Median measured step time per phase mix (prefill-only, decode-only, mixed); NaN without rows. */
  medians: [number, number, number];
}

/** Method for the seed refit: the fit's own method when it transfers (ols, nnls, huber), else NNLS (as BLIS trained its seven betas). */
export function seedMethodFor(fitMethod: string): FitMethod {
  return fitMethod === 'ols' || fitMethod === 'nnls' || fitMethod === 'huber' ? fitMethod : 'nnls';
}

/** Measured step times of one experiment by phase mix, filled from a step stream read to its end. */
class PhaseTap {
  started = false;
  done = false;
  sketches = [new QuantileSketch(), new QuantileSketch(), new QuantileSketch()];

  reset(): void {
    this.sketches = [new QuantileSketch(), new QuantileSketch(), new QuantileSketch()];
    this.done = false;
  }

  async *wrap(src: AsyncIterable<Step>): AsyncGenerator<Step> {
    this.started = true;
    for await (const s of src) {
      this.sketches[phaseOf(s)]!.add(s.durationUs!);
      yield s;
    }
    this.done = true;
  }
}

async function refitSeed(loaded: LoadedFit, ds: FitDataset, taps: PhaseTap[], method: FitMethod): Promise<{ seedFit: FitResult | null; seedNote?: string }> {
  // on the report's rows: measured steps only (request-level targets are not report rows)
  const measured: FitDataset = {
    experiments: ds.experiments.map((e, ei) => ({
      ...e,
      targets: undefined,
      steps: () => (taps[ei]!.started ? measuredSteps(e) : taps[ei]!.wrap(measuredSteps(e))),
    })),
  };
  try {
    const seedFit = await fitDataset(measured, { basis: 'seed', method, weight: loaded.fit.method.weight, seed: 1, collinear: 'resolve' });
    return { seedFit };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { seedFit: null, seedNote: `seed refit failed: ${e.message}` };
  }
}

/** The seed refit (unless opts.seed is false) and the naive baseline's medians. */
export async function reportBaselines(loaded: LoadedFit, ds: FitDataset, seed: boolean): Promise<Baselines> {
  const seedMethod = seedMethodFor(loaded.fit.method.name);
  const taps = ds.experiments.map(() => new PhaseTap());
  const refit = seed ? await refitSeed(loaded, ds, taps, seedMethod) : { seedFit: null, seedNote: 'not requested (--no-seed)' };
  for (let ei = 0; ei < ds.experiments.length; ei++) {
    const tap = taps[ei]!;
    if (tap.done) continue;
    tap.reset();
    for await (const s of measuredSteps(ds.experiments[ei]!)) tap.sketches[phaseOf(s)]!.add(s.durationUs!);
  }
  const medians = [0, 1, 2].map((k) => {
    const all = new QuantileSketch();
    for (const t of taps) all.merge(t.sketches[k]!);
    return all.quantile(0.5);
  }) as [number, number, number];
  return { ...refit, seedMethod, medians };
}
