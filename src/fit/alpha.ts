/**
 * α terms beside β (BLIS trained-physics `alpha_coeffs`, sim/latency/trained_physics_model.go):
 *   α₀ QueueingTime (µs): API processing before the request enters the engine queue,
 *   α₁ PostDecodeFixedOverhead (µs) and α₂ OutputTokenProcessingTime (µs per output token):
 *   time after the last token until the response leaves the API server, = α₁ + α₂·output_tokens.
 * Data (per request, µs):
 * - api: arrival (api.ARRIVED) → engine queue (journey.QUEUED). From the step-tracing fork's labels
 *   (`reconstruct --format vllm-otlp --labels`): ttft − queueing − prefill − prefill_gap; from upstream
 *   `llm_request` spans: time_to_first_token − time_in_queue − time_in_model_prefill.
 * - post: last token (journey.FINISHED) → api.DEPARTED, with output_tokens. From the fork's labels:
 *   e2e − ttft − decode − decode_gap. Upstream spans carry no departure (e2e ends at the last
 *   iteration), so α₁, α₂ come only from the fork.
 * Estimates: α₀ = mean (SE = sd/√n); α₁, α₂ = OLS of post on output_tokens (classical SEs), refitted
 * with α₂ = 0 when OLS gives α₂ < 0 (BLIS rejects negative coefficients). CIs: ±1.96·SE.
 */
import type { TermFit } from './fitfile.js';

export interface AlphaRow {
  /** API time before queueing, µs (undefined: not in the data). */
  readonly apiUs?: number;
  /** Post-decode time, µs, and the request's output tokens. */
  readonly postUs?: number;
  readonly outputTokens: number;
}

export interface AlphaFit {
  source: string;
  terms: TermFit[];
  n: { api: number; post: number };
  notes: string[];
}

/** A term (µs, or µs per token for alpha2); `_meaning` documents the call site only. */
const term = (name: string, coef: number, se: number | null, _unit: string, _meaning: string, status = 'fitted'): TermFit => ({
  name,
  coef,
  se,
  ci95: se === null ? [null, null] : [coef - 1.96 * se, coef + 1.96 * se],
  status,
});

export function fitAlpha(rows: readonly AlphaRow[], source: string): AlphaFit {
  const notes: string[] = [];
  const api = rows.map((r) => r.apiUs).filter((x): x is number => x !== undefined && Number.isFinite(x));
  const post = rows.filter((r) => r.postUs !== undefined && Number.isFinite(r.postUs));
  const terms: TermFit[] = [];
  if (api.length > 0) {
    const m = api.reduce((a, x) => a + x, 0) / api.length;
    const sd = api.length > 1 ? Math.sqrt(api.reduce((a, x) => a + (x - m) ** 2, 0) / (api.length - 1)) : NaN;
    const a0 = Math.max(0, m);
    if (m < 0) notes.push(`mean API time ${m.toFixed(1)} µs < 0 (clock offset between API and engine?): α₀ set to 0`);
    terms.push(term('alpha0_api', a0, api.length > 1 ? sd / Math.sqrt(api.length) : null, 'µs', 'API time before queueing (arrival → engine queue)', m < 0 ? 'at-bound' : 'fitted'));
  } else {
    terms.push(term('alpha0_api', 0, null, 'µs', 'API time before queueing', 'not-in-data'));
    notes.push('no API arrival times in the data: α₀ not fitted (0)');
  }
  if (post.length >= 2) {
    const n = post.length;
    const xs = post.map((r) => r.outputTokens);
    const ys = post.map((r) => r.postUs!);
    const mx = xs.reduce((a, x) => a + x, 0) / n;
    const my = ys.reduce((a, y) => a + y, 0) / n;
    const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    let b = sxx > 0 ? xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / sxx : 0;
    let a = my - b * mx;
    let bStatus = sxx > 0 ? 'fitted' : 'not-identifiable';
    if (b < 0) {
      b = 0;
      a = my;
      bStatus = 'at-bound';
      notes.push('OLS gave α₂ < 0: refitted with α₂ = 0');
    }
    const k = bStatus === 'fitted' ? 2 : 1;
    const rss = ys.reduce((acc, y, i) => acc + (y - a - b * xs[i]!) ** 2, 0);
    const s2 = n > k ? rss / (n - k) : NaN;
    const seB = bStatus === 'fitted' ? Math.sqrt(s2 / sxx) : null;
    const seA = bStatus === 'fitted' ? Math.sqrt(s2 * (1 / n + (mx * mx) / sxx)) : Math.sqrt(s2 / n);
    const aStatus = a < 0 ? 'at-bound' : 'fitted';
    if (a < 0) notes.push(`α₁ fitted ${a.toFixed(1)} µs < 0: set to 0`);
    terms.push(term('alpha1_post', Math.max(0, a), Number.isFinite(seA) ? seA : null, 'µs', 'post-decode fixed overhead (last token → API departure)', aStatus));
    terms.push(term('alpha2_per_token', b, seB, 'µs/token', 'post-decode time per output token', bStatus));
  } else {
    terms.push(term('alpha1_post', 0, null, 'µs', 'post-decode fixed overhead', 'not-in-data'));
    terms.push(term('alpha2_per_token', 0, null, 'µs/token', 'post-decode time per output token', 'not-in-data'));
    notes.push("no API departure times in the data (upstream spans and bench results have none; the step-tracing fork's api.DEPARTED does): α₁, α₂ not fitted (0)");
  }
  return { source, terms, n: { api: api.length, post: post.length }, notes };
}

/** Printable lines (the fit table's α block). */
export function formatAlpha(a: AlphaFit): string[] {
  const f = (x: number | null): string => (x === null ? '—' : x.toFixed(2));
  return [
    `α terms (BLIS alpha_coeffs) from ${a.source}: n api ${a.n.api}, n post ${a.n.post}`,
    ...a.terms.map((t) => `  ${t.name.padEnd(18)} ${f(t.coef).padStart(10)} ±${f(t.se)}  [${f(t.ci95[0])}, ${f(t.ci95[1])}]  ${t.status}`),
    ...a.notes.map((n) => `  note: ${n}`),
  ];
}
