/**
 * Worker thread of the fit's row pool (row-pool.ts): reads a range of row groups of a Parquet step file as
 * column batches and evaluates their (wide) design rows, posting each batch with its rows back. Pure
 * evaluation: every check, the accumulation and everything else stay on the main thread, in file order.
 */
import { parentPort } from 'node:worker_threads';
import { BatchEvaluator } from './batch-rows.js';
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

// tasks run one after the other (the pool sends a worker its next task only after the last one is done)
parentPort!.on('message', (m: WorkerRequest) => {
  if (m.type === 'setup') setup(m.key, m.setup);
  else void task(m);
});
