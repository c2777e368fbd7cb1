/**
 * Workloads for the serving simulator: what requests arrive when, with which input / output lengths.
 *
 * Spec (YAML or JSON file, or an inline `kind:key=value,...` string — see README `## simulate`):
 *   kind: poisson | gamma | closed | replay
 *   poisson / gamma:  requests, rate (req/s), cv (gamma only: CV of inter-arrival gaps, default 2),
 *                     input, output (length distributions), prefix (optional shared-prefix hits)
 *   closed:           requests, concurrency, input, output, think_s (default 0), prefix
 *   replay:           file (requests.jsonl; relative to the spec file), clock (arrival | queued),
 *                     time_scale (default 1), limit (first N records)
 * A length is a number (fixed) or {dist: fixed|uniform|lognormal|exponential, ...}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import YAML from 'yaml';
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { readLines } from '../io/lines.js';
import { makeRng, type Rng } from '../util/rng.js';
import { sampleLength, interArrivalS, type LengthDist } from './dist.js';

/** One request as the simulator receives it. */
export interface WorkloadRequest {
  readonly id: string;
  /** Arrival at the engine queue, µs from the start of the run. */
  readonly arrivalUs: number;
  /** Prompt tokens. */
  readonly input: number;
  /** Output tokens to generate (the request finishes after this many). */
  readonly output: number;
  /** Shared-prefix group (−1: none) and the number of leading prompt tokens shared within the group. */
  readonly prefixGroup: number;
  readonly prefixTokens: number;
}

export interface ClosedLoop {
  readonly concurrency: number;
  /** Delay between a request finishing and its client sending the next, µs. */
  readonly thinkUs: number;
  /** Make the i-th request (0-based) arriving at `arrivalUs`. Deterministic in i (own RNG stream). */
  make(i: number, arrivalUs: number): WorkloadRequest;
}

export interface Workload {
  /** Human-readable description for logs and summary.json. */
  readonly description: string;
  /** Total number of requests this workload issues. */
  readonly total: number;
  /** Open-loop / replay requests, sorted by arrival (empty for closed loop). */
  readonly open: readonly WorkloadRequest[];
  readonly closed?: ClosedLoop;
}

const MAX_LEN = 1 << 22;
const PosInt = z.number().int().positive();

const LengthSpec = z.union([
  PosInt,
  z.object({ dist: z.literal('fixed'), value: PosInt }).strict(),
  z.object({ dist: z.literal('uniform'), min: PosInt, max: PosInt }).strict(),
  z.object({ dist: z.literal('lognormal'), mean: z.number().positive(), cv: z.number().nonnegative(), min: PosInt.default(1), max: PosInt.default(MAX_LEN) }).strict(),
  z.object({ dist: z.literal('exponential'), mean: z.number().positive(), min: PosInt.default(1), max: PosInt.default(MAX_LEN) }).strict(),
]);

const PrefixSpec = z
  .object({
    /** Fraction of requests that share a prefix with their group. */
    fraction: z.number().min(0).max(1),
    /** Shared prefix length in tokens (capped at each prompt's length − 1). */
    tokens: PosInt,
    /** Number of distinct shared prefixes (requests pick one uniformly). */
    groups: PosInt.default(1),
  })
  .strict();

const OpenSpec = z
  .object({
    kind: z.enum(['poisson', 'gamma']),
    requests: PosInt,
    rate: z.number().positive(),
    cv: z.number().positive().default(2),
    input: LengthSpec,
    output: LengthSpec,
    prefix: PrefixSpec.optional(),
  })
  .strict();

const ClosedSpec = z
  .object({
    kind: z.literal('closed'),
    requests: PosInt,
    concurrency: PosInt,
    input: LengthSpec,
    output: LengthSpec,
    think_s: z.number().nonnegative().default(0),
    prefix: PrefixSpec.optional(),
  })
  .strict();

const ReplaySpec = z
  .object({
    kind: z.literal('replay'),
    file: z.string().min(1),
    clock: z.enum(['arrival', 'queued']).default('arrival'),
    time_scale: z.number().positive().default(1),
    limit: PosInt.optional(),
  })
  .strict();

export const WorkloadSpec = z.discriminatedUnion('kind', [OpenSpec.extend({ kind: z.literal('poisson') }), OpenSpec.extend({ kind: z.literal('gamma') }), ClosedSpec, ReplaySpec]);
export type WorkloadSpec = z.infer<typeof WorkloadSpec>;

function toDist(l: z.infer<typeof LengthSpec>, where: string): LengthDist {
  if (typeof l === 'number') return { dist: 'fixed', value: l };
  if ((l.dist === 'uniform' || l.dist === 'lognormal' || l.dist === 'exponential') && l.min > l.max) {
    throw new InputError(`${where}: min (${l.min}) exceeds max (${l.max})`);
  }
  return l as LengthDist;
}

function zodMsg(src: string, err: z.ZodError): string {
  const iss = err.issues[0]!;
  const field = iss.path.length ? `field '${iss.path.join('.')}'` : 'workload spec';
  return `${src}: ${field}: ${iss.message}`;
}

/** Validate a parsed spec object. `src` names where it came from in messages. */
export function parseWorkloadSpec(v: unknown, src: string): WorkloadSpec {
  const r = WorkloadSpec.safeParse(v);
  if (!r.success) throw new InputError(zodMsg(src, r.error));
  return r.data;
}

/**
 * Parse one inline length: `512` (fixed), `100..500` (uniform), `lognormal(800,1.2)` (mean, cv),
 * `exp(300)` (exponential mean).
 */
function inlineLength(s: string, key: string): unknown {
  const t = s.trim();
  let m: RegExpMatchArray | null;
  if (/^\d+$/.test(t)) return Number(t);
  if ((m = t.match(/^(\d+)\.\.(\d+)$/))) return { dist: 'uniform', min: Number(m[1]), max: Number(m[2]) };
  if ((m = t.match(/^lognormal\(([\d.]+);([\d.]+)\)$/))) return { dist: 'lognormal', mean: Number(m[1]), cv: Number(m[2]) };
  if ((m = t.match(/^exp\(([\d.]+)\)$/))) return { dist: 'exponential', mean: Number(m[1]) };
  throw new InputError(`workload '${key}=${s}': expected N, A..B, lognormal(MEAN;CV) or exp(MEAN)`);
}

/**
 * Inline spec: `poisson:requests=1000,rate=10,input=lognormal(800;1),output=100..300`,
 * `closed:requests=500,concurrency=16,input=1024,output=128`. Keys as in the file spec.
 */
export function parseInlineSpec(s: string): WorkloadSpec {
  const m = s.match(/^(poisson|gamma|closed|replay):(.*)$/);
  if (!m) throw new InputError(`--workload '${s}': expected a spec file (.yaml/.json), a requests .jsonl file, or KIND:key=value,... with KIND poisson|gamma|closed|replay`);
  const o: Record<string, unknown> = { kind: m[1] };
  for (const part of m[2]!.split(',').filter((p) => p.trim() !== '')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new InputError(`--workload '${s}': '${part}' is not key=value`);
    const k = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    if (k === 'input' || k === 'output') o[k] = inlineLength(val, k);
    else if (k === 'file' || k === 'clock') o[k] = val;
    else if (k === 'prefix') {
      // prefix=FRACTION;TOKENS[;GROUPS]
      const p = val.split(';').map(Number);
      o[k] = { fraction: p[0], tokens: p[1], ...(p[2] !== undefined ? { groups: p[2] } : {}) };
    } else {
      const n = Number(val);
      if (!Number.isFinite(n)) throw new InputError(`--workload '${s}': '${k}' expects a number, got '${val}'`);
      o[k] = n;
    }
  }
  return parseWorkloadSpec(o, `--workload '${s}'`);
}

/** Read a spec file (YAML or JSON). */
export function readWorkloadSpecFile(file: string): WorkloadSpec {
  if (!fs.existsSync(file)) throw new InputError(`${file}: workload spec not found`);
  let v: unknown;
  try {
    v = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid YAML/JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const spec = parseWorkloadSpec(v, file);
  if (spec.kind === 'replay' && !path.isAbsolute(spec.file)) return { ...spec, file: path.join(path.dirname(file), spec.file) };
  return spec;
}

function prefixOf(spec: { prefix?: z.infer<typeof PrefixSpec> | undefined }, input: number, rng: Rng): { group: number; tokens: number } {
  const p = spec.prefix;
  if (!p || input < 2 || rng.next() >= p.fraction) return { group: -1, tokens: 0 };
  const group = rng.int(0, p.groups - 1);
  return { group, tokens: Math.min(p.tokens, input - 1) };
}

/** One record of a request log (requests.jsonl) as the replay reads it. */
export interface LoggedRequest {
  readonly id: string;
  readonly input: number;
  readonly output: number;
  /** Seconds on the chosen clock (arrival_time: unix; queued_ts: engine monotonic). */
  readonly t: number;
  readonly line: number;
}

/**
 * Read a request log (requests.jsonl: request_id, input_toks, output_toks, arrival_time, queued_ts, …).
 * `clock` picks the arrival field: arrival_time (client/API side, unix s) or queued_ts (engine queue, monotonic s).
 */
export async function readRequestLog(file: string, clock: 'arrival' | 'queued', limit?: number): Promise<LoggedRequest[]> {
  const field = clock === 'arrival' ? 'arrival_time' : 'queued_ts';
  const out: LoggedRequest[] = [];
  for await (const { text, lineNo } of readLines(file)) {
    if (limit !== undefined && out.length >= limit) break;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${file}:${lineNo}: not valid JSON (${jsonErrorDetail(e)})`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError(`${file}:${lineNo}: expected a JSON object (a request record)`);
    const o = v as Record<string, unknown>;
    const id = o['request_id'];
    if (typeof id !== 'string' && typeof id !== 'number') throw new InputError(`${file}:${lineNo}: field 'request_id': expected a string`);
    const input = o['input_toks'];
    if (typeof input !== 'number' || !Number.isInteger(input) || input < 1) throw new InputError(`${file}:${lineNo}: field 'input_toks': expected a positive integer, got ${JSON.stringify(input)}`);
    const output = o['output_toks'];
    if (typeof output !== 'number' || !Number.isInteger(output) || output < 1)
      throw new InputError(`${file}:${lineNo}: field 'output_toks': expected a positive integer, got ${JSON.stringify(output)}`);
    const t = o[field];
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new InputError(`${file}:${lineNo}: field '${field}': expected a number of seconds, got ${JSON.stringify(t)}`);
    out.push({ id: String(id), input, output, t, line: lineNo });
  }
  if (out.length === 0) throw new InputError(`${file}: request log holds no records`);
  return out;
}

/** Build the workload a spec describes. Deterministic in (spec, seed). */
export async function buildWorkload(spec: WorkloadSpec, seed: number): Promise<Workload> {
  if (spec.kind === 'replay') {
    const recs = await readRequestLog(spec.file, spec.clock, spec.limit);
    let t0 = Infinity;
    for (const r of recs) if (r.t < t0) t0 = r.t;
    const reqs: WorkloadRequest[] = recs.map((r) => ({
      id: r.id,
      arrivalUs: (r.t - t0) * 1e6 * spec.time_scale,
      input: r.input,
      output: r.output,
      prefixGroup: -1,
      prefixTokens: 0,
    }));
    reqs.sort((a, b) => a.arrivalUs - b.arrivalUs);
    return {
      description: `replay ${path.basename(spec.file)} (${reqs.length} requests, clock ${spec.clock}${spec.time_scale !== 1 ? `, time ×${spec.time_scale}` : ''})`,
      total: reqs.length,
      open: reqs,
    };
  }
  const input = toDist(spec.input, "workload field 'input'");
  const output = toDist(spec.output, "workload field 'output'");
  if (spec.kind === 'closed') {
    const make = (i: number, arrivalUs: number): WorkloadRequest => {
      // One RNG stream per request index: the i-th request is the same whatever the timing.
      const rng = makeRng((seed * 1_000_003 + i * 7919) >>> 0);
      const inp = sampleLength(input, rng);
      const p = prefixOf(spec, inp, rng);
      return { id: `req-${i}`, arrivalUs, input: inp, output: sampleLength(output, rng), prefixGroup: p.group, prefixTokens: p.tokens };
    };
    return {
      description: `closed loop: ${spec.requests} requests at concurrency ${spec.concurrency}, input ${describe(input)}, output ${describe(output)}${spec.think_s ? `, think ${spec.think_s} s` : ''}`,
      total: spec.requests,
      open: [],
      closed: { concurrency: spec.concurrency, thinkUs: spec.think_s * 1e6, make },
    };
  }
  const rng = makeRng(seed);
  const reqs: WorkloadRequest[] = new Array(spec.requests);
  let t = 0;
  for (let i = 0; i < spec.requests; i++) {
    if (i > 0) t += interArrivalS(spec.kind, spec.rate, spec.cv, rng) * 1e6;
    const inp = sampleLength(input, rng);
    const p = prefixOf(spec, inp, rng);
    reqs[i] = { id: `req-${i}`, arrivalUs: t, input: inp, output: sampleLength(output, rng), prefixGroup: p.group, prefixTokens: p.tokens };
  }
  return {
    description: `${spec.kind} arrivals: ${spec.requests} requests at ${spec.rate} req/s${spec.kind === 'gamma' ? ` (gap CV ${spec.cv})` : ''}, input ${describe(input)}, output ${describe(output)}${spec.prefix ? `, ${spec.prefix.fraction * 100}% with a ${spec.prefix.tokens}-token shared prefix (${spec.prefix.groups} groups)` : ''}`,
    total: spec.requests,
    open: reqs,
  };
}

function describe(d: LengthDist): string {
  switch (d.dist) {
    case 'fixed':
      return `${d.value}`;
    case 'uniform':
      return `uniform ${d.min}..${d.max}`;
    case 'lognormal':
      return `lognormal mean ${d.mean} cv ${d.cv} [${d.min}, ${d.max}]`;
    case 'exponential':
      return `exponential mean ${d.mean} [${d.min}, ${d.max}]`;
  }
}

/** `--workload` value → spec: a YAML/JSON spec file, a request log (.jsonl[.gz]) replayed on its arrival clock, or an inline spec. */
export function resolveWorkloadArg(arg: string): WorkloadSpec {
  if (/\.jsonl(\.gz)?$/.test(arg)) {
    if (!fs.existsSync(arg)) throw new InputError(`${arg}: request log not found`);
    return { kind: 'replay', file: arg, clock: 'arrival', time_scale: 1 };
  }
  if (/\.(ya?ml|json)$/.test(arg)) return readWorkloadSpecFile(arg);
  return parseInlineSpec(arg);
}
