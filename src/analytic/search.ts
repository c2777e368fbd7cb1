/**
 * Parallelism search: every (TP, PP, EP, DP) with TP·PP·DP = N GPUs (TP ≤ GPUs per node, EP | TP
 * and EP | experts for MoE models) is checked for validity and memory fit, then its serving
 * metrics are computed at per-replica concurrencies 1, 2, 4, … up to the memory/max-seqs cap (or the
 * given concurrency); the operating point kept for a layout is the one with the highest output
 * throughput that meets the TTFT and TPOT targets. Layouts are ranked: meeting the targets first,
 * then by output tokens/s per GPU.
 */
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { InputError } from '../io/errors.js';
import { compileEngine, type EngineOptions } from './context.js';
import { loadEfficiency, type EfficiencyTables } from './efficiency.js';
import { engineMemory } from './memory.js';
import { serveMetrics, type Workload } from './serving.js';

export interface SearchTargets {
  ttftMs?: number;
  tpotMs?: number;
}

export interface Candidate {
  readonly layout: string;
  readonly tp: number;
  readonly pp: number;
  readonly ep: number;
  readonly dp: number;
  readonly meets: boolean;
  readonly ttftMs: number | null;
  readonly tpotMs: number | null;
  readonly outputTokensPerS: number | null;
  readonly outputTokensPerSPerGpu: number | null;
  readonly concurrency: number | null;
  readonly note?: string;
}

const divisors = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

export function searchParallelism(arch: Architecture, gpu: GpuSpec, gpus: number, opts: EngineOptions, w: Workload, targets: SearchTargets): { candidates: Candidate[]; best: Candidate | null } {
  if (!Number.isInteger(gpus) || gpus < 1) throw new InputError(`--gpus must be a positive integer, got ${gpus}`);
  const tables: EfficiencyTables = typeof opts.efficiency === 'object' ? opts.efficiency : loadEfficiency(gpu, opts.efficiency ?? 'auto');
  const perNode = opts.gpusPerNode ?? 8;
  const out: Candidate[] = [];
  const ok = (ttft: number, tpot: number): boolean => (targets.ttftMs === undefined || ttft <= targets.ttftMs) && (targets.tpotMs === undefined || tpot <= targets.tpotMs);
  for (const tp of divisors(gpus).filter((t) => t <= perNode)) {
    for (const pp of divisors(gpus / tp)) {
      const dp = gpus / tp / pp;
      const eps = arch.numExperts > 0 ? divisors(tp).filter((e) => arch.numExperts % e === 0) : [1];
      for (const ep of eps) {
        const layout = `TP${tp} PP${pp}${ep > 1 ? ` EP${ep}` : ''} DP${dp}`;
        const base = { layout, tp, pp, ep, dp, meets: false, ttftMs: null, tpotMs: null, outputTokensPerS: null, outputTokensPerSPerGpu: null, concurrency: null };
        const eo: EngineOptions = { ...opts, pp, ep, dp, efficiency: tables };
        let cap: number;
        try {
          const e = compileEngine({ arch, gpu, tp }, eo);
          const mem = engineMemory(e, { maxModelLen: w.inputTokens + w.outputTokens, gpuMemUtil: w.gpuMemUtil, maxBatchedTokens: w.chunkTokens ?? 2048, maxSeqs: w.maxSeqs });
          if (!mem.fits) {
            out.push({ ...base, note: 'does not fit memory' });
            continue;
          }
          cap = Math.min((w.maxSeqs ?? 256) * pp, Math.floor(mem.maxKvTokens / (w.inputTokens + w.outputTokens)));
        } catch (err) {
          if (err instanceof InputError) {
            out.push({ ...base, note: `invalid: ${err.message.replace(/^.*?: /, '')}` });
            continue;
          }
          throw err;
        }
        const levels = w.concurrency !== undefined ? [Math.max(1, Math.floor(w.concurrency / dp))] : [...new Set([...[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024].filter((c) => c < cap), cap])];
        let best: Candidate | null = null;
        let fallback: Candidate | null = null;
        for (const c of levels) {
          const r = serveMetrics({ arch, gpu, tp }, eo, { ...w, concurrency: c * dp, ratePerS: undefined });
          const cand: Candidate = {
            ...base,
            meets: ok(r.ttftMs, r.tpotMs),
            ttftMs: r.ttftMs,
            tpotMs: r.tpotMs,
            outputTokensPerS: r.outputTokensPerS,
            outputTokensPerSPerGpu: r.outputTokensPerSPerGpu,
            concurrency: r.concurrency,
          };
          if (cand.meets && (!best || cand.outputTokensPerS! > best.outputTokensPerS!)) best = cand;
          if (!fallback || cand.ttftMs! + cand.tpotMs! < fallback.ttftMs! + fallback.tpotMs!) fallback = cand;
        }
        out.push(best ?? { ...fallback!, note: 'misses the targets at every concurrency' });
      }
    }
  }
  out.sort((a, b) => Number(b.meets) - Number(a.meets) || (b.outputTokensPerSPerGpu ?? -1) - (a.outputTokensPerSPerGpu ?? -1));
  const best = out.find((c) => c.meets) ?? null;
  return { candidates: out, best };
}
