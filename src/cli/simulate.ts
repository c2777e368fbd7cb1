/**
 * `stepfit simulate`: replay a workload through the vLLM continuous-batching simulator with a step
 * model (fitted, analytical engine, or synthetic truth) and write per-request metrics, step records,
 * a summary and optionally a vLLM OTLP trace.
 */
import { resolveDeployment } from '../model/context.js';
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import type { CliIO } from './io.js';
import { intOption, floatOption } from './io.js';
import { UsageError } from '../io/errors.js';
import { AtomicWriter, writeFilesAtomic } from '../io/atomic.js';
import { stepToJson } from '../steps/step.js';
import { resolveWorkloadArg, buildWorkload } from '../simulate/workload.js';
import { buildStepModel, type StepModelChoice } from '../simulate/models.js';
import { ServingSimulator } from '../simulate/simulator.js';
import { LogHistogram, METRICS_CSV_HEADER, metricsCsvRow } from '../simulate/metrics.js';
import { resolveLimits, outcome } from '../simulate/run.js';
import { OtlpTraceEmitter, TraceFileWriter, expConfigYaml } from '../reconstruct/vllm-otlp/emit.js';
import { UpstreamRecorder } from '../simulate/upstream.js';
import { requestSpanLines } from '../reconstruct/vllm-request-spans/emit.js';
import { benchResult } from '../reconstruct/vllm-bench/emit.js';

/** The command and its flags (typed through commander's extra-typings). */
function simulateFlags() {
  return new Command('simulate')
    .description('simulate vLLM continuous batching (chunked prefill, KV blocks, preemption) on a workload with a step model; write per-request metrics, steps and a summary')
    .option('--fit <file>', 'step model: a fit file (fits/*.json)')
    .option('--engine', 'step model: the analytical engine (no fitted numbers)')
    .option('--synthetic-truth', 'step model: the known synthetic ground truth of `stepfit sample` (tests, demos)')
    .requiredOption('--model <id|path>', 'model: a configs/models id or a HuggingFace config.json path')
    .requiredOption('--gpu <id|path>', 'GPU: a configs/hardware id or a datasheet JSON path')
    .option('--tp <n>', 'tensor-parallel degree', intOption('--tp'), 1)
    .option('--dp <n>', 'data-parallel ranks stepping in lockstep (vLLM DP with expert parallelism); requests go to the least-loaded rank', intOption('--dp'), 1)
    .option(
      '--ep <n>',
      'expert-parallel degree the routed experts are split over, for the weight memory (vLLM --enable-expert-parallel: TP × DP); passed to the engine when it divides --tp',
      intOption('--ep'),
      1,
    )
    .requiredOption('--workload <spec>', 'workload: a YAML/JSON spec file, a requests.jsonl log to replay, or inline KIND:key=value,... (see README ## simulate)')
    .option('--max-num-seqs <n>', 'max_num_seqs: running requests per rank', intOption('--max-num-seqs'), 256)
    .option('--max-num-batched-tokens <n>', 'max_num_batched_tokens: tokens per step', intOption('--max-num-batched-tokens'), 2048)
    .option('--block-size <tokens>', 'KV block size in tokens', intOption('--block-size'), 16)
    .option('--num-gpu-blocks <n>', 'KV blocks per GPU as vLLM logs num_gpu_blocks (default: from memory)', intOption('--num-gpu-blocks', 2))
    .option('--gpu-memory-utilization <f>', 'fraction of GPU memory vLLM may use (weights + activations + KV)', floatOption('--gpu-memory-utilization', 0), 0.9)
    .option(
      '--kv-reserve-gb <gb>',
      'runtime memory not available to the KV cache besides weights and activations, GB (default: the engine memory model: 1.17 GB, +0.4 GB for NCCL at TP > 1)',
      floatOption('--kv-reserve-gb', 0),
    )
    .option('--max-model-len <tokens>', 'longest sequence; longer prompts are dropped, outputs capped (default: KV capacity)', intOption('--max-model-len'))
    .option('--no-prefix-caching', 'disable automatic prefix caching')
    .option('--no-reserve-full-isl', 'admit on the first chunk only (vLLM scheduler_reserve_full_isl=false)')
    .option('--watermark <f>', 'fraction of KV blocks kept free when admitting waiting requests', floatOption('--watermark', 0), 0.01)
    .option('--overhead-us <us>', 'fixed time added to every step, µs', floatOption('--overhead-us', 0), 0)
    .option('--noise <sigma>', "σ of log-normal noise on each step's model time (0.05 ≈ 5%)", floatOption('--noise', 0), 0)
    .option('--seed <n>', 'random seed (workload sampling and step noise)', intOption('--seed', 0), 1)
    .option('--experiment <name>', 'experiment name on step records (default sim-<model>-<gpu>-tp<N>)')
    .addOption(new Option('--emit-trace <format>', 'also write a scheduler trace').choices(['vllm-otlp']))
    .option('--snapshots', 'trace: add step.REQUEST_SNAPSHOT events (exact batch composition) to traced steps')
    .option('--sample-rate <r>', 'trace: fraction of steps with a step span', floatOption('--sample-rate', 0), 1)
    .option('--trace-out <file>', 'trace file (default <out>/traces.jsonl.gz; gzipped when it ends in .gz)')
    .option('--emit-request-spans <file>', 'also write upstream vLLM llm_request spans (OTLP JSON Lines as a collector file exporter writes them; gzipped when the name ends in .gz)')
    .option('--emit-bench <file>', 'also write a vllm bench serve --save-result --save-detailed result JSON (per-request TTFT and inter-token gaps)')
    .option('--no-steps', 'do not write steps.jsonl')
    .requiredOption('--out <dir>', 'output directory: requests.csv, steps.jsonl, summary.json[, traces.jsonl.gz, exp-config.yaml]');
}

type SimulateOpts = ReturnType<ReturnType<typeof simulateFlags>['opts']>;

export function simulateCommand(io: CliIO) {
  return simulateFlags().action((o) => runSimulate(io, o));
}

/** Flag combinations commander cannot check. */
function checkFlags(o: SimulateOpts): void {
  const picked = [o.fit !== undefined, o.engine === true, o.syntheticTruth === true].filter(Boolean).length;
  if (picked !== 1) throw new UsageError('simulate: give exactly one step model: --fit FILE, --engine or --synthetic-truth');
  if (o.sampleRate > 1) throw new UsageError(`option '--sample-rate' expects a fraction in [0, 1], got ${o.sampleRate}`);
  if (o.gpuMemoryUtilization > 1 || o.gpuMemoryUtilization <= 0) throw new UsageError(`option '--gpu-memory-utilization' expects a fraction in (0, 1], got ${o.gpuMemoryUtilization}`);
  if ((o.emitRequestSpans || o.emitBench) && o.dp > 1) throw new UsageError('simulate: --emit-request-spans / --emit-bench need --dp 1 (one scheduler)');
  if (o.emitTrace && o.dp > 1) throw new UsageError('simulate: --emit-trace needs --dp 1 (one scheduler)');
}

/** The deployment, the step model and the scheduler limits the flags describe. */
function deployment(o: SimulateOpts) {
  const { arch, gpu } = resolveDeployment({ model: o.model, gpu: o.gpu, tp: o.tp });
  const epOver = o.ep > 1 && o.tp % o.ep !== 0 ? { ep: o.ep, dp: o.dp } : {};
  // the engine spreads experts over TP (EP | TP) or over TP × DP ranks (TP | EP | TP·DP)
  const epFits = o.ep > 1 && (o.tp % o.ep === 0 || (o.ep % o.tp === 0 && (o.tp * o.dp) % o.ep === 0));
  if (o.ep > 1 && !epFits) throw new UsageError(`simulate: --ep ${o.ep} must divide --tp ${o.tp}, or be a multiple of it dividing TP × DP (${o.tp * o.dp})`);
  const choice: StepModelChoice = o.fit !== undefined ? { kind: 'fit', file: o.fit } : o.engine ? { kind: 'engine', options: epOver } : { kind: 'synthetic' };
  const model = buildStepModel(choice, { arch, gpu, tp: o.tp, ...(epFits && o.tp % o.ep === 0 ? { ep: o.ep } : {}) });
  const limits = resolveLimits(
    {
      maxNumSeqs: o.maxNumSeqs,
      maxNumBatchedTokens: o.maxNumBatchedTokens,
      blockSize: o.blockSize,
      numGpuBlocks: o.numGpuBlocks,
      gpuMemoryUtilization: o.gpuMemoryUtilization,
      kvReserveGB: o.kvReserveGb,
      maxModelLen: o.maxModelLen,
      prefixCaching: o.prefixCaching,
      reserveFullIsl: o.reserveFullIsl,
      watermark: o.watermark,
    },
    { arch, gpu, tp: o.tp, ep: o.ep },
  );
  return { arch, gpu, model, limits };
}

type Deployment = ReturnType<typeof deployment>;

/** The simulator with its optional recorders: the OTLP trace emitter (and its file) and the upstream-span/bench recorder. */
async function buildSimulator(o: SimulateOpts, d: Deployment, out: string) {
  const workload = await buildWorkload(resolveWorkloadArg(o.workload), o.seed);
  const experiment = o.experiment ?? `sim-${d.arch.name}-${d.gpu.id}-tp${o.tp}`;
  const traceFile = o.emitTrace ? path.resolve(o.traceOut ?? path.join(out, 'traces.jsonl.gz')) : undefined;
  const itl = new LogHistogram();
  const tw = traceFile ? new TraceFileWriter(traceFile) : undefined;
  const emitter = tw ? new OtlpTraceEmitter({ snapshots: o.snapshots === true, stepSampleRate: o.sampleRate, seed: o.seed }, (l) => tw.line(l)) : undefined;
  const rec = o.emitRequestSpans || o.emitBench ? new UpstreamRecorder() : undefined;
  const sim: ServingSimulator = new ServingSimulator(workload, {
    limits: d.limits,
    model: d.model,
    overheadUs: o.overheadUs,
    noise: o.noise,
    seed: o.seed,
    experiment,
    dp: o.dp,
    itlHistogram: itl,
    scheduleLog: emitter !== undefined || rec !== undefined,
    ...(emitter || rec
      ? {
          onArrival: (r: number) => {
            const sr = sim.scheduleRequest(r);
            emitter?.addRequest(sr);
            rec?.arrival(sr);
          },
        }
      : {}),
  });
  return { sim, workload, itl, traceFile, tw, emitter, rec };
}

type Run = Awaited<ReturnType<typeof buildSimulator>>;

/** Run the simulation to the end, streaming steps.jsonl (unless `stepsFile` is undefined) and the trace; both atomic. */
async function runToEnd(r: Run, stepsFile: string | undefined): Promise<void> {
  const { sim, tw, emitter, rec } = r;
  const sw = stepsFile ? new AtomicWriter(stepsFile) : undefined;
  let buf = '';
  try {
    while (!sim.done) {
      sim.advance(2048, (v) => {
        if (sw) buf += stepToJson(v.step) + '\n';
        if (emitter && v.schedule) emitter.addStep(v.schedule);
        rec?.step(v);
      });
      if (sw && buf.length > 0) {
        await sw.write(buf);
        buf = '';
      }
      if (tw) await tw.drain();
    }
    if (emitter) emitter.end();
    if (sw) await sw.commit();
    if (tw) await tw.close();
  } catch (e) {
    await sw?.abort();
    tw?.abort();
    throw e;
  }
}

/** requests.csv, summary.json and the optional exp-config.yaml, request spans and bench result (written together, atomically). */
function outputFiles(o: SimulateOpts, d: Deployment, r: Run, res: ReturnType<typeof outcome>, out: string): { path: string; data: string | Uint8Array }[] {
  const { sim, traceFile, rec } = r;
  const files: { path: string; data: string | Uint8Array }[] = [
    { path: path.join(out, 'requests.csv'), data: [METRICS_CSV_HEADER, ...res.metrics.map(metricsCsvRow)].join('\n') + '\n' },
    { path: path.join(out, 'summary.json'), data: JSON.stringify(res.summary, null, 2) + '\n' },
  ];
  if (traceFile) {
    files.push({
      path: path.join(path.dirname(traceFile), 'exp-config.yaml'),
      data: expConfigYaml({
        model: d.arch.name,
        tensorParallelism: o.tp,
        maxModelLen: sim.limits.maxModelLen,
        maxNumBatchedTokens: sim.limits.maxNumBatchedTokens,
        maxNumSeqs: sim.limits.maxNumSeqs,
        blockSize: sim.limits.blockSize,
        numGpuBlocks: sim.limits.numGpuBlocks,
      }),
    });
  }
  if (rec && o.emitRequestSpans) {
    const text = requestSpanLines(rec.spans(sim.results()), { model: d.arch.name });
    files.push({ path: path.resolve(o.emitRequestSpans), data: text } /* writeFilesAtomic gzips a .gz name */);
  }
  if (rec && o.emitBench) {
    const sm = res.summary as { makespanS: number };
    files.push({ path: path.resolve(o.emitBench), data: JSON.stringify(benchResult(rec.bench(sim.results()), { model: d.arch.name, durationS: sm.makespanS })) + '\n' });
  }
  return files;
}

async function runSimulate(io: CliIO, o: SimulateOpts): Promise<void> {
  checkFlags(o);
  const d = deployment(o);
  const out = path.resolve(o.out);
  const run = await buildSimulator(o, d, out);
  const { sim, itl, traceFile } = run;
  await runToEnd(run, o.steps ? path.join(out, 'steps.jsonl') : undefined);
  const res = outcome(sim, itl, {
    model: d.model.name,
    workload: run.workload.description,
    arch: d.arch.name,
    gpu: d.gpu.id,
    tp: o.tp,
    dp: o.dp,
    ep: o.ep,
    seed: o.seed,
    limits: { ...sim.limits, kvBlocksFrom: d.limits.blocksFrom },
    stepOverheadUs: o.overheadUs,
    stepNoiseSigma: o.noise,
    ...(traceFile ? { trace: { file: traceFile, format: 'vllm-otlp', snapshots: o.snapshots === true, sampleRate: o.sampleRate } } : {}),
  });
  writeFilesAtomic(outputFiles(o, d, run, res, out));
  const s = res.summary as { finished: number; dropped: number; requests: number; makespanS: number; ttftUs: { p50: number | null }; tpotUs: { p50: number | null } };
  io.err(
    `simulate: ${s.requests} requests (${s.finished} finished, ${s.dropped} dropped) in ${sim.steps} steps, ${s.makespanS.toFixed(2)} s simulated; TTFT p50 ${fmtMs(s.ttftUs.p50)}, TPOT p50 ${fmtMs(s.tpotUs.p50)} (${d.model.name}; KV ${sim.limits.numGpuBlocks} blocks × ${sim.limits.blockSize})`,
  );
  if (sim.nonPositivePredictions > 0) io.err(`simulate: warning: ${sim.nonPositivePredictions} steps had a non-positive model prediction (clamped to 1 µs)`);
  io.out(out);
}
const fmtMs = (us: number | null): string => (us === null ? 'n/a' : `${(us / 1000).toFixed(2)} ms`);
