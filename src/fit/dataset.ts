/**
 * Fit data sets: experiments (model, GPU, TP, labels) with their steps — in memory, as a file /
 * directory streamed from disk, or as a re-runnable generator — and optional request-level targets.
 * The design rows of a data set for one basis come from `RowSource` (rows.ts).
 */
import { resolveDeployment } from '../model/context.js';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import YAML from 'yaml';
import { stepToJson, type Step } from '../steps/step.js';
import { stepFiles } from '../steps/io.js';
import { checkInside, loadManifest, type ManifestOptions } from '../steps/manifest.js';
import { InputError } from '../io/errors.js';
import { readAllTargets as readTargetRows } from '../steps/targets.js';
import { isBatchSource, type FitDataset, type FitExperiment, type SingleExperimentSpec } from './dataset-types.js';
import { inMemorySteps, iterateSteps } from './step-lines.js';

export type {
  BadLineSink,
  ExperimentSpec,
  ExperimentSummary,
  FitDataset,
  FitExperiment,
  RequestTarget,
  RowKind,
  RowVisitor,
  SingleExperimentSpec,
  StepSource,
  BatchSource,
} from './dataset-types.js';
export { isBatchSource } from './dataset-types.js';
export { inMemorySteps } from './step-lines.js';
export { ROW_KINDS } from './dataset-types.js';
export { RowSource } from './rows.js';
export { readLineBatches } from './step-lines.js';

/** One experiment from explicit values (loads and checks the model config and GPU datasheet). */
export function experimentFrom(spec: SingleExperimentSpec): FitExperiment {
  const { arch, gpu } = resolveDeployment({ model: spec.model, gpu: spec.gpu, tp: spec.tp });
  if (typeof spec.steps === 'string') stepFiles(spec.steps);
  if (typeof spec.targets === 'string' && !fs.existsSync(spec.targets)) throw new InputError(`targets file '${spec.targets}' not found`);
  return {
    ref: { id: spec.experiment ?? `${arch.name}-${gpu.id}-tp${spec.tp}`, model: spec.model, gpu: spec.gpu, tp: spec.tp, groups: { ...(spec.groups ?? {}) } },
    arch,
    gpu,
    steps: spec.steps,
    targets: spec.targets,
  };
}

/**
 * Load a manifest (src/steps/manifest.ts format) as a data set. Entries may carry an optional
 * `targets:` path (request-level targets, relative to the manifest).
 */
export function datasetFromManifest(file: string, opts: ManifestOptions = {}): FitDataset {
  const m = loadManifest(file, opts);
  const raw = YAML.parse(fs.readFileSync(file, 'utf8')) as { experiments: Array<Record<string, unknown>> };
  const base = path.dirname(path.resolve(file));
  const experiments = m.experiments.map((e, i) => {
    const t = raw.experiments[i]?.['targets'];
    if (t !== undefined && (typeof t !== 'string' || t === '')) throw new InputError(`${file}: field 'experiments.${i}.targets': expected a path to a targets JSON Lines file`);
    const targets = typeof t === 'string' ? (path.isAbsolute(checkInside(file, base, `experiments.${i}.targets`, t, opts)) ? t : path.join(base, t)) : undefined;
    try {
      return experimentFrom({ steps: e.steps, model: e.model, gpu: e.gpu, tp: e.tp, experiment: e.id, groups: e.groups, targets });
    } catch (err) {
      if (err instanceof InputError) throw new InputError(`${file}: experiment '${e.id}': ${err.message}`);
      throw err;
    }
  });
  return { experiments, manifest: file };
}

/** `loadDataset({manifest})` or `loadDataset({steps, model, gpu, tp, experiment?, groups?, targets?})`. */
export function loadDataset(spec: ({ manifest: string } & ManifestOptions) | SingleExperimentSpec): FitDataset {
  if ('manifest' in spec) return datasetFromManifest(spec.manifest, spec);
  return { experiments: [experimentFrom(spec)] };
}

/** Read every step of a data set into memory (for small data: tests, validation suites). */
export async function materializeDataset(ds: FitDataset): Promise<FitDataset> {
  const experiments: FitExperiment[] = [];
  for (const e of ds.experiments) {
    const steps: Step[] = [];
    for await (const { step } of iterateSteps(e)) steps.push(step);
    const targets = typeof e.targets === 'string' ? await readTargetRows(e.targets) : e.targets;
    experiments.push({ ...e, steps, targets });
  }
  return { experiments, manifest: ds.manifest };
}

/** A path as recorded in provenance: relative to the working directory when inside it. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), path.resolve(p));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : path.resolve(p);
}

async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Inputs of a data set with their SHA-256 (step files, target files, model configs, GPU datasheets,
 * the manifest). In-memory steps / targets are hashed as their canonical JSON lines under
 * `memory:<experiment>/steps`; generator sources are listed as `generator:<experiment>` with
 * hash "unhashed" (not re-run just to hash).
 */
export async function hashDatasetInputs(ds: FitDataset): Promise<{ path: string; sha256: string }[]> {
  const out: { path: string; sha256: string }[] = [];
  const seen = new Set<string>();
  const addFile = async (p: string): Promise<void> => {
    const d = displayPath(p);
    if (seen.has(d)) return;
    seen.add(d);
    out.push({ path: d, sha256: await sha256File(p) });
  };
  if (ds.manifest) await addFile(ds.manifest);
  for (const e of ds.experiments) {
    if (typeof e.steps === 'string') {
      for (const f of stepFiles(e.steps)) await addFile(f);
    } else if (Array.isArray(e.steps) || (isBatchSource(e.steps) && Array.isArray(e.steps.batches))) {
      const h = crypto.createHash('sha256');
      for await (const s of inMemorySteps(e.steps)) h.update(stepToJson(s) + '\n');
      out.push({ path: `memory:${e.ref.id}/steps`, sha256: h.digest('hex') });
    } else {
      out.push({ path: `generator:${e.ref.id}`, sha256: 'unhashed' });
    }
    if (typeof e.targets === 'string') await addFile(e.targets);
    else if (e.targets) {
      const h = crypto.createHash('sha256');
      for (const t of e.targets) h.update(JSON.stringify(t) + '\n');
      out.push({ path: `memory:${e.ref.id}/targets`, sha256: h.digest('hex') });
    }
    if (fs.existsSync(e.arch.source)) await addFile(e.arch.source);
    if (fs.existsSync(e.gpu.file)) await addFile(e.gpu.file);
  }
  return out;
}
