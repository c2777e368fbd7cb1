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
import { buildGemmTable, gemmTableUs, onGrid, GEMM_TABLE_DTYPES, type GemmSample } from './gemm-table.js';
import {
  readCsv,
  aicGemmRows,
  aicGemmSamples,
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

/** What a calibration run accumulates: the tables read, the fitted curves and their error rows. */
interface Calibration {
  readonly gpu: GpuSpec;
  readonly def: ReturnType<typeof defaultTables>;
  /** Memory bytes/µs and intra-node link bytes/µs per direction. */
  readonly bw: number;
  readonly link: number;
  readonly rel: (f: string) => string;
  readonly used: { src: 'aic' | 'vidur'; t: CsvTable }[];
  readonly ops: EfficiencyFile['ops'];
  readonly allreduce: EfficiencyFile['allreduce'];
  readonly gemmShapes: NonNullable<EfficiencyFile['gemmShapes']>;
  readonly summary: CalibrationSummaryRow[];
}

export const GEMM_SHAPE_RULE =
  'grid: the measured sizes of m, n and k that are 2^j or 3·2^j, and the largest of each; times in µs (4 significant digits), ' +
  'log-trilinear interpolation; held out: every measured shape with a size off the grid (e.g. n or k 2560, 3584, 5120, 7168, 10240), predicted by interpolation';

/**
 * Shape-aware GEMM tables (bf16, fp8, fp8_block) from the same AIConfigurator table: the grid rows
 * (GEMM_SHAPE_RULE) make the table, the off-grid rows are its held-out check; `heldOutCurve` is the
 * 1-D curve's error on those rows (fp8_block: the fp8 curve, which the engine used for it before).
 */
function calibrateGemmShapes(st: Calibration, gemmT: CsvTable, file: string): void {
  const samples = aicGemmSamples(gemmT);
  for (const dt of GEMM_TABLE_DTYPES) {
    const rows = samples[dt];
    const fp8 = dt !== 'bf16';
    const curves = st.ops[fp8 ? 'gemm.fp8' : 'gemm.bf16'];
    if (rows.length < 10 || !curves) continue;
    const table = buildGemmTable(rows);
    if (!table) continue;
    const tb = { m: [...table.m], n: [...table.n], k: [...table.k], us: table.us.map((v) => round(v, 4)) };
    const max = (f: (r: GemmSample) => number): number => Math.max(...rows.map(f));
    const mx = [max((r) => r.m), max((r) => r.n), max((r) => r.k)];
    const held = rows.filter((r) => [r.m, r.n, r.k].some((v, i) => !onGrid(v) && v !== mx[i]));
    const meas = held.map((r) => r.us);
    const peak = fp8 ? classPeakPerUs('gemm.fp8', st.gpu) : st.gpu.fp16DenseTflops * 1e6;
    const b = fp8 ? 1 : 2;
    const curvePred = held.map((r) => predictRow({ flops: 2 * r.m * r.n * r.k, bytes: r.m * r.k * b + r.k * r.n * b + r.m * r.n * 2 }, peak, st.bw, curves));
    const heldOut = apeStats(
      held.map((r) => gemmTableUs(tb, r.m, r.n, r.k)),
      meas,
    );
    const heldOutCurve = apeStats(curvePred, meas);
    const source = `${st.rel(file)} (gemm_dtype ${dt === 'bf16' ? 'bfloat16' : dt})`;
    st.gemmShapes[dt] = { ...tb, source, heldOutRule: GEMM_SHAPE_RULE, heldOut, heldOutCurve };
    const grid = rows.filter((r) => !held.includes(r));
    const train = apeStats(
      grid.map((r) => gemmTableUs(tb, r.m, r.n, r.k)),
      grid.map((r) => r.us),
    );
    st.summary.push({ curve: `gemm_shapes.${dt}`, source, train, heldOut }, { curve: `  1-D curve on the same held-out rows`, source, train: apeStats([], []), heldOut: heldOutCurve });
  }
}

/** Fit one kernel class's roofline curves on the training rows; record the held-out error. Classes with < 10 rows are skipped. */
function fitKernelClass(st: Calibration, name: string, rows: KernelRow[], cols: string[], peak: number, source: string, perItem = false): void {
  if (rows.length < 10) return;
  const { train, heldOut } = splitHeldOut(rows, cols);
  const prior = st.def.ops[name as keyof typeof st.def.ops];
  const fit = fitRooflineCurves(train, peak, st.bw, prior, { perItem });
  const trainStats = apeStats(
    fit.predicted,
    train.map((r) => r.us),
  );
  const heldStats = apeStats(
    heldOut.map((r) => predictRow(r, peak, st.bw, fit.curves)),
    heldOut.map((r) => r.us),
  );
  st.ops[name] = { compute: roundCurve(fit.curves.compute), memory: roundCurve(fit.curves.memory), perItemUs: round(fit.curves.perItemUs ?? 0), source, train: trainStats, heldOut: heldStats };
  st.summary.push({ curve: name, source, train: trainStats, heldOut: heldStats });
}

/** GEMM (bf16, fp8) and context / generation attention (bf16 KV, fp8 KV) from AIConfigurator. Returns the GEMM table (its device name). */
function calibrateKernels(st: Calibration, files: ReturnType<typeof aicFiles>): CsvTable {
  const { gpu, rel } = st;
  const bf16 = gpu.fp16DenseTflops * 1e6;
  const fp8 = gpu.fp8DenseTflops ? gpu.fp8DenseTflops * 1e6 : null;
  const gemmT = readCsv(files.gemm, ['gemm_dtype', 'm', 'n', 'k', 'latency']);
  st.used.push({ src: 'aic', t: gemmT });
  const gemm = aicGemmRows(gemmT);
  fitKernelClass(st, 'gemm.bf16', gemm.bf16, ['m', 'n'], bf16, `${rel(files.gemm)} (gemm_dtype bfloat16)`);
  if (fp8 && gemm.fp8.length) fitKernelClass(st, 'gemm.fp8', gemm.fp8, ['m', 'n'], fp8, `${rel(files.gemm)} (gemm_dtype fp8)`);
  const attnCols = ['batch_size', 'isl', 'num_heads', 'num_key_value_heads', 'head_dim', 'kv_cache_dtype', 'step', 'latency'];
  const ctxT = readCsv(files.context, attnCols);
  st.used.push({ src: 'aic', t: ctxT });
  const ctx = aicContextRows(ctxT);
  fitKernelClass(st, 'attn_prefill.bf16', ctx.bf16, ['isl', 'bs'], bf16, `${rel(files.context)} (kv_cache_dtype bfloat16)`, true);
  fitKernelClass(st, 'attn_prefill.fp8kv', ctx.fp8kv, ['isl', 'bs'], classPeakPerUs('attn_prefill.fp8kv', gpu), `${rel(files.context)} (kv_cache_dtype fp8)`, true);
  const genT = readCsv(files.generation, attnCols);
  st.used.push({ src: 'aic', t: genT });
  const gen = aicGenerationRows(genT);
  fitKernelClass(st, 'attn_decode.bf16', gen.bf16, ['ctx', 'bs'], bf16, `${rel(files.generation)} (kv_cache_dtype bfloat16)`, true);
  fitKernelClass(st, 'attn_decode.fp8kv', gen.fp8kv, ['ctx', 'bs'], classPeakPerUs('attn_decode.fp8kv', gpu), `${rel(files.generation)} (kv_cache_dtype fp8)`, true);
  return gemmT;
}

/** The elementwise curve (norms, rotary, activation) from Vidur's per-op profiles, when the GPU has them. */
function calibrateElementwise(st: Calibration, dataRoot: string, vGpu: string): void {
  const vFiles = vGpu ? vidurFiles(dataRoot, vGpu) : [];
  if (!vFiles.length) return;
  const rows: KernelRow[] = [];
  for (const f of vFiles) {
    const t = readCsv(f, ['num_tokens', 'num_tensor_parallel_workers', 'n_head', 'n_kv_head', 'n_embd', 'n_expanded_embd', 'use_gated_mlp']);
    st.used.push({ src: 'vidur', t });
    for (const r of vidurRows(t)) {
      const bytes = vidurElementwiseBytes(r);
      if (bytes !== null && r.us > 0) rows.push({ flops: 0, bytes, us: r.us, key: { tokens: r.tokens } });
    }
  }
  fitKernelClass(st, 'elementwise', rows, ['tokens'], st.gpu.fp16DenseTflops * 1e6, `${vFiles.map(st.rel).join(', ')} (norms, rotary, activation; median)`);
}

type CollectiveRow = { trafficBytes: number; messageBytes: number; us: number; key: Record<string, number> };

/** Fit one all-reduce curve (mode, GPU count) on the training rows; < 5 rows: skipped. */
function fitAllReduce(st: Calibration, mode: string, p: number, rows: CollectiveRow[], source: string, summarySource: string): void {
  if (rows.length < 5) return;
  const prior = saturatingCurve(DEFAULTS.allreduce.bandwidthEff, 2, st.link, 2 ** 7, 2 ** 30);
  const { train, heldOut } = splitHeldOut(rows, ['messageBytes']);
  const fit = fitCollective(train, st.link, prior);
  const pred = (r: CollectiveRow): number => fit.latencyUs + r.trafficBytes / (st.link * curveEff(fit.bandwidth, r.messageBytes));
  const trainStats = apeStats(
    train.map(pred),
    train.map((r) => r.us),
  );
  const heldStats = apeStats(
    heldOut.map(pred),
    heldOut.map((r) => r.us),
  );
  (st.allreduce[mode] ??= {})[String(p)] = { latencyUs: round(fit.latencyUs), bandwidth: roundCurve(fit.bandwidth), source, train: trainStats, heldOut: heldStats };
  st.summary.push({ curve: `allreduce.${mode}.${p}`, source: summarySource, train: trainStats, heldOut: heldStats });
}

/** vLLM custom all-reduce (CUDA graph, eager) per GPU count from AIConfigurator; plain NCCL within one node from Vidur's network profile. */
function calibrateAllReduce(st: Calibration, file: string, dataRoot: string, vGpu: string): void {
  const arT = readCsv(file, ['num_gpus', 'message_size', 'latency', 'backend']);
  st.used.push({ src: 'aic', t: arT });
  const ar = aicAllReduceRows(arT);
  const sorted = (ps: number[]): number[] => [...new Set(ps)].sort((a, b) => a - b);
  for (const mode of ['graph', 'eager'] as const) {
    for (const p of sorted(ar.filter((r) => r.mode === mode).map((r) => r.p))) {
      const rows = ar.filter((r) => r.mode === mode && r.p === p).map((r) => ({ ...r, key: { messageBytes: r.messageBytes } }));
      fitAllReduce(st, mode, p, rows, `${st.rel(file)} (backend vllm_${mode}, num_gpus ${p})`, `${st.rel(file)}`);
    }
  }
  const netFile = vGpu ? vidurNetworkFile(dataRoot, vGpu) : null;
  if (!netFile) return;
  const t = readCsv(netFile, ['num_workers', 'devices_per_node', 'size', 'time_stats.all_reduce.median']);
  st.used.push({ src: 'vidur', t });
  const rowsAll = vidurAllReduceRows(t).filter((r) => r.p === r.perNode);
  for (const p of sorted(rowsAll.map((r) => r.p))) {
    const rows = rowsAll.filter((r) => r.p === p).map((r) => ({ ...r, key: { messageBytes: r.messageBytes } }));
    fitAllReduce(st, 'nccl', p, rows, `${st.rel(netFile)} (NCCL all_reduce, ${p} GPUs in one node, median)`, st.rel(netFile));
  }
}

/** The provenance of the tables read: dataset, commit, files with hashes and row counts. */
function sourcesOf(st: Calibration, dataRoot: string, device: string, vGpu: string): EfficiencyFile['sources'] {
  const files = (src: 'aic' | 'vidur') => st.used.filter((u) => u.src === src).map((u) => ({ path: st.rel(u.t.file), sha256: u.t.sha256, rows: u.t.rows.length }));
  const sources: EfficiencyFile['sources'] = [
    { name: `AIConfigurator vLLM 0.14.0 microbenchmarks (${device})`, dataset: AIC_DATASET, commit: datasetCommit(dataRoot, AIC_DATASET), files: files('aic') },
  ];
  const vidur = files('vidur');
  if (vidur.length) sources.push({ name: `Vidur per-op and NCCL all-reduce profiles (${vGpu})`, dataset: VIDUR_DATASET, commit: datasetCommit(dataRoot, VIDUR_DATASET), files: vidur });
  return sources;
}

/** The efficiency file as JSON text (one value per line, except the long number arrays of the GEMM tables: one line each). */
export function efficiencyFileText(file: EfficiencyFile): string {
  return `${JSON.stringify(file, null, 1).replace(/\[\n[\d.e+\-\s,]{2000,}\]/g, (a) => `[${a.slice(1, -1).replace(/\s+/g, '')}]`)}\n`;
}

/** Calibrate all curves for `gpu` from the tables under `opts.dataRoot`. Pure apart from reading the inputs. */
export function calibrate(gpu: GpuSpec, opts: CalibrateOptions): { file: EfficiencyFile; summary: CalibrationSummaryRow[] } {
  const aicGpu = opts.aicGpu ?? AIC_GPU[gpu.id];
  if (!aicGpu) throw new InputError(`no AIConfigurator system folder is known for GPU '${gpu.id}' (known: ${Object.keys(AIC_GPU).join(', ')}); pass --aic-gpu <folder>`);
  const files = aicFiles(opts.dataRoot, aicGpu);
  for (const f of Object.values(files)) if (!fs.existsSync(f)) throw new InputError(`${f}: file not found (is --data the shared data root holding ${AIC_DATASET}/?)`);
  const linkGBs = linkGBsPerDirection(gpu);
  const st: Calibration = {
    gpu,
    def: defaultTables(gpu),
    bw: gpu.memBandwidthTBs * 1e6,
    link: linkGBs * 1e3,
    rel: (f) => path.relative(opts.dataRoot, f),
    used: [],
    ops: {},
    allreduce: {},
    gemmShapes: {},
    summary: [],
  };
  const vGpu = opts.vidurGpu ?? VIDUR_GPU[gpu.id] ?? '';
  const gemmT = calibrateKernels(st, files);
  calibrateGemmShapes(st, gemmT, files.gemm);
  calibrateElementwise(st, opts.dataRoot, vGpu);
  calibrateAllReduce(st, files.allreduce, opts.dataRoot, vGpu);
  const file: EfficiencyFile = {
    stepfitEfficiency: 2,
    gpu: gpu.id,
    peaks: { bf16Tflops: gpu.fp16DenseTflops, fp8Tflops: gpu.fp8DenseTflops, memTBs: gpu.memBandwidthTBs, linkGBsPerDirection: linkGBs },
    sources: sourcesOf(st, opts.dataRoot, gemmT.rows[0]?.['device'] ?? '', vGpu),
    heldOutRule: HELD_OUT_RULE,
    ops: st.ops,
    allreduce: st.allreduce,
    ...(Object.keys(st.gemmShapes).length ? { gemmShapes: st.gemmShapes } : {}),
    createdAt: opts.createdAt ?? new Date().toISOString(),
    commandLine: opts.commandLine ?? '',
  };
  return { file, summary: st.summary };
}
