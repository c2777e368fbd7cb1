/**
 * Readers for per-operator microbenchmark tables (read-only inputs from ../shared/data):
 * - AIConfigurator (vLLM 0.14.0 lane), times in ms:
 *   gemm_perf.csv, context_attention_perf.csv, generation_attention_perf.csv, custom_allreduce_perf.csv
 * - Vidur per-op profiles `mlp.csv`, times in ms (columns time_stats.<op>.median).
 * Every reader returns times in µs and the work (FLOPs, bytes) the engine assigns to the kernel.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { InputError } from '../io/errors.js';
import { prefillAttnWork, decodeAttnWork } from './work.js';
import { ringTrafficFactor } from './collectives.js';
import type { GemmSample, GemmTableDtype } from './gemm-table.js';

export interface CsvTable {
  readonly file: string;
  readonly rows: Record<string, string>[];
  readonly sha256: string;
}

/** Read a CSV with a header; check the named columns exist. */
export function readCsv(file: string, required: readonly string[]): CsvTable {
  if (!fs.existsSync(file)) throw new InputError(`${file}: file not found`);
  const buf = fs.readFileSync(file);
  let rows: Record<string, string>[];
  try {
    rows = parse(buf, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (e) {
    throw new InputError(`${file}: not a valid CSV (${(e as Error).message.split('\n')[0]})`);
  }
  const cols = rows.length ? Object.keys(rows[0]!) : [];
  for (const c of required) if (!cols.includes(c)) throw new InputError(`${file}: missing column '${c}' (have: ${cols.join(', ')})`);
  return { file, rows, sha256: createHash('sha256').update(buf).digest('hex') };
}

/** Parse a numeric cell; errors name file, line (header = line 1) and column. */
export function num(t: CsvTable, i: number, col: string, positive = true): number {
  const s = t.rows[i]![col];
  const v = Number(s);
  if (s === undefined || s === '' || !Number.isFinite(v) || (positive && v <= 0)) {
    throw new InputError(`${t.file}:${i + 2}: field '${col}': expected a ${positive ? 'positive ' : ''}number, got '${s ?? ''}'`);
  }
  return v;
}

export interface KernelRow {
  readonly flops: number;
  readonly bytes: number;
  readonly us: number;
  readonly items?: number;
  readonly key: Record<string, number | string>;
}

export type GemmDtype = 'bf16' | 'fp8';

/**
 * AIConfigurator GEMM rows: C[m×n] = A[m×k]·B[k×n]; FLOPs 2mnk; bytes (m·k·a + k·n·w + m·n·2),
 * a = w = 2 (bfloat16) or 1 (fp8, output bf16). `fp8_block` rows are skipped.
 */
export function aicGemmRows(t: CsvTable): Record<GemmDtype, KernelRow[]> {
  const out: Record<GemmDtype, KernelRow[]> = { bf16: [], fp8: [] };
  for (let i = 0; i < t.rows.length; i++) {
    const dt = t.rows[i]!['gemm_dtype'];
    const dtype: GemmDtype | null = dt === 'bfloat16' || dt === 'float16' ? 'bf16' : dt === 'fp8' ? 'fp8' : null;
    if (!dtype) continue;
    const m = num(t, i, 'm');
    const n = num(t, i, 'n');
    const k = num(t, i, 'k');
    const b = dtype === 'fp8' ? 1 : 2;
    out[dtype].push({ flops: 2 * m * n * k, bytes: m * k * b + k * n * b + m * n * 2, us: num(t, i, 'latency') * 1000, key: { m, n, k } });
  }
  return out;
}

/** AIConfigurator GEMM rows as (m, n, k, µs) samples per GEMM dtype (bfloat16/float16 → bf16, fp8, fp8_block), for the shape tables. */
export function aicGemmSamples(t: CsvTable): Record<GemmTableDtype, GemmSample[]> {
  const out: Record<GemmTableDtype, GemmSample[]> = { bf16: [], fp8: [], fp8_block: [] };
  for (let i = 0; i < t.rows.length; i++) {
    const dt = t.rows[i]!['gemm_dtype'];
    const dtype: GemmTableDtype | null = dt === 'bfloat16' || dt === 'float16' ? 'bf16' : dt === 'fp8' || dt === 'fp8_block' ? dt : null;
    if (!dtype) continue;
    out[dtype].push({ m: num(t, i, 'm'), n: num(t, i, 'n'), k: num(t, i, 'k'), us: num(t, i, 'latency') * 1000 });
  }
  return out;
}

export type KvClass = 'bf16' | 'fp8kv';

/** AIConfigurator context (prefill) attention rows: batch_size sequences of isl new tokens, no prior context. */
export function aicContextRows(t: CsvTable): Record<KvClass, KernelRow[]> {
  const out: Record<KvClass, KernelRow[]> = { bf16: [], fp8kv: [] };
  for (let i = 0; i < t.rows.length; i++) {
    const kv = t.rows[i]!['kv_cache_dtype'] === 'fp8' ? 'fp8kv' : 'bf16';
    const bs = num(t, i, 'batch_size');
    const isl = num(t, i, 'isl');
    const H = num(t, i, 'num_heads');
    const kvH = num(t, i, 'num_key_value_heads');
    const dh = num(t, i, 'head_dim');
    const kvB = kv === 'fp8kv' ? 1 : 2;
    // bs identical sequences: the work is bs × the work of one
    const w = prefillAttnWork(H, dh, 2 * kvH * dh * kvB, 2, [{ tokens: isl, prior: 0 }], 0);
    out[kv].push({ flops: bs * w.flops, bytes: bs * w.bytes, us: num(t, i, 'latency') * 1000, items: bs, key: { bs, isl, H, kvH } });
  }
  return out;
}

/** AIConfigurator generation (decode) attention rows: batch_size sequences, one query each, KV context `step`. */
export function aicGenerationRows(t: CsvTable): Record<KvClass, KernelRow[]> {
  const out: Record<KvClass, KernelRow[]> = { bf16: [], fp8kv: [] };
  for (let i = 0; i < t.rows.length; i++) {
    const kv = t.rows[i]!['kv_cache_dtype'] === 'fp8' ? 'fp8kv' : 'bf16';
    const bs = num(t, i, 'batch_size');
    const ctx = num(t, i, 'step');
    const H = num(t, i, 'num_heads');
    const kvH = num(t, i, 'num_key_value_heads');
    const dh = num(t, i, 'head_dim');
    const kvB = kv === 'fp8kv' ? 1 : 2;
    const w = decodeAttnWork(H, dh, 2 * kvH * dh * kvB, 2, [ctx], 0);
    out[kv].push({ flops: bs * w.flops, bytes: bs * w.bytes, us: num(t, i, 'latency') * 1000, items: bs, key: { bs, ctx, H, kvH } });
  }
  return out;
}

export interface AllReduceRow {
  readonly mode: 'graph' | 'eager';
  readonly p: number;
  readonly messageBytes: number;
  readonly trafficBytes: number;
  readonly us: number;
}

/** AIConfigurator custom all-reduce rows (bfloat16), traffic = 2(p−1)/p·message. */
export function aicAllReduceRows(t: CsvTable): AllReduceRow[] {
  const out: AllReduceRow[] = [];
  for (let i = 0; i < t.rows.length; i++) {
    const backend = t.rows[i]!['backend'] ?? '';
    const mode = backend.includes('graph') ? 'graph' : backend.includes('eager') ? 'eager' : null;
    if (!mode) continue;
    const p = num(t, i, 'num_gpus');
    const S = num(t, i, 'message_size');
    out.push({ mode, p, messageBytes: S, trafficBytes: ringTrafficFactor(p) * S, us: num(t, i, 'latency') * 1000 });
  }
  return out;
}

/** Vidur NCCL all-reduce rows (all_reduce.csv, median ms → µs) within one node (num_workers = devices_per_node). */
export function vidurAllReduceRows(t: CsvTable): { p: number; perNode: number; messageBytes: number; trafficBytes: number; us: number }[] {
  const out: { p: number; perNode: number; messageBytes: number; trafficBytes: number; us: number }[] = [];
  for (let i = 0; i < t.rows.length; i++) {
    if ((t.rows[i]!['collective'] ?? 'all_reduce') !== 'all_reduce') continue;
    const p = num(t, i, 'num_workers');
    const perNode = num(t, i, 'devices_per_node');
    const S = num(t, i, 'size');
    out.push({ p, perNode, messageBytes: S, trafficBytes: ringTrafficFactor(p) * S, us: num(t, i, 'time_stats.all_reduce.median') * 1000 });
  }
  return out;
}

/** Vidur network profile file for a GPU folder (the DGX node profile), or null. */
export function vidurNetworkFile(dataRoot: string, vidurGpu: string): string | null {
  const f = path.join(dataRoot, VIDUR_DATASET, 'data', 'profiling', 'network', `${vidurGpu}_dgx`, 'all_reduce.csv');
  return fs.existsSync(f) ? f : null;
}

/** Vidur per-op rows from mlp.csv: op name, tokens, TP and the model dims, median µs. */
export interface VidurRow {
  readonly op: string;
  readonly tokens: number;
  readonly tp: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly d: number;
  readonly dff: number;
  readonly gated: boolean;
  readonly us: number;
}

export const VIDUR_OPS = ['input_layernorm', 'attn_pre_proj', 'attn_rope', 'attn_post_proj', 'post_attention_layernorm', 'mlp_up_proj', 'mlp_act', 'mlp_down_proj', 'add'] as const;

export function vidurRows(t: CsvTable): VidurRow[] {
  const out: VidurRow[] = [];
  for (let i = 0; i < t.rows.length; i++) {
    const r = t.rows[i]!;
    const base = {
      tokens: num(t, i, 'num_tokens'),
      tp: num(t, i, 'num_tensor_parallel_workers'),
      heads: num(t, i, 'n_head'),
      kvHeads: num(t, i, 'n_kv_head'),
      d: num(t, i, 'n_embd'),
      dff: num(t, i, 'n_expanded_embd'),
      gated: r['use_gated_mlp'] === 'True',
    };
    for (const op of VIDUR_OPS) {
      const col = `time_stats.${op}.median`;
      if (r[col] === undefined || r[col] === '') continue;
      out.push({ ...base, op, us: num(t, i, col) * 1000 });
    }
  }
  return out;
}

/** Vidur GEMM rows as (m, n, k): attn_pre_proj = QKV, attn_post_proj = O, mlp_up_proj = gate+up, mlp_down_proj = down. */
export function vidurGemmShape(r: VidurRow): { m: number; n: number; k: number } | null {
  const dh = r.d / r.heads;
  const H = r.heads / r.tp;
  const kvH = Math.max(1, Math.ceil(r.kvHeads / r.tp));
  switch (r.op) {
    case 'attn_pre_proj':
      return { m: r.tokens, n: (H + 2 * kvH) * dh, k: r.d };
    case 'attn_post_proj':
      return { m: r.tokens, n: r.d, k: H * dh };
    case 'mlp_up_proj':
      return { m: r.tokens, n: ((r.gated ? 2 : 1) * r.dff) / r.tp, k: r.d };
    case 'mlp_down_proj':
      return { m: r.tokens, n: r.d, k: r.dff / r.tp };
    default:
      return null;
  }
}

/**
 * Vidur elementwise ops as bytes moved (BF16): RMSNorm 2·T·d·2 (read x, write y); gated activation
 * 3·T·(d_ff/TP)·2 (plain: 2·…); rotary 2·T·(H+kvH)/TP·d_h·2 (read+write q, k). The residual `add`
 * is not used: vLLM fuses it into the norm (fused_add_rms_norm), and the engine has no separate add.
 */
export function vidurElementwiseBytes(r: VidurRow): number | null {
  const dh = r.d / r.heads;
  switch (r.op) {
    case 'input_layernorm':
    case 'post_attention_layernorm':
      return 2 * r.tokens * r.d * 2;
    case 'mlp_act':
      return (r.gated ? 3 : 2) * r.tokens * (r.dff / r.tp) * 2;
    case 'attn_rope':
      return 2 * r.tokens * (r.heads / r.tp + Math.max(1, Math.ceil(r.kvHeads / r.tp))) * dh * 2;
    default:
      return null;
  }
}

/** GPU id (configs/hardware) → AIConfigurator system folder and Vidur profile folder. */
export const AIC_GPU: Readonly<Record<string, string>> = { 'h100-sxm': 'h100_sxm', h200: 'h200_sxm', 'a100-sxm-80gb': 'a100_sxm', l40s: 'l40s' };
export const VIDUR_GPU: Readonly<Record<string, string>> = { 'h100-sxm': 'h100', 'a100-sxm-80gb': 'a100' };

export const AIC_DATASET = 'ai-dynamo__aiconfigurator';
export const VIDUR_DATASET = 'microsoft__vidur';
export const AIC_VERSION_DIR = path.join('vllm', '0.14.0');

export function aicDir(dataRoot: string, aicGpu: string): string {
  return path.join(dataRoot, AIC_DATASET, 'aic-core', 'src', 'aiconfigurator_core', 'systems', 'data', aicGpu);
}
export function aicFiles(dataRoot: string, aicGpu: string): { gemm: string; context: string; generation: string; allreduce: string } {
  const d = aicDir(dataRoot, aicGpu);
  return {
    gemm: path.join(d, 'gemm', AIC_VERSION_DIR, 'gemm_perf.csv'),
    context: path.join(d, 'attention', AIC_VERSION_DIR, 'context_attention_perf.csv'),
    generation: path.join(d, 'attention', AIC_VERSION_DIR, 'generation_attention_perf.csv'),
    allreduce: path.join(d, 'comm', AIC_VERSION_DIR, 'custom_allreduce_perf.csv'),
  };
}
/** Vidur mlp.csv files for a GPU folder (every model profiled). */
export function vidurFiles(dataRoot: string, vidurGpu: string): string[] {
  const base = path.join(dataRoot, VIDUR_DATASET, 'data', 'profiling', 'compute', vidurGpu);
  if (!fs.existsSync(base)) return [];
  const out: string[] = [];
  for (const org of fs.readdirSync(base).sort()) {
    for (const model of fs.readdirSync(path.join(base, org)).sort()) {
      const f = path.join(base, org, model, 'mlp.csv');
      if (fs.existsSync(f)) out.push(f);
    }
  }
  return out;
}

/** The commit recorded for a dataset in the data README (`## N. \`<dataset>/\`` … Commit `<sha>`), or null. */
export function datasetCommit(dataRoot: string, dataset: string): string | null {
  const readme = path.join(dataRoot, 'README.md');
  if (!fs.existsSync(readme)) return null;
  const text = fs.readFileSync(readme, 'utf8');
  const at = text.indexOf(`\`${dataset}/\``);
  if (at < 0) return null;
  const m = /Commit `([0-9a-f]{40})`/.exec(text.slice(at, at + 2000));
  return m ? m[1]! : null;
}

/**
 * Held-out rule: the distinct values of a size column, sorted ascending; the values at index
 * i with i mod `mod` = `rem` are held out. Returns the held-out value set.
 */
export function heldOutValues(values: Iterable<number>, mod: number, rem: number): Set<number> {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  return new Set(sorted.filter((_, i) => i % mod === rem));
}
