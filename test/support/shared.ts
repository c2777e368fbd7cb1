/**
 * Access to the real measurements in ../shared/data (never copied into the project).
 * When they are missing: under CI the test fails loudly; elsewhere it is skipped with a printed reason.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DATA = path.resolve(REPO_ROOT, '..', 'shared', 'data');

export function sharedPath(rel: string): string {
  return path.join(SHARED_DATA, rel);
}

/** True when the shared file exists. Throws under CI when it is missing; prints a skip reason otherwise. */
export function haveShared(rel: string): boolean {
  const p = sharedPath(rel);
  if (fs.existsSync(p)) return true;
  if (process.env['CI']) throw new Error(`required real data missing under CI: ${p}`);
  console.warn(`skipping: real data not found at ${p}`);
  return false;
}
