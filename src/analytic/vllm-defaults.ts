/**
 * vLLM's own scheduler limits when the user gives none — the values `vllm serve` (the OpenAI API
 * server entry point) uses, looked up in vLLM's source.
 *
 * Source: vllm-project/vllm `vllm/engine/arg_utils.py`, `EngineArgs.get_batch_defaults` (V1 engine,
 * vLLM ≥ 0.10; unchanged through 0.11.x–0.18.x): when the device has ≥ 70 GiB of memory and its name
 * does not contain "a100" (H100, H200, B200, MI300x …; A100 is excluded on purpose, PR #17885: a large
 * budget lowered its throughput), the defaults are max_num_batched_tokens = 16384 for the offline
 * `LLM` class and 8192 for the API server, max_num_seqs = 1024 for both; otherwise 8192 / 2048
 * batched tokens and 256 seqs. `gpu_memory_utilization` defaults to 0.9 (`CacheConfig`).
 * Before V1 (vLLM ≤ 0.6, chunked prefill off) the API server used 2048 tokens / 256 seqs on every GPU.
 *
 * The "a100" test is vLLM's own rule on the device name, reproduced as vLLM applies it; nothing
 * else in stepfit depends on a GPU's name.
 */
import type { GpuSpec } from '../hardware/gpu.js';

export type VllmEntryPoint = 'api-server' | 'llm-class';

export interface VllmLimits {
  /** max_num_batched_tokens: token budget of one scheduler step. */
  readonly maxNumBatchedTokens: number;
  /** max_num_seqs: running sequences per step (per engine / DP rank). */
  readonly maxNumSeqs: number;
  /** gpu_memory_utilization. */
  readonly gpuMemoryUtilization: number;
  /** Where the numbers came from (printed by `engine serve`). */
  readonly source: string;
}

export const VLLM_DEFAULTS_SOURCE = 'vllm/engine/arg_utils.py EngineArgs.get_batch_defaults (vLLM ≥ 0.10)';
const GIB = 2 ** 30;

/** vLLM's default limits on `gpu` for the given entry point (default: `vllm serve`). */
export function vllmDefaultLimits(gpu: GpuSpec, entry: VllmEntryPoint = 'api-server'): VllmLimits {
  // datasheet capacity is in GB as marketed (an "80 GB" H100 reports ≈ 79.6 GiB total to torch, ≥ 70 GiB)
  const bytes = gpu.memCapacityGB * GIB;
  const names = `${gpu.id} ${gpu.name}`.toLowerCase();
  const large = bytes >= 70 * GIB && !names.includes('a100');
  const maxNumBatchedTokens = large ? (entry === 'llm-class' ? 16384 : 8192) : entry === 'llm-class' ? 8192 : 2048;
  const maxNumSeqs = large ? 1024 : 256;
  return Object.freeze({ maxNumBatchedTokens, maxNumSeqs, gpuMemoryUtilization: 0.9, source: `${VLLM_DEFAULTS_SOURCE}: ${large ? '≥ 70 GiB, not A100' : '< 70 GiB or A100'}, ${entry}` });
}
