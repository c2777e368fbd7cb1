/**
 * Step time without fitted numbers: the sum over the step's operators of their roofline bound
 * with size-dependent efficiencies (analytic/roofline.ts), plus collectives and pipeline sends.
 *
 * Per layer, on one GPU (T = prefill tokens + decode requests of the step, all TP ranks see all T):
 * - `norm`     2 fused add+RMSNorm kernels, bytes 4·T·d·2 each (read x, residual; write both)
 * - `qkv`      GEMM m=T, n=(H/TP + 2⌈kvH/TP⌉)·d_h, k=d (MLA: q / q_a+q_b and kv_a projections)
 * - `rope`     bytes 2·T·(H/TP + ⌈kvH/TP⌉)·d_h·2 (MLA: rope dims only)
 * - `kv_write` bytes T·kvBytesPerToken·(1 + 2/kvB) (read K,V; write the cache in the KV dtype)
 * - `attn_prefill` causal flash attention: pairs = Σ_chunks Σ_{i=1..t} min(prior+i, W)
 *              FLOPs 4·(H/TP)·d_h·pairs; bytes Q,O + KV of prior+new tokens (MLA: decompressed heads
 *              plus the kv_b up-projection GEMM `mla_kv_up`)
 * - `attn_decode` paged attention: ctx = Σ_j (min(c_j, W) + 1); bytes ctx·kvBytesPerToken + Q,O;
 *              FLOPs 4·(H/TP)·d_h·ctx (MLA absorbed: 2·(H/TP)·ctx·(r+rope) + 2·(H/TP)·ctx·r, plus `mla_absorb` GEMMs)
 * - `o_proj`   GEMM m=T, n=d, k=(H/TP)·d_h
 * - `tp_allreduce` 2 per layer (+1 for the vocab-parallel embedding), S = T·d·2 bytes
 * - dense MLP: `mlp_up` (gate+up fused, n = 2·d_ff/TP or d_ff/TP), `act` (bytes 3·T·d_ff/TP·2 gated,
 *   2·… plain), `mlp_down` (n = d, k = d_ff/TP)
 * - MoE layers: `router` GEMM (n = N); routed experts as one fused kernel over
 *   pairs = r·T·k/EP token-expert pairs and E_local = (N/EP)·(1 − (1 − k/N)^(r·T)) expected distinct
 *   local experts (weights read once each): `moe_up`, `moe_act`, `moe_down`; shared experts
 *   `shared_up`, `shared_act`, `shared_down` (m = T); `ep_alltoall` 2 per layer when EP > 1
 *   (S = r·T·k·d·2/EP bytes per GPU); r = max(1, EP/TP) replicas when EP spans data-parallel ranks
 * Per step: `embed`, `final_norm`, `lm_head` (m = sequences sampling: decodes + final prefill
 * chunks), `logits_gather`, `sampler`; `pp_p2p` (PP−1 sends of hidden+residual 2·T·d·2 bytes);
 * `overhead` (stepOverheadUs + L·layerOverheadUs).
 * Each GEMM/elementwise/attention op: t = max(F/(P·eff_c(F)), B/(BW·eff_m(B))) (analytic/roofline.ts);
 * in eager execution (no CUDA graphs) each kernel lasts at least the host launch time:
 * t = max(t_roofline, launchUs) per call (collectives use the eager all-reduce tables instead).
 */
import type { Step } from '../steps/step.js';
import type { BasisContext } from '../basis/types.js';
import { curveEff, classPeakPerUs, DEFAULTS, type RooflineCurves, type OpClass } from './efficiency.js';
import { rooflineUs, gemmWork, type OpTime } from './roofline.js';
import { allReduceBackend, ringTrafficFactor, hierarchicalAllReduceUs, allToAllUs, p2pUs, ringHalfUs, bubbleFraction, type LinkSpec } from './collectives.js';
import { compileEngine, type Engine, type EngineOptions, type GemmShape } from './context.js';
import { InputError } from '../io/errors.js';
import { prefillAttnWork, decodeAttnWork } from './work.js';
import { gemmTableUs } from './gemm-table.js';

export { causalPairs } from './work.js';

export interface StepBreakdown {
  /** Step latency in µs: all stages in sequence plus PP sends and overheads. */
  readonly us: number;
  /** Slowest pipeline stage in µs (= the interval between steps when PP micro-batches overlap; = us at PP 1). */
  readonly stageUs: number;
  /** Per-operator times, summed over layers and calls, in pipeline order. */
  readonly ops: readonly OpTime[];
  readonly prefillTokens: number;
  readonly decodeRequests: number;
  /** Sequences that sample a token this step. */
  readonly sampled: number;
}

const PER_STEP = new Set(['embed', 'final_norm', 'lm_head', 'logits_gather', 'sampler', 'pp_p2p', 'overhead']);

/** Accumulates op times; keeps per-op records only when `detail` (predictUs skips them for speed). */
class Acc {
  readonly ops: OpTime[] = [];
  private readonly index = new Map<string, number>();
  sum = 0;
  /** Sums for the pipeline-stage split: layer ops, first-stage ops (embed), last-stage ops. */
  layerSum = 0;
  firstSum = 0;
  lastSum = 0;
  /** Minimum time of one kernel launch (eager execution's host launch time; 0 in CUDA graphs). */
  constructor(
    readonly detail = true,
    readonly floor = 0,
  ) {}
  add(op: string, us: number, computeUs: number, memoryUs: number, flops: number, bytes: number, calls: number, bound: OpTime['bound']): void {
    if (!(us > 0)) return;
    this.sum += us;
    if (op === 'embed') this.firstSum += us;
    else if (PER_STEP.has(op)) this.lastSum += us;
    else this.layerSum += us;
    if (!this.detail) return;
    const i = this.index.get(op);
    if (i === undefined) {
      this.index.set(op, this.ops.length);
      this.ops.push({ op, us, computeUs, memoryUs, flops, bytes, calls, bound });
    } else {
      const o = this.ops[i]!;
      const total = o.us + us;
      this.ops[i] = {
        op,
        us: total,
        computeUs: o.computeUs + computeUs,
        memoryUs: o.memoryUs + memoryUs,
        flops: o.flops + flops,
        bytes: o.bytes + bytes,
        calls: o.calls + calls,
        bound: o.us >= us ? o.bound : bound,
      };
    }
  }
  total(): number {
    return this.sum;
  }
}

/** One roofline kernel repeated `calls` times. */
function kernel(acc: Acc, op: string, flops: number, bytes: number, peak: number, memPerUs: number, curves: RooflineCurves, calls: number, items = 0): void {
  if (calls <= 0 || (flops <= 0 && bytes <= 0)) return;
  const r = rooflineUs(flops, bytes, peak, memPerUs, curves, items);
  acc.add(op, Math.max(r.us, acc.floor) * calls, r.computeUs * calls, r.memoryUs * calls, flops * calls, bytes * calls, calls, r.computeUs >= r.memoryUs ? 'compute' : 'memory');
}

/**
 * One dense GEMM repeated `calls` times: the measured (m, n, k) table when the engine has one
 * (analytic/gemm-table.ts; FP8: at most its BF16 twin (m, n, k/2), context.ts `gemmTableOf`; the
 * roofline split is kept for the breakdown's bound), else the roofline with the 1-D curves.
 */
function gemm(acc: Acc, e: Engine, op: string, m: number, g: GemmShape, calls: number): void {
  if (m <= 0) return;
  const w = gemmWork(m, g.n, g.k, e.actBytes, e.wBytes, e.hBytes);
  if (!e.gemmTable) {
    kernel(acc, op, w.flops, w.bytes, e.gemmPeak, e.memPerUs, e.tables.ops[e.gemmClass], calls);
    return;
  }
  const us = tableGemmUs(e, m, g.n, g.k);
  const r = rooflineUs(w.flops, w.bytes, e.gemmPeak, e.memPerUs, e.tables.ops[e.gemmClass]);
  acc.add(op, Math.max(us, acc.floor) * calls, r.computeUs * calls, r.memoryUs * calls, w.flops * calls, w.bytes * calls, calls, r.computeUs >= r.memoryUs ? 'compute' : 'memory');
}

/** Table time of a GEMM on an engine with a table: the measured time, FP8 at most its BF16 twin (m, n, k/2). */
function tableGemmUs(e: Engine, m: number, n: number, k: number): number {
  const t = gemmTableUs(e.gemmTable!, m, n, k);
  return e.gemmBound ? Math.min(t, gemmTableUs(e.gemmBound, m, n, k / 2)) : t;
}

function elementwise(acc: Acc, e: Engine, op: string, bytes: number, calls: number): void {
  kernel(acc, op, 0, bytes, e.attnPeak, e.memPerUs, e.tables.ops.elementwise, calls);
}

/** Per-call latency (µs) of an all-reduce without a measured curve: CUDA-graph path, or eager / NCCL. */
function callLatencyUs(e: Engine): number {
  return e.options.allreduce === 'graph' ? DEFAULTS.allreduce.graphLatencyUs : DEFAULTS.allreduce.eagerLatencyUs;
}

function intraLink(e: Engine): LinkSpec {
  return { bytesPerUs: e.linkPerUs, latencyUs: DEFAULTS.allreduce.hopLatencyUs, eff: DEFAULTS.allreduce.bandwidthEff };
}
function interLink(e: Engine): LinkSpec {
  return { bytesPerUs: e.options.interNodeGBs * 1e3, latencyUs: e.options.interNodeLatencyUs, eff: DEFAULTS.allreduce.bandwidthEff };
}

/**
 * One all-reduce of S bytes over p GPUs (µs).
 * - p ≤ GPUs per node with a measured curve for p (calibrated file, link not forced):
 *   latency_p + 2(p−1)/p·S/(link·eff_p(S)), the curve of the mode's implementation, or NCCL's
 *   for messages above vLLM's custom all-reduce buffer (8 MiB, collectives.ts `allReduceBackend`);
 * - p ≤ GPUs per node otherwise: callLatency + hops·0.7 µs + traffic/(0.7·link), ring (2(p−1) hops,
 *   traffic 2(p−1)/p·S) or tree (2⌈log₂p⌉ hops, traffic 2·S);
 * - p > GPUs per node: hierarchical (intra reduce-scatter, inter-node all-reduce of S/g, intra all-gather) + callLatency.
 */
export function allReduceCallUs(e: Engine, bytes: number, p: number): number {
  if (p <= 1 || bytes <= 0) return 0;
  const g = e.options.gpusPerNode;
  if (p <= g) {
    const cc = e.options.link === 'auto' ? e.tables.allreduce[allReduceBackend(e.options.allreduce, bytes)][String(p)] : undefined;
    if (cc) return cc.latencyUs + (ringTrafficFactor(p) * bytes) / (e.linkPerUs * curveEff(cc.bandwidth, bytes));
    const link = intraLink(e);
    const tree = e.options.algorithm === 'tree';
    const hops = tree ? 2 * Math.ceil(Math.log2(p)) : 2 * (p - 1);
    const traffic = tree ? 2 * bytes : ringTrafficFactor(p) * bytes;
    return callLatencyUs(e) + hops * link.latencyUs + traffic / (link.bytesPerUs * link.eff);
  }
  if (p % g !== 0) throw new InputError(`a collective over ${p} GPUs must be a multiple of the GPUs per node (${g}) to cross nodes`);
  return callLatencyUs(e) + hierarchicalAllReduceUs(bytes, g, p / g, intraLink(e), interLink(e), e.options.algorithm);
}

/**
 * Attention layer groups [layers, window] of this engine: all L layers with the window W (0 = full)
 * unless the model mixes sliding-window and full-attention layers (`layer_types`), then
 * [sliding layers · L/numLayers, W] and [the rest, 0].
 */
function windowGroups(e: Engine): [number, number][] {
  const W = e.window;
  const total = e.arch.numLayers;
  const sliding = e.arch.slidingLayers ?? (W > 0 ? total : 0);
  if (W <= 0 || sliding >= total) return [[e.L, W]];
  if (sliding <= 0) return [[e.L, 0]];
  const ls = (e.L * sliding) / total;
  return [
    [ls, W],
    [e.L - ls, 0],
  ];
}

/** Token counts of a step: prefill tokens, decode requests, sequences sampling a token. */
function tokenCounts(step: Step): { Tpf: number; Tdc: number; sampled: number } {
  let Tpf = 0;
  let sampled = step.decode.length;
  for (const c of step.prefill) {
    Tpf += c.tokens;
    if (c.prior + c.tokens >= c.prompt) sampled++;
  }
  return { Tpf, Tdc: step.decode.length, sampled };
}

/** Prefill and decode attention kernels (per window group; MLA decompression / absorption GEMMs). */
function attentionKernels(acc: Acc, e: Engine, step: Step, Tpf: number, Tdc: number): void {
  const hB = e.hBytes;
  const H = e.headsPerGpu;
  const kvCls = e.kvDtype === 'fp8' ? 'fp8kv' : 'bf16';
  const attnPeak = classPeakPerUs(`attn_prefill.${kvCls}` as OpClass, e.gpu);
  if (Tpf > 0) {
    for (const [layers, win] of windowGroups(e)) {
      const w = prefillAttnWork(H, e.headDim, e.kvBytesPerTokenLayer, hB, step.prefill, win);
      let { flops, bytes } = w;
      if (e.mla) {
        const m = e.mla;
        flops = 2 * H * w.pairs * (m.nopeDim + m.ropeDim) + 2 * H * w.pairs * m.vDim;
        bytes = (Tpf + w.kvTokens) * H * (m.nopeDim + m.ropeDim + m.vDim) * hB;
        gemm(acc, e, 'mla_kv_up', w.kvTokens, { n: H * (m.nopeDim + m.vDim), k: m.kvLoraRank }, layers);
      }
      kernel(acc, 'attn_prefill', flops, bytes, attnPeak, e.memPerUs, e.tables.ops[`attn_prefill.${kvCls}` as OpClass], layers, step.prefill.length);
    }
  }
  if (Tdc > 0) {
    for (const [layers, win] of windowGroups(e)) {
      const w = decodeAttnWork(H, e.headDim, e.kvBytesPerTokenLayer, hB, step.decode, win);
      let { flops, bytes } = w;
      if (e.mla) {
        const m = e.mla;
        flops = 2 * H * w.ctx * (m.kvLoraRank + m.ropeDim) + 2 * H * w.ctx * m.kvLoraRank;
        bytes = w.ctx * e.kvBytesPerTokenLayer + Tdc * H * (m.kvLoraRank + m.ropeDim + m.kvLoraRank) * hB;
        gemm(acc, e, 'mla_absorb', Tdc, { n: H * m.kvLoraRank, k: m.nopeDim }, layers);
        gemm(acc, e, 'mla_absorb', Tdc, { n: H * m.vDim, k: m.kvLoraRank }, layers);
      }
      kernel(acc, 'attn_decode', flops, bytes, attnPeak, e.memPerUs, e.tables.ops[`attn_decode.${kvCls}` as OpClass], layers, Tdc);
    }
  }
}

/** MoE layers: router, routed experts (expected distinct local experts), shared experts, EP all-to-all or TP all-reduce. */
function moeBlock(acc: Acc, e: Engine, T: number, arBytes: number, addAr: (calls: number) => void): void {
  const ML = e.moeLayers;
  const hB = e.hBytes;
  gemm(acc, e, 'router', T, e.routerGemm!, ML);
  const N = e.numExperts;
  const k = e.topK;
  const r = e.epReplicas; // EP across DP: the group serves r replicas' tokens (same load assumed)
  const pairs = (r * T * k) / e.ep;
  const distinct = e.localExperts * (1 - (1 - k / N) ** (r * T));
  const moeGemm = (op: string, g: GemmShape): void => {
    const flops = 2 * pairs * g.n * g.k;
    const bytes = pairs * g.k * e.actBytes + distinct * g.k * g.n * e.wBytes + pairs * g.n * hB;
    kernel(acc, op, flops, bytes, e.gemmPeak, e.memPerUs, e.tables.ops[e.gemmClass], ML);
  };
  moeGemm('moe_up', e.expertUp);
  elementwise(acc, e, 'moe_act', 3 * pairs * e.expertWidth * hB, ML);
  moeGemm('moe_down', e.expertDown);
  if (e.sharedUp && e.sharedDown) {
    gemm(acc, e, 'shared_up', T, e.sharedUp, ML);
    elementwise(acc, e, 'shared_act', 3 * T * e.sharedWidth * hB, ML);
    gemm(acc, e, 'shared_down', T, e.sharedDown, ML);
  }
  if (e.ep <= 1) {
    addAr(ML);
    return;
  }
  const link: LinkSpec =
    e.ep <= e.options.gpusPerNode
      ? { bytesPerUs: e.linkPerUs, latencyUs: callLatencyUs(e), eff: DEFAULTS.allreduce.bandwidthEff }
      : { ...interLink(e), latencyUs: callLatencyUs(e) + e.options.interNodeLatencyUs };
  const S = (r * T * k * e.d * hB) / e.ep;
  const t = allToAllUs(S, e.ep, link);
  acc.add('ep_alltoall', t * 2 * ML, 0, 0, 0, (2 * ML * S * (e.ep - 1)) / e.ep, 2 * ML, 'network');
  if (e.expertTp > 1) {
    const t2 = allReduceCallUs(e, arBytes, e.expertTp);
    acc.add('tp_allreduce', t2 * ML, 0, 0, 0, arBytes * ringTrafficFactor(e.expertTp) * ML, ML, 'network');
  }
}

/** Per-step tail: final norm, LM head over the sampling sequences, logits gather, sampler. */
function lmHeadOps(acc: Acc, e: Engine, T: number, sampled: number): void {
  const hB = e.hBytes;
  elementwise(acc, e, 'final_norm', 2 * T * e.d * hB, 1);
  if (sampled <= 0) return;
  gemm(acc, e, 'lm_head', sampled, { n: e.vocabPerGpu, k: e.d }, 1);
  if (e.tp > 1) {
    const bytes = sampled * e.arch.vocabSize * hB;
    const t = callLatencyUs(e) + ringHalfUs(bytes, e.tp, e.linkPerUs, DEFAULTS.allreduce.hopLatencyUs, DEFAULTS.allreduce.bandwidthEff);
    acc.add('logits_gather', t, 0, 0, 0, (bytes * (e.tp - 1)) / e.tp, 1, 'network');
  }
  elementwise(acc, e, 'sampler', sampled * e.arch.vocabSize * 4 * 2, 1);
}

/**
 * Pipeline sends and fixed overheads; returns the slowest stage (µs). Layer ops are split evenly over
 * the PP stages; per-step ops sit on the first (embed) or last stage.
 */
function pipelineAndOverhead(acc: Acc, e: Engine, T: number): number {
  const L = e.L;
  const perStageLayers = acc.layerSum / e.pp + (e.options.layerOverheadUs * L) / e.pp;
  let stageUs = e.pp === 1 ? acc.sum : Math.max(perStageLayers + acc.firstSum, perStageLayers + acc.lastSum);
  if (e.pp > 1) {
    const crossNode = e.tp * e.pp > e.options.gpusPerNode;
    const link: LinkSpec = crossNode
      ? { bytesPerUs: e.options.interNodeGBs * 1e3, latencyUs: e.options.p2pLatencyUs, eff: DEFAULTS.allreduce.bandwidthEff }
      : { bytesPerUs: e.linkPerUs, latencyUs: e.options.p2pLatencyUs, eff: DEFAULTS.allreduce.bandwidthEff };
    const bytes = 2 * T * e.d * e.hBytes;
    const t = p2pUs(bytes, link);
    acc.add('pp_p2p', t * (e.pp - 1), 0, 0, 0, bytes * (e.pp - 1), e.pp - 1, 'network');
    stageUs += t;
  }
  const overhead = e.options.stepOverheadUs + e.options.layerOverheadUs * L;
  if (overhead > 0) acc.add('overhead', overhead, 0, 0, 0, 0, 1, 'latency');
  return e.pp === 1 ? acc.total() : stageUs;
}

/** Per-operator breakdown of one step on a compiled engine (`detail` false: the total only, for speed). */
export function engineStepBreakdown(step: Step, e: Engine, detail = true): StepBreakdown {
  const acc = new Acc(detail, e.options.execution === 'eager' ? e.options.launchUs : 0);
  const { Tpf, Tdc, sampled } = tokenCounts(step);
  const T = Tpf + Tdc;
  if (T === 0) return { us: 0, stageUs: 0, ops: [], prefillTokens: 0, decodeRequests: 0, sampled: 0 };
  const { L, d, hBytes: hB } = e;
  if (e.options.lmHead) elementwise(acc, e, 'embed', 2 * T * d * hB, 1);
  // --- attention block ---
  elementwise(acc, e, 'norm', 4 * T * d * hB, 2 * L);
  for (const g of e.qkvGemms) gemm(acc, e, 'qkv', T, g, L);
  elementwise(acc, e, 'rope', 2 * T * e.ropeElems * hB, L);
  elementwise(acc, e, 'kv_write', T * e.kvBytesPerTokenLayer * (1 + hB / e.kvBytes), L);
  attentionKernels(acc, e, step, Tpf, Tdc);
  gemm(acc, e, 'o_proj', T, e.oGemm, L);
  const arBytes = T * d * hB;
  const arUs = allReduceCallUs(e, arBytes, e.tp);
  const addAr = (calls: number): void => {
    if (e.tp > 1 && calls > 0) acc.add('tp_allreduce', arUs * calls, 0, 0, 0, arBytes * ringTrafficFactor(e.tp) * calls, calls, 'network');
  };
  addAr(L + (e.options.lmHead ? 1 : 0));
  // --- MLP block ---
  if (e.denseLayers > 0) {
    gemm(acc, e, 'mlp_up', T, e.denseUp, e.denseLayers);
    elementwise(acc, e, 'act', (e.gated ? 3 : 2) * T * e.denseWidth * hB, e.denseLayers);
    gemm(acc, e, 'mlp_down', T, e.denseDown, e.denseLayers);
    addAr(e.denseLayers);
  }
  if (e.moeLayers > 0) moeBlock(acc, e, T, arBytes, addAr);
  // --- per step ---
  if (e.options.lmHead) lmHeadOps(acc, e, T, sampled);
  const stageUs = pipelineAndOverhead(acc, e, T);
  return { us: acc.total(), stageUs, ops: acc.ops, prefillTokens: Tpf, decodeRequests: Tdc, sampled };
}

/** One GEMM C[m×n] = A[m×k]·W[k×n] on this engine's GPU and dtypes (µs): the roofline bound with the GEMM curves. */
export function gemmOpUs(e: Engine, m: number, n: number, k: number): number {
  const acc = new Acc();
  gemm(acc, e, 'gemm', m, { n, k }, 1);
  return acc.total();
}

/** One memory-bound elementwise kernel moving `bytes` (µs). */
export function elementwiseOpUs(e: Engine, bytes: number): number {
  const acc = new Acc();
  elementwise(acc, e, 'elementwise', bytes, 1);
  return acc.total();
}

const cache = new WeakMap<object, Map<string, Engine>>();

/** A compiled engine for a basis context + options, cached per context object and options. */
export function engineFor(ctx: BasisContext & { pp?: number; ep?: number }, opts: EngineOptions = {}): Engine {
  if (typeof opts.efficiency === 'object') return compileEngine(ctx, opts);
  let m = cache.get(ctx);
  if (!m) {
    m = new Map();
    cache.set(ctx, m);
  }
  const key = JSON.stringify(opts);
  let e = m.get(key);
  if (!e) {
    e = compileEngine(ctx, opts);
    m.set(key, e);
  }
  return e;
}

/** Step latency in µs from first principles (no fitted numbers). `ctx` may be a compiled Engine. */
export function engineStepUs(step: Step, ctx: BasisContext | Engine, opts: EngineOptions = {}): number {
  const e = 'gemmPeak' in ctx ? ctx : engineFor(ctx, opts);
  return engineStepBreakdown(step, e, false).us;
}

export { bubbleFraction };
