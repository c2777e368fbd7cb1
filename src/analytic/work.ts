/**
 * Work (FLOPs and bytes) of the attention kernels, shared by the step model (analytic/step.ts) and
 * the calibration (analytic/calibrate.ts) so that calibrated curves and predictions use the same
 * size measure.
 */

/** Causal attention pairs of one chunk: Σ_{i=1..t} min(prior + i, W) (W = 0: no window). */
export function causalPairs(tokens: number, prior: number, window: number): number {
  if (window <= 0) return tokens * prior + (tokens * (tokens + 1)) / 2;
  const n1 = Math.max(0, Math.min(tokens, window - prior));
  return n1 * prior + (n1 * (n1 + 1)) / 2 + (tokens - n1) * window;
}

/**
 * Prefill (context) attention over chunks, per layer on one GPU with H query heads of d_h:
 * FLOPs = 4·H·d_h·Σ pairs (QKᵀ and PV); bytes = 2·T·H·d_h·hB (Q in, O out) + Σ (min(prior, W) + t)·kvBytesPerToken.
 */
export function prefillAttnWork(
  H: number,
  dh: number,
  kvBytesPerToken: number,
  hB: number,
  chunks: readonly { readonly tokens: number; readonly prior: number }[],
  window: number,
): { flops: number; bytes: number; pairs: number; kvTokens: number } {
  let pairs = 0;
  let kvTokens = 0;
  let T = 0;
  for (const c of chunks) {
    pairs += causalPairs(c.tokens, c.prior, window);
    kvTokens += (window > 0 ? Math.min(c.prior, window) : c.prior) + c.tokens;
    T += c.tokens;
  }
  return { flops: 4 * H * dh * pairs, bytes: 2 * T * H * dh * hB + kvTokens * kvBytesPerToken, pairs, kvTokens };
}

/**
 * Decode attention, per layer on one GPU: ctx = Σ_j (min(c_j, W) + 1) cached tokens read (context plus the new token);
 * FLOPs = 4·H·d_h·ctx; bytes = ctx·kvBytesPerToken + 2·n·H·d_h·hB (n queries in, n outputs out).
 */
export function decodeAttnWork(H: number, dh: number, kvBytesPerToken: number, hB: number, contexts: readonly number[], window: number): { flops: number; bytes: number; ctx: number } {
  let ctx = 0;
  for (const c of contexts) ctx += (window > 0 ? Math.min(c, window) : c) + 1;
  return { flops: 4 * H * dh * ctx, bytes: ctx * kvBytesPerToken + 2 * contexts.length * H * dh * hB, ctx };
}
