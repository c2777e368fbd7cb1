/**
 * Upstream vLLM's per-request span (`llm_request`, SpanKind SERVER), as vLLM's output processor
 * writes it when the server runs with `--otlp-traces-endpoint` (`SpanAttributes` in
 * `vllm/tracing.py`, moved to the `vllm/tracing/` package in later releases; names unchanged).
 * The span starts at the request's arrival (API server wall clock) and carries latencies in
 * seconds (float):
 * - `gen_ai.latency.time_in_queue`        = scheduled_ts − queued_ts (engine clock)
 * - `gen_ai.latency.time_to_first_token`  = first token − arrival
 * - `gen_ai.latency.e2e`                  = last iteration − arrival
 * - `gen_ai.latency.time_in_model_prefill` = first_token_ts − scheduled_ts
 * - `gen_ai.latency.time_in_model_decode`  = last_token_ts − first_token_ts
 * - `gen_ai.latency.time_in_model_inference` = last_token_ts − scheduled_ts
 * and token counts `gen_ai.usage.prompt_tokens`, `gen_ai.usage.completion_tokens` (int),
 * `gen_ai.request.id` (string). Newer releases may also name the span `{operation} {model}`:
 * the reader takes any span with the latency attributes.
 */
export const SPAN_NAME = 'llm_request';
export const ATTR = {
  requestId: 'gen_ai.request.id',
  promptTokens: 'gen_ai.usage.prompt_tokens',
  completionTokens: 'gen_ai.usage.completion_tokens',
  maxTokens: 'gen_ai.request.max_tokens',
  model: 'gen_ai.response.model',
  timeInQueue: 'gen_ai.latency.time_in_queue',
  ttft: 'gen_ai.latency.time_to_first_token',
  e2e: 'gen_ai.latency.e2e',
  prefill: 'gen_ai.latency.time_in_model_prefill',
  decode: 'gen_ai.latency.time_in_model_decode',
  inference: 'gen_ai.latency.time_in_model_inference',
} as const;
