/**
 * The planner's state (one configuration), its URL-fragment encoding, and its mapping onto the
 * engine's inputs and onto the equivalent `stepfit engine serve` command line. Defaults are the
 * CLI's defaults (src/cli/engine.ts), so a page left at its defaults and the CLI agree.
 */
import type { EngineOptions, KvDtype } from '../analytic/context.js';
import type { Workload } from '../analytic/serving.js';
import type { CostOptions } from '../analytic/cost.js';
import type { Dtype } from '../model/arch.js';

export const WEIGHT_DTYPES = ['', 'bf16', 'fp16', 'fp8', 'int8', 'int4', 'fp4'] as const;
export const KV_DTYPES = ['bf16', 'fp16', 'fp8'] as const;

export interface PlannerState {
  /** A bundled model id, or 'custom' for a pasted HF config.json (`customConfig`). */
  model: string;
  customConfig: string;
  gpu: string;
  tp: number;
  pp: number;
  ep: number;
  dp: number;
  /** '' = the model config's dtype. */
  weightDtype: (typeof WEIGHT_DTYPES)[number];
  kvDtype: KvDtype;
  input: number;
  output: number;
  /** Closed loop at `concurrency` (0 = as many as memory and max-seqs allow) or open loop at `rate` req/s. */
  load: 'concurrency' | 'rate';
  concurrency: number;
  rate: number;
  chunk: number;
  maxSeqs: number;
  gpuMemUtil: number;
  price: number;
  pue: number;
  carbon: number;
  powerFraction: number;
  /** SLA lines on the plots, ms. */
  slaTtftMs: number;
  slaTpotMs: number;
}

export const DEFAULT_STATE: PlannerState = {
  model: 'llama-3.1-8b',
  customConfig: '',
  gpu: 'h100-sxm',
  tp: 1,
  pp: 1,
  ep: 1,
  dp: 1,
  weightDtype: '',
  kvDtype: 'bf16',
  input: 1024,
  output: 256,
  load: 'concurrency',
  concurrency: 32,
  rate: 5,
  chunk: 2048,
  maxSeqs: 256,
  gpuMemUtil: 0.9,
  price: 0,
  pue: 1.2,
  carbon: 400,
  powerFraction: 0.7,
  slaTtftMs: 500,
  slaTpotMs: 50,
};

const NUM_KEYS = ['tp', 'pp', 'ep', 'dp', 'input', 'output', 'concurrency', 'rate', 'chunk', 'maxSeqs', 'gpuMemUtil', 'price', 'pue', 'carbon', 'powerFraction', 'slaTtftMs', 'slaTpotMs'] as const;

/** Engine options for the state (the CLI's engineOpts with its defaults). */
export function engineOptionsOf(s: PlannerState): EngineOptions {
  return {
    pp: s.pp,
    ep: s.ep,
    dp: s.dp,
    weightDtype: s.weightDtype ? (s.weightDtype as Dtype) : undefined,
    kvDtype: s.kvDtype,
    efficiency: 'auto',
    execution: 'graph',
    algorithm: 'ring',
    link: 'auto',
    gpusPerNode: 8,
    interNodeGBs: 50,
    stepOverheadUs: 0,
  };
}

export function workloadOfState(s: PlannerState, concurrency?: number): Workload {
  const closed = s.load === 'concurrency';
  return {
    inputTokens: s.input,
    outputTokens: s.output,
    concurrency: concurrency ?? (closed && s.concurrency > 0 ? s.concurrency : undefined),
    ratePerS: concurrency === undefined && !closed ? s.rate : undefined,
    chunkTokens: s.chunk,
    maxSeqs: s.maxSeqs,
    gpuMemUtil: s.gpuMemUtil,
  };
}

export function costOfState(s: PlannerState): CostOptions {
  return { pricePerGpuHour: s.price, pue: s.pue, carbonGPerKWh: s.carbon, powerFraction: s.powerFraction };
}

/** `stepfit engine serve` arguments giving the same numbers (model 'custom' → `modelPath`). */
export function cliArgsOf(s: PlannerState, modelPath = 'config.json'): string[] {
  const a = ['engine', 'serve', '--model', s.model === 'custom' ? modelPath : s.model, '--gpu', s.gpu, '--tp', String(s.tp), '--pp', String(s.pp), '--ep', String(s.ep), '--dp', String(s.dp)];
  if (s.weightDtype) a.push('--weight-dtype', s.weightDtype);
  a.push('--kv-dtype', s.kvDtype, '--input', String(s.input), '--output', String(s.output));
  if (s.load === 'concurrency' && s.concurrency > 0) a.push('--concurrency', String(s.concurrency));
  if (s.load === 'rate') a.push('--rate', String(s.rate));
  // the page computes the step-by-step replay (serveMetrics); the CLI's default closed-loop model is the
  // vllm-bench protocol with host costs (docs/serving.md), not yet wired into the page
  a.push('--protocol', 'replay');
  a.push(
    '--chunk',
    String(s.chunk),
    '--max-seqs',
    String(s.maxSeqs),
    '--gpu-mem-util',
    String(s.gpuMemUtil),
    '--price',
    String(s.price),
    '--pue',
    String(s.pue),
    '--carbon',
    String(s.carbon),
    '--power-fraction',
    String(s.powerFraction),
    '--json',
  );
  return a;
}

/** URL fragment for a state (only fields that differ from the defaults) plus saved comparisons. */
export function encodeFragment(s: PlannerState, compare: PlannerState[] = []): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(s) as [keyof PlannerState, unknown][]) if (v !== DEFAULT_STATE[k]) p.set(k, String(v));
  if (compare.length) p.set('compare', JSON.stringify(compare.map((c) => Object.fromEntries(Object.entries(c).filter(([k, v]) => v !== DEFAULT_STATE[k as keyof PlannerState])))));
  return p.toString();
}

/** Parse a fragment; unknown keys and malformed values fall back to the defaults (reported in `problems`). */
export function decodeFragment(frag: string): { state: PlannerState; compare: PlannerState[]; problems: string[] } {
  const p = new URLSearchParams(frag.replace(/^#/, ''));
  const problems: string[] = [];
  const fromRecord = (get: (k: string) => string | null | undefined): PlannerState => {
    const s: PlannerState = { ...DEFAULT_STATE };
    for (const k of NUM_KEYS) {
      const raw = get(k);
      if (raw === null || raw === undefined) continue;
      const v = Number(raw);
      if (Number.isFinite(v) && v >= 0) s[k] = v;
      else problems.push(`URL field '${k}': expected a non-negative number, got '${raw}'`);
    }
    for (const k of ['model', 'customConfig', 'gpu'] as const) {
      const v = get(k);
      if (v) s[k] = v;
    }
    const wd = get('weightDtype');
    if (wd !== null && wd !== undefined) {
      if ((WEIGHT_DTYPES as readonly string[]).includes(wd)) s.weightDtype = wd as PlannerState['weightDtype'];
      else problems.push(`URL field 'weightDtype': expected one of ${WEIGHT_DTYPES.filter(Boolean).join(', ')}, got '${wd}'`);
    }
    const kd = get('kvDtype');
    if (kd) {
      if ((KV_DTYPES as readonly string[]).includes(kd)) s.kvDtype = kd as KvDtype;
      else problems.push(`URL field 'kvDtype': expected one of ${KV_DTYPES.join(', ')}, got '${kd}'`);
    }
    const ld = get('load');
    if (ld) {
      if (ld === 'concurrency' || ld === 'rate') s.load = ld;
      else problems.push(`URL field 'load': expected concurrency or rate, got '${ld}'`);
    }
    return s;
  };
  const state = fromRecord((k) => p.get(k));
  let compare: PlannerState[] = [];
  const c = p.get('compare');
  if (c) {
    try {
      const arr = JSON.parse(c) as unknown;
      if (!Array.isArray(arr)) throw new Error('not a list');
      compare = arr.slice(0, 4).map((o: Record<string, unknown>) => fromRecord((k) => (o[k] === undefined ? undefined : String(o[k]))));
    } catch (e) {
      problems.push(`URL field 'compare': expected a JSON list of configurations (${(e as Error).message})`);
    }
  }
  return { state, compare, problems };
}
