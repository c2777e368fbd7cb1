/**
 * Worker thread of the fit's row pool (row-pool.ts): reads a range of row groups of a Parquet step file as
 * column batches and evaluates their (wide) design rows, posting each batch with its rows back. Pure
 * evaluation: every check, the accumulation and everything else stay on the main thread, in file order.
 */
import { parentPort } from 'node:worker_threads';
import { NormalAccumulator } from './accumulate.js';
import { BatchEvaluator, variantColumns, variantRowOf } from './batch-rows.js';
import { irlsVisitor, type Job } from './huber.js';
import { replayRows } from './row-cache.js';
import { getBasis } from '../basis/registry.js';
import type { CompiledBasis } from '../basis/types.js';
import { InputError } from '../io/errors.js';
import type { StepBatch } from '../steps/batch.js';
import { readStepBatchesParquet } from '../steps/parquet.js';
import type { PoolSetup, WorkerReply, WorkerRequest } from './row-pool.js';

const setups = new Map<number, { compiled: CompiledBasis[]; ev: BatchEvaluator }>();

/** A batch with columns of its own (the reader may hand out views of larger buffers): safe to transfer. */
function ownBatch(b: StepBatch): StepBatch {
  return {
    experiment: b.experiment,
    n: b.n,
    firstRow: b.firstRow,
    step: b.step.slice(),
    durationUs: b.durationUs.slice(),
    prefillOffsets: b.prefillOffsets.slice(),
    prefillTokens: b.prefillTokens.slice(0, b.prefillOffsets[b.n]),
    prefillPrior: b.prefillPrior.slice(0, b.prefillOffsets[b.n]),
    prefillPrompt: b.prefillPrompt.slice(0, b.prefillOffsets[b.n]),
    decodeOffsets: b.decodeOffsets.slice(),
    decodeContext: b.decodeContext.slice(0, b.decodeOffsets[b.n]),
  };
}

function setup(key: number, s: PoolSetup): void {
  const basis = getBasis(s.basis);
  const compiled = s.variants.map((v) => basis.compile({ arch: s.arch, gpu: s.gpu, tp: s.tp }, v));
  setups.set(key, { compiled, ev: new BatchEvaluator(s.pBasis, s.p, s.varying) });
}

async function task(m: Extract<WorkerRequest, { type: 'task' }>): Promise<void> {
  const post = (r: WorkerReply, transfer: ArrayBuffer[] = []): void => parentPort!.postMessage(r, transfer);
  try {
    const st = setups.get(m.setup)!;
    for await (const raw of readStepBatchesParquet(m.file, { rowGroups: [m.g0, m.g1] })) {
      const batch = ownBatch(raw);
      const rows = st.ev.evaluate(st.compiled, batch, m.check, true);
      const cols = [batch.step, batch.durationUs, batch.prefillOffsets, batch.prefillTokens, batch.prefillPrior, batch.prefillPrompt, batch.decodeOffsets, batch.decodeContext];
      post({ id: m.id, batch, rows }, [rows.rows.buffer as ArrayBuffer, ...cols.map((c) => c.buffer as ArrayBuffer)]);
    }
    post({ id: m.id, done: true });
  } catch (e) {
    post({ id: m.id, error: (e as Error).message, input: e instanceof InputError });
  }
}

/** One IRLS pass of a share of a profile's jobs over the kept rows (the same code as on the main thread). */
function irls(m: Extract<WorkerRequest, { type: 'irls' }>): void {
  try {
    const { pBasis, varying } = m;
    const bufs = new Map<number, Float64Array>();
    const view = (x: Float64Array, g: number): Float64Array => {
      let out = bufs.get(g);
      if (!out) bufs.set(g, (out = new Float64Array(pBasis)));
      return variantRowOf(x, g, out, pBasis, varying);
    };
    const live = m.jobs.map(
      (j, a) =>
        ({ kind: 'full', index: a, variant: j.variant, sol: { beta: j.beta }, scale: j.scale, acc: new NormalAccumulator(pBasis, { trackRange: false }), psi2: 0, inliers: 0 }) as unknown as Job,
    );
    const relative = m.relative;
    const v = irlsVisitor(live, { wOf: (y) => (relative ? 1 / (y * y) : 1), foldOf: () => -1, mult: () => 1, view, columns: (g) => variantColumns(g, pBasis, varying) }, m.hk);
    replayRows(m.rows, v, new Float64Array(m.rows.p));
    const sums = live.map((j) => ({ totals: j.acc!.totals(), psi2: j.psi2, inliers: j.inliers }));
    parentPort!.postMessage({ id: m.id, sums } satisfies WorkerReply);
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message, input: false } satisfies WorkerReply);
  }
}

// tasks run one after the other (the pool sends a worker its next task only after the last one is done)
parentPort!.on('message', (m: WorkerRequest) => {
  if (m.type === 'setup') setup(m.key, m.setup);
  else if (m.type === 'irls') irls(m);
  else void task(m);
});
