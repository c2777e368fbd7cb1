/**
 * Size-dependent efficiency curves (Calculon-style): the fraction of a GPU's peak FLOPS or
 * peak memory bandwidth an operation of a given size achieves.
 *
 * A curve is a table of knots (size, efficiency), size in FLOPs (compute curves) or bytes
 * (memory curves). Between knots log(eff) is interpolated linearly in log(size) (a power law
 * per segment). Outside the table:
 * - below the first knot the *time* is held constant: eff(x) = eff₀·x/x₀ (a kernel never runs
 *   faster than the smallest measured one of its class: launch and ramp-up floor);
 * - above the last knot the efficiency is held constant: eff(x) = effₙ.
 *
 * Tables are per GPU (configs/efficiency/<gpu>.json, written by `stepfit engine calibrate`).
 * GPUs without a calibrated file use the documented default curves (`defaultTables`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { CONFIGS_DIR } from '../io/paths.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { GEMM_TABLE_DTYPES, type GemmTable, type GemmTableDtype } from './gemm-table.js';

export interface Curve {
  /** Knot sizes, strictly increasing, > 0. */
  readonly x: readonly number[];
  /** Efficiency at each knot, in (0, 1]. */
  readonly eff: readonly number[];
}

/** A roofline operator class: compute curve (size = FLOPs) and memory curve (size = bytes). */
export interface RooflineCurves {
  readonly compute: Curve;
  readonly memory: Curve;
  /** Extra µs per item (per sequence, attention kernels): t = max(…) + items·perItemUs. Default 0. */
  readonly perItemUs?: number;
}

/** Collective curve for one group size p: time = latencyUs + traffic/(link·eff(messageBytes)). */
export interface CollectiveCurve {
  /** Fixed per-call latency in µs. */
  readonly latencyUs: number;
  /** Bandwidth efficiency vs message size in bytes (the message, not the traffic). */
  readonly bandwidth: Curve;
}

/**
 * Operator classes with curves:
 * - `gemm.bf16`, `gemm.fp8`: dense GEMMs (FP16/BF16 or FP8 tensor cores);
 * - `attn_prefill.bf16`, `attn_prefill.fp8kv`: causal flash attention over new tokens (and prior KV);
 * - `attn_decode.bf16`, `attn_decode.fp8kv`: paged decode attention (one query token per sequence);
 * - `elementwise`: norms, activations, rotary, residual adds, KV-cache writes, embedding gathers.
 */
export type OpClass = 'gemm.bf16' | 'gemm.fp8' | 'attn_prefill.bf16' | 'attn_prefill.fp8kv' | 'attn_decode.bf16' | 'attn_decode.fp8kv' | 'elementwise';
export const OP_CLASSES: readonly OpClass[] = ['gemm.bf16', 'gemm.fp8', 'attn_prefill.bf16', 'attn_prefill.fp8kv', 'attn_decode.bf16', 'attn_decode.fp8kv', 'elementwise'];

/**
 * All-reduce implementations with curves: vLLM's custom all-reduce inside CUDA graphs (`graph`, the
 * default) and outside them (`eager`), both from AIConfigurator; plain NCCL through
 * torch.distributed (`nccl`, from Vidur's profiles; what 2023-era vLLM used).
 */
export type AllReduceMode = 'graph' | 'eager' | 'nccl';
export const ALLREDUCE_MODES: readonly AllReduceMode[] = ['graph', 'eager', 'nccl'];

export interface EfficiencyTables {
  /** Where the tables came from: 'default' or the calibrated file path. */
  readonly origin: string;
  readonly gpu: string;
  readonly ops: Readonly<Record<OpClass, RooflineCurves>>;
  /** Measured all-reduce curves over the scale-up link, per mode, keyed by group size ('2', '4', '8'); groups without one use the formula. */
  readonly allreduce: Readonly<Record<AllReduceMode, Readonly<Record<string, CollectiveCurve>>>>;
  /** Which op classes / all-reduce groups were calibrated from measurements (the rest are defaults). */
  readonly calibrated: readonly string[];
  /** Shape-aware GEMM tables per GEMM dtype (analytic/gemm-table.ts); dtypes without one use the 1-D `gemm.*` curves. */
  readonly gemm?: Readonly<Partial<Record<GemmTableDtype, GemmTable>>>;
}

/**
 * Evaluate a curve at size x > 0 (log-eff linear in log-size between knots; time floor below the
 * first knot; constant efficiency above the last).
 */
export function curveEff(c: Curve, x: number): number {
  const n = c.x.length;
  if (n === 0) return 1;
  const x0 = c.x[0]!;
  if (!(x > 0)) return c.eff[0]!;
  if (x <= x0) return c.eff[0]! * (x / x0);
  if (x >= c.x[n - 1]!) return c.eff[n - 1]!;
  // binary search for segment
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (c.x[mid]! <= x) lo = mid;
    else hi = mid;
  }
  const xa = c.x[lo]!;
  const xb = c.x[hi]!;
  const t = (Math.log(x) - Math.log(xa)) / (Math.log(xb) - Math.log(xa));
  return Math.exp((1 - t) * Math.log(c.eff[lo]!) + t * Math.log(c.eff[hi]!));
}

/**
 * The saturating default curve: time = t₀ + x/(effMax·peak), i.e.
 * eff(x) = effMax · x / (x + effMax·peak·t₀), tabulated at powers of 2 from `lo` to `hi`.
 * `peakPerUs` is the peak rate in units of x per µs.
 */
export function saturatingCurve(effMax: number, t0Us: number, peakPerUs: number, lo: number, hi: number): Curve {
  const x: number[] = [];
  const eff: number[] = [];
  const half = effMax * peakPerUs * t0Us;
  for (let e = Math.floor(Math.log2(lo)); e <= Math.ceil(Math.log2(hi)); e++) {
    const s = 2 ** e;
    x.push(s);
    eff.push((effMax * s) / (s + half));
  }
  return { x, eff };
}

/**
 * Documented default curves (used for GPUs without a calibrated file, and as the "uncalibrated"
 * engine). Each is `saturatingCurve`: time = t₀ + size/(effMax·peak):
 * - GEMM compute: effMax 0.70, t₀ 4 µs; GEMM memory: effMax 0.80, t₀ 4 µs;
 * - attention (prefill and decode) compute: effMax 0.50, t₀ 6 µs; memory: effMax 0.70, t₀ 6 µs;
 * - elementwise memory: effMax 0.70, t₀ 3 µs (compute effMax 0.5, rarely binds);
 * - all-reduce (no calibrated curve for the group): per-call latency 6 µs (CUDA graph) / 20 µs
 *   (eager, NCCL) + 0.7 µs per hop (ring 2(p−1) hops, tree 2⌈log₂p⌉) + traffic (ring 2(p−1)/p·S,
 *   tree 2·S) at 0.70 of the per-direction link bandwidth (analytic/step.ts `allReduceCallUs`).
 * The numbers are typical of published microbenchmarks (cuBLAS ~70% of peak on large BF16 GEMMs,
 * ~80% of HBM bandwidth on streaming kernels, flash attention ~50% of peak), not fitted to any table here.
 */
export const DEFAULTS = Object.freeze({
  gemm: { computeEff: 0.7, memoryEff: 0.8, t0Us: 4 },
  attention: { computeEff: 0.5, memoryEff: 0.7, t0Us: 6 },
  elementwise: { computeEff: 0.5, memoryEff: 0.7, t0Us: 3 },
  allreduce: { graphLatencyUs: 6, eagerLatencyUs: 20, hopLatencyUs: 0.7, bandwidthEff: 0.7 },
});

/** Peak rates of a GPU in units per µs (FLOPs/µs per dtype class, bytes/µs). */
export function peaksPerUs(gpu: GpuSpec): { bf16: number; fp8: number | null; fp4: number | null; mem: number; link: number } {
  return {
    bf16: gpu.fp16DenseTflops * 1e6,
    fp8: gpu.fp8DenseTflops ? gpu.fp8DenseTflops * 1e6 : null,
    fp4: gpu.fp4DenseTflops ? gpu.fp4DenseTflops * 1e6 : null,
    mem: gpu.memBandwidthTBs * 1e6,
    link: linkGBsPerDirection(gpu) * 1e3,
  };
}

/**
 * Peak FLOPs/µs a class's compute efficiencies are relative to: FP8 tensor-core peak for `gemm.fp8`
 * and for the FP8-KV attention classes on GPUs with FP8 (FP8 attention runs on FP8 tensor cores,
 * e.g. L40S prefill with FP8 KV is ~3× faster than BF16), else the BF16 peak.
 */
export function classPeakPerUs(cls: OpClass, gpu: GpuSpec): number {
  const fp8 = gpu.fp8DenseTflops ? gpu.fp8DenseTflops * 1e6 : null;
  if (fp8 && (cls === 'gemm.fp8' || cls.endsWith('.fp8kv'))) return fp8;
  return gpu.fp16DenseTflops * 1e6;
}

/** Per-direction scale-up link bandwidth in GB/s: NVLink figures are bidirectional totals (halved); PCIe figures are per direction. */
export function linkGBsPerDirection(gpu: GpuSpec): number {
  return gpu.scaleUpKind.startsWith('pcie') ? gpu.pcieGBs : gpu.scaleUpGBs / 2;
}

/** Default tables for a GPU (documented in `DEFAULTS`). */
export function defaultTables(gpu: GpuSpec): EfficiencyTables {
  const p = peaksPerUs(gpu);
  const mk = (d: { computeEff: number; memoryEff: number; t0Us: number }, cls: OpClass): RooflineCurves => ({
    compute: saturatingCurve(d.computeEff, d.t0Us, classPeakPerUs(cls, gpu), 2 ** 10, 2 ** 50),
    memory: saturatingCurve(d.memoryEff, d.t0Us, p.mem, 2 ** 7, 2 ** 40),
    perItemUs: 0,
  });
  return {
    origin: 'default',
    gpu: gpu.id,
    ops: {
      'gemm.bf16': mk(DEFAULTS.gemm, 'gemm.bf16'),
      'gemm.fp8': mk(DEFAULTS.gemm, 'gemm.fp8'),
      'attn_prefill.bf16': mk(DEFAULTS.attention, 'attn_prefill.bf16'),
      'attn_prefill.fp8kv': mk(DEFAULTS.attention, 'attn_prefill.fp8kv'),
      'attn_decode.bf16': mk(DEFAULTS.attention, 'attn_decode.bf16'),
      'attn_decode.fp8kv': mk(DEFAULTS.attention, 'attn_decode.fp8kv'),
      elementwise: mk(DEFAULTS.elementwise, 'elementwise'),
    },
    // no measured curves: all-reduce uses the formula (analytic/step.ts `allReduceCallUs`)
    allreduce: { graph: {}, eager: {}, nccl: {} },
    calibrated: [],
  };
}

// ---------- the calibrated file (configs/efficiency/<gpu>.json) ----------

const CurveSchema = z
  .object({
    x: z.array(z.number().positive()).min(1),
    eff: z.array(z.number().positive().max(1)).min(1),
  })
  .refine((c) => c.x.length === c.eff.length, { message: "'x' and 'eff' must have the same length" })
  .refine((c) => c.x.every((v, i) => i === 0 || v > c.x[i - 1]!), { message: "'x' must be strictly increasing" });

const ErrorStats = z.object({ n: z.number().int().nonnegative(), mape: z.number().nullable(), medianApe: z.number().nullable(), p90Ape: z.number().nullable() });
export type ErrorStats = z.infer<typeof ErrorStats>;

const OpEntry = z.object({
  compute: CurveSchema,
  memory: CurveSchema,
  perItemUs: z.number().nonnegative().default(0),
  /** Measurement rows used; held-out rows excluded. */
  source: z.string(),
  train: ErrorStats,
  heldOut: ErrorStats,
});

const CollEntry = z.object({
  latencyUs: z.number().nonnegative(),
  bandwidth: CurveSchema,
  source: z.string(),
  train: ErrorStats,
  heldOut: ErrorStats,
});

/**
 * A measured GEMM latency table over (m, n, k) (analytic/gemm-table.ts): the grid and the times in
 * µs, m-major (`us[(i·|n| + j)·|k| + l]`); `heldOut` is the error on the measured shapes off the grid
 * (interpolated), `heldOutCurve` the 1-D curve's error on the same rows.
 */
const GemmShapeEntry = z
  .object({
    m: z.array(z.number().positive()).min(2),
    n: z.array(z.number().positive()).min(2),
    k: z.array(z.number().positive()).min(2),
    us: z.array(z.number().positive()),
    source: z.string(),
    heldOutRule: z.string(),
    heldOut: ErrorStats,
    heldOutCurve: ErrorStats,
  })
  .refine((g) => g.us.length === g.m.length * g.n.length * g.k.length, { message: "'us' must hold |m|·|n|·|k| times" })
  .refine((g) => [g.m, g.n, g.k].every((a) => a.every((v, i) => i === 0 || v > a[i - 1]!)), { message: "'m', 'n' and 'k' must be strictly increasing" });

/**
 * The calibrated file. Version 1: curves only; version 2 adds the optional `gemmShapes` tables
 * (readers of version 2 read version 1 files unchanged: no tables, 1-D GEMM curves).
 */
export const EfficiencyFile = z.object({
  stepfitEfficiency: z.union([z.literal(1), z.literal(2)]),
  gpu: z.string(),
  /** Peaks the efficiencies are relative to (from the datasheet at calibration time). */
  peaks: z.object({ bf16Tflops: z.number(), fp8Tflops: z.number().nullable(), memTBs: z.number(), linkGBsPerDirection: z.number() }),
  sources: z.array(z.object({ name: z.string(), dataset: z.string(), commit: z.string().nullable(), files: z.array(z.object({ path: z.string(), sha256: z.string(), rows: z.number().int() })) })),
  heldOutRule: z.string(),
  ops: z.record(z.string(), OpEntry),
  allreduce: z.record(z.string(), z.record(z.string(), CollEntry)),
  gemmShapes: z.record(z.string(), GemmShapeEntry).optional(),
  createdAt: z.string(),
  commandLine: z.string(),
});
export type EfficiencyFile = z.infer<typeof EfficiencyFile>;

export const EFFICIENCY_DIR = path.join(CONFIGS_DIR, 'efficiency');

export function efficiencyFilePath(gpuId: string): string {
  return path.join(EFFICIENCY_DIR, `${gpuId}.json`);
}

/** Read and validate an efficiency file. */
export function readEfficiencyFile(file: string): EfficiencyFile {
  if (!fs.existsSync(file)) throw new InputError(`efficiency file '${file}' not found`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${jsonErrorDetail(e)})`);
  }
  const r = EfficiencyFile.safeParse(json);
  if (!r.success) {
    const iss = r.error.issues[0]!;
    throw new InputError(`${file}: not a stepfit efficiency file: field '${iss.path.join('.')}': ${iss.message}`);
  }
  return r.data;
}

/**
 * Tables from a calibrated file, rescaled to `gpu`'s peaks when they differ from the file's
 * (efficiency × file peak / datasheet peak keeps calibrated *times* unchanged). Op classes and
 * all-reduce groups the file lacks fall back to the defaults.
 */
export function tablesFromFile(f: EfficiencyFile, gpu: GpuSpec, origin: string): EfficiencyTables {
  const def = defaultTables(gpu);
  // fresh {x, eff} objects of one shape (monomorphic property access in the hot path)
  const rescale = (c: Curve, ratio: number): Curve => ({ x: c.x.slice(), eff: c.eff.map((e) => e * ratio) });
  const ops: Record<string, RooflineCurves> = { ...def.ops };
  const calibrated: string[] = [];
  for (const [name, e] of Object.entries(f.ops)) {
    if (!(OP_CLASSES as readonly string[]).includes(name)) continue;
    const fp8Class = name === 'gemm.fp8' || name.endsWith('.fp8kv');
    const filePeak = fp8Class && f.peaks.fp8Tflops ? f.peaks.fp8Tflops : f.peaks.bf16Tflops;
    const gpuPeak = classPeakPerUs(name as OpClass, gpu) / 1e6;
    ops[name] = { compute: rescale(e.compute, filePeak / gpuPeak), memory: rescale(e.memory, f.peaks.memTBs / gpu.memBandwidthTBs), perItemUs: e.perItemUs };
    calibrated.push(name);
  }
  const allreduce: Record<string, Record<string, CollectiveCurve>> = { graph: { ...def.allreduce.graph }, eager: { ...def.allreduce.eager }, nccl: { ...def.allreduce.nccl } };
  const linkRatio = f.peaks.linkGBsPerDirection / linkGBsPerDirection(gpu);
  for (const [mode, groups] of Object.entries(f.allreduce)) {
    if (!(ALLREDUCE_MODES as readonly string[]).includes(mode)) continue;
    for (const [g, e] of Object.entries(groups)) {
      allreduce[mode]![g] = { latencyUs: e.latencyUs, bandwidth: rescale(e.bandwidth, linkRatio) };
      calibrated.push(`allreduce.${mode}.${g}`);
    }
  }
  // GEMM tables hold times (µs), not efficiencies: nothing to rescale
  const gemm: Partial<Record<GemmTableDtype, GemmTable>> = {};
  for (const [dt, g] of Object.entries(f.gemmShapes ?? {})) {
    if (!(GEMM_TABLE_DTYPES as readonly string[]).includes(dt)) continue;
    gemm[dt as GemmTableDtype] = { m: g.m, n: g.n, k: g.k, us: g.us };
    calibrated.push(`gemm_shapes.${dt}`);
  }
  return { origin, gpu: gpu.id, ops: ops as Record<OpClass, RooflineCurves>, allreduce: allreduce as Record<AllReduceMode, Record<string, CollectiveCurve>>, calibrated, gemm };
}

/**
 * Efficiency tables for a GPU:
 * - `'auto'`: configs/efficiency/<gpu.id>.json when it exists, else the defaults;
 * - `'default'`: the documented defaults;
 * - a path: that calibrated file (applied to this GPU's peaks).
 */
export function loadEfficiency(gpu: GpuSpec, which: string = 'auto'): EfficiencyTables {
  if (which === 'default') return defaultTables(gpu);
  if (which === 'auto') {
    const f = efficiencyFilePath(gpu.id);
    if (!fs.existsSync(f)) return defaultTables(gpu);
    return tablesFromFile(readEfficiencyFile(f), gpu, f);
  }
  return tablesFromFile(readEfficiencyFile(which), gpu, which);
}
