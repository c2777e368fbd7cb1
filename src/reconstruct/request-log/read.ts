/**
 * `request-log` reader: per-request engine timestamps (vLLM `requests.jsonl`: request_id,
 * input_toks, output_toks, arrival_time, queued_ts, scheduled_ts, first_token_ts, last_token_ts)
 * → implied steps (no durations) and request-level targets (simulate.ts).
 * Limits come from `meta.json` next to the file (engine_kwargs.max_num_batched_tokens,
 * max_num_seqs, data_parallel_size; kv_cache.num_gpu_blocks, block_size, enable_prefix_caching;
 * resolved_config.scheduler_config.scheduler_reserve_full_isl) unless given. Without a block count
 * the KV cache is not modelled.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, jsonErrorDetail } from '../../io/errors.js';
import { readLines } from '../../io/lines.js';
import type { Step } from '../../steps/step.js';
import type { RequestTarget } from '../../steps/targets.js';
import { emptySummary, type ReconstructSummary } from '../summary.js';
import { simulateRequestLog, type EngineLimits, type KvLimits, type LoggedRequest, type SimResult } from './simulate.js';

export interface RequestLogOptions {
  /** requests.jsonl, or a directory holding it (and meta.json). */
  input: string;
  experiment?: string;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  dataParallel?: number;
  /** KV blocks per engine (vLLM num_gpu_blocks; default: meta.json kv_cache.num_gpu_blocks, else KV not modelled). */
  numGpuBlocks?: number;
  /** Tokens per KV block (default: meta.json, else 16). */
  blockSize?: number;
  /** Steps between a token's forward pass and its logged timestamp (default: 1 with async scheduling, see readMeta). */
  outputLagSteps?: number;
  skipBad?: boolean;
}

export interface RequestLogOutput {
  summary: ReconstructSummary;
  steps: Step[];
  targets: RequestTarget[];
  sim: SimResult;
}

interface Meta {
  outputLagSteps?: number;
  asyncSource?: string;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  dataParallel?: number;
  numGpuBlocks?: number;
  blockSize?: number;
  prefixCaching?: boolean;
  reserveFullIsl?: boolean;
  watermark?: number;
  model?: string;
  tp?: number;
}

function readMeta(file: string): Meta {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${jsonErrorDetail(e)})`);
  }
  const ek = (m['engine_kwargs'] ?? {}) as Record<string, unknown>;
  const sc = ((m['resolved_config'] as Record<string, unknown> | undefined)?.['scheduler_config'] ?? {}) as Record<string, unknown>;
  const kv = (m['kv_cache'] ?? {}) as Record<string, unknown>;
  const cc = ((m['resolved_config'] as Record<string, unknown> | undefined)?.['cache_config'] ?? {}) as Record<string, unknown>;
  // a limit that is present must be a positive integer: a negative or fractional one is an error naming its field
  const int = (...xs: [string, unknown][]): number | undefined => {
    for (const [field, x] of xs) {
      if (x === undefined || x === null) continue;
      if (typeof x === 'number' && Number.isInteger(x) && x > 0) return x;
      throw new InputError(`${file}: field '${field}': expected a positive integer, got ${JSON.stringify(x)}`);
    }
    return undefined;
  };
  const out: Meta = {};
  const set = <K extends keyof Meta>(k: K, v: Meta[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('maxNumBatchedTokens', int(['engine_kwargs.max_num_batched_tokens', ek['max_num_batched_tokens']], ['resolved_config.scheduler_config.max_num_batched_tokens', sc['max_num_batched_tokens']]));
  set('maxNumSeqs', int(['engine_kwargs.max_num_seqs', ek['max_num_seqs']], ['resolved_config.scheduler_config.max_num_seqs', sc['max_num_seqs']]));
  set('dataParallel', int(['engine_kwargs.data_parallel_size', ek['data_parallel_size']]));
  set('numGpuBlocks', int(['kv_cache.num_gpu_blocks', kv['num_gpu_blocks']], ['resolved_config.cache_config.num_gpu_blocks', cc['num_gpu_blocks']]));
  set('blockSize', int(['kv_cache.block_size', kv['block_size']], ['resolved_config.cache_config.block_size', cc['block_size']]));
  const bool = (...xs: unknown[]): boolean | undefined => xs.find((x): x is boolean => typeof x === 'boolean');
  set('prefixCaching', bool(kv['enable_prefix_caching'], cc['enable_prefix_caching']));
  set('reserveFullIsl', bool(sc['scheduler_reserve_full_isl']));
  // vLLM's admission watermark (a later SchedulerConfig field); a resolved config without it (0.19) has none.
  if (typeof sc['watermark'] === 'number' && sc['watermark'] >= 0 && sc['watermark'] < 1) out.watermark = sc['watermark'];
  else if (Object.keys(sc).length > 0) out.watermark = 0;
  set('tp', int(['engine_kwargs.tensor_parallel_size', ek['tensor_parallel_size']]));
  if (typeof m['model'] === 'string') out.model = m['model'] as string;
  // vLLM's async scheduling stamps a step's tokens while the next step runs: one step of lag.
  const asyncSched = sc['async_scheduling'] ?? ek['async_scheduling'];
  if (typeof asyncSched === 'boolean') {
    out.outputLagSteps = asyncSched ? 1 : 0;
    out.asyncSource = `async_scheduling: ${asyncSched} in meta.json`;
  }
  return out;
}

/** Default experiment id: `<gpu>-<model>` for `.../<gpu>/<model>/vllm/requests.jsonl`, else the file's directory name. */
function defaultExperiment(file: string): string {
  const dir = path.dirname(path.resolve(file));
  const parts = dir.split(path.sep);
  if (parts[parts.length - 1] === 'vllm' && parts.length >= 3) return `${parts[parts.length - 3]}-${parts[parts.length - 2]}`.toLowerCase();
  return path.basename(dir).toLowerCase();
}

const FIELDS = ['input_toks', 'output_toks', 'queued_ts', 'scheduled_ts', 'first_token_ts', 'last_token_ts'] as const;

/** Validate one requests.jsonl record; returns the request or an error message (no file:line prefix). */
export function parseLoggedRequest(text: string, line: number): LoggedRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not valid JSON (${jsonErrorDetail(e)})`;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'expected a JSON object (one request)';
  const o = v as Record<string, unknown>;
  const id = o['request_id'];
  if (typeof id !== 'string' || id === '') return `field 'request_id': expected a non-empty string`;
  for (const f of FIELDS) {
    const x = o[f];
    if (typeof x !== 'number' || !Number.isFinite(x)) return `request ${id}: field '${f}': expected a number, got ${JSON.stringify(x)}`;
  }
  const n = (f: (typeof FIELDS)[number]) => o[f] as number;
  if (!Number.isInteger(n('input_toks')) || n('input_toks') < 1) return `request ${id}: field 'input_toks': expected a positive integer`;
  if (!Number.isInteger(n('output_toks')) || n('output_toks') < 1) return `request ${id}: field 'output_toks': expected a positive integer`;
  const order: [string, number][] = [
    ['queued_ts', n('queued_ts')],
    ['scheduled_ts', n('scheduled_ts')],
    ['first_token_ts', n('first_token_ts')],
    ['last_token_ts', n('last_token_ts')],
  ];
  for (let i = 1; i < order.length; i++) {
    if (order[i]![1] < order[i - 1]![1]) return `request ${id}: field '${order[i]![0]}' (${order[i]![1]}) is before '${order[i - 1]![0]}' (${order[i - 1]![1]}): timestamps going backwards`;
  }
  return { id, line, prompt: n('input_toks'), outputs: n('output_toks'), queued: n('queued_ts'), scheduled: n('scheduled_ts'), firstToken: n('first_token_ts'), lastToken: n('last_token_ts') };
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))));
  return s[i]!;
};

export async function reconstructRequestLog(o: RequestLogOptions): Promise<RequestLogOutput> {
  const { file, meta, lim } = resolveLog(o);
  const experiment = o.experiment ?? defaultExperiment(file);
  const sum = emptySummary('request-log', o.input);
  const reqs = await readLogged(file, o.skipBad === true, sum);
  const sim = simulateRequestLog(reqs, lim);
  const dp = lim.dataParallel ?? 1;
  const expOf = (engine: number): string => (dp > 1 ? `${experiment}-dp${engine}` : experiment);
  const steps: Step[] = sim.steps.map((s) => ({ experiment: expOf(s.engine), step: s.step, prefill: s.prefill, decode: s.decode }));
  const targets: RequestTarget[] = [];
  for (const r of sim.requests) {
    if (r.prefillSteps.length > 0 && r.prefillUs > 0) targets.push({ experiment: expOf(r.engine), request: r.id, kind: 'prefill', steps: r.prefillSteps, durationUs: r.prefillUs });
    if (r.decodeSteps.length > 0 && r.decodeUs > 0) targets.push({ experiment: expOf(r.engine), request: r.id, kind: 'decode', steps: r.decodeSteps, durationUs: r.decodeUs });
  }
  sum.experiments = dp > 1 ? Array.from({ length: dp }, (_, e) => expOf(e)) : [experiment];
  sum.steps = steps.length;
  sum.stepsInferred = steps.length;
  sum.durationSource = 'none (steps are implied by a scheduler replay; timings are request-level targets)';
  sum.requests = reqs.length;
  sum.targets = targets.length;
  sum.timeCoveredS = Math.max(...reqs.map((r) => r.lastToken)) - Math.min(...reqs.map((r) => r.queued));
  sum.detail = replayDetail(sim, lim);
  sum.notes.push(...replayNotes(o, meta, lim));
  return { summary: sum, steps, targets, sim };
}

/** The log file, its meta.json and the engine limits (options first, then meta.json, then vLLM's defaults). */
function resolveLog(o: RequestLogOptions): { file: string; meta: Meta; lim: EngineLimits } {
  if (!fs.existsSync(o.input)) throw new InputError(`${o.input}: requests.jsonl file or directory not found`);
  const file = fs.statSync(o.input).isDirectory() ? path.join(o.input, 'requests.jsonl') : o.input;
  if (!fs.existsSync(file)) throw new InputError(`${o.input}: directory has no requests.jsonl`);
  const metaFile = path.join(path.dirname(file), 'meta.json');
  const meta = fs.existsSync(metaFile) ? readMeta(metaFile) : {};
  const B = o.maxNumBatchedTokens ?? meta.maxNumBatchedTokens;
  if (B === undefined) throw new InputError(`${file}: max_num_batched_tokens unknown: give --max-num-batched-tokens or a meta.json with engine_kwargs.max_num_batched_tokens`);
  const blocks = o.numGpuBlocks ?? meta.numGpuBlocks;
  const kv: KvLimits | undefined =
    blocks !== undefined
      ? {
          numGpuBlocks: blocks,
          blockSize: o.blockSize ?? meta.blockSize ?? 16,
          ...(meta.prefixCaching !== undefined ? { prefixCaching: meta.prefixCaching } : {}),
          ...(meta.reserveFullIsl !== undefined ? { reserveFullIsl: meta.reserveFullIsl } : {}),
          ...(meta.watermark !== undefined ? { watermark: meta.watermark } : {}),
        }
      : undefined;
  const lim: EngineLimits = {
    maxNumBatchedTokens: B,
    maxNumSeqs: o.maxNumSeqs ?? meta.maxNumSeqs ?? 256,
    dataParallel: o.dataParallel ?? meta.dataParallel ?? 1,
    outputLagSteps: o.outputLagSteps ?? meta.outputLagSteps ?? 1,
    ...(kv ? { kv } : {}),
  };
  return { file, meta, lim };
}

/** The logged requests (unique ids); bad lines stop the read, or with skipBad are counted in the summary. */
async function readLogged(file: string, skipBad: boolean, sum: ReturnType<typeof emptySummary>): Promise<LoggedRequest[]> {
  const reqs: LoggedRequest[] = [];
  const ids = new Set<string>();
  for await (const { text, lineNo } of readLines(file)) {
    sum.records++;
    let r = parseLoggedRequest(text, lineNo);
    if (typeof r !== 'string' && ids.has(r.id)) r = `request ${r.id}: duplicate request_id`;
    if (typeof r === 'string') {
      const msg = `${file}:${lineNo}: ${r}`;
      if (!skipBad) throw new InputError(msg);
      sum.bad.count++;
      if (sum.bad.examples.length < 20) sum.bad.examples.push(msg);
      continue;
    }
    ids.add(r.id);
    reqs.push(r);
  }
  if (reqs.length === 0) throw new InputError(`${file}: no usable requests`);
  return reqs;
}

const ms = (us: number): string => `${(us / 1e3).toFixed(1)} ms`;
type SimRequest = RequestLogOutput['sim']['requests'][number];

/** Residuals of implied (Σ steps) vs logged phase times over the requests where `ok`. */
function residualLine(rq: readonly SimRequest[], pred: (r: SimRequest) => number, logged: (r: SimRequest) => number, ok: (r: SimRequest) => boolean): string {
  const xs = rq.filter(ok);
  const abs = xs.map((r) => Math.abs(pred(r) - logged(r)));
  const rel = xs.map((r) => Math.abs(pred(r) - logged(r)) / logged(r));
  const bias = xs.reduce((a, r) => a + pred(r) - logged(r), 0) / Math.max(1, xs.length);
  return `n ${xs.length}, bias ${ms(bias)}, |res| p50 ${ms(quantile(abs, 0.5))} p90 ${ms(quantile(abs, 0.9))}, relative p50 ${(100 * quantile(rel, 0.5)).toFixed(1)}% p90 ${(100 * quantile(rel, 0.9)).toFixed(1)}%`;
}

/** The replay clock's residuals at token stamps. */
function anchorLine(rq: readonly SimRequest[], pick: (r: SimRequest) => number | undefined): string {
  const xs = rq.map(pick).filter((x): x is number => x !== undefined);
  const abs = xs.map(Math.abs);
  return `n ${xs.length}, median ${ms(quantile(xs, 0.5))}, |res| p50 ${ms(quantile(abs, 0.5))} p90 ${ms(quantile(abs, 0.9))} max ${ms(Math.max(0, ...abs))}`;
}

/** KV lines of the summary: preemptions, KV-delayed admissions, blocks used. */
function kvDetail(sim: RequestLogOutput['sim']): Record<string, string> {
  const rq = sim.requests;
  const delayed = rq.filter((r) => r.admissionDelaySteps > 0).map((r) => r.admissionDelaySteps);
  return {
    'KV: preemptions (recompute) in the replay': `${sim.preemptions} (${rq.filter((r) => r.preemptions > 0).length} requests; ${rq.filter((r) => r.preemptionsBeforeFirstToken > 0).length} of them before their first token: targets placed by the clock)`,
    'KV: admissions delayed by the KV cache (steps)': `${sim.kvDelays}; requests admitted later than logged: ${delayed.length}, delay p50 ${quantile(delayed, 0.5) || 0} p90 ${quantile(delayed, 0.9) || 0} steps`,
    'KV: blocks used per step': `max ${Math.max(0, ...sim.steps.map((s) => s.kvBlocksUsed ?? 0))} of ${sim.kvBlocksUsable} usable, mean ${(sim.steps.reduce((a, s) => a + (s.kvBlocksUsed ?? 0), 0) / Math.max(1, sim.steps.length)).toFixed(0)}`,
  };
}

/** The summary's detail block: limits, the fitted clock, phase and clock residuals, delays, KV. */
function replayDetail(sim: RequestLogOutput['sim'], lim: EngineLimits): Record<string, string | number> {
  const rq = sim.requests;
  const kv = lim.kv;
  const c = sim.clock;
  return {
    limits: `max_num_batched_tokens ${lim.maxNumBatchedTokens}, max_num_seqs ${lim.maxNumSeqs}, data_parallel ${lim.dataParallel ?? 1}, ${kv ? `KV ${kv.numGpuBlocks} blocks × ${kv.blockSize} tokens per engine (prefix caching ${(kv.prefixCaching ?? true) ? 'on' : 'off'}, full-sequence admission ${(kv.reserveFullIsl ?? true) ? 'on' : 'off'}, watermark ${kv.watermark ?? 0.01})` : 'KV cache not modelled (no block count)'}`,
    'clock model fitted to request times (ms)': `${(c.a * 1e3).toFixed(2)} + ${(c.b * 1e3).toFixed(2)}·kTok_prefill + ${(c.c * 1e3).toFixed(2)}·(decodes/100) + ${(c.d * 1e3).toFixed(2)}·(context/1e5)`,
    'prefill time (first_token − scheduled): implied Σ steps − logged': residualLine(
      rq,
      (r) => r.prefillPredUs,
      (r) => r.prefillUs,
      (r) => r.prefillUs > 0 && r.prefillSteps.length > 0,
    ),
    'decode time (last_token − first_token): implied Σ steps − logged': residualLine(
      rq,
      (r) => r.decodePredUs,
      (r) => r.decodeUs,
      (r) => r.decodeUs > 0 && r.decodeSteps.length > 0,
    ),
    "first-token clock residual (replay clock at the rule's completion step − logged)": anchorLine(rq, (r) => r.firstTokenResidualUs),
    'last-token clock residual': anchorLine(rq, (r) => r.lastTokenResidualUs),
    'admissions delayed by max_num_seqs (steps)': sim.seqLimitDelays,
    ...(kv ? kvDetail(sim) : {}),
    'admissions at a step with no budget left': rq.filter((r) => r.admittedAtBudgetZero).length,
  };
}

/** Notes: where the output lag came from, what the KV model covers, how DP engines were assigned. */
function replayNotes(o: RequestLogOptions, meta: Meta, lim: EngineLimits): string[] {
  const notes = [
    `output lag: ${lim.outputLagSteps} step(s) between a token's forward pass and its logged timestamp (${o.outputLagSteps !== undefined ? 'from the option' : (meta.asyncSource ?? 'default 1: vLLM ≥ 0.14 schedules asynchronously unless told otherwise')})`,
    lim.kv
      ? "KV cache modelled (block pool, full-sequence admission, preemption by recompute of the latest-admitted request); requests.jsonl records no preemption, so preemptions and resumes are inferred; prefix-cache hits between requests are not modelled (no token ids), only a resumed request's own cached blocks; targets of a preempted request include the steps it sat out (see simulate.ts)"
      : 'KV cache not modelled (no num_gpu_blocks in meta.json): no preemption, unbounded admission; prefix-cache hits are not modelled',
  ];
  const dp = lim.dataParallel ?? 1;
  if (dp > 1) notes.push(`data_parallel_size ${dp}: requests assigned to engines by least in-flight load at queue time (the log does not say which engine served a request)`);
  return notes;
}
