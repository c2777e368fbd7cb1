/**
 * The canonical step record (design.md): one scheduler iteration's batch composition and,
 * when measured, its wall time in µs.
 *
 * JSON Lines form: {"experiment": "...", "step": 17, "duration_us": 29600.5,
 *                   "prefill": [{"tokens": 512, "prior": 0, "prompt": 512}], "decode": [612, 700]}
 */
import { InputError } from '../io/errors.js';

export interface PrefillChunk {
  /** New tokens computed this step (> 0). */
  readonly tokens: number;
  /** Tokens of this request already in the KV cache before this step (≥ 0). */
  readonly prior: number;
  /** The request's total prompt length (≥ prior + tokens); default prior + tokens. */
  readonly prompt: number;
}

export interface Step {
  readonly experiment: string;
  readonly step: number;
  /** Measured wall time in µs; undefined when only to be predicted. */
  readonly durationUs?: number;
  readonly prefill: readonly PrefillChunk[];
  /** Context length (tokens already in KV) of each decoding request. */
  readonly decode: readonly number[];
}

export const totalPrefillTokens = (s: Step): number => {
  let t = 0;
  for (const c of s.prefill) t += c.tokens;
  return t;
};
export const totalDecodeContext = (s: Step): number => {
  let t = 0;
  for (const c of s.decode) t += c;
  return t;
};
export const numRequests = (s: Step): number => s.prefill.length + s.decode.length;

/** Token counts and contexts above this are not real steps (no model has a 2³⁰-token context). */
export const MAX_TOKENS = 2 ** 30;
/** Plausible step durations: 1 ns … 10⁹ µs (≈ 17 min); outside is a unit mix-up or corrupt data. */
export const MIN_DURATION_US = 1e-3;
export const MAX_DURATION_US = 1e9;

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= MAX_TOKENS;

/**
 * Validate a parsed JSON value as a step record. `where` prefixes messages (file:line).
 * Errors name the field and what was expected.
 */
export function validateStep(v: unknown, where: string): Step {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError(`${where}: expected a JSON object (a step record)`);
  const o = v as Record<string, unknown>;
  const experiment = o['experiment'] ?? '';
  if (typeof experiment !== 'string') throw new InputError(`${where}: field 'experiment': expected a string`);
  const step = o['step'];
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) throw new InputError(`${where}: field 'step': expected a non-negative integer, got ${JSON.stringify(step)}`);
  const d = o['duration_us'];
  let durationUs: number | undefined;
  if (d !== undefined && d !== null) {
    if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0) throw new InputError(`${where}: field 'duration_us': expected a positive finite number (µs), got ${JSON.stringify(d)}`);
    if (d < MIN_DURATION_US || d > MAX_DURATION_US)
      throw new InputError(`${where}: field 'duration_us': ${d} µs is outside the plausible range ${MIN_DURATION_US}…${MAX_DURATION_US} µs (1 ns … ≈ 17 min): wrong unit or corrupt value?`);
    durationUs = d;
  }
  const pf = o['prefill'] ?? [];
  if (!Array.isArray(pf)) throw new InputError(`${where}: field 'prefill': expected an array of {tokens, prior}`);
  const prefill: PrefillChunk[] = new Array(pf.length);
  for (let i = 0; i < pf.length; i++) {
    const c = pf[i] as Record<string, unknown> | null;
    if (c === null || typeof c !== 'object') throw new InputError(`${where}: field 'prefill[${i}]': expected an object {tokens, prior}`);
    const tokens = c['tokens'];
    if (!isCount(tokens) || tokens === 0) throw new InputError(`${where}: field 'prefill[${i}].tokens': expected a positive integer, got ${JSON.stringify(tokens)}`);
    const prior = c['prior'] ?? 0;
    if (!isCount(prior)) throw new InputError(`${where}: field 'prefill[${i}].prior': expected a non-negative integer ≤ 2^30, got ${JSON.stringify(prior)}`);
    const prompt = c['prompt'] ?? prior + tokens;
    if (!isCount(prompt) || prompt < prior + tokens)
      throw new InputError(`${where}: field 'prefill[${i}].prompt': expected an integer ≥ prior + tokens (${prior + tokens}), got ${JSON.stringify(prompt)}`);
    prefill[i] = { tokens, prior, prompt };
  }
  const dc = o['decode'] ?? [];
  if (!Array.isArray(dc)) throw new InputError(`${where}: field 'decode': expected an array of context lengths`);
  for (let i = 0; i < dc.length; i++) {
    if (!isCount(dc[i])) throw new InputError(`${where}: field 'decode[${i}]': expected a non-negative integer context length, got ${JSON.stringify(dc[i])}`);
  }
  if (prefill.length === 0 && dc.length === 0) throw new InputError(`${where}: step has neither 'prefill' nor 'decode' entries`);
  return { experiment, step, durationUs, prefill, decode: dc as number[] };
}

/** Serialise a step to its canonical JSON line (no trailing newline). `prompt` is written only when it differs from prior + tokens. */
export function stepToJson(s: Step): string {
  const pf = s.prefill.map((c) => (c.prompt !== c.prior + c.tokens ? { tokens: c.tokens, prior: c.prior, prompt: c.prompt } : { tokens: c.tokens, prior: c.prior }));
  const o: Record<string, unknown> = { experiment: s.experiment, step: s.step };
  if (s.durationUs !== undefined) o['duration_us'] = s.durationUs;
  o['prefill'] = pf;
  o['decode'] = s.decode;
  return JSON.stringify(o);
}

/**
 * A step-time model: anything that maps a step to predicted µs for one (model, GPU, TP) context.
 * Implemented by fitted coefficients (predict/model.ts) and by the analytical engine
 * (analytic/model.ts); used by predict, report, export and the simulator.
 */
export interface StepTimeModel {
  readonly name: string;
  /** Predicted wall time of the step in µs. */
  predictUs(step: Step): number;
}
