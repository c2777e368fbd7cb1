/**
 * JSON Lines text of step records and request targets, built by string concatenation instead of
 * an object per record and `JSON.stringify`: the same bytes as steps/step.ts `stepToJson` and
 * steps/targets.ts `targetToJson` (numbers as JSON writes them — non-finite ones as null —,
 * strings escaped by `JSON.stringify`), at a fraction of the cost (the output of a reconstruction
 * is written on its serial path). A record with a value of an unexpected type goes through the
 * reference function.
 */
import { stepToJson, type Step } from '../steps/step.js';
import { targetToJson, type RequestTarget } from '../steps/targets.js';

/** A number as JSON.stringify writes it (finite: its shortest round-trip text, −0 as 0; else null). */
const num = (x: number): string => (Number.isFinite(x) ? String(x) : 'null');

/** A JSON array of numbers; undefined when an element is not a number (the caller falls back). */
function numArray(xs: readonly number[]): string | undefined {
  const n = xs.length;
  if (n === 0) return '[]';
  let s = '[';
  for (let i = 0; i < n; i++) {
    const x = xs[i];
    if (typeof x !== 'number') return undefined;
    s += i === 0 ? num(x) : `,${num(x)}`;
  }
  return `${s}]`;
}

/** The prefill chunks as stepToJson writes them; undefined when a field is not a number. */
function prefillText(pf: Step['prefill']): string | undefined {
  if (pf.length === 0) return '[]';
  let s = '[';
  for (let i = 0; i < pf.length; i++) {
    const c = pf[i]!;
    const { tokens, prior, prompt } = c;
    if (typeof tokens !== 'number' || typeof prior !== 'number' || typeof prompt !== 'number') return undefined;
    s += `${i === 0 ? '' : ','}{"tokens":${num(tokens)},"prior":${num(prior)}${prompt !== prior + tokens ? `,"prompt":${num(prompt)}` : ''}}`;
  }
  return `${s}]`;
}

/** Caches the JSON text of the last string (experiment ids repeat on every line). */
class Quoted {
  private last: string | undefined;
  private text = '';
  of(s: string): string {
    if (s !== this.last) {
      this.last = s;
      this.text = JSON.stringify(s);
    }
    return this.text;
  }
}

/** The steps as JSON Lines (each line `stepToJson(s)` + '\n'; '' for none). */
export function stepsJsonl(steps: readonly Step[]): string {
  const exp = new Quoted();
  let out = '';
  for (const s of steps) {
    const d = s.durationUs;
    const pf = typeof s.experiment === 'string' && typeof s.step === 'number' && (d === undefined || typeof d === 'number') ? prefillText(s.prefill) : undefined;
    const dc = pf === undefined ? undefined : numArray(s.decode);
    if (dc === undefined) {
      out += `${stepToJson(s)}\n`;
      continue;
    }
    out += `{"experiment":${exp.of(s.experiment)},"step":${num(s.step)}${d === undefined ? '' : `,"duration_us":${num(d)}`},"prefill":${pf},"decode":${dc}}\n`;
  }
  return out;
}

/** The targets as JSON Lines (each line `targetToJson(t)` + '\n'; '' for none). */
export function targetsJsonl(targets: readonly RequestTarget[]): string {
  const exp = new Quoted();
  const req = new Quoted();
  let out = '';
  for (const t of targets) {
    const ok = typeof t.experiment === 'string' && typeof t.request === 'string' && typeof t.kind === 'string' && typeof t.durationUs === 'number';
    const steps = ok ? numArray(t.steps) : undefined;
    if (steps === undefined) {
      out += `${targetToJson(t)}\n`;
      continue;
    }
    out += `{"experiment":${exp.of(t.experiment)},"request":${req.of(t.request)},"kind":${JSON.stringify(t.kind)},"steps":${steps},"duration_us":${num(t.durationUs)}}\n`;
  }
  return out;
}
