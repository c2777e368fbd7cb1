/**
 * The serving costs outside the GPU kernels — named terms in µs, each documented with where its
 * default comes from, and each fittable (`stepfit validate --suite serving` fits them leave-one-model-out;
 * i13's trace fit writes the α terms into a fit file). They map onto the published BLIS /
 * inference-sim "crossmodel" α coefficients:
 *
 * | term                    | BLIS | where it lands in a closed-loop benchmark                       |
 * |-------------------------|------|-----------------------------------------------------------------|
 * | apiOverheadUs           | α₀   | before queueing: HTTP, chat template, tokenization, hand-off to |
 * |                         |      | the engine core, first-token detokenize + SSE stream. In TTFT.  |
 * | postDecodeFixedUs       | α₁   | after the last token: detokenize tail, final chunk, response     |
 * |                         |      | close. In request latency, so TPOT = (latency−TTFT)/(O−1) grows |
 * |                         |      | by α₁/(O−1); delays the client's next request.                   |
 * | postDecodePerTokenUs    | α₂   | per output token of the request, after decode (α₂·O).            |
 * | stepHostUs              |  –   | host time per engine step that the GPU does not hide: scheduler, |
 * |                         |      | input prep, sampler and output processing left on the critical  |
 * |                         |      | path by vLLM V1's async scheduling. Added to every step.        |
 *
 * Defaults: `DEFAULT_HOST_COSTS` are the values fitted on the real H100 serving rows of all four
 * models (AIConfigurator silicon sample, ../shared/data README §2b) by `stepfit validate --suite serving`
 * (the fit's in-sample row); their held-out accuracy is the leave-one-model-out row of the same suite.
 * α₁ and α₂ are not identifiable from mean TTFT/TPOT alone (they only scale TPOT by 1/(O−1)) and
 * default to 0; give measured values with `engine serve --post-decode-us/--post-token-us`.
 */
export interface HostCosts {
  /** α₀: per-request fixed cost before the engine schedules the request, plus the first-token path, µs. */
  readonly apiOverheadUs: number;
  /** Host time per engine step not overlapped with the GPU, µs. */
  readonly stepHostUs: number;
  /** α₁: per-request fixed cost after the last token, µs. */
  readonly postDecodeFixedUs: number;
  /** α₂: per-output-token cost after decode, µs per token. */
  readonly postDecodePerTokenUs: number;
}

/** Zero host costs: the GPU-only engine (the "before" of the serving suite's ablation). */
export const NO_HOST_COSTS: HostCosts = Object.freeze({ apiOverheadUs: 0, stepHostUs: 0, postDecodeFixedUs: 0, postDecodePerTokenUs: 0 });

/**
 * Defaults: fitted on all 237 `agg` rows of the H100 silicon sample (see file comment); reproduce
 * with `stepfit validate --suite serving --json` (`fitted.allRows`).
 */
export const DEFAULT_HOST_COSTS: HostCosts = Object.freeze({ apiOverheadUs: 45000, stepHostUs: 1000, postDecodeFixedUs: 0, postDecodePerTokenUs: 0 });

export const HOST_COST_TERMS = Object.freeze(['apiOverheadUs', 'stepHostUs', 'postDecodeFixedUs', 'postDecodePerTokenUs'] as const);
