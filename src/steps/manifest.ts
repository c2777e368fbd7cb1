/**
 * Experiment manifest (YAML or JSON): which step files belong to which (model, GPU, TP).
 *
 * experiments:
 *   - id: llama2-70b-h100-tp4
 *     steps: steps/llama2-70b-h100-tp4.jsonl   # file or directory, relative to the manifest
 *     model: llama-2-70b                        # configs/models id, or a config.json path relative to the manifest
 *     gpu: h100-sxm                             # configs/hardware id, or a datasheet path relative to the manifest
 *     tp: 4
 *     groups: { workload: sharegpt }            # optional labels for grouped metrics / CV
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { InputError } from '../io/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkKeys } from '../io/keys.js';

export const ManifestEntry = z.object({
  id: z.string().min(1),
  steps: z.string().min(1),
  model: z.string().min(1),
  gpu: z.string().min(1),
  tp: z.number().int().positive(),
  groups: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).default({}),
});
export type ManifestEntry = z.infer<typeof ManifestEntry>;
export const Manifest = z.object({ experiments: z.array(ManifestEntry).min(1) });
export type Manifest = z.infer<typeof Manifest>;

/** Keys an experiment entry may carry (`targets` is read by fit/dataset.ts). */
export const MANIFEST_ENTRY_KEYS: readonly string[] = [...Object.keys(ManifestEntry.shape), 'targets'];

/** Refuse unknown keys (a misspelt `stpes:` is not dropped silently), with the closest known key. */
function checkManifestKeys(file: string, doc: unknown): void {
  checkKeys(file, '', doc, Object.keys(Manifest.shape));
  const ex = (doc as { experiments?: unknown } | null)?.experiments;
  if (Array.isArray(ex)) ex.forEach((e, i) => checkKeys(file, `experiments.${i}`, e, MANIFEST_ENTRY_KEYS));
}

/** Resolve a manifest-relative reference: ids (no slash, no .json) stay as they are. */
function resolveRef(base: string, ref: string): string {
  if (!ref.includes('/') && !ref.endsWith('.json')) return ref;
  return path.isAbsolute(ref) ? ref : path.join(base, ref);
}

export interface ManifestOptions {
  /** Allow paths that leave the manifest's directory (`../…`, absolute paths elsewhere). Default false. */
  readonly allowOutside?: boolean;
}

/** Refuse a path that leaves the manifest's folder (a manifest from elsewhere must not read /etc/passwd). */
export function checkInside(file: string, base: string, field: string, p: string, o: ManifestOptions): string {
  const rel = path.relative(base, path.resolve(base, p));
  if (!o.allowOutside && (rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel))) {
    throw new InputError(`${file}: field '${field}': path '${p}' leaves the manifest's folder ${base} (pass --allow-outside to permit it)`);
  }
  return p;
}

/** Load a manifest; `steps` paths (and model/gpu paths) come back resolved against the manifest's directory. */
export function loadManifest(file: string, opts: ManifestOptions = {}): Manifest {
  if (!fs.existsSync(file)) throw new InputError(`manifest '${file}' not found`);
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  checkManifestKeys(file, doc);
  const r = Manifest.safeParse(doc);
  if (!r.success) {
    const iss = r.error.issues[0]!;
    throw new InputError(`${file}: field '${iss.path.join('.')}': ${iss.message}`);
  }
  const base = path.dirname(path.resolve(file));
  const ids = new Set<string>();
  for (const e of r.data.experiments) {
    if (ids.has(e.id)) throw new InputError(`${file}: duplicate experiment id '${e.id}'`);
    ids.add(e.id);
  }
  r.data.experiments.forEach((e, i) => {
    checkInside(file, base, `experiments.${i}.steps`, e.steps, opts);
    if (e.model.includes('/') || e.model.endsWith('.json')) checkInside(file, base, `experiments.${i}.model`, e.model, opts);
    if (e.gpu.includes('/') || e.gpu.endsWith('.json')) checkInside(file, base, `experiments.${i}.gpu`, e.gpu, opts);
  });
  return {
    experiments: r.data.experiments.map((e) => ({
      ...e,
      steps: path.isAbsolute(e.steps) ? e.steps : path.join(base, e.steps),
      model: resolveRef(base, e.model),
      gpu: resolveRef(base, e.gpu),
    })),
  };
}

/** Write a manifest (YAML) atomically; `steps` paths are written relative to the manifest. */
export function writeManifest(file: string, m: Manifest): void {
  const base = path.dirname(path.resolve(file));
  const rel = {
    experiments: m.experiments.map((e) => ({ ...e, steps: path.isAbsolute(e.steps) ? path.relative(base, e.steps) : e.steps })),
  };
  writeFileAtomic(file, YAML.stringify(rel));
}
