/**
 * reconstruct/jsonl.ts: the JSON Lines text of steps and targets built by concatenation must be
 * byte-identical to steps/step.ts `stepToJson` / steps/targets.ts `targetToJson` — on random
 * records and on the values where JSON.stringify has rules of its own (−0, NaN, ±Infinity, large
 * and tiny numbers, strings that need escapes, an absent duration, a prompt equal to prior + tokens).
 */
import { describe, expect, it } from 'vitest';
import { stepsJsonl, targetsJsonl } from '../src/reconstruct/jsonl.js';
import { stepToJson, type Step } from '../src/steps/step.js';
import { targetToJson, type RequestTarget } from '../src/steps/targets.js';

const ref = <T>(xs: readonly T[], f: (x: T) => string): string => xs.map((x) => `${f(x)}\n`).join('');

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const ODD = [0, -0, 1, 7, 2048, 1.5, 54881.285, 1e21, 1e-7, 123456789012345680000, Number.NaN, Infinity, -Infinity, -3, 2 ** 53];
const NAMES = ['run-1', 'a"b\\c', 'tab\there', 'ünïcode ✓', '\u2028line', ''];

function randomStep(r: () => number): Step {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const n = (): number => (r() < 0.2 ? pick(ODD) : Math.floor(r() * 5000));
  const prefill = Array.from({ length: Math.floor(r() * 4) }, () => {
    const tokens = n();
    const prior = n();
    return { tokens, prior, prompt: r() < 0.5 ? prior + tokens : n() };
  });
  const s: Step = { experiment: pick(NAMES), step: n(), prefill, decode: Array.from({ length: Math.floor(r() * 6) }, n) };
  return r() < 0.3 ? s : { ...s, durationUs: r() < 0.3 ? pick(ODD) : r() * 1e5 };
}

describe('reconstruct JSON Lines writer', () => {
  it('steps: the bytes of stepToJson', () => {
    const r = rng(5);
    const steps = Array.from({ length: 3000 }, () => randomStep(r));
    expect(stepsJsonl(steps)).toBe(ref(steps, stepToJson));
    expect(stepsJsonl([])).toBe('');
  });

  it('targets: the bytes of targetToJson', () => {
    const r = rng(9);
    const targets: RequestTarget[] = Array.from({ length: 2000 }, (_, i) => ({
      experiment: NAMES[i % NAMES.length]!,
      request: r() < 0.5 ? `req-${Math.floor(i / 2)}` : NAMES[Math.floor(r() * NAMES.length)]!,
      kind: r() < 0.5 ? 'prefill' : 'decode',
      steps: Array.from({ length: Math.floor(r() * 8) }, () => (r() < 0.1 ? ODD[Math.floor(r() * ODD.length)]! : Math.floor(r() * 1e6))),
      durationUs: r() < 0.2 ? ODD[Math.floor(r() * ODD.length)]! : r() * 1e6,
    }));
    expect(targetsJsonl(targets)).toBe(ref(targets, targetToJson));
    expect(targetsJsonl([])).toBe('');
  });

  it('a value of another type goes through the reference function', () => {
    const odd = [
      { experiment: 'x', step: 1, prefill: [{ tokens: 1, prior: 0, prompt: undefined }], decode: [] },
      { experiment: 'x', step: 2, prefill: [], decode: [1, undefined, null] },
      { experiment: 'x', step: 3, durationUs: undefined, prefill: [], decode: [] },
      { experiment: 'x', step: '4', prefill: [], decode: [] },
    ] as unknown as Step[];
    expect(stepsJsonl(odd)).toBe(ref(odd, stepToJson));
    const t = [{ experiment: 'x', request: 'r', kind: 'decode', steps: [1, undefined], durationUs: undefined }] as unknown as RequestTarget[];
    expect(targetsJsonl(t)).toBe(ref(t, targetToJson));
  });
});
