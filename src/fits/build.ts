/**
 * `stepfit fits rebuild`: one fit file per (data set, model, GPU, TP[, execution mode]) the real data
 * supports, with the default fit configuration (DEFAULT_CONFIG), a grouped-CV held-out error, the BLIS
 * fragment, a card (source, commit, regenerating command, errors) and the transfer errors between
 * published fits that share a GPU or a model family. Deterministic: only the fit file's
 * provenance.createdAt differs between runs over the same inputs.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fitDatasetSync, experimentFrom, type FitDataset } from '../fit/api.js';
import { buildFitFile, fitProvenance } from '../fit/build.js';
import { computeMetrics } from '../fit/metrics.js';
import type { FitFile } from '../fit/fitfile.js';
import { fittedModel } from '../predict/model.js';
import { getBasis } from '../basis/registry.js';
import { resolveDeployment } from '../model/context.js';
import { blisExport } from '../export/blis.js';
import { writeFileAtomic } from '../io/atomic.js';
import { engineOptions } from '../validate/run.js';
import { DEFAULT_CONFIG, SEED_CONFIG, type SuiteExperiment } from '../validate/suite.js';
import type { Step } from '../steps/step.js';
import type { RequestTarget } from '../steps/targets.js';
import { FIT_SOURCES, type FitSource } from './sources.js';

/** What `fits list` / `fits show` / predict read about a published fit (fits/<id>.card.json). */
export interface FitCard {
  id: string;
  source: string;
  origin: string;
  license: string;
  model: string;
  family: string;
  gpu: string;
  tp: number;
  mode: string | null;
  experiments: string[];
  rows: number;
  rowKind: 'steps' | 'request targets';
  command: string;
  inputs: { path: string; sha256: string }[];
  terms: Record<string, number>;
  alphaTerms: Record<string, number> | null;
  inSample: { mape: number; rows: number };
  heldOut: { mape: number; scheme: string; groups: number; description: string };
  blis: { file: string; basis: string; inSampleMape: number };
}

export interface TransferRow {
  from: string;
  to: string;
  relation: 'same GPU' | 'same model family';
  mape: number;
  rows: number;
}

/** Model family: the configs/models id up to its first '-' (llama, qwen3, bloom). */
export const modelFamily = (model: string): string => model.split('-')[0]!;

const sha256 = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Log2 batch class of a step (1, 2-3, 4-7, …): the grouped-CV fold of step data. */
function batchClass(s: Step): string {
  const b = s.prefill.length + s.decode.length;
  const k = Math.floor(Math.log2(Math.max(1, b)));
  const lo = 2 ** k;
  const hi = 2 ** (k + 1) - 1;
  return lo === hi ? `b${lo}` : `b${lo}-${hi}`;
}

interface Unit {
  id: string;
  source: FitSource;
  model: string;
  gpu: string;
  tp: number;
  mode: string | null;
  exps: SuiteExperiment[];
}

/** Group a source's experiments into published fits: same model, GPU, TP (and execution mode); derived rows (power-capped H100) excluded. */
function units(src: FitSource, exps: readonly SuiteExperiment[]): Unit[] {
  const by = new Map<string, Unit>();
  for (const e of exps) {
    if (e.labels['power'] === 'capped') continue; // derived from h100-80gb rows (×1.3), not measured
    const mode = e.labels['mode'] ?? null;
    const id = [src.name, e.model, e.gpu, `tp${e.tp}`, ...(mode ? [mode] : [])].join('-');
    const u = by.get(id) ?? { id, source: src, model: e.model, gpu: e.gpu, tp: e.tp, mode, exps: [] };
    u.exps.push(e);
    by.set(id, u);
  }
  return [...by.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The fit data set of a unit, each experiment split into CV groups (label `fold`). */
function dataset(u: Unit): { ds: FitDataset; groups: number; rows: number; kind: FitCard['rowKind'] } {
  const parts: FitDataset['experiments'][number][] = [];
  const folds = new Set<string>();
  let rows = 0;
  let kind: FitCard['rowKind'] = 'steps';
  for (const e of u.exps) {
    if (e.targets && e.targets.length > 0) {
      kind = 'request targets';
      const n = Number(e.labels['requests']);
      const q = (t: RequestTarget): string => `q${Math.min(3, Math.floor((4 * (e.arrivalRank?.get(t.request) ?? 0)) / n)) + 1}`;
      for (const f of ['q1', 'q2', 'q3', 'q4']) {
        const targets = e.targets.filter((t) => q(t) === f);
        if (targets.length === 0) continue;
        folds.add(f);
        rows += targets.length;
        parts.push(experimentFrom({ steps: [...e.steps], targets, model: e.model, gpu: e.gpu, tp: e.tp, experiment: `${e.id}#${f}`, groups: { fold: f } }));
      }
    } else {
      const measured = e.steps.filter((s) => s.durationUs !== undefined);
      const classes = [...new Set(measured.map(batchClass))].sort((a, b) => Number(a.slice(1).split('-')[0]) - Number(b.slice(1).split('-')[0]));
      for (const f of classes) {
        const steps = measured.filter((s) => batchClass(s) === f);
        folds.add(f);
        rows += steps.length;
        parts.push(experimentFrom({ steps, model: e.model, gpu: e.gpu, tp: e.tp, experiment: `${e.id}#${f}`, groups: { fold: f } }));
      }
    }
  }
  return { ds: { experiments: parts }, groups: folds.size, rows, kind };
}

/** Measured rows of a unit predicted with a fit file: steps with durations, or request targets (Σ of their steps). */
function transferMape(fit: FitFile, u: Unit): { mape: number; rows: number } {
  const pred: number[] = [];
  const meas: number[] = [];
  for (const e of u.exps) {
    const m = fittedModel(fit, resolveDeployment({ model: e.model, gpu: e.gpu, tp: e.tp }));
    if (e.targets && e.targets.length > 0) {
      const byNo = new Map(e.steps.map((s) => [s.step, s]));
      for (const t of e.targets) {
        let sum = 0;
        for (const k of t.steps) sum += m.predictUs(byNo.get(k)!);
        pred.push(sum);
        meas.push(t.durationUs);
      }
    } else {
      for (const s of e.steps)
        if (s.durationUs !== undefined) {
          pred.push(m.predictUs(s));
          meas.push(s.durationUs);
        }
    }
  }
  return { mape: computeMetrics(pred, meas).mape, rows: meas.length };
}

const round = (x: number, d = 3): number => Number(x.toFixed(d));

export interface RebuildOptions {
  /** Output folder (default: the published fits/). */
  dir: string;
  /** Only these fit ids (CI subset); transfers and README are then limited to them. */
  only?: readonly string[];
  /** Only these sources. */
  sources?: readonly string[];
  /** Fixed creation time (tests); default now. */
  createdAt?: string;
  log?: (line: string) => void;
}

export interface RebuildResult {
  written: string[];
  skipped: { source: string; why: string }[];
  cards: FitCard[];
  transfers: TransferRow[];
}

/** The input files of a source (listed, or every steps/meta file of its root), or the first one missing. */
function sourceFiles(src: FitSource): { root: string; files: readonly string[]; missing?: string } {
  const root = src.root();
  if (!fs.existsSync(root)) return { root, files: [], missing: root };
  const files =
    src.files.length > 0
      ? src.files
      : fs
          .readdirSync(root)
          .filter((f) => /\.(steps\.jsonl\.gz|meta\.json)$/.test(f))
          .sort();
  const missing = files.map((f) => path.join(root, f)).find((f) => !fs.existsSync(f));
  return { root, files, ...(missing !== undefined ? { missing } : {}) };
}

type Inputs = FitCard['inputs'];

/** Fit one unit with the default configuration (and the seed basis for its BLIS fragment); write its fit, BLIS and card files. */
async function fitUnit(src: FitSource, u: Unit, inputs: Inputs, o: RebuildOptions): Promise<{ card: FitCard; fit: FitFile }> {
  const { ds, groups, rows, kind } = dataset(u);
  const command = `stepfit fits rebuild --only ${u.id}`;
  const r = fitDatasetSync(ds, { ...engineOptions(DEFAULT_CONFIG, getBasis(DEFAULT_CONFIG.basis)), cv: groups >= 2 ? 'group:fold' : null });
  const prov = await fitProvenance(ds, command, o.createdAt);
  const fit = buildFitFile(r, { ...prov, inputs });
  writeFileAtomic(path.join(o.dir, `${u.id}.json`), JSON.stringify(fit, null, 2) + '\n');
  // BLIS computes the seven seed regressors: its fragment comes from a seed-basis fit (nnls, as published) of the same rows
  const rs = fitDatasetSync(ds, { ...engineOptions(SEED_CONFIG, getBasis(SEED_CONFIG.basis)), cv: null });
  const seedFit = buildFitFile(rs, { ...prov, commandLine: `${command} (BLIS fragment: --basis seed)`, inputs });
  const blis = blisExport(seedFit, `${u.id}.blis.yaml`);
  writeFileAtomic(
    path.join(o.dir, `${u.id}.blis.yaml`),
    `# ${u.id}: seed-basis fit (nnls, relative) of the same rows, in-sample MAPE ${round(seedFit.metrics.train.overall.mape)}%; regenerate: ${command}\n# ${blis.flags.split('\n').join('\n# ')}\n${blis.yaml}`,
  );
  const alpha = fit.terms.filter((t) => t.name.startsWith('alpha'));
  const card: FitCard = {
    id: u.id,
    source: src.name,
    origin: src.origin,
    license: src.license,
    model: u.model,
    family: modelFamily(u.model),
    gpu: u.gpu,
    tp: u.tp,
    mode: u.mode,
    experiments: u.exps.map((e) => e.id),
    rows,
    rowKind: kind,
    command,
    inputs,
    terms: Object.fromEntries(fit.terms.map((t) => [t.name, t.coef])),
    alphaTerms: alpha.length > 0 ? Object.fromEntries(alpha.map((t) => [t.name, t.coef])) : null,
    inSample: { mape: round(fit.metrics.train.overall.mape), rows: fit.metrics.train.overall.n },
    heldOut: {
      mape: fit.metrics.cv ? round(fit.metrics.cv.overall.mape) : NaN,
      scheme: fit.metrics.cv?.scheme ?? 'none',
      groups,
      description: src.cvGroup === 'batch' ? 'leave one batch-size class out (1, 2-3, 4-7, …)' : 'leave one arrival quartile of the requests out',
    },
    blis: { file: `${u.id}.blis.yaml`, basis: 'seed (nnls, relative)', inSampleMape: round(seedFit.metrics.train.overall.mape) },
  };
  writeFileAtomic(path.join(o.dir, `${u.id}.card.json`), JSON.stringify(card, null, 2) + '\n');
  return { card, fit };
}

type Fitted = { card: FitCard; fit: FitFile; unit: Unit };

/** Each fit on the data of every other published fit with the same GPU or model family (different model or GPU), same source. */
function transfersOf(fitted: readonly Fitted[]): TransferRow[] {
  const transfers: TransferRow[] = [];
  for (const a of fitted) {
    for (const b of fitted) {
      if (a === b || (a.card.model === b.card.model && a.card.gpu === b.card.gpu)) continue;
      const relation = a.card.gpu === b.card.gpu ? 'same GPU' : a.card.family === b.card.family ? 'same model family' : null;
      if (!relation) continue;
      if (a.card.source !== b.card.source) continue; // row kinds differ across sources (steps vs request totals)
      const t = transferMape(a.fit, b.unit);
      transfers.push({ from: a.card.id, to: b.card.id, relation, mape: round(t.mape), rows: t.rows });
    }
  }
  return transfers;
}

/** transfer.json and README.md over every published fit: a skipped source keeps its committed cards and transfer rows. */
function writeIndex(dir: string, r: RebuildResult): void {
  let allCards = r.cards;
  let allTransfers = r.transfers;
  if (r.skipped.length > 0) {
    const rebuilt = new Set(r.written);
    allCards = [...r.cards, ...readCardsIn(dir).filter((c) => !rebuilt.has(c.id))];
    const old = fs.existsSync(path.join(dir, 'transfer.json')) ? (JSON.parse(fs.readFileSync(path.join(dir, 'transfer.json'), 'utf8')) as TransferRow[]) : [];
    allTransfers = [...old.filter((t) => !(rebuilt.has(t.from) && rebuilt.has(t.to))), ...r.transfers];
  }
  const key = (t: TransferRow): string => `${t.from}\u0000${t.to}`;
  allTransfers = [...allTransfers].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  writeFileAtomic(path.join(dir, 'transfer.json'), JSON.stringify(allTransfers, null, 2) + '\n');
  writeFileAtomic(path.join(dir, 'README.md'), fitsReadme(allCards, allTransfers));
}

/** Rebuild the published fits into `dir`. */
export async function rebuildFits(o: RebuildOptions): Promise<RebuildResult> {
  const log = o.log ?? (() => {});
  const res: RebuildResult = { written: [], skipped: [], cards: [], transfers: [] };
  const fitted: Fitted[] = [];
  fs.mkdirSync(o.dir, { recursive: true });
  for (const src of FIT_SOURCES) {
    if (o.sources && !o.sources.includes(src.name)) continue;
    const { root, files, missing } = sourceFiles(src);
    if (missing !== undefined) {
      res.skipped.push({ source: src.name, why: `${missing} not found (needs the ${src.suite.bundled ? 'bundled' : 'vendored (data/vendor)'} data; set STEPFIT_FITS_DATA for another copy)` });
      log(`fits: skipped ${src.name}: ${missing} not found`);
      continue;
    }
    const inputs = files.map((f) => ({ path: src.suite.bundled ? `data/measured/${f}` : f, sha256: sha256(path.join(root, f)) }));
    const data = await src.suite.load(root);
    for (const u of units(src, data.experiments)) {
      if (o.only && !o.only.includes(u.id)) continue;
      const { card, fit } = await fitUnit(src, u, inputs, o);
      res.written.push(u.id);
      res.cards.push(card);
      fitted.push({ card, fit, unit: u });
      log(`fits: ${u.id}: ${card.rows} ${card.rowKind}, in-sample MAPE ${card.inSample.mape}%, held-out ${card.heldOut.mape}%`);
    }
  }
  res.transfers.push(...transfersOf(fitted));
  if (!o.only && !o.sources) writeIndex(o.dir, res);
  return res;
}

function readCardsIn(dir: string): FitCard[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.card.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as FitCard);
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '—');

/** fits/README.md: generated from the cards (do not edit by hand). */
export function fitsReadme(cards: readonly FitCard[], transfers: readonly TransferRow[]): string {
  const L: string[] = [
    '# Published fits',
    '',
    'Generated by `stepfit fits rebuild` (`npm run fits`) from the `*.card.json` files — do not edit by hand.',
    'Each fit: `<id>.json` (fit file: `stepfit predict --fit <id> …`), `<id>.card.json` (source, commit, command, errors), `<id>.blis.yaml` (BLIS fragment).',
    `Configuration: stepfit's default (${DEFAULT_CONFIG.basis} basis, ${DEFAULT_CONFIG.method}, ${DEFAULT_CONFIG.weight} weights, physical bounds). MAPE in %.`,
    'Held-out = grouped cross-validation: step data leave one batch-size class out; request logs leave one arrival quartile out.',
    '',
    '| id | model | GPU | TP | mode | rows | in-sample MAPE | held-out MAPE | α terms | source |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const byId = [...new Map(cards.map((c) => [c.id, c])).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const c of byId)
    L.push(
      `| ${c.id} | ${c.model} | ${c.gpu} | ${c.tp} | ${c.mode ?? '—'} | ${c.rows} ${c.rowKind} | ${fmt(c.inSample.mape)} | ${fmt(c.heldOut.mape)} | ${c.alphaTerms ? Object.keys(c.alphaTerms).length : 'none'} | ${c.origin} (${c.license}) |`,
    );
  L.push('', "## Transfer (a fit predicting another published fit's data: same GPU or same model family, same source)", '', '| fit | predicts | relation | MAPE | rows |', '|---|---|---|---|---|');
  for (const t of transfers) L.push(`| ${t.from} | ${t.to} | ${t.relation} | ${fmt(t.mape)} | ${t.rows} |`);
  L.push(
    '',
    'Not yet published: fits from the H100 serving rows (data/vendor, AIConfigurator silicon sample: TTFT/TPOT per deployment, not step times; not attempted yet) and from upstream-vLLM request spans or bench results (the readers exist, but no real upstream capture is bundled).',
    '',
  );
  return L.join('\n');
}
