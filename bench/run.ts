/**
 * `npm run bench [-- name...] [-- --save]`: runs every bench/*.bench.ts (or the named ones) and prints figures.
 * Each bench module exports `default async function (log: (line: string) => void, record?: Record): Promise<void>`;
 * `record(name, value, unit, better)` adds a figure that is compared with bench/baseline.json: each
 * recorded figure is printed with its ratio to the stored one (and flagged when it got worse by more
 * than 10 %), and `--save` stores this run's figures as the new baseline. Figures depend on the machine
 * and its load: compare runs made on the same machine.
 * Run with --expose-gc so benches can measure retained memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compareFigures, type Figure, type RecordFigure } from './util.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
const BASELINE = path.join(dir, 'baseline.json');
const args = process.argv.slice(2);
const save = args.includes('--save');
const wanted = args.filter((a) => !a.startsWith('--'));
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)));

interface Baseline {
  machine: string;
  date: string;
  figures: Record<string, Figure>;
}
const base: Baseline | undefined = fs.existsSync(BASELINE) ? (JSON.parse(fs.readFileSync(BASELINE, 'utf8')) as Baseline) : undefined;
if (base) console.log(`baseline: bench/baseline.json (${base.date}, ${base.machine})`);
else console.log('no bench/baseline.json yet: `npm run bench -- --save` stores this run as the baseline');

const figures: Record<string, Figure> = {};
for (const f of files) {
  const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { default: (log: (s: string) => void, record: RecordFigure) => Promise<void> };
  console.log(`## ${f.replace(/\.bench\.ts$/, '')}`);
  await mod.default(
    (s) => console.log(s),
    (name, value, unit, better) => {
      const fig: Figure = { value, unit, better };
      figures[name] = fig;
      console.log(`  ${compareFigures(name, fig, base?.figures[name])}`);
    },
  );
}

if (save) {
  // Keep figures of benches not run this time.
  const merged = { ...(base?.figures ?? {}), ...figures };
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, node ${process.version}`;
  fs.writeFileSync(BASELINE, `${JSON.stringify({ machine, date: new Date().toISOString(), figures: merged }, null, 2)}\n`);
  console.log(`saved ${Object.keys(figures).length} figures to bench/baseline.json`);
}
