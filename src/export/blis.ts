/**
 * Export to BLIS / inference-sim (github.com/inference-sim/inference-sim).
 *
 * What BLIS accepts (checked against its source, sim/latency/trained_physics_model.go and the
 * removed trained_roofline.go, and docs/guide/latency-models.md):
 * - `defaults.yaml` carries ONE global coefficient block: `trained_physics_coefficients:` with
 *   `beta_coeffs` (7–11 values) and `alpha_coeffs` (≥ 3 values: α₀ queueing µs, α₁ post-decode µs,
 *   α₂ µs per output token); older releases with `--latency-model trained-roofline` read
 *   `trained_roofline_defaults:` with exactly that 7-beta formula. Strict parsing: no other keys.
 * - The CLI flags `--beta-coeffs` / `--alpha-coeffs` take comma-separated float lists.
 * - With 7 betas the step time is β₁·max(T_pf_compute, T_pf_kv) + β₂·max(T_dc_compute, T_dc_kv)
 *   + β₃·T_weight + β₄·T_tp + β₅·L + β₆·batch_size + β₇ — exactly stepfit's `seed` basis, term for
 *   term (prefill, decode, weight, tp, layers, batch, constant). No other stepfit basis computes
 *   BLIS's regressors, so only `seed` fits are exported.
 * - BLIS rejects negative, NaN or infinite coefficients (validateCoeffs).
 * - Differences that remain even for `seed` (reported as warnings): BLIS computes T_tp differently
 *   (trained-physics: ring all-reduce bytes over HBM bandwidth; trained-roofline: T_tp = 0), MoE weight
 *   traffic as experts per GPU rather than min(N, B·k), and weight bytes from the checkpoint dtype.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { FitFile } from '../fit/fitfile.js';
import { InputError } from '../io/errors.js';
import { CONFIGS_DIR } from '../io/paths.js';

/**
 * BLIS's hardware list: the keys of hardware_config.json in inference-sim/inference-sim (checked at
 * commit f90a1e3a: H100, A100-SXM, A100-80, L40S), and the configs/hardware id each one is.
 */
export const BLIS_HARDWARE: Readonly<Record<string, string>> = { 'h100-sxm': 'H100', 'a100-sxm-80gb': 'A100-80', l40s: 'L40S' };

/** BLIS's model name: the lowercased HuggingFace repo id (its defaults.yaml keys and --model), from configs/models/<id>.json `_source`. */
export function blisModelName(model: string): string | undefined {
  const f = path.join(CONFIGS_DIR, 'models', `${model}.json`);
  if (!fs.existsSync(f)) return undefined;
  try {
    const src = (JSON.parse(fs.readFileSync(f, 'utf8')) as { _source?: unknown })._source;
    return typeof src === 'string' ? src.replace(/\/config\.json$/, '').toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export type BlisBackend = 'trained-physics' | 'trained-roofline';
export const BLIS_BACKENDS: readonly BlisBackend[] = ['trained-physics', 'trained-roofline'];

/** The YAML key each BLIS backend reads its coefficients from. */
export const BLIS_SECTION: Readonly<Record<BlisBackend, string>> = {
  'trained-physics': 'trained_physics_coefficients',
  'trained-roofline': 'trained_roofline_defaults',
};

/** BLIS's seven betas, in order, and the stepfit `seed` term each one is. */
export const BLIS_BETA_ORDER = [
  { beta: 'β₁', term: 'prefill', blis: 'max(T_pf_compute, T_pf_kv) multiplier' },
  { beta: 'β₂', term: 'decode', blis: 'max(T_dc_compute, T_dc_kv) multiplier' },
  { beta: 'β₃', term: 'weight', blis: 'T_weight multiplier' },
  { beta: 'β₄', term: 'tp', blis: 'T_tp multiplier' },
  { beta: 'β₅', term: 'layers', blis: 'µs per layer' },
  { beta: 'β₆', term: 'batch', blis: 'µs per request in the batch' },
  { beta: 'β₇', term: 'constant', blis: 'µs per step' },
] as const;

export interface BlisExport {
  /** The defaults.yaml fragment (with explanatory comments). */
  yaml: string;
  betaCoeffs: number[];
  /** α₀, α₁, α₂ (zeros, with a warning, when the fit has no α terms). */
  alphaCoeffs: number[];
  /** `--latency-model … --beta-coeffs …[ --alpha-coeffs …]`. */
  flags: string;
  warnings: string[];
  /**
   * The entries of `warnings` that are facts of the export, not problems to act on (α exported as zeros,
   * terms the fit could not identify, BLIS's own hardware table, what to pass BLIS): the CLI prints them as
   * notes, and the YAML header labels them `note:` (the others `warning:`).
   */
  notes: ReadonlySet<string>;
}

/** Shortest decimal that round-trips the float64 exactly. */
const num = (x: number): string => String(x);

/** Refuse a fit BLIS cannot represent (with the reason); otherwise the betas in BLIS order. */
export function blisBetas(fit: FitFile, path: string): number[] {
  if (fit.basis !== 'seed') {
    throw new InputError(
      `${path}: basis '${fit.basis}' cannot be exported to BLIS: BLIS's step-time formula (7 betas: β₁·max(T_pf_compute, T_pf_kv) + β₂·max(T_dc_compute, T_dc_kv) + β₃·T_weight + β₄·T_tp + β₅·L + β₆·batch + β₇) computes the seven-term seed regressors, not the ${fit.terms.length} '${fit.basis}' terms [${fit.terms.map((t) => t.name).join(', ')}] — its coefficients would multiply different quantities. Fit with --basis seed to export to BLIS, or use --to table / --to json`,
    );
  }
  const names = fit.terms.map((t) => t.name);
  const want = BLIS_BETA_ORDER.map((b) => b.term);
  if (names.join(',') !== want.join(',')) throw new InputError(`${path}: seed fit terms [${names.join(', ')}] are not the seven BLIS betas [${want.join(', ')}]`);
  const bad = fit.terms.filter((t) => !Number.isFinite(t.coef) || t.coef < 0);
  if (bad.length > 0) {
    throw new InputError(
      `${path}: BLIS rejects negative or non-finite coefficients, and this fit has ${bad.map((t) => `${t.name} = ${t.coef}`).join(', ')}; refit with --method nnls (or bounded with lower bounds 0) to export to BLIS`,
    );
  }
  return fit.terms.map((t) => t.coef);
}

/** Build the BLIS export of a seed fit (refusing other bases with the reason). */
export function blisExport(fit: FitFile, path: string, backend: BlisBackend = 'trained-physics'): BlisExport {
  const beta = blisBetas(fit, path);
  const warnings: string[] = [];
  const notes = new Set<string>();
  const note = (w: string): void => {
    warnings.push(w);
    notes.add(w);
  };
  // BLIS needs ≥ 3 alpha values whenever beta is given (cmd/root.go: both or neither; NewTrainedPhysicsModel: ≥ 3)
  const alphaTerms = ['alpha0_api', 'alpha1_post', 'alpha2_per_token'];
  let alpha: number[];
  if (fit.alpha) {
    alpha = alphaTerms.map((n) => fit.alpha!.terms.find((t) => t.name === n)?.coef ?? 0);
    const missing = fit.alpha.terms.filter((t) => t.status === 'not-in-data').map((t) => t.name);
    if (missing.length) note(`α terms not in the fit's data, exported as 0: ${missing.join(', ')} (BLIS then under-estimates TTFT / E2E by those overheads)`);
  } else {
    alpha = [0, 0, 0];
    note('the fit has no α terms (fit --alpha-from): alpha_coeffs exported as 0,0,0 — BLIS runs, but its TTFT / E2E lack API and post-decode overheads');
  }
  if (alpha.some((a) => !Number.isFinite(a) || a < 0)) throw new InputError(`${path}: BLIS rejects negative or non-finite alpha coefficients, and this fit has alpha = [${alpha.join(', ')}]`);
  const tpBeta = beta[3]!;
  const multiTp = fit.experiments.some((e) => e.tp > 1);
  if (backend === 'trained-roofline' && tpBeta !== 0) warnings.push(`BLIS trained-roofline sets T_tp = 0, so β₄ (tp = ${num(tpBeta)}) has no effect there; TP communication time is lost at TP > 1`);
  if (backend === 'trained-physics' && tpBeta !== 0 && multiTp)
    warnings.push(
      `BLIS trained-physics computes T_tp as ring all-reduce bytes over HBM bandwidth, not the seed's NVLink formula: β₄ (tp = ${num(tpBeta)}) does not carry over exactly; check predictions at TP > 1`,
    );
  const merged = fit.terms.filter((t) => t.status.startsWith('merged:'));
  const dropped = fit.terms.filter((t) => t.status === 'dropped');
  if (merged.length)
    warnings.push(
      `${merged.map((t) => `${t.name} was merged into ${t.status.slice(7)}`).join(', ')} in the fit (not identifiable from its data): BLIS applies ${merged.map((t) => t.name).join(', ')} = 0, so the merged effect is exact only for the models/GPUs/TPs of the fit`,
    );
  if (dropped.length) note(`${dropped.map((t) => t.name).join(', ')} ${dropped.length > 1 ? 'were' : 'was'} not identifiable in the fit and ${dropped.length > 1 ? 'are' : 'is'} exported as 0`);
  if (!fit.experiments.length) warnings.push('the fit records no training experiments: cannot say which models/GPUs/TPs these betas were fitted on');

  const section = BLIS_SECTION[backend];
  // model / hardware / TP of the fit's (first) experiment, in BLIS's names
  const e0 = fit.experiments[0];
  const bModel = e0 ? blisModelName(e0.model) : undefined;
  const bHw = e0 ? BLIS_HARDWARE[e0.gpu] : undefined;
  if (e0 && !bModel) note(`model '${e0.model}' has no HuggingFace repo id in configs/models: give BLIS --model <hf repo id, lowercase> yourself`);
  if (e0 && !bHw) note(`GPU '${e0.gpu}' is not in BLIS's hardware list (hardware_config.json: H100, A100-SXM, A100-80, L40S): add its TFlopsPeak / BwPeakTBs there and pass --hardware <that key>`);
  if (new Set(fit.experiments.map((e) => `${e.model}|${e.gpu}|${e.tp}`)).size > 1)
    warnings.push(`the fit spans ${fit.experiments.length} experiments; the command line names the first (${e0!.model}, ${e0!.gpu}, TP ${e0!.tp}); BLIS's coefficient block is global to all models`);
  note(
    "BLIS recomputes its regressors from its own hardware table (TFlopsPeak, BwPeakTBs) and the model's config.json; where those differ from stepfit's datasheet (configs/hardware), the same β give different step times",
  );
  const target = `${bModel ? ` --model ${bModel}` : ''}${bHw ? ` --hardware ${bHw}` : ''}${e0 ? ` --tp ${e0.tp}` : ''}`;
  const flags = `--latency-model ${backend}${target} --alpha-coeffs ${alpha.map(num).join(',')} --beta-coeffs ${beta.map(num).join(',')}`;
  const trained = fit.experiments.map((e) => `${e.model} on ${e.gpu} TP${e.tp}`).join('; ');
  const header = [
    `stepfit export --to blis: ${path} (basis seed v${fit.basisVersion}, ${fit.method.name}${fit.method.weight === 'relative' ? ', relative weights' : ''})`,
    `fitted on: ${trained || 'not recorded'}`,
    `train MAPE ${fit.metrics.train.overall.mape.toFixed(2)}%${fit.metrics.cv ? `, CV (${fit.metrics.cv.scheme}) MAPE ${fit.metrics.cv.overall.mape.toFixed(2)}%` : ''}`,
    `BLIS ${backend} beta order (= stepfit seed terms):`,
    ...BLIS_BETA_ORDER.map((b, i) => `  ${b.beta} ${b.term.padEnd(8)} ${b.blis} = ${num(beta[i]!)}`),
    `alpha_coeffs (α₀ API before queueing µs, α₁ post-decode µs, α₂ µs per output token) = ${alpha.map(num).join(', ')}${fit.alpha ? ` (fitted from ${fit.alpha.source})` : ' (not fitted: zeros)'}`,
    "not carried over: BLIS's TP term divides all-reduce bytes by HBM bandwidth (not NVLink); the coefficient",
    '  block is global to every model in defaults.yaml; BLIS knows only the GPUs in its hardware_config.json',
    `command line: ${flags}`,
    ...warnings.map((w) => `${notes.has(w) ? 'note' : 'warning'}: ${w}`),
  ];
  const doc = new YAML.Document({ [section]: { alpha_coeffs: alpha, beta_coeffs: beta } });
  for (const k of ['alpha_coeffs', 'beta_coeffs']) ((doc.get(section) as YAML.YAMLMap).get(k) as YAML.YAMLSeq).flow = true;
  doc.commentBefore = header.map((l) => ` ${l}`).join('\n');
  return { yaml: doc.toString({ lineWidth: 0 }), betaCoeffs: beta, alphaCoeffs: alpha, flags, warnings, notes };
}
