/**
 * Where the published fits live and how a fit id becomes a fit file path — the one helper every
 * command that takes `--fit` uses (through `loadFit`), so `--fit <id>` works wherever `--fit <file>` does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from './paths.js';

/** The published fits folder (one `<id>.json` fit file, `<id>.card.json`, `<id>.blis.yaml` per fit). */
export const FITS_DIR = path.join(PACKAGE_ROOT, 'fits');

const ID = /^[a-z0-9][a-z0-9._-]*$/;

/** The fit file path for a published fit id; null when `ref` names no published fit. */
export function publishedFitPath(ref: string, dir: string = FITS_DIR): string | null {
  if (!ID.test(ref)) return null;
  const p = path.join(dir, `${ref}.json`);
  return fs.existsSync(p) && fs.statSync(p).isFile() ? p : null;
}

/** A fit file path as given, or the published fit it names (`stepfit fits list` ids). Existing files win. */
export function resolveFitRef(ref: string, dir: string = FITS_DIR): string {
  if (fs.existsSync(ref)) return ref;
  return publishedFitPath(ref, dir) ?? ref;
}
