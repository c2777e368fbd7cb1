/**
 * Access to the real measurements: the bundled subsets in data/vendor, else ../shared/data.
 * When they are missing: under CI the test fails loudly; elsewhere it is skipped with a printed reason.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DATA = path.resolve(REPO_ROOT, '..', 'shared', 'data');

/** The subsets of the shared data that ship with stepfit (data/vendor, same relative layout). */
export const VENDORED_DATA = path.join(REPO_ROOT, 'data', 'vendor');

/** A shared-data file: the bundled copy when data/vendor has it, else ../shared/data. */
export function sharedPath(rel: string): string {
  const v = path.join(VENDORED_DATA, rel);
  return fs.existsSync(v) ? v : path.join(SHARED_DATA, rel);
}

/** True when the shared file exists. Throws under CI when it is missing; prints a skip reason otherwise. */
export function haveShared(rel: string): boolean {
  const p = sharedPath(rel);
  if (fs.existsSync(p)) return true;
  if (process.env['CI']) throw new Error(`required real data missing under CI: ${p}`);
  console.warn(`skipping: real data not found at ${p}`);
  return false;
}
