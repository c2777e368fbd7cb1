/**
 * Where an all-reduce leaves its latency floor, measured on microbenchmarks the validation splits never
 * see: AIConfigurator's vLLM 0.14 custom all-reduce sweeps (shared data README §2,
 * `<gpu>/comm/vllm/0.14.0/custom_allreduce_perf.csv`: latency ms vs message_size bytes, 2/4/8 GPUs,
 * CUDA-graph and eager backends). This derives `COMM_KNEE_BYTES` of the `serving` basis
 * (src/basis/serving.ts); test/basis-roofline-knee.test.ts recomputes it from the CSVs.
 */
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { InputError } from '../io/errors.js';

/** One all-reduce curve: message sizes (bytes) and latencies (µs), one (GPU, backend, #GPUs). */
export interface AllReduceCurve {
  readonly gpu: string;
  readonly backend: string;
  readonly gpus: number;
  readonly bytes: readonly number[];
  readonly us: readonly number[];
}

/** Sizes at or below this are on the latency floor in every curve (128 B – 4 KiB). */
export const FLOOR_MAX_BYTES = 4096;
/** Sizes at or above this give the asymptotic per-byte time (64 – 512 MiB). */
export const ASYMPTOTE_MIN_BYTES = 64 * 2 ** 20;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Hockney half-performance size n½ (bytes) of a curve t(B) ≈ t₀ + B/b∞:
 *   t₀ = median latency over B ≤ FLOOR_MAX_BYTES (the floor),
 *   1/b∞ = least-squares slope of t over B ≥ ASYMPTOTE_MIN_BYTES (asymptotic µs per byte),
 *   n½ = t₀ · b∞ — the message size at which the bandwidth time equals the floor, i.e. where the
 *   curve leaves its latency floor and starts growing with bytes.
 */
export function halfPerformanceBytes(c: Pick<AllReduceCurve, 'bytes' | 'us'>): number {
  const floor: number[] = [];
  const xs: number[] = [];
  const ys: number[] = [];
  c.bytes.forEach((b, i) => {
    if (b <= FLOOR_MAX_BYTES) floor.push(c.us[i]!);
    if (b >= ASYMPTOTE_MIN_BYTES) {
      xs.push(b);
      ys.push(c.us[i]!);
    }
  });
  if (floor.length === 0 || xs.length < 2) throw new InputError(`all-reduce curve: need sizes ≤ ${FLOOR_MAX_BYTES} B and ≥ 2 sizes ≥ ${ASYMPTOTE_MIN_BYTES} B`);
  const mx = xs.reduce((a, x) => a + x, 0) / xs.length;
  const my = ys.reduce((a, y) => a + y, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxy / sxx;
  if (!(slope > 0)) throw new InputError('all-reduce curve: latency does not grow with message size at large sizes');
  return median(floor) / slope;
}

/** Read one custom_allreduce_perf.csv into curves (latency ms → µs), one per (backend, num_gpus). */
export function readAllReduceCsv(file: string, gpu: string): AllReduceCurve[] {
  const rows = parse(fs.readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const by = new Map<string, { backend: string; gpus: number; pts: [number, number][] }>();
  rows.forEach((r, i) => {
    const size = Number(r['message_size']);
    const ms = Number(r['latency']);
    const n = Number(r['num_gpus']);
    const backend = r['backend'] ?? '';
    if (!(size > 0) || !(ms > 0) || !(n > 0) || !backend) throw new InputError(`${file}: record ${i + 1}: expected message_size, latency, num_gpus > 0 and a backend`);
    const k = `${backend}/${n}`;
    if (!by.has(k)) by.set(k, { backend, gpus: n, pts: [] });
    by.get(k)!.pts.push([size, ms * 1000]);
  });
  return [...by.values()].map(({ backend, gpus, pts }) => {
    pts.sort((a, b) => a[0] - b[0]);
    return { gpu, backend, gpus, bytes: pts.map((p) => p[0]), us: pts.map((p) => p[1]) };
  });
}

/**
 * The knee used by the basis: median n½ over the eager-mode curves (prefill steps launch eagerly —
 * the basis' own premise for `prefill_layers`; CUDA-graph curves describe graph-captured decode,
 * whose small messages never reach the knee).
 */
export function eagerKneeBytes(curves: readonly AllReduceCurve[]): number {
  const eager = curves.filter((c) => /eager/.test(c.backend));
  if (eager.length === 0) throw new InputError('all-reduce curves: no eager-mode curve');
  return median(eager.map(halfPerformanceBytes));
}

export const AIC_ALLREDUCE_CSV = (gpu: string): string => `ai-dynamo__aiconfigurator/aic-core/src/aiconfigurator_core/systems/data/${gpu}/comm/vllm/0.14.0/custom_allreduce_perf.csv`;
