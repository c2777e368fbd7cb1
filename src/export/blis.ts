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
import YAML from 'yaml';
import type { FitFile } from '../fit/fitfile.js';
import { InputError } from '../io/errors.js';

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
  /** null: the fit has no queueing / post-processing terms (BLIS keeps its own alpha_coeffs). */
  alphaCoeffs: number[] | null;
  /** `--latency-model … --beta-coeffs …[ --alpha-coeffs …]`. */
  flags: string;
  warnings: string[];
}

/** Shortest decimal that round-trips the float64 exactly. */
const num = (x: number): string => String(x);

/** Refuse a fit BLIS cannot represent (with the reason); otherwise the betas in BLIS order. */
export function blisBetas(fit: FitFile, path: string): number[] {
  if (fit.basis !== 'seed') {
    throw new InputError(`${path}: basis '${fit.basis}' cannot be exported to BLIS: BLIS's step-time formula (7 betas: β₁·max(T_pf_compute, T_pf_kv) + β₂·max(T_dc_compute, T_dc_kv) + β₃·T_weight + β₄·T_tp + β₅·L + β₆·batch + β₇) computes the seven-term seed regressors, not the ${fit.terms.length} '${fit.basis}' terms [${fit.terms.map((t) => t.name).join(', ')}] — its coefficients would multiply different quantities. Fit with --basis seed to export to BLIS, or use --to table / --to json`);
  }
  const names = fit.terms.map((t) => t.name);
  const want = BLIS_BETA_ORDER.map((b) => b.term);
  if (names.join(',') !== want.join(',')) throw new InputError(`${path}: seed fit terms [${names.join(', ')}] are not the seven BLIS betas [${want.join(', ')}]`);
  const bad = fit.terms.filter((t) => !Number.isFinite(t.coef) || t.coef < 0);
  if (bad.length > 0) {
    throw new InputError(`${path}: BLIS rejects negative or non-finite coefficients, and this fit has ${bad.map((t) => `${t.name} = ${t.coef}`).join(', ')}; refit with --method nnls (or bounded with lower bounds 0) to export to BLIS`);
  }
  return fit.terms.map((t) => t.coef);
}

/** Build the BLIS export of a seed fit (refusing other bases with the reason). */
export function blisExport(fit: FitFile, path: string, backend: BlisBackend = 'trained-physics'): BlisExport {
  const beta = blisBetas(fit, path);
  const alpha: number[] | null = null; // no stepfit basis has queueing / post-processing terms
  const warnings: string[] = [];
  const tpBeta = beta[3]!;
  const multiTp = fit.experiments.some((e) => e.tp > 1);
  if (backend === 'trained-roofline' && tpBeta !== 0) warnings.push(`BLIS trained-roofline sets T_tp = 0, so β₄ (tp = ${num(tpBeta)}) has no effect there; TP communication time is lost at TP > 1`);
  if (backend === 'trained-physics' && tpBeta !== 0 && multiTp) warnings.push(`BLIS trained-physics computes T_tp as ring all-reduce bytes over HBM bandwidth, not the seed's NVLink formula: β₄ (tp = ${num(tpBeta)}) does not carry over exactly; check predictions at TP > 1`);
  const merged = fit.terms.filter((t) => t.status.startsWith('merged:'));
  const dropped = fit.terms.filter((t) => t.status === 'dropped');
  if (merged.length) warnings.push(`${merged.map((t) => `${t.name} was merged into ${t.status.slice(7)}`).join(', ')} in the fit (not identifiable from its data): BLIS applies ${merged.map((t) => t.name).join(', ')} = 0, so the merged effect is exact only for the models/GPUs/TPs of the fit`);
  if (dropped.length) warnings.push(`${dropped.map((t) => t.name).join(', ')} ${dropped.length > 1 ? 'were' : 'was'} not identifiable in the fit and ${dropped.length > 1 ? 'are' : 'is'} exported as 0`);
  if (!fit.experiments.length) warnings.push('the fit records no training experiments: cannot say which models/GPUs/TPs these betas were fitted on');

  const section = BLIS_SECTION[backend];
  const flags = `--latency-model ${backend} --beta-coeffs ${beta.map(num).join(',')}${alpha ? ` --alpha-coeffs ${(alpha as number[]).map(num).join(',')}` : ''}`;
  const trained = fit.experiments.map((e) => `${e.model} on ${e.gpu} TP${e.tp}`).join('; ');
  const header = [
    `stepfit export --to blis: ${path} (basis seed v${fit.basisVersion}, ${fit.method.name}${fit.method.weight === 'relative' ? ', relative weights' : ''})`,
    `fitted on: ${trained || 'not recorded'}`,
    `train MAPE ${fit.metrics.train.overall.mape.toFixed(2)}%${fit.metrics.cv ? `, CV (${fit.metrics.cv.scheme}) MAPE ${fit.metrics.cv.overall.mape.toFixed(2)}%` : ''}`,
    `BLIS ${backend} beta order (= stepfit seed terms):`,
    ...BLIS_BETA_ORDER.map((b, i) => `  ${b.beta} ${b.term.padEnd(8)} ${b.blis} = ${num(beta[i]!)}`),
    'alpha_coeffs: not written — the fit has no queueing / post-processing terms; BLIS needs 3 alpha',
    '  values (α₀ queueing µs, α₁ post-decode µs, α₂ µs per output token): keep your own when merging',
    `  this fragment into defaults.yaml (${backend} requires them), or pass --alpha-coeffs.`,
    `command line: ${flags}`,
    ...warnings.map((w) => `warning: ${w}`),
  ];
  const doc = new YAML.Document({ [section]: { beta_coeffs: beta } });
  const seq = (doc.get(section) as YAML.YAMLMap).get('beta_coeffs') as YAML.YAMLSeq;
  seq.flow = true;
  doc.commentBefore = header.map((l) => ` ${l}`).join('\n');
  return { yaml: doc.toString({ lineWidth: 0 }), betaCoeffs: beta, alphaCoeffs: alpha, flags, warnings };
}
