/**
 * Cross-validation folds and bootstrap replicates as functions of a row's (experiment, index): no state
 * kept per row, so every pass (and every order of passes) assigns the same rows to the same folds.
 *  - group:<field>: the fold of a row is its experiment's value of the field (leave one value out);
 *  - kfold:K: a seeded balanced assignment — a random permutation of 0..K−1 per block of K rows;
 *  - bootstrap replicate b: a Poisson(1) multiplicity per row from a hash of (seed, experiment, row, b).
 */
import type { FitDataset } from './dataset.js';
import { GROUP_FIELDS, groupValue, sortValues } from './groups.js';
import type { CvSpec } from './options.js';
import { InputError } from '../io/errors.js';
import { hash32, hashUniform, poisson1 } from '../util/stats.js';

export interface Folds {
  /** Number of folds (0: no cross-validation). */
  K: number;
  /** Display name of each fold ('1'…'K', or 'field=value'). */
  names: string[];
  /** Fold of a row (0…K−1); only called when K > 0. */
  foldOf: (e: number, i: number) => number;
}

/** Leave-one-group-out folds: one per distinct value of the field over the experiments. */
function groupFolds(ds: FitDataset, field: string): Folds {
  const vals = ds.experiments.map((_, e) => groupValue(ds, e, field));
  const missing = vals.indexOf(undefined);
  if (missing >= 0) {
    const known = [...GROUP_FIELDS, ...new Set(ds.experiments.flatMap((x) => Object.keys(x.ref.groups)))];
    throw new InputError(`--cv group:${field}: experiment '${ds.experiments[missing]!.ref.id}' has no '${field}' label (fields: ${known.join(', ')})`);
  }
  const values = sortValues(field, [...new Set(vals as string[])]);
  if (values.length < 2) throw new InputError(`--cv group:${field}: needs at least 2 distinct values to leave one out, the data have only '${values[0]}'`);
  const expFold = Int32Array.from(vals, (v) => values.indexOf(v!));
  return { K: values.length, names: values.map((v) => `${field}=${v}`), foldOf: (e) => expFold[e]! };
}

/** Seeded balanced K folds: within each block of K consecutive rows of an experiment, a random permutation of 0..K−1. */
function kfold(K: number, seed: number): Folds {
  const perm = new Int32Array(K);
  const foldSeed = hash32(seed, 0xf01d, 0);
  let permE = -1;
  let permB = -1;
  const foldOf = (e: number, i: number): number => {
    const b = Math.floor(i / K);
    if (b !== permB || e !== permE) {
      for (let a = 0; a < K; a++) perm[a] = a;
      for (let a = K - 1; a > 0; a--) {
        const r = Math.floor(hashUniform(foldSeed, e, b, a) * (a + 1));
        const t = perm[a]!;
        perm[a] = perm[r]!;
        perm[r] = t;
      }
      permB = b;
      permE = e;
    }
    return perm[i % K]!;
  };
  return { K, names: Array.from({ length: K }, (_, k) => String(k + 1)), foldOf };
}

/** The folds of a scheme (K = 0 without one). */
export function makeFolds(ds: FitDataset, cv: CvSpec | null, seed: number): Folds {
  if (cv?.kind === 'group') return groupFolds(ds, cv.field);
  if (cv?.kind === 'kfold') return kfold(cv.k, seed);
  return { K: 0, names: [], foldOf: () => -1 };
}

/** Poisson(1) bootstrap multiplicity of row (e, i) in replicate b. */
export function bootstrapMultiplicity(seed: number): (e: number, i: number, b: number) => number {
  const bootSeed = hash32(seed, 0xb007, 0);
  return (e, i, b) => poisson1(hashUniform(bootSeed, e, i, b));
}
