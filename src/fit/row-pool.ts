/**
 * Worker threads that read Parquet step files and evaluate design rows for the fit (row-worker.ts). A file is
 * cut into tasks of TASK_GROUPS row groups (`readStepBatchesParquet` with `rowGroups`); tasks go to idle
 * workers, at most WINDOW_PER_WORKER per worker ahead of the reader, and their batches are handed back in
 * file order. The main thread then does exactly what it does with rows it evaluated itself (checks,
 * accumulation, row cache), so a fit's numbers do not depend on the number of workers: rows are
 * bit-identical (`rowsBatch` = `row`) and are summed in the same order.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AccumulatorTotals } from './accumulate.js';
import type { BatchRows } from './batch-rows.js';
import type { SharedRows } from './row-cache.js';
import { getBasis } from '../basis/registry.js';
import type { Basis } from '../basis/types.js';
import type { FitDataset, FitExperiment } from './dataset-types.js';
import type { Architecture } from '../model/arch.js';
import type { GpuSpec } from '../hardware/gpu.js';
import { InputError } from '../io/errors.js';
import type { StepBatch } from '../steps/batch.js';
import { stepFiles } from '../steps/io.js';
import { isParquetPath, parquetRowGroupCount } from '../steps/parquet.js';

/** Row groups per task (16,384 rows each in files stepfit writes). */
export const TASK_GROUPS = 2;
/** Tasks queued or running per worker ahead of the rows the main thread has consumed (bounds memory). */
export const WINDOW_PER_WORKER = 2;

/** What a worker needs to evaluate one experiment's rows. */
export interface PoolSetup {
  basis: string;
  arch: Architecture;
  gpu: GpuSpec;
  tp: number;
  variants: readonly Readonly<Record<string, number>>[];
  varying: readonly number[];
  pBasis: number;
  p: number;
}

/** One IRLS pass for a share of a profile's jobs (huber.ts IrlsPass) over the kept wide rows. */
export interface IrlsRequest {
  type: 'irls';
  id: number;
  rows: SharedRows;
  pBasis: number;
  varying: readonly number[];
  relative: boolean;
  hk: number;
  jobs: { variant: number; beta: Float64Array; scale: number }[];
}
/** Per job of an IrlsRequest: its accumulator's totals and Huber sums. */
export interface IrlsSums {
  totals: AccumulatorTotals;
  psi2: number;
  inliers: number;
}

export type WorkerRequest = { type: 'setup'; key: number; setup: PoolSetup } | { type: 'task'; id: number; setup: number; file: string; g0: number; g1: number; check: boolean } | IrlsRequest;
export type WorkerReply = { id: number; batch: StepBatch; rows: BatchRows } | { id: number; done: true } | { id: number; error: string; input: boolean } | { id: number; sums: IrlsSums[] };

let bundled: string | undefined;

/** A worker running row-worker next to this module: the built .js; from the TypeScript sources (tsx, vitest) an esbuild bundle as a data: URL. */
function startWorker(): Worker {
  const here = import.meta.url;
  // no inherited node flags: e.g. --input-type (a CLI started with -e) stops a worker from starting
  if (!here.endsWith('.ts')) return new Worker(new URL('./row-worker.js', here), { execArgv: [] });
  if (bundled === undefined) {
    const esbuild = createRequire(here)('esbuild') as typeof import('esbuild');
    const r = esbuild.buildSync({ entryPoints: [fileURLToPath(new URL('./row-worker.ts', here))], bundle: true, platform: 'node', format: 'esm', write: false, logLevel: 'silent' });
    bundled = `data:text/javascript;base64,${Buffer.from(r.outputFiles[0]!.text).toString('base64')}`;
  }
  return new Worker(new URL(bundled), { execArgv: [] });
}

/** One task's batches as they arrive, consumed in order. */
class Task {
  readonly items: { batch: StepBatch; rows: BatchRows }[] = [];
  done = false;
  error: Error | null = null;
  private wake: (() => void) | null = null;
  constructor(readonly req: Extract<WorkerRequest, { type: 'task' }>) {}
  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  async next(): Promise<{ batch: StepBatch; rows: BatchRows } | null> {
    for (;;) {
      const it = this.items.shift();
      if (it) return it;
      if (this.error) throw this.error;
      if (this.done) return null;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

/** Row groups from which `--workers auto` starts workers (64 × 16,384 ≈ 1M steps in files stepfit writes). */
export const AUTO_MIN_GROUPS = 64;
/** Most workers `auto` starts. */
export const AUTO_MAX_WORKERS = 8;
/**
 * Fewest cores on which `auto` starts workers: the main thread keeps the serial part (checks, sums, the later
 * passes), so on 2 cores a worker only competes with it (1M-step default fit, quiet 2-vCPU machine: 1 thread
 * 10.65 s wall, 2 workers 12.4 s).
 */
export const AUTO_MIN_CORES = 4;

/**
 * Worker count for `--workers auto`: the available cores (at most AUTO_MAX_WORKERS) when the data set's Parquet
 * step files hold at least AUTO_MIN_GROUPS row groups in all and the machine has AUTO_MIN_CORES or more, else 1
 * (small inputs: starting threads costs more; few cores: workers compete with the main thread).
 */
export async function autoWorkers(ds: FitDataset): Promise<number> {
  const cores = os.availableParallelism();
  if (cores < AUTO_MIN_CORES) return 1;
  let groups = 0;
  for (const e of ds.experiments) {
    if (typeof e.steps !== 'string') continue;
    for (const f of stepFiles(e.steps)) if (isParquetPath(f)) groups += await parquetRowGroupCount(f);
  }
  return groups >= AUTO_MIN_GROUPS ? Math.min(AUTO_MAX_WORKERS, cores) : 1;
}

export class RowPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly running = new Map<Worker, Task>();
  private readonly pending: Task[] = [];
  private readonly sent = new Map<Worker, Set<number>>();
  private readonly setups: PoolSetup[] = [];
  private nextId = 0;
  private failure: Error | null = null;
  private readonly irlsWaiting = new Map<number, { w: Worker; resolve: (s: IrlsSums[]) => void; reject: (e: Error) => void }>();

  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      const w = startWorker();
      w.unref(); // referenced only while it runs a task (below): an idle pool never keeps the process alive
      w.on('message', (m: WorkerReply) => this.onReply(w, m));
      w.on('error', (e) => this.fail(new Error(`fit row worker failed: ${e.message}`)));
      this.workers.push(w);
      this.idle.push(w);
      this.sent.set(w, new Set());
    }
  }

  /** True when a worker can rebuild this experiment's basis: a registered basis, and a model and GPU that can be copied to a thread. */
  static canRun(basis: Basis, e: FitExperiment): boolean {
    try {
      if (getBasis(basis.name) !== basis) return false;
      structuredClone({ arch: e.arch, gpu: e.gpu });
      return true;
    } catch {
      return false;
    }
  }

  /** Batches of `file` with their rows, in file order. `check`: check the first task's batches (find variants that differ outside `varying`, batch-rows.ts). */
  async *rows(file: string, setup: PoolSetup, check: boolean): AsyncGenerator<{ batch: StepBatch; rows: BatchRows }> {
    let key = this.setups.indexOf(setup);
    if (key < 0) key = this.setups.push(setup) - 1;
    const groups = await parquetRowGroupCount(file);
    const window = WINDOW_PER_WORKER * this.workers.length;
    const live: Task[] = [];
    let g = 0;
    const submit = (): void => {
      while (g < groups && live.length < window) {
        const t = new Task({ type: 'task', id: this.nextId++, setup: key, file, g0: g, g1: Math.min(groups, g + TASK_GROUPS), check: check && g === 0 });
        g = t.req.g1;
        live.push(t);
        this.pending.push(t);
      }
      this.dispatch();
    };
    submit();
    while (live.length > 0) {
      for (let it = await live[0]!.next(); it; it = await live[0]!.next()) yield it;
      live.shift();
      submit();
    }
  }

  private dispatch(): void {
    if (this.failure) for (const t of this.pending.splice(0)) this.settle(t, this.failure);
    while (this.idle.length > 0 && this.pending.length > 0) {
      const w = this.idle.shift()!;
      const t = this.pending.shift()!;
      const sent = this.sent.get(w)!;
      if (!sent.has(t.req.setup)) {
        w.postMessage({ type: 'setup', key: t.req.setup, setup: this.setups[t.req.setup]! } satisfies WorkerRequest);
        sent.add(t.req.setup);
      }
      this.running.set(w, t);
      w.ref();
      w.postMessage(t.req satisfies WorkerRequest);
    }
  }

  /**
   * One IRLS pass of `jobs` over `rows`, the jobs split into contiguous shares, one per worker; each job's sums
   * are computed by one thread over every row in order, so they equal the main thread's bit for bit.
   */
  async irls(req: Omit<IrlsRequest, 'type' | 'id' | 'jobs'>, jobs: IrlsRequest['jobs']): Promise<IrlsSums[]> {
    if (this.failure) throw this.failure;
    const W = Math.min(this.workers.length, jobs.length);
    const parts = await Promise.all(
      Array.from({ length: W }, (_, k) => {
        const share = jobs.slice(Math.floor((k * jobs.length) / W), Math.floor(((k + 1) * jobs.length) / W));
        const id = this.nextId++;
        const w = this.workers[k]!;
        return new Promise<IrlsSums[]>((resolve, reject) => {
          this.irlsWaiting.set(id, { w, resolve, reject });
          w.ref();
          w.postMessage({ ...req, type: 'irls', id, jobs: share } satisfies WorkerRequest);
        });
      }),
    );
    return parts.flat();
  }

  private onReply(w: Worker, m: WorkerReply): void {
    const iw = this.irlsWaiting.get(m.id);
    if (iw) {
      this.irlsWaiting.delete(m.id);
      w.unref();
      if ('sums' in m) iw.resolve(m.sums);
      else iw.reject(new Error(`fit row worker failed: ${'error' in m ? m.error : 'no result'}`));
      return;
    }
    const t = this.running.get(w);
    if (!t || t.req.id !== m.id) return;
    if ('batch' in m) t.items.push({ batch: m.batch, rows: m.rows });
    else {
      if ('error' in m) t.error = m.input ? new InputError(m.error) : new Error(m.error);
      else t.done = true;
      this.running.delete(w);
      w.unref();
      this.idle.push(w);
      this.dispatch();
    }
    t.notify();
  }

  private settle(t: Task, e: Error): void {
    t.error = e;
    t.notify();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const x of this.irlsWaiting.values()) {
      x.w.unref();
      x.reject(e);
    }
    this.irlsWaiting.clear();
    for (const [w, t] of this.running) {
      w.unref();
      this.settle(t, e);
    }
    this.running.clear();
    this.dispatch();
  }

  /** Stop the workers (idempotent). */
  close(): void {
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
    this.idle.length = 0;
  }
}
