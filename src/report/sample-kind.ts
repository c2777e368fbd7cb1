/** Whether a report's rows were the fit's training data: the SHA-256 of the data's step files against the fit's recorded inputs. */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { stepToJson, type Step } from '../steps/step.js';
import { stepFiles } from '../steps/io.js';
import type { LoadedFit } from '../predict/load.js';
import type { FitDataset } from '../fit/api.js';

export interface SampleKind {
  kind: 'in-sample' | 'held-out' | 'partly in-sample' | 'unknown';
  detail: string;
}

/** SHA-256 of a file's bytes (streamed). */
function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * In-sample or held-out: compare the SHA-256 of the data's step files (or, for in-memory steps,
 * of their canonical JSON lines — as the fitter records them) with the fit's recorded inputs.
 */
export async function sampleKind(loaded: LoadedFit, ds: FitDataset): Promise<SampleKind> {
  const fitInputs = new Set(loaded.fit.provenance.inputs.map((i) => i.sha256));
  if (fitInputs.size === 0) return { kind: 'unknown', detail: 'the fit file records no input hashes: cannot tell whether these rows were its training data' };
  const hashes: string[] = [];
  for (const e of ds.experiments) {
    if (typeof e.steps === 'string') {
      for (const f of stepFiles(e.steps)) hashes.push(await sha256File(f));
    } else if (Array.isArray(e.steps)) {
      const h = crypto.createHash('sha256');
      for (const s of e.steps as readonly Step[]) h.update(stepToJson(s) + '\n');
      hashes.push(h.digest('hex'));
    } else return { kind: 'unknown', detail: "steps come from a generator: cannot tell whether these rows were the fit's training data" };
  }
  const hit = hashes.filter((h) => fitInputs.has(h)).length;
  if (hit === hashes.length) return { kind: 'in-sample', detail: 'every step file here was also a training input of the fit (same SHA-256): these accuracy numbers are in-sample' };
  if (hit === 0) return { kind: 'held-out', detail: 'none of these step files was a training input of the fit (by SHA-256): these accuracy numbers are out-of-sample' };
  return { kind: 'partly in-sample', detail: `${hit} of ${hashes.length} step files were training inputs of the fit (by SHA-256)` };
}
