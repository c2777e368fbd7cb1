/**
 * Request-level timing targets (shared contract between reconstruct and fit).
 *
 * JSON Lines, one target per line:
 *   {"experiment": "<id>", "request": "<request id>", "kind": "prefill" | "decode",
 *    "steps": [<step numbers of that experiment>], "duration_us": <measured total µs>}
 * Meaning: Σ over the listed steps (from the step file of the same experiment) of the step time
 * = duration_us. A fitter turns each target into one extra design row = Σ of the basis rows of
 * the listed steps.
 */
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { MIN_DURATION_US } from './step.js';
import { readLines } from '../io/lines.js';
import { withAtomicWriter } from '../io/atomic.js';

/** A request's prefill or decode time: at most 10¹¹ µs (≈ 28 h). */
const MAX_TARGET_US = 1e11;

export type TargetKind = 'prefill' | 'decode';

export interface RequestTarget {
  readonly experiment: string;
  readonly request: string;
  readonly kind: TargetKind;
  /** Step numbers (the `step` field of that experiment's step records), increasing. */
  readonly steps: readonly number[];
  /** Measured total time of those steps, µs (> 0). */
  readonly durationUs: number;
}

/** Validate one parsed JSON value as a target; `where` = "file:line". */
export function validateTarget(v: unknown, where: string): RequestTarget {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError(`${where}: expected a JSON object (a request target)`);
  const o = v as Record<string, unknown>;
  const experiment = o['experiment'] ?? '';
  if (typeof experiment !== 'string') throw new InputError(`${where}: field 'experiment': expected a string`);
  const request = o['request'];
  if (typeof request !== 'string' || request === '') throw new InputError(`${where}: field 'request': expected a non-empty string`);
  const kind = o['kind'];
  if (kind !== 'prefill' && kind !== 'decode') throw new InputError(`${where}: field 'kind': expected "prefill" or "decode", got ${JSON.stringify(kind)}`);
  const steps = o['steps'];
  if (!Array.isArray(steps) || steps.length === 0) throw new InputError(`${where}: field 'steps': expected a non-empty array of step numbers`);
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) throw new InputError(`${where}: field 'steps[${i}]': expected a non-negative integer, got ${JSON.stringify(s)}`);
    if (i > 0 && s <= (steps[i - 1] as number)) throw new InputError(`${where}: field 'steps[${i}]': step numbers must increase (${steps[i - 1]} then ${s})`);
  }
  const d = o['duration_us'];
  if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0) throw new InputError(`${where}: field 'duration_us': expected a positive finite number (µs), got ${JSON.stringify(d)}`);
  if (d < MIN_DURATION_US || d > MAX_TARGET_US)
    throw new InputError(`${where}: field 'duration_us': ${d} µs is outside the plausible range ${MIN_DURATION_US}…${MAX_TARGET_US} µs: wrong unit or corrupt value?`);
  return { experiment, request, kind, steps: steps as number[], durationUs: d };
}

export function targetToJson(t: RequestTarget): string {
  return JSON.stringify({ experiment: t.experiment, request: t.request, kind: t.kind, steps: t.steps, duration_us: t.durationUs });
}

/** Stream targets from a JSONL (optionally gzipped) file; InputError with file:line on the first bad record. */
export async function* readTargets(file: string): AsyncGenerator<RequestTarget> {
  for await (const { text, lineNo } of readLines(file)) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${file}:${lineNo}: not valid JSON (${jsonErrorDetail(e)})`);
    }
    yield validateTarget(v, `${file}:${lineNo}`);
  }
}

/** Read every target of a file into memory. */
export async function readAllTargets(file: string): Promise<RequestTarget[]> {
  const out: RequestTarget[] = [];
  for await (const t of readTargets(file)) out.push(t);
  return out;
}

/** Write targets atomically as JSON Lines; returns the count. */
export async function writeTargets(file: string, targets: AsyncIterable<RequestTarget> | Iterable<RequestTarget>): Promise<number> {
  return withAtomicWriter(file, async (w) => {
    let n = 0;
    let buf = '';
    for await (const t of targets as AsyncIterable<RequestTarget>) {
      buf += targetToJson(t) + '\n';
      n++;
      if (buf.length > 1 << 16) {
        await w.write(buf);
        buf = '';
      }
    }
    if (buf) await w.write(buf);
    return n;
  });
}
