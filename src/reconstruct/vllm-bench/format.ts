/**
 * `vllm bench serve --save-result --save-detailed` result JSON (vllm/benchmarks/serve.py): one JSON
 * object with run metadata and, with --save-detailed, per-request arrays of equal length:
 *   input_lens (prompt tokens), output_lens (generated tokens; 0 for a failed request),
 *   ttfts (s, client send → first streamed token), itls (list of s per request: gaps between
 *   streamed chunks), start_times (s, client perf_counter at send), errors ("" on success).
 * All times are client-side: they include HTTP, detokenisation and streaming, and a chunk can carry
 * more than one token.
 */
import { z } from 'zod';

export const BenchResultSchema = z
  .object({
    backend: z.string().optional(),
    model_id: z.string().optional(),
    input_lens: z.array(z.number().int().nonnegative()),
    output_lens: z.array(z.number().int().nonnegative()),
    ttfts: z.array(z.number()),
    itls: z.array(z.array(z.number())),
    start_times: z.array(z.number()).optional(),
    errors: z.array(z.string()).optional(),
  })
  .passthrough();
export type BenchResult = z.infer<typeof BenchResultSchema>;
