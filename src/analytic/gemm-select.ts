/** Which measured GEMM table (analytic/gemm-table.ts) an engine uses for its weight dtype, and the FP8 bound. */
import type { Architecture, Dtype } from '../model/arch.js';
import type { EfficiencyTables } from './efficiency.js';
import type { GemmTable } from './gemm-table.js';

/**
 * The GEMM table for the weight dtype: BF16/FP16 → `bf16`; FP8 → `fp8_block` when the checkpoint
 * scales weights per block (`weight_block_size`), else `fp8` (per-tensor/per-channel); other
 * dtypes (INT8, 4-bit) have no measured table and use the 1-D curve.
 *
 * FP8 GEMMs are bounded above by their BF16 twin (`gemmBound`, analytic/step.ts `gemm`):
 *   t_fp8(m, n, k) ≤ t_bf16(m, n, k/2)
 * The BF16 GEMM with half the K moves exactly the same bytes (activations m·k/2·2 = m·k, weights
 * k/2·n·2 = k·n, output m·n·2) and needs exactly the same tensor-core time (2·m·n·(k/2)/P_bf16 =
 * 2·m·n·k/P_fp8 with P_fp8 = 2·P_bf16): the same hardware work, so a well-tuned FP8 kernel is no
 * slower. Per-tensor scales are applied once in the epilogue; block scales (128×128) are promoted
 * per K-block on the CUDA cores, overlapped with the tensor-core main loop (CUTLASS/DeepGEMM
 * design), so the twin holds for both up to that overhead. The AIConfigurator FP8 rows exceed their
 * twin by a fixed ≈ 5–8 µs per call at small m on H100 and by up to 5× for n ≤ 2560 at large m
 * (per-call activation quantization and kernel selection of the microbenchmark); served vLLM FP8
 * decode steps run at the twin's speed (Llama-3.1-70B FP8 on H100: held-out TPOT MAPE 4.6 %, see
 * docs/serving.md).
 */
export function gemmTableOf(arch: Architecture, weightDtype: Dtype, tables: EfficiencyTables, model: 'table' | 'curve'): GemmTable | null {
  if (model === 'curve' || !tables.gemm) return null;
  if (weightDtype === 'bf16' || weightDtype === 'fp16') return tables.gemm.bf16 ?? null;
  if (weightDtype === 'fp8') return (arch.weightBlockSize ? tables.gemm.fp8_block : tables.gemm.fp8) ?? null;
  return null;
}

/** The BF16 table bounding FP8 GEMMs (see `gemmTableOf`), or null (other dtypes, 1-D curve mode, no table). */
export function gemmBoundOf(weightDtype: Dtype, tables: EfficiencyTables, model: 'table' | 'curve'): GemmTable | null {
  return weightDtype === 'fp8' && model === 'table' ? (tables.gemm?.bf16 ?? null) : null;
}
