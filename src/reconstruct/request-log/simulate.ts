/**
 * Step reconstruction from per-request engine timestamps (no steps logged): replay vLLM's
 * chunked-prefill scheduler over the logged requests and derive the implied steps.
 *
 * Pure: plain records in, plain records out.
 *
 * Model, per engine (data-parallel ranks are independent engines; requests are assigned by least
 * in-flight load at queue time, since the log does not say which rank served them):
 * - Each step: every running request past its prefill decodes one token; the rest of
 *   `max_num_batched_tokens` goes to prefilling requests in admission order (min(remaining, left)).
 *   A request finishes after `output_toks − 1` decode steps following the step that completed its
 *   prefill (no preemption is modelled: the log records none).
 * - Clock: step k ends at end(k−1) + t(k), with t from a 4-term clock model (ClockModel); at steps
 *   where a logged token time is observed (a first or last token, `outputLagSteps` steps after the
 *   forward pass that produced it) the clock is reset to it (median if several).
 * - Admission: a waiting request joins the first step built after its logged `scheduled_ts`, i.e.
 *   when scheduled_ts ≤ end(k−1) + a/2 (half the model's per-step constant), subject to max_num_seqs.
 * - The clock model is refitted (NNLS, relative errors) to the request-level sums — Σ over a
 *   request's prefill steps = first_token − scheduled, Σ over its decode steps = last − first — and
 *   the replay rerun; 4 passes, starting from a constant step time (the median logged decode step).
 * Residuals (implied − logged) check the reconstruction: Σ of the final clock model over each
 * request's implied steps vs its logged prefill and decode times, and the clock just before each
 * reset vs the logged token time.
 */
import { fcnnlsVector } from 'ml-fcnnls';
import { canonicalEntry } from '../vllm-otlp/schedule.js';

export interface LoggedRequest {
  readonly id: string;
  readonly line: number;
  readonly prompt: number;
  readonly outputs: number;
  /** Engine monotonic seconds. */
  readonly queued: number;
  readonly scheduled: number;
  readonly firstToken: number;
  readonly lastToken: number;
}

export interface EngineLimits {
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  /** Data-parallel engines (each request goes to one; assignment simulated by least load at queue time). */
  readonly dataParallel: number;
  /**
   * Steps between the forward pass that produces a token and the timestamp the log gives it
   * (vLLM's async scheduling processes step k's outputs while step k+1 runs): 0 or 1.
   */
  readonly outputLagSteps?: number;
}

export interface SimStep {
  readonly engine: number;
  readonly step: number;
  readonly prefill: { tokens: number; prior: number; prompt: number }[];
  readonly decode: number[];
  /** Estimated end time (engine seconds); undefined where no clock was available. */
  readonly endEstimate?: number;
}

export interface SimRequest {
  readonly id: string;
  readonly engine: number;
  /** Steps running from admission through the step completing the prefill. */
  readonly prefillSteps: number[];
  /** The output_toks − 1 decode steps after it. */
  readonly decodeSteps: number[];
  /** Logged prefill time (first_token − scheduled) and decode time (last_token − first_token), µs. */
  readonly prefillUs: number;
  readonly decodeUs: number;
  /** Σ of the fitted clock model over the prefill / decode steps, µs (the implied times). */
  readonly prefillPredUs: number;
  readonly decodePredUs: number;
  /** Clock (previous step end + model time of the step) at the step where the rule completes the prefill − logged first_token_ts, µs. */
  readonly firstTokenResidualUs?: number;
  /** Same at the request's last decode step − logged last_token_ts, µs. */
  readonly lastTokenResidualUs?: number;
  /** Steps from admission to first token: implied (rule) vs count of logged-clock steps, when known. */
  readonly admittedAtBudgetZero: boolean;
}

export interface SimResult {
  readonly steps: SimStep[];
  readonly requests: SimRequest[];
  /** Admissions delayed past their logged time because max_num_seqs was reached. */
  readonly seqLimitDelays: number;
  /** The clock model fitted to the request-level times (seconds; see ClockModel). */
  readonly clock: ClockModel;
}

interface R {
  q: LoggedRequest;
  engine: number;
  computed: number;
  outputs: number;
  prefilling: boolean;
  firstStep?: number;
  admit?: number;
  pf: number[];
  dc: number[];
  ftRes?: number;
  ltRes?: number;
  zeroBudget: boolean;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Assign requests to data-parallel engines: least in-flight (by logged times) at queue time. */
export function assignEngines(reqs: readonly LoggedRequest[], dp: number): number[] {
  const out = new Array<number>(reqs.length).fill(0);
  if (dp <= 1) return out;
  const order = reqs.map((_, i) => i).sort((a, b) => reqs[a]!.queued - reqs[b]!.queued);
  const inflight: number[][] = Array.from({ length: dp }, () => []);
  for (const i of order) {
    const t = reqs[i]!.queued;
    let best = 0;
    let bestLoad = Infinity;
    for (let e = 0; e < dp; e++) {
      inflight[e] = inflight[e]!.filter((j) => reqs[j]!.lastToken > t);
      if (inflight[e]!.length < bestLoad) { bestLoad = inflight[e]!.length; best = e; }
    }
    inflight[best]!.push(i);
    out[i] = best;
  }
  return out;
}

/**
 * A 4-term step-time model used only as the replay's clock and as its consistency check
 * (seconds): t = a + b·(prefill tokens/1000) + c·(decodes/100) + d·(Σ decode context/1e5).
 */
export interface ClockModel { readonly a: number; readonly b: number; readonly c: number; readonly d: number }

/** Regressor row of one step for the clock model (scaled so the coefficients are of similar size). */
export function clockRow(pfTok: number, nDec: number, ctx: number): [number, number, number, number] {
  return [1, pfTok / 1000, nDec / 100, ctx / 1e5];
}

export function clockTime(m: ClockModel, row: readonly number[]): number {
  return Math.max(1e-6, m.a * row[0]! + m.b * row[1]! + m.c * row[2]! + m.d * row[3]!);
}

interface EngineRun { steps: SimStep[]; rows: Map<number, number[]>; cum: RowSums; seqDelays: number; anchorRes: { kind: 'first' | 'last'; us: number }[] }

/** Prefix sums of the clock rows by step, so that a request's (contiguous) step range sums in O(1). */
class RowSums {
  private readonly c: Float64Array;
  constructor(rows: Map<number, number[]>, n: number) {
    this.c = new Float64Array((n + 1) * 4);
    for (let k = 0; k < n; k++) {
      const row = rows.get(k);
      for (let i = 0; i < 4; i++) this.c[(k + 1) * 4 + i] = this.c[k * 4 + i]! + (row ? row[i]! : 0);
    }
  }
  /** Σ rows over the steps of `ks` (increasing and contiguous). */
  sum(ks: readonly number[]): number[] {
    if (ks.length === 0) return [0, 0, 0, 0];
    const a = ks[0]!, b = ks[ks.length - 1]!;
    if (b - a + 1 !== ks.length) throw new Error('RowSums: steps not contiguous (internal)');
    return [0, 1, 2, 3].map((i) => this.c[(b + 1) * 4 + i]! - this.c[a * 4 + i]!);
  }
}

/** Simulate one engine with a clock model. Step numbers start at 0. */
function simulateEngine(engine: number, reqs: R[], lim: EngineLimits, m: ClockModel): EngineRun {
  for (const r of reqs) {
    r.computed = 0; r.outputs = 0; r.prefilling = true; r.firstStep = undefined; r.admit = undefined; r.pf = []; r.dc = [];
    r.zeroBudget = false; r.ftRes = undefined; r.ltRes = undefined;
  }
  const pending = [...reqs].sort((a, b) => a.q.scheduled - b.q.scheduled || a.q.line - b.q.line);
  let pi = 0;
  let running: R[] = [];
  let k = 0;
  let ePrev = -Infinity;
  let seqDelays = 0;
  const steps: SimStep[] = [];
  const rows = new Map<number, number[]>();
  const anchorRes: EngineRun['anchorRes'] = [];
  const slack = 0.5 * m.a;
  const lag = lim.outputLagSteps ?? 0;
  let tails: { r: R; left: number }[] = [];
  let observe: { at: number; r: R; kind: 'first' | 'last'; t: number }[] = [];
  while (pi < pending.length || running.length > 0) {
    if (running.length === 0) {
      ePrev = Math.max(ePrev, pending[pi]!.q.scheduled);
      tails = [];
      observe = [];
    }
    // Admissions stamped while this step was being built (before about half a base step after the previous end).
    while (pi < pending.length && pending[pi]!.q.scheduled <= ePrev + slack) {
      if (running.length >= lim.maxNumSeqs) { seqDelays++; break; }
      const r = pending[pi++]!;
      r.admit = k;
      running.push(r);
    }
    if (running.length === 0) throw new Error('simulateEngine: no progress (internal)');
    // Composition by the rule.
    let budget = lim.maxNumBatchedTokens;
    const work: { r: R; tokens: number }[] = [];
    for (const r of running) if (!r.prefilling) { work.push({ r, tokens: 1 }); budget--; }
    for (const r of running) {
      if (!r.prefilling) continue;
      const c = Math.max(0, Math.min(r.q.prompt + r.outputs - r.computed, budget));
      if (c === 0 && r.admit === k) r.zeroBudget = true;
      if (c > 0) { work.push({ r, tokens: c }); budget -= c; }
    }
    for (const r of running) (r.firstStep === undefined || k <= r.firstStep + lag ? r.pf : r.dc).push(k);
    for (const t of tails) { t.r.dc.push(k); t.left--; }
    tails = tails.filter((t) => t.left > 0);
    const prefill: SimStep['prefill'] = [];
    const decode: number[] = [];
    const finished = new Set<R>();
    const anchors: { r: R; kind: 'first' | 'last'; t: number }[] = [];
    let pfTok = 0, ctx = 0;
    for (const { r, tokens } of work) {
      const c = canonicalEntry(r.q.prompt, r.computed, tokens, r.outputs);
      if ('decode' in c) { decode.push(c.decode); ctx += c.decode; } else { prefill.push(c); pfTok += c.tokens; }
      r.computed += tokens;
      if (r.prefilling) {
        if (r.computed < r.q.prompt) continue;
        r.prefilling = false;
        r.firstStep = k;
        r.outputs = 1;
        observe.push({ at: k + lag, r, kind: 'first', t: r.q.firstToken });
      } else {
        r.outputs++;
      }
      if (r.outputs >= r.q.outputs) {
        finished.add(r);
        if (r.q.outputs > 1) observe.push({ at: k + lag, r, kind: 'last', t: r.q.lastToken });
        if (lag > 0 && r.q.outputs > 1) tails.push({ r, left: lag });
      }
    }
    for (const o of observe) if (o.at === k) anchors.push(o);
    observe = observe.filter((o) => o.at > k);
    const row = clockRow(pfTok, decode.length, ctx);
    rows.set(k, row);
    const pred = (Number.isFinite(ePrev) ? ePrev : (anchors[0]?.t ?? 0) - clockTime(m, row)) + clockTime(m, row);
    for (const a of anchors) {
      const us = (pred - a.t) * 1e6;
      anchorRes.push({ kind: a.kind, us });
      if (a.kind === 'first') a.r.ftRes = us;
      else a.r.ltRes = us;
    }
    const endK = anchors.length > 0 ? Math.max(Number.isFinite(ePrev) ? ePrev : -Infinity, median(anchors.map((a) => a.t))) : pred;
    steps.push({ engine, step: k, prefill, decode, endEstimate: endK });
    running = running.filter((r) => !finished.has(r));
    ePrev = endK;
    k++;
  }
  return { steps, rows, cum: new RowSums(rows, k), seqDelays, anchorRes };
}

/** Fit the clock model to the request-level sums (NNLS): Σ rows over a request's prefill (decode) steps = its logged time. */
function fitClock(runs: { reqs: R[]; cum: RowSums }[]): ClockModel | undefined {
  const X: number[][] = [];
  const y: number[] = [];
  for (const { reqs, cum } of runs) {
    for (const r of reqs) {
      const add = (ks: number[], t: number) => {
        if (ks.length === 0 || !(t > 0)) return;
        const acc = cum.sum(ks);
        // Relative weighting: divide the row and target by the target.
        X.push(acc.map((v) => v / t));
        y.push(1);
      };
      add(r.pf, r.q.firstToken - r.q.scheduled);
      add(r.dc, r.q.lastToken - r.q.firstToken);
    }
  }
  if (X.length < 4) return undefined;
  const K = fcnnlsVector(X, y).K.to1DArray();
  const [a, b, c, d] = K as [number, number, number, number];
  return a > 0 || b > 0 ? { a, b, c, d } : undefined;
}

export function simulateRequestLog(reqs: readonly LoggedRequest[], lim: EngineLimits, iterations = 4): SimResult {
  const engines = assignEngines(reqs, lim.dataParallel);
  const rs: R[] = reqs.map((q, i) => ({ q, engine: engines[i]!, computed: 0, outputs: 0, prefilling: true, pf: [], dc: [], zeroBudget: false }));
  const nE = Math.max(1, lim.dataParallel);
  const byEngine = Array.from({ length: nE }, (_, e) => rs.filter((r) => r.engine === e));
  // Initial clock: every step takes the median logged decode-step time.
  const deltas = reqs.filter((q) => q.outputs > 1).map((q) => (q.lastToken - q.firstToken) / (q.outputs - 1));
  let model: ClockModel = { a: deltas.length ? median(deltas) : 0.02, b: 0, c: 0, d: 0 };
  let runs: EngineRun[] = [];
  for (let it = 0; it < iterations; it++) {
    runs = byEngine.map((rr, e) => simulateEngine(e, rr, lim, model));
    if (it === iterations - 1) break;
    const fit = fitClock(byEngine.map((rr, e) => ({ reqs: rr, cum: runs[e]!.cum })));
    if (!fit) break;
    model = fit;
  }
  const steps = runs.flatMap((r) => r.steps);
  const predOf = (e: number, ks: number[]): number => (ks.length ? clockTime(model, runs[e]!.cum.sum(ks)) : 0);
  const requests: SimRequest[] = rs.map((r) => {
    const prefillUs = (r.q.firstToken - r.q.scheduled) * 1e6;
    const decodeUs = (r.q.lastToken - r.q.firstToken) * 1e6;
    return {
      id: r.q.id, engine: r.engine, prefillSteps: r.pf, decodeSteps: r.dc, prefillUs, decodeUs,
      prefillPredUs: predOf(r.engine, r.pf) * 1e6, decodePredUs: predOf(r.engine, r.dc) * 1e6,
      ...(r.ftRes !== undefined ? { firstTokenResidualUs: r.ftRes } : {}),
      ...(r.ltRes !== undefined ? { lastTokenResidualUs: r.ltRes } : {}),
      admittedAtBudgetZero: r.zeroBudget,
    };
  });
  return { steps, requests, seqLimitDelays: runs.reduce((a, r) => a + r.seqDelays, 0), clock: model };
}
