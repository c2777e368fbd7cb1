/** The one table of bases. Adding a basis: write its file, add it here. */
import { InputError } from '../io/errors.js';
import type { Basis } from './types.js';
import { seedBasis } from './seed.js';
import { rooflineBasis } from './roofline.js';
import { servingBasis } from './serving.js';

export const BASES: Readonly<Record<string, Basis>> = Object.freeze({
  seed: seedBasis,
  roofline: rooflineBasis,
  serving: servingBasis,
});

/** The basis `stepfit fit` uses when none is named. */
export const DEFAULT_BASIS = 'serving';

export function getBasis(name: string, version?: number): Basis {
  const b = BASES[name];
  if (!b) throw new InputError(`unknown basis '${name}' (known: ${Object.keys(BASES).join(', ')})`);
  if (version !== undefined && version !== b.version) {
    throw new InputError(`basis '${name}' version ${version} is not supported (this stepfit has version ${b.version})`);
  }
  return b;
}
