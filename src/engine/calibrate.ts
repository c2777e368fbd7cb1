/**
 * Calibration of the efficiency curves from microbenchmark tables (`stepfit engine calibrate`).
 *
 * Sources, per GPU (see microbench.ts): AIConfigurator vLLM 0.14.0 GEMM (bf16, fp8), context and
 * generation attention (bf16 KV, fp8 KV) and custom all-reduce (CUDA graph and eager, 2/4/8 GPUs);
 * Vidur per-op profiles (H100, A100) for the elementwise curve (norms, rotary, activation) and Vidur's
 * DGX network profile for plain NCCL all-reduce within a node (`nccl` mode).
 *
 * Held-out rule (HELD_OUT_RULE): some sizes are left out of every fit and the error on them is
 * reported; the committed curves are fitted on the remaining rows only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../io/errors.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { curveEff, classPeakPerUs, defaultTables, linkGBsPerDirection, saturatingCurve, DEFAULTS, type Curve, type EfficiencyFile, type ErrorStats } from './efficiency.js';
import { fitRooflineCurves, fitCollective, predictRow, apeStats } from './fitcurve.js';
import {
  readCsv,
  aicGemmRows,
  aicContextRows,
  aicGenerationRows,
  aicAllReduceRows,
  vidurRows,
  vidurElementwiseBytes,
  aicFiles,
  vidurFiles,
  vidurNetworkFile,
  vidurAllReduceRows,
  datasetCommit,
  heldOutValues,
  AIC_GPU,
  VIDUR_GPU,
  AIC_DATASET,
  VIDUR_DATASET,
  type KernelRow,
  type AllReduceRow,
  type CsvTable,
} from './microbench.js';

export const HELD_OUT_RULE =
  'for each listed size column, its distinct values sorted ascending; values at index i with i mod 5 = 2 are held out ' +
  '(a row is held out when any of its listed columns holds a held-out value): GEMM m, n; context attention isl, batch_size; ' +
  'generation attention step (KV context), batch_size; all-reduce message_size (per backend and GPU count); Vidur elementwise num_tokens; Vidur NCCL all-reduce size (per GPU count)';

/** Split rows into train / held-out by the rule above over the given key columns. */
export function splitHeldOut<T extends { key: Record<string, number | string> }>(rows: readonly T[], cols: readonly string[]): { train: T[]; heldOut: T[] } {
  const sets = cols.map((c) =>
    heldOutValues(
      rows.map((r) => Number(r.key[c])),
      5,
      2,
    ),
  );
  const train: T[] = [];
  const heldOut: T[] = [];
  for (const r of rows) (cols.some((c, j) => sets[j]!.has(Number(r.key[c]))) ? heldOut : train).push(r);
  return { train, heldOut };
}

export interface CalibrateOptions {
  /** Root of the shared data (holding ai-dynamo__aiconfigurator/, microsoft__vidur/, README.md). */
  dataRoot: string;
  /** AIConfigurator system folder (default from the GPU id), Vidur folder (default from the GPU id; '' = none). */
  aicGpu?: string;
  vidurGpu?: string;
  commandLine?: string;
  createdAt?: string;
}

export interface CalibrationSummaryRow {
  readonly curve: string;
  readonly source: string;
  readonly train: ErrorStats;
  readonly heldOut: ErrorStats;
}

const round = (x: number, sig = 5): number => Number(x.toPrecision(sig));
const roundCurve = (c: Curve): { x: number[]; eff: number[] } => ({ x: c.x.map((v) => round(v, 8)), eff: c.eff.map((v) => round(v)) });

/** Calibrate all curves for `gpu` from the tables under `opts.dataRoot`. Pure apart from reading the inputs. */
export function calibrate(gpu: GpuSpec, opts: CalibrateOptions): { file: EfficiencyFile; summary: CalibrationSummaryRow[] } {
  const aicGpu = opts.aicGpu ?? AIC_GPU[gpu.id];
  if (!aicGpu) throw new InputError(`no AIConfigurator system folder is known for GPU '${gpu.id}' (known: ${Object.keys(AIC_GPU).join(', ')}); pass --aic-gpu <folder>`);
  const files = aicFiles(opts.dataRoot, aicGpu);
  for (const f of Object.values(files)) if (!fs.existsSync(f)) throw new InputError(`${f}: file not found (is --data the shared data root holding ${AIC_DATASET}/?)`);
  const def = defaultTables(gpu);
  const bf16 = gpu.fp16DenseTflops * 1e6;
  const fp8 = gpu.fp8DenseTflops ? gpu.fp8DenseTflops * 1e6 : null;
  const bw = gpu.memBandwidthTBs * 1e6;
  const linkGBs = linkGBsPerDirection(gpu);
  const link = linkGBs * 1e3;
  const rel = (f: string): string => path.relative(opts.dataRoot, f);
  const used: { src: 'aic' | 'vidur'; t: CsvTable }[] = [];
  const ops: EfficiencyFile['ops'] = {};
  const summary: CalibrationSummaryRow[] = [];

  const fitClass = (name: string, rows: KernelRow[], cols: string[], peak: number, source: string, perItem = false): void => {
    if (rows.length < 10) return;
    const { train, heldOut } = splitHeldOut(rows, cols);
    const prior = def.ops[name as keyof typeof def.ops];
    const fit = fitRooflineCurves(train, peak, bw, prior, { perItem });
    const trainStats = apeStats(
      fit.predicted,
      train.map((r) => r.us),
    );
    const heldStats = apeStats(
      heldOut.map((r) => predictRow(r, peak, bw, fit.curves)),
      heldOut.map((r) => r.us),
    );
    ops[name] = { compute: roundCurve(fit.curves.compute), memory: roundCurve(fit.curves.memory), perItemUs: round(fit.curves.perItemUs ?? 0), source, train: trainStats, heldOut: heldStats };
    summary.push({ curve: name, source, train: trainStats, heldOut: heldStats });
  };

  // GEMM
  const gemmT = readCsv(files.gemm, ['gemm_dtype', 'm', 'n', 'k', 'latency']);
  used.push({ src: 'aic', t: gemmT });
  const gemm = aicGemmRows(gemmT);
  fitClass('gemm.bf16', gemm.bf16, ['m', 'n'], bf16, `${rel(files.gemm)} (gemm_dtype bfloat16)`);
  if (fp8 && gemm.fp8.length) fitClass('gemm.fp8', gemm.fp8, ['m', 'n'], fp8, `${rel(files.gemm)} (gemm_dtype fp8)`);
  // attention
  const attnCols = ['batch_size', 'isl', 'num_heads', 'num_key_value_heads', 'head_dim', 'kv_cache_dtype', 'step', 'latency'];
  const ctxT = readCsv(files.context, attnCols);
  used.push({ src: 'aic', t: ctxT });
  const ctx = aicContextRows(ctxT);
  fitClass('attn_prefill.bf16', ctx.bf16, ['isl', 'bs'], bf16, `${rel(files.context)} (kv_cache_dtype bfloat16)`, true);
  fitClass('attn_prefill.fp8kv', ctx.fp8kv, ['isl', 'bs'], classPeakPerUs('attn_prefill.fp8kv', gpu), `${rel(files.context)} (kv_cache_dtype fp8)`, true);
  const genT = readCsv(files.generation, attnCols);
  used.push({ src: 'aic', t: genT });
  const gen = aicGenerationRows(genT);
  fitClass('attn_decode.bf16', gen.bf16, ['ctx', 'bs'], bf16, `${rel(files.generation)} (kv_cache_dtype bfloat16)`, true);
  fitClass('attn_decode.fp8kv', gen.fp8kv, ['ctx', 'bs'], classPeakPerUs('attn_decode.fp8kv', gpu), `${rel(files.generation)} (kv_cache_dtype fp8)`, true);

  // elementwise from Vidur
  const vGpu = opts.vidurGpu ?? VIDUR_GPU[gpu.id] ?? '';
  const vFiles = vGpu ? vidurFiles(opts.dataRoot, vGpu) : [];
  if (vFiles.length) {
    const rows: KernelRow[] = [];
    for (const f of vFiles) {
      const t = readCsv(f, ['num_tokens', 'num_tensor_parallel_workers', 'n_head', 'n_kv_head', 'n_embd', 'n_expanded_embd', 'use_gated_mlp']);
      used.push({ src: 'vidur', t });
      for (const r of vidurRows(t)) {
        const bytes = vidurElementwiseBytes(r);
        if (bytes !== null && r.us > 0) rows.push({ flops: 0, bytes, us: r.us, key: { tokens: r.tokens } });
      }
    }
    fitClass('elementwise', rows, ['tokens'], bf16, `${vFiles.map(rel).join(', ')} (norms, rotary, activation; median)`);
  }

  // all-reduce
  const arT = readCsv(files.allreduce, ['num_gpus', 'message_size', 'latency', 'backend']);
  used.push({ src: 'aic', t: arT });
  const ar = aicAllReduceRows(arT);
  const allreduce: EfficiencyFile['allreduce'] = {};
  const prior = saturatingCurve(DEFAULTS.allreduce.bandwidthEff, 2, link, 2 ** 7, 2 ** 30);
  for (const mode of ['graph', 'eager'] as const) {
    for (const p of [...new Set(ar.filter((r) => r.mode === mode).map((r) => r.p))].sort((a, b) => a - b)) {
      const rows = ar.filter((r) => r.mode === mode && r.p === p).map((r) => ({ ...r, key: { messageBytes: r.messageBytes } }));
      if (rows.length < 5) continue;
      const { train, heldOut } = splitHeldOut(rows, ['messageBytes']);
      const fit = fitCollective(train, link, prior);
      const pred = (r: AllReduceRow): number => fit.latencyUs + r.trafficBytes / (link * curveEff(fit.bandwidth, r.messageBytes));
      const trainStats = apeStats(
        train.map(pred),
        train.map((r) => r.us),
      );
      const heldStats = apeStats(
        heldOut.map(pred),
        heldOut.map((r) => r.us),
      );
      (allreduce[mode] ??= {})[String(p)] = {
        latencyUs: round(fit.latencyUs),
        bandwidth: roundCurve(fit.bandwidth),
        source: `${rel(files.allreduce)} (backend vllm_${mode}, num_gpus ${p})`,
        train: trainStats,
        heldOut: heldStats,
      };
      summary.push({ curve: `allreduce.${mode}.${p}`, source: `${rel(files.allreduce)}`, train: trainStats, heldOut: heldStats });
    }
  }

  // plain NCCL all-reduce within one DGX node, from Vidur's network profile
  const netFile = vGpu ? vidurNetworkFile(opts.dataRoot, vGpu) : null;
  if (netFile) {
    const t = readCsv(netFile, ['num_workers', 'devices_per_node', 'size', 'time_stats.all_reduce.median']);
    used.push({ src: 'vidur', t });
    const rowsAll = vidurAllReduceRows(t).filter((r) => r.p === r.perNode);
    for (const p of [...new Set(rowsAll.map((r) => r.p))].sort((a, b) => a - b)) {
      const rows = rowsAll.filter((r) => r.p === p).map((r) => ({ ...r, key: { messageBytes: r.messageBytes } }));
      if (rows.length < 5) continue;
      const { train, heldOut } = splitHeldOut(rows, ['messageBytes']);
      const fit = fitCollective(train, link, prior);
      const pred = (r: { trafficBytes: number; messageBytes: number }): number => fit.latencyUs + r.trafficBytes / (link * curveEff(fit.bandwidth, r.messageBytes));
      const trainStats = apeStats(
        train.map(pred),
        train.map((r) => r.us),
      );
      const heldStats = apeStats(
        heldOut.map(pred),
        heldOut.map((r) => r.us),
      );
      (allreduce['nccl'] ??= {})[String(p)] = {
        latencyUs: round(fit.latencyUs),
        bandwidth: roundCurve(fit.bandwidth),
        source: `${rel(netFile)} (NCCL all_reduce, ${p} GPUs in one node, median)`,
        train: trainStats,
        heldOut: heldStats,
      };
      summary.push({ curve: `allreduce.nccl.${p}`, source: rel(netFile), train: trainStats, heldOut: heldStats });
    }
  }

  const device = gemmT.rows[0]?.['device'] ?? '';
  const sources: EfficiencyFile['sources'] = [];
  const aicUsed = used.filter((u) => u.src === 'aic');
  sources.push({
    name: `AIConfigurator vLLM 0.14.0 microbenchmarks (${device})`,
    dataset: AIC_DATASET,
    commit: datasetCommit(opts.dataRoot, AIC_DATASET),
    files: aicUsed.map((u) => ({ path: rel(u.t.file), sha256: u.t.sha256, rows: u.t.rows.length })),
  });
  const vUsed = used.filter((u) => u.src === 'vidur');
  if (vUsed.length)
    sources.push({
      name: `Vidur per-op and NCCL all-reduce profiles (${vGpu})`,
      dataset: VIDUR_DATASET,
      commit: datasetCommit(opts.dataRoot, VIDUR_DATASET),
      files: vUsed.map((u) => ({ path: rel(u.t.file), sha256: u.t.sha256, rows: u.t.rows.length })),
    });

  const file: EfficiencyFile = {
    stepfitEfficiency: 1,
    gpu: gpu.id,
    peaks: { bf16Tflops: gpu.fp16DenseTflops, fp8Tflops: gpu.fp8DenseTflops, memTBs: gpu.memBandwidthTBs, linkGBsPerDirection: linkGBs },
    sources,
    heldOutRule: HELD_OUT_RULE,
    ops,
    allreduce,
    createdAt: opts.createdAt ?? new Date().toISOString(),
    commandLine: opts.commandLine ?? '',
  };
  return { file, summary };
}
