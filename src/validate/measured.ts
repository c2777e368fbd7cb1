/**
 * The real GPU step timings of `data/measured/` (issue 18): single forward steps of
 * chunked-prefill/decode compositions timed on an NVIDIA H200 by `tools/gpu-steps/harness.py`
 * (random BF16 weights, FA2 varlen attention, no paging), for two dense 8B models, eager and
 * with CUDA graphs. These rows are the only per-step measurements of mixed batches stepfit has:
 * every other suite uses pure-phase sweeps or request-level totals.
 *
 * Splits (one GPU kind only, so there is no cross-GPU split; it is added when a second GPU's
 * campaign lands):
 * - interpolation within a model and execution mode: every 4th step of the plan (by its plan
 *   index, so eager seed-0 and seed-1 runs are split alike) is held out, the rest train;
 * - held-out model: fit on one model (both eager runs, or the graph run), predict the other.
 * The suite reads the bundled files (it needs no ../shared data).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../io/errors.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { readAllSteps } from '../steps/io.js';
import { DEFAULT_CONFIG, SEED_CONFIG, type Split, type Suite, type SuiteExperiment } from './suite.js';

export const MEASURED_DIR = path.join(PACKAGE_ROOT, 'data', 'measured');

/** Metadata of one harness run, as written by tools/gpu-steps/harness.py (the fields this suite reads). */
interface HarnessMeta {
  experiment: string;
  smoke_test?: boolean;
  dry_run?: boolean;
  model?: { name?: string; config_path?: string };
  implementation?: { cuda_graphs?: boolean };
  parallelism?: { tp?: number };
}

/** configs/models id for a harness config path (`…/configs/models/<id>.json`). */
function modelId(meta: HarnessMeta, file: string): string {
  const p = meta.model?.config_path;
  if (typeof p !== 'string' || !p.endsWith('.json')) throw new InputError(`${file}: model.config_path: expected the path of a configs/models/<id>.json`);
  return path.basename(p, '.json');
}

/** Experiments of the measured folder: one per `<exp>.steps.jsonl.gz` with its `<exp>.meta.json`. */
export async function loadMeasured(dir: string = MEASURED_DIR): Promise<SuiteExperiment[]> {
  if (!fs.existsSync(dir)) throw new InputError(`${dir}: not found (suite 'measured' reads the bundled data/measured folder)`);
  const metas = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.meta.json') && !f.endsWith('.plan.meta.json'))
    .sort();
  const out: SuiteExperiment[] = [];
  for (const m of metas) {
    const file = path.join(dir, m);
    let meta: HarnessMeta;
    try {
      meta = JSON.parse(fs.readFileSync(file, 'utf8')) as HarnessMeta;
    } catch {
      throw new InputError(`${file}: not valid JSON`);
    }
    if (meta.smoke_test || meta.dry_run) continue; // CPU smoke tests and plans carry no GPU timings
    const steps = await readAllSteps(path.join(dir, m.replace(/\.meta\.json$/, '.steps.jsonl.gz')));
    out.push({
      id: meta.experiment,
      model: modelId(meta, file),
      gpu: 'h200',
      tp: meta.parallelism?.tp ?? 1,
      labels: { mode: meta.implementation?.cuda_graphs ? 'graphs' : 'eager' },
      steps,
    });
  }
  if (out.length === 0) throw new InputError(`${dir}: no measured experiments (*.meta.json with *.steps.jsonl.gz)`);
  return out;
}

const heldOut = (step: number): boolean => step % 4 === 0;
const is =
  (model: string, mode: string) =>
  (e: SuiteExperiment): boolean =>
    e.model === model && e.labels['mode'] === mode;

function interpolation(model: string, mode: string): Split {
  const sel = is(model, mode);
  return {
    name: `interpolation: ${model} ${mode}`,
    trainDesc: `${model} H200 ${mode}, 3 of every 4 plan steps`,
    testDesc: 'same runs, every 4th plan step',
    inTrain: (e, s) => sel(e) && !heldOut(s.step),
    inTest: (e, s) => sel(e) && heldOut(s.step),
  };
}

function newModel(train: string, test: string, mode: string): Split {
  return {
    name: `new model: ${train} → ${test} ${mode}`,
    trainDesc: `${train} H200 ${mode}, all steps`,
    testDesc: `${test} H200 ${mode}, all steps`,
    inTrain: (e) => is(train, mode)(e),
    inTest: (e) => is(test, mode)(e),
  };
}

const L = 'llama-3.1-8b';
const Q = 'qwen3-8b';

export const MEASURED_SPLITS: readonly Split[] = Object.freeze([
  interpolation(L, 'eager'),
  interpolation(Q, 'eager'),
  interpolation(L, 'graphs'),
  interpolation(Q, 'graphs'),
  newModel(L, Q, 'eager'),
  newModel(Q, L, 'eager'),
  newModel(L, Q, 'graphs'),
  newModel(Q, L, 'graphs'),
]);

export const measuredSuite: Suite = Object.freeze({
  name: 'measured',
  description: 'real H200 step timings of mixed chunked-prefill/decode batches (tools/gpu-steps, data/measured): Llama-3.1-8B and Qwen3-8B, eager and CUDA graphs',
  bundled: true,
  async load() {
    const experiments = await loadMeasured();
    const n = experiments.reduce((a, e) => a + e.steps.length, 0);
    const notes = [
      `${experiments.length} experiments, ${n} timed steps (median of 3 reps after 1 warm-up each) from ${path.relative(PACKAGE_ROOT, MEASURED_DIR)}; budget 2048 tokens, 256 sequences`,
      'one GPU kind (H200): no cross-GPU split; the harness uses FA2 varlen attention without split-KV, so short chunks on long contexts are slow (the heavy tail of every split)',
    ];
    return { source: MEASURED_DIR, notes, experiments };
  },
  splits: MEASURED_SPLITS,
  configs: [SEED_CONFIG, DEFAULT_CONFIG],
});
