/**
 * Request-level serving metrics (the ones serving benchmarks report) from simulated or logged
 * per-request timestamps, and their summaries.
 *
 * For a request with arrival a, first scheduling s, first token f, last token e, n output tokens:
 *   queue = s − a,  TTFT = f − a,  E2E = e − a,
 *   TPOT = (e − f) / (n − 1)   (n ≥ 2; also the request's mean inter-token latency, ITL mean).
 */
import type { RequestResult } from './simulator.js';

export interface RequestMetrics {
  readonly id: string;
  readonly rank: number;
  readonly status: string;
  readonly reason: string;
  readonly arrivalS: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly generatedTokens: number;
  readonly cachedTokens: number;
  readonly preemptions: number;
  readonly recomputedTokens: number;
  /** µs; NaN when undefined for the request. */
  readonly queueUs: number;
  readonly ttftUs: number;
  readonly tpotUs: number;
  readonly itlMeanUs: number;
  readonly itlMaxUs: number;
  readonly e2eUs: number;
}

/** TPOT = (last − first)/(n − 1) in the units of the inputs; NaN for n < 2. */
export function tpot(firstToken: number, lastToken: number, n: number): number {
  return n >= 2 ? (lastToken - firstToken) / (n - 1) : NaN;
}

export function requestMetrics(r: RequestResult): RequestMetrics {
  const us = (ns: number): number => ns / 1000;
  const fin = r.status === 'finished';
  const t = fin ? tpot(r.firstTokenNs, r.finishNs, r.generated) / 1000 : NaN;
  return {
    id: r.id,
    rank: r.rank,
    status: r.status,
    reason: r.reason,
    arrivalS: r.arrivalNs / 1e9,
    inputTokens: r.input,
    outputTokens: r.output,
    generatedTokens: r.generated,
    cachedTokens: r.cachedTokens,
    preemptions: r.preemptions,
    recomputedTokens: r.recomputedTokens,
    queueUs: us(r.firstScheduledNs - r.arrivalNs),
    ttftUs: us(r.firstTokenNs - r.arrivalNs),
    tpotUs: t,
    itlMeanUs: t,
    itlMaxUs: us(r.itlMaxNs),
    e2eUs: fin ? us(r.finishNs - r.arrivalNs) : NaN,
  };
}

export const METRICS_CSV_HEADER =
  'request_id,rank,status,reason,arrival_s,input_tokens,output_tokens,generated_tokens,cached_tokens,preemptions,recomputed_tokens,queue_us,ttft_us,tpot_us,itl_mean_us,itl_max_us,e2e_us';

const num = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '');
const csvStr = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function metricsCsvRow(m: RequestMetrics): string {
  return [
    csvStr(m.id),
    m.rank,
    m.status,
    csvStr(m.reason),
    num(m.arrivalS, 6),
    m.inputTokens,
    m.outputTokens,
    m.generatedTokens,
    m.cachedTokens,
    m.preemptions,
    m.recomputedTokens,
    num(m.queueUs),
    num(m.ttftUs),
    num(m.tpotUs),
    num(m.itlMeanUs),
    num(m.itlMaxUs),
    num(m.e2eUs),
  ].join(',');
}

/**
 * p-quantile of ascending `sorted` by linear interpolation between order statistics
 * (numpy's default): h = (n − 1)·p, q = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌈h⌉] − x[⌊h⌋]).
 */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export interface Dist {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/** Mean and percentiles of the finite values. */
export function describeValues(xs: Iterable<number>): Dist {
  const v: number[] = [];
  for (const x of xs) if (Number.isFinite(x)) v.push(x);
  const a = Float64Array.from(v).sort();
  let s = 0;
  for (const x of a) s += x;
  return {
    n: a.length,
    mean: a.length ? s / a.length : NaN,
    p50: quantileSorted(a, 0.5),
    p90: quantileSorted(a, 0.9),
    p95: quantileSorted(a, 0.95),
    p99: quantileSorted(a, 0.99),
    max: a.length ? a[a.length - 1]! : NaN,
  };
}

/**
 * Log-bucketed histogram of positive values (token gaps): bucket i holds [b^i, b^(i+1)) µs with
 * b = 1.01, so a percentile read from it is within 1% of the exact one. Constant memory.
 */
export class LogHistogram {
  private readonly counts = new Float64Array(2400); // 1.01^2400 µs ≈ 2e10 µs
  private n = 0;
  private sum = 0;
  private static readonly LB = Math.log(1.01);
  add(us: number): void {
    const i = us <= 1 ? 0 : Math.min(this.counts.length - 1, Math.floor(Math.log(us) / LogHistogram.LB));
    this.counts[i]!++;
    this.n++;
    this.sum += us;
  }
  get count(): number {
    return this.n;
  }
  get mean(): number {
    return this.n ? this.sum / this.n : NaN;
  }
  /** Geometric middle of the bucket holding the p-quantile. */
  quantile(p: number): number {
    if (this.n === 0) return NaN;
    const target = p * (this.n - 1);
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i]!;
      if (acc > target) return 1.01 ** (i + 0.5);
    }
    return 1.01 ** this.counts.length;
  }
  describe(): { n: number; mean: number; p50: number; p90: number; p95: number; p99: number } {
    return { n: this.n, mean: this.mean, p50: this.quantile(0.5), p90: this.quantile(0.9), p95: this.quantile(0.95), p99: this.quantile(0.99) };
  }
}

export interface SummaryInput {
  metrics: readonly RequestMetrics[];
  /** Simulated time span (first arrival → last event), s. */
  makespanS: number;
  steps: number;
  busyS: number;
  preemptions: number;
  itl?: LogHistogram;
}

const round = (d: Dist | ReturnType<LogHistogram['describe']>, digits = 1): Record<string, number | null> => {
  const o: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(d)) o[k] = Number.isFinite(v) ? (k === 'n' ? v : Number(v.toFixed(digits))) : null;
  return o;
};

/** summary.json body: counts, throughput and percentiles (µs) over finished requests. */
/** summary.json: a JSON document, so camelCase keys with the unit last (docs/inputs.md, "JSON key style"). */
export function summarize(s: SummaryInput): Record<string, unknown> {
  const fin = s.metrics.filter((m) => m.status === 'finished');
  let inTok = 0;
  let outTok = 0;
  for (const m of fin) {
    inTok += m.inputTokens;
    outTok += m.generatedTokens;
  }
  return {
    requests: s.metrics.length,
    finished: fin.length,
    dropped: s.metrics.filter((m) => m.status === 'dropped').length,
    unfinished: s.metrics.filter((m) => m.status === 'unfinished').length,
    makespanS: Number(s.makespanS.toFixed(6)),
    steps: s.steps,
    busyFraction: s.makespanS > 0 ? Number((s.busyS / s.makespanS).toFixed(4)) : null,
    preemptions: s.preemptions,
    throughput: {
      requestsPerS: s.makespanS > 0 ? Number((fin.length / s.makespanS).toFixed(4)) : null,
      outputTokensPerS: s.makespanS > 0 ? Number((outTok / s.makespanS).toFixed(2)) : null,
      totalTokensPerS: s.makespanS > 0 ? Number(((inTok + outTok) / s.makespanS).toFixed(2)) : null,
    },
    queueUs: round(describeValues(fin.map((m) => m.queueUs))),
    ttftUs: round(describeValues(fin.map((m) => m.ttftUs))),
    tpotUs: round(describeValues(fin.map((m) => m.tpotUs))),
    e2eUs: round(describeValues(fin.map((m) => m.e2eUs))),
    itlMaxUs: round(describeValues(fin.map((m) => m.itlMaxUs))),
    ...(s.itl ? { itlAllGapsUs: { ...round(s.itl.describe()), note: 'over every gap between consecutive output tokens of all requests; percentiles from a 1%-wide log histogram' } } : {}),
  };
}
