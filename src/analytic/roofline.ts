/**
 * The roofline bound of one operator with size-dependent efficiencies:
 *
 *   t = max( flops / (peak · eff_c(flops)),  bytes / (BW · eff_m(bytes)) )      [µs]
 *
 * with peak in FLOPs/µs and BW in bytes/µs. Which bound binds is reported so breakdowns show it.
 */
import { curveEff, type RooflineCurves } from './efficiency.js';

export interface OpTime {
  /** Operator name (e.g. `qkv`, `attn_decode`, `tp_allreduce`). */
  readonly op: string;
  /** Total µs over all layers/calls the op stands for. */
  readonly us: number;
  /** Compute-bound time (µs), memory-bound time (µs): `us` = max of them (collectives: compute 0). */
  readonly computeUs: number;
  readonly memoryUs: number;
  readonly flops: number;
  readonly bytes: number;
  readonly bound: 'compute' | 'memory' | 'network' | 'latency';
  /** How many times it runs in the step (layers × calls). */
  readonly calls: number;
}

/**
 * Roofline time of one kernel (µs): max(F/(P·eff_c(F)), B/(BW·eff_m(B))) + items·τ, where τ is the
 * class's calibrated per-item (per-sequence) time (0 for GEMMs and elementwise ops). Zero work → 0.
 */
export function rooflineUs(flops: number, bytes: number, peakFlopsPerUs: number, bwBytesPerUs: number, curves: RooflineCurves, items = 0): { us: number; computeUs: number; memoryUs: number } {
  const computeUs = flops > 0 ? flops / (peakFlopsPerUs * curveEff(curves.compute, flops)) : 0;
  const memoryUs = bytes > 0 ? bytes / (bwBytesPerUs * curveEff(curves.memory, bytes)) : 0;
  return { us: Math.max(computeUs, memoryUs) + items * (curves.perItemUs ?? 0), computeUs, memoryUs };
}

/** Plain roofline with constant efficiencies (the textbook bound): max(F/(P·e_c), B/(BW·e_m)). */
export function plainRooflineUs(flops: number, bytes: number, peakFlopsPerUs: number, bwBytesPerUs: number, effC = 1, effM = 1): number {
  return Math.max(flops / (peakFlopsPerUs * effC), bytes / (bwBytesPerUs * effM));
}

/** GEMM work for C[m×n] = A[m×k]·B[k×n]: flops = 2mnk; bytes = m·k·a + k·n·w + m·n·o (activation, weight, output bytes per element). */
export function gemmWork(m: number, n: number, k: number, actBytes: number, weightBytes: number, outBytes: number): { flops: number; bytes: number; weightBytes: number } {
  const wb = k * n * weightBytes;
  return { flops: 2 * m * n * k, bytes: m * k * actBytes + wb + m * n * outBytes, weightBytes: wb };
}
