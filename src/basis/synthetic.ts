/**
 * Synthetic step generator for bundled samples and tests: batches formed the way vLLM's
 * chunked-prefill scheduler forms them (running decodes get one token each, then prefill chunks
 * fill the remaining token budget in arrival order), with durations from a known ground-truth
 * formula plus multiplicative log-normal noise.
 *
 * Ground truth (µs), using the roofline basis quantities for the given model/GPU/TP:
 *   t = 1.25·max(gemm, weight) + 1.6·prefill_attn + 1.35·decode_attn + 1.2·tp_comm + 6·tp_calls
 *     + 12·L + 4·requests + 150,  then × exp(σ·N(0,1)).
 */
import type { Step, PrefillChunk } from '../steps/step.js';
import type { BasisContext } from './types.js';
import { rooflineConsts, type RooflineConsts, rfGemm, rfWeight, rfPrefillAttn, rfDecodeAttn, rfTpComm, rfTpCalls } from './roofline.js';
import { makeRng } from '../util/rng.js';

export interface SyntheticOptions {
  steps: number;
  seed: number;
  experiment: string;
  /** max_num_batched_tokens */
  budget?: number;
  /** max_num_seqs */
  maxSeqs?: number;
  /** σ of the log-normal noise (0.03 = ~3%). */
  noise?: number;
  /** Mean prompt and output lengths (exponential-ish). */
  meanPrompt?: number;
  meanOutput?: number;
}

/** The ground-truth step time used by the generator (exported for tests). */
export function syntheticTruthUs(ctx: BasisContext | RooflineConsts, s: Step): number {
  const c = 'arch' in ctx ? rooflineConsts(ctx) : ctx;
  return (
    1.25 * Math.max(rfGemm(c, s), rfWeight(c, s)) +
    1.6 * rfPrefillAttn(c, s) +
    1.35 * rfDecodeAttn(c, s) +
    1.2 * rfTpComm(c, s) +
    6 * rfTpCalls(c) +
    12 * c.L +
    4 * (s.prefill.length + s.decode.length) +
    150
  );
}

interface Req {
  prompt: number;
  output: number;
  computed: number;
  generated: number;
}

/** Generate `steps` steps from a closed-loop stream of requests under chunked prefill. */
export function* syntheticSteps(ctx: BasisContext, o: SyntheticOptions): Generator<Step> {
  const rng = makeRng(o.seed);
  const consts = rooflineConsts(ctx);
  const budget = o.budget ?? 2048;
  const maxSeqs = o.maxSeqs ?? 64;
  const noise = o.noise ?? 0.03;
  const meanPrompt = o.meanPrompt ?? 600;
  const meanOutput = o.meanOutput ?? 200;
  const running: Req[] = [];
  const waiting: Req[] = [];
  const newReq = (): Req => ({
    prompt: Math.max(8, Math.min(8192, Math.round(rng.exp(meanPrompt)))),
    output: Math.max(2, Math.min(2048, Math.round(rng.exp(meanOutput)))),
    computed: 0,
    generated: 0,
  });
  for (let i = 0; i < o.steps; i++) {
    // arrivals: a few per step, bursty; the queue is capped so the load stays near saturation (closed-loop-like)
    const arrivals = waiting.length < 16 && rng.next() < 0.3 ? rng.int(1, 4) : 0;
    for (let a = 0; a < arrivals; a++) waiting.push(newReq());
    let left = budget;
    const decode: number[] = [];
    const prefill: PrefillChunk[] = [];
    const inStep: Req[] = [];
    for (const r of running) {
      if (r.computed >= r.prompt && left > 0) {
        decode.push(r.computed);
        left--;
        inStep.push(r);
      }
    }
    for (const r of running) {
      if (r.computed < r.prompt && left > 0) {
        const t = Math.min(left, r.prompt - r.computed);
        prefill.push({ tokens: t, prior: r.computed, prompt: r.prompt });
        left -= t;
        inStep.push(r);
      }
    }
    while (left > 0 && waiting.length > 0 && running.length < maxSeqs) {
      const r = waiting.shift()!;
      running.push(r);
      const t = Math.min(left, r.prompt);
      prefill.push({ tokens: t, prior: 0, prompt: r.prompt });
      left -= t;
      inStep.push(r);
    }
    if (prefill.length === 0 && decode.length === 0) {
      waiting.push(newReq());
      i--;
      continue;
    }
    const step: Step = { experiment: o.experiment, step: i, prefill, decode };
    const dur = syntheticTruthUs(consts, step) * Math.exp(noise * rng.normal());
    yield { ...step, durationUs: Math.round(dur * 10) / 10 };
    // advance state
    let pi = 0;
    for (const r of inStep) {
      if (r.computed >= r.prompt) {
        r.computed++;
        r.generated++;
      } else {
        r.computed += prefill[pi++]!.tokens;
        if (r.computed >= r.prompt) r.generated = 1;
      }
    }
    for (let j = running.length - 1; j >= 0; j--) {
      const r = running[j]!;
      if (r.generated >= r.output) running.splice(j, 1);
    }
  }
}
