/**
 * `npm run bench [-- name...]`: runs every bench/*.bench.ts (or the named ones) and prints figures.
 * Each bench module exports `default async function (log: (line: string) => void): Promise<void>`.
 * Run with --expose-gc so benches can measure retained memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)));
for (const f of files) {
  const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { default: (log: (s: string) => void) => Promise<void> };
  console.log(`## ${f.replace(/\.bench\.ts$/, '')}`);
  await mod.default((s) => console.log(s));
}
