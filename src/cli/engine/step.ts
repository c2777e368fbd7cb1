/** `stepfit engine step`: one step (or every step of a file) from first principles, with a per-operator breakdown. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { z } from 'zod';
import { bubbleFraction } from '../../analytic/collectives.js';
import { engineMemory } from '../../analytic/memory.js';
import { type EngineModel, engineModel } from '../../analytic/model.js';
import { withAtomicWriter } from '../../io/atomic.js';
import { InputError, UsageError } from '../../io/errors.js';
import { resolveDeployment } from '../../model/context.js';
import { readSteps } from '../../steps/io.js';
import type { Step } from '../../steps/step.js';
import { type CliIO, intOption } from '../io.js';
import { SKIP_BAD_HELP, SkippedLines } from '../skip-bad.js';
import { f1, f2, table } from './format.js';
import { addEngineFlags, addModelIds, addParallelism, DeploymentFlags, deploymentOf, engineOptionsOf } from './options.js';

const StepFlags = DeploymentFlags.extend({
  prefill: z.string().optional(),
  decode: z.string().optional(),
  steps: z.string().optional(),
  out: z.string().optional(),
  ignoreMemory: z.literal(true).optional(),
  microBatches: z.number().optional(),
  skipBad: z.literal(true).optional(),
});

/** Parse `--prefill`: comma list of `tokens[@prior]`, `NxTOKENS[@prior]` repeats. */
export function parsePrefill(spec: string | undefined): Step['prefill'] {
  if (!spec) return [];
  const out: { tokens: number; prior: number; prompt: number }[] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(?:(\d+)x)?(\d+)(?:@(\d+))?$/.exec(part);
    if (!m) throw new UsageError(`option '--prefill': expected tokens[@prior] or NxTOKENS[@prior] items separated by commas, got '${part}'`);
    const n = m[1] ? Number(m[1]) : 1;
    const tokens = Number(m[2]);
    const prior = m[3] ? Number(m[3]) : 0;
    if (tokens <= 0 || n <= 0) throw new UsageError(`option '--prefill': tokens and counts must be positive, got '${part}'`);
    for (let i = 0; i < n; i++) out.push({ tokens, prior, prompt: prior + tokens });
  }
  return out;
}

/** Parse `--decode`: comma list of contexts, `NxCONTEXT` repeats. */
export function parseDecode(spec: string | undefined): number[] {
  if (!spec) return [];
  const out: number[] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(?:(\d+)x)?(\d+)$/.exec(part);
    if (!m) throw new UsageError(`option '--decode': expected context lengths or NxCONTEXT items separated by commas, got '${part}'`);
    const n = m[1] ? Number(m[1]) : 1;
    if (n <= 0) throw new UsageError(`option '--decode': counts must be positive, got '${part}'`);
    for (let i = 0; i < n; i++) out.push(Number(m[2]));
  }
  return out;
}

/** Predict every step of `steps` into `out` (CSV); MAPE against the measured durations. */
async function predictFile(io: CliIO, model: EngineModel, steps: string, out: string, json: boolean, skipped: SkippedLines): Promise<void> {
  let n = 0;
  let ape = 0;
  let measured = 0;
  await withAtomicWriter(out, async (w) => {
    await w.write('experiment,step,duration_us,engine_us\n');
    let chunk = '';
    for await (const s of readSteps(steps, skipped.readOptions())) {
      const p = model.predictUs(s);
      chunk += `${s.experiment},${s.step},${s.durationUs ?? ''},${p.toFixed(3)}\n`;
      if (s.durationUs) {
        ape += Math.abs(p - s.durationUs) / s.durationUs;
        measured++;
      }
      if (++n % 4096 === 0) {
        await w.write(chunk);
        chunk = '';
      }
    }
    if (chunk) await w.write(chunk);
  });
  const skippedNote = skipped.summary();
  if (skippedNote) io.err(skippedNote);
  const summary = { steps: n, measured, mapePct: measured ? (ape / measured) * 100 : null, out, model: model.name };
  if (json) io.out(JSON.stringify(summary, null, 2));
  else io.out(`engine step: ${n} steps → ${out}${summary.mapePct !== null ? `; MAPE vs duration_us ${summary.mapePct.toFixed(1)}% over ${measured} measured steps` : ''} (${model.name})`);
}

/** One step's breakdown, as a table or JSON; with PP, the pipeline flush of `microBatches` micro-batches. */
function printStep(io: CliIO, model: EngineModel, step: Step, microBatches: number | undefined, json: boolean): void {
  const b = model.breakdown(step);
  const p = model.engine.pp;
  const m = microBatches ?? p;
  // m micro-batches through p stages: (m + p − 1) stage slots, of which p − 1 are bubble
  const pipeline = p > 1 ? { stages: p, stageUs: b.stageUs, microBatches: m, bubbleFraction: bubbleFraction(p, m), flushUs: (m + p - 1) * b.stageUs } : undefined;
  if (json) {
    io.out(JSON.stringify({ model: model.name, efficiency: model.engine.tables.origin, step: { prefill: step.prefill, decode: step.decode }, ...b, ...(pipeline ? { pipeline } : {}) }, null, 2));
    return;
  }
  io.out(`${model.name}; efficiency: ${model.engine.tables.origin}`);
  io.out(`step: ${b.prefillTokens} prefill tokens in ${step.prefill.length} chunks, ${b.decodeRequests} decodes, ${b.sampled} sampled`);
  io.out(
    table(
      ['op', 'µs', '%', 'compute µs', 'memory µs', 'GFLOP', 'MB', 'calls', 'bound'],
      b.ops.map((op) => [op.op, f1(op.us), f1((op.us / b.us) * 100), f1(op.computeUs), f1(op.memoryUs), f2(op.flops / 1e9), f1(op.bytes / 1e6), op.calls, op.bound]),
    ),
  );
  io.out(`total: ${f1(b.us)} µs`);
  if (pipeline)
    io.out(`pipeline: ${p} stages, slowest stage ${f1(b.stageUs)} µs; ${m} micro-batches per flush take ${f1(pipeline.flushUs)} µs, bubble (p−1)/(m+p−1) = ${f1(pipeline.bubbleFraction * 100)}%`);
}

export function stepCommand(io: CliIO): CommandUnknownOpts {
  const c = new Command('step')
    .description('predict one step (or every step of a step file) from first principles, with a per-operator breakdown (µs)')
    .option('--prefill <spec>', "prefill chunks: 'tokens[@prior]' or 'NxTOKENS[@prior]', comma-separated (e.g. 512,4x128@1024)")
    .option('--decode <spec>', "decode requests' context lengths: 'c1,c2' or 'NxCONTEXT' (e.g. 16x576)")
    .option('--steps <path>', 'step records (JSONL) to predict instead of one step; writes CSV to --out')
    .option('--out <file>', 'with --steps: output CSV experiment,step,duration_us,engine_us (written atomically)')
    .option('--ignore-memory', 'predict even when the model does not fit GPU memory at this parallelism')
    .option('--micro-batches <m>', 'with --pp: micro-batches of this shape per pipeline flush, for the bubble (p−1)/(m+p−1) (default PP)', intOption('--micro-batches'))
    .option('--skip-bad', `with --steps: ${SKIP_BAD_HELP}`);
  addModelIds(c);
  addParallelism(c);
  addEngineFlags(c);
  return c.action(async (raw) => {
    const o = StepFlags.parse(raw);
    const ctx = resolveDeployment(deploymentOf(o));
    const model = engineModel(ctx, engineOptionsOf(o, o));
    if (!o.ignoreMemory) {
      const mem = engineMemory(model.engine, { maxModelLen: 1 });
      if (mem.kvCacheBytes <= 0) throw new InputError(`does not fit: ${mem.reason} (pass --ignore-memory to predict anyway)`);
    }
    if (o.steps) {
      if (!o.out) throw new UsageError(`option '--out <file>' is required with --steps`);
      await predictFile(io, model, o.steps, o.out, o.json === true, new SkippedLines(o.skipBad === true));
      return;
    }
    const step: Step = { experiment: 'cli', step: 0, prefill: parsePrefill(o.prefill), decode: parseDecode(o.decode) };
    if (step.prefill.length === 0 && step.decode.length === 0) throw new UsageError(`give --prefill and/or --decode (or --steps)`);
    printStep(io, model, step, o.microBatches, o.json === true);
  });
}
