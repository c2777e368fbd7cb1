/**
 * Write a `vllm bench serve --save-result --save-detailed` result (format.ts) for simulated requests:
 * `stepfit simulate --emit-bench` (the reader's exact round trip). Times in s from the simulator's clock.
 */
export interface BenchRequest {
  readonly arrivalNs: number;
  readonly promptTokens: number;
  /** Output token times, ns (first token first); empty for a request that produced none. */
  readonly tokenNs: readonly number[];
}

export function benchResult(reqs: readonly BenchRequest[], meta: { model?: string; durationS?: number } = {}): Record<string, unknown> {
  const ok = reqs.filter((r) => r.tokenNs.length > 0);
  const totIn = ok.reduce((a, r) => a + r.promptTokens, 0);
  const totOut = ok.reduce((a, r) => a + r.tokenNs.length, 0);
  const dur = meta.durationS ?? 0;
  return {
    date: '',
    backend: 'vllm',
    model_id: meta.model ?? '',
    tokenizer_id: meta.model ?? '',
    num_prompts: reqs.length,
    duration: dur,
    completed: ok.length,
    failed: reqs.length - ok.length,
    total_input_tokens: totIn,
    total_output_tokens: totOut,
    request_throughput: dur > 0 ? ok.length / dur : 0,
    output_throughput: dur > 0 ? totOut / dur : 0,
    input_lens: reqs.map((r) => r.promptTokens),
    output_lens: reqs.map((r) => r.tokenNs.length),
    ttfts: reqs.map((r) => (r.tokenNs.length ? (r.tokenNs[0]! - r.arrivalNs) / 1e9 : 0)),
    itls: reqs.map((r) => r.tokenNs.slice(1).map((t, j) => (t - r.tokenNs[j]!) / 1e9)),
    start_times: reqs.map((r) => r.arrivalNs / 1e9),
    generated_texts: reqs.map(() => ''),
    errors: reqs.map((r) => (r.tokenNs.length ? '' : 'no output')),
  };
}
