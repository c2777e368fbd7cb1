/**
 * Collective communication and pipeline formulas (all times in µs, sizes in bytes, link rates in
 * bytes/µs per direction).
 *
 * - Ring all-reduce over p GPUs of S bytes: each GPU sends and receives 2(p−1)/p·S
 *   (reduce-scatter + all-gather), in 2(p−1) latency-bound hops:
 *     t = 2(p−1)·α_hop + 2(p−1)/p · S / (BW·eff)
 * - Tree all-reduce (double binary tree, pipelined): 2·⌈log₂p⌉ hops, ≈ 2·S traffic per GPU:
 *     t = 2⌈log₂p⌉·α_hop + 2·S / (BW·eff)
 * - Hierarchical all-reduce over n nodes of g GPUs: intra-node reduce-scatter, inter-node ring
 *   all-reduce of S/g, intra-node all-gather:
 *     t = ring_rs(g, S, intra) + ring_ar(n, S/g, inter) + ring_ag(g, S, intra)
 * - All-to-all (EP dispatch or combine) over p GPUs, each holding S bytes of which (p−1)/p leave:
 *     t = α + (p−1)/p · S / (BW·eff)
 * - Point-to-point (PP stage boundary): t = α + S / BW
 * - Pipeline bubble with p stages and m micro-batches: (p−1)/(m+p−1) of the time is idle.
 */

/** Traffic factor of a ring all-reduce: 2(p−1)/p (0 at p = 1). */
export function ringTrafficFactor(p: number): number {
  return p <= 1 ? 0 : (2 * (p - 1)) / p;
}

/** Ring all-reduce time (µs): 2(p−1)·α_hop + 2(p−1)/p·S/(BW·eff). 0 at p = 1. */
export function ringAllReduceUs(bytes: number, p: number, linkBytesPerUs: number, hopLatencyUs: number, eff = 1): number {
  if (p <= 1) return 0;
  return 2 * (p - 1) * hopLatencyUs + (ringTrafficFactor(p) * bytes) / (linkBytesPerUs * eff);
}

/** Tree all-reduce time (µs): 2⌈log₂p⌉·α_hop + 2·S/(BW·eff). 0 at p = 1. */
export function treeAllReduceUs(bytes: number, p: number, linkBytesPerUs: number, hopLatencyUs: number, eff = 1): number {
  if (p <= 1) return 0;
  return 2 * Math.ceil(Math.log2(p)) * hopLatencyUs + (2 * bytes) / (linkBytesPerUs * eff);
}

/** Ring reduce-scatter or all-gather (µs): (p−1)·α_hop + (p−1)/p·S/(BW·eff). */
export function ringHalfUs(bytes: number, p: number, linkBytesPerUs: number, hopLatencyUs: number, eff = 1): number {
  if (p <= 1) return 0;
  return (p - 1) * hopLatencyUs + (((p - 1) / p) * bytes) / (linkBytesPerUs * eff);
}

export interface LinkSpec {
  /** Per-direction bandwidth in bytes/µs (= MB/s; GB/s × 1000). */
  readonly bytesPerUs: number;
  /** Latency per hop / per call in µs. */
  readonly latencyUs: number;
  /** Achievable fraction of the bandwidth. */
  readonly eff: number;
}

/**
 * Hierarchical all-reduce over `nodes` × `perNode` GPUs (µs): intra reduce-scatter, inter-node ring
 * all-reduce of S/perNode (the algorithm choice applies to the inter-node stage), intra all-gather.
 */
export function hierarchicalAllReduceUs(bytes: number, perNode: number, nodes: number, intra: LinkSpec, inter: LinkSpec, algorithm: 'ring' | 'tree' = 'ring'): number {
  const rs = ringHalfUs(bytes, perNode, intra.bytesPerUs, intra.latencyUs, intra.eff);
  const shard = bytes / Math.max(1, perNode);
  const across = algorithm === 'tree' ? treeAllReduceUs(shard, nodes, inter.bytesPerUs, inter.latencyUs, inter.eff) : ringAllReduceUs(shard, nodes, inter.bytesPerUs, inter.latencyUs, inter.eff);
  return rs + across + rs;
}

/** All-to-all (µs): α + (p−1)/p·S/(BW·eff), S = bytes each GPU holds before the exchange. 0 at p = 1. */
export function allToAllUs(bytesPerGpu: number, p: number, link: LinkSpec): number {
  if (p <= 1) return 0;
  return link.latencyUs + (((p - 1) / p) * bytesPerGpu) / (link.bytesPerUs * link.eff);
}

/** Point-to-point send (µs): α + S/(BW·eff). */
export function p2pUs(bytes: number, link: LinkSpec): number {
  return link.latencyUs + bytes / (link.bytesPerUs * link.eff);
}

/** Pipeline bubble fraction with p stages and m micro-batches: (p−1)/(m+p−1). 0 at p = 1. */
export function bubbleFraction(p: number, m: number): number {
  if (p <= 1) return 0;
  return (p - 1) / (m + p - 1);
}

/**
 * vLLM's custom all-reduce (CUDA-graph and eager modes) only takes messages up to its buffer size,
 * `CustomAllreduce(max_size=8192 * 1024)` in vllm/distributed/device_communicators/custom_all_reduce.py
 * (8 MiB); larger all-reduces (prefill chunks: T·d·2 bytes, e.g. 512 tokens × 8192 × 2) fall back to
 * NCCL (pynccl). Newer vLLM lets torch symmetric memory take some sizes above 8 MiB; it is modelled
 * as NCCL too (no measurement of it here).
 */
export const CUSTOM_ALLREDUCE_MAX_BYTES = 8192 * 1024;

/** The all-reduce implementation vLLM uses for a message of `bytes` under the chosen mode. */
export function allReduceBackend<M extends string>(mode: M, bytes: number): M | 'nccl' {
  return bytes > CUSTOM_ALLREDUCE_MAX_BYTES ? 'nccl' : mode;
}
