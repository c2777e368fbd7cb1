/**
 * `stepfit engine serve`: serving metrics for a steady workload — the vllm bench serve protocol with
 * host costs (closed loop), the step replay (open loop, PP, disaggregation), or a scenarios CSV.
 */
import { Command, type CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import { z } from 'zod';
import { BENCH_DEFAULT_NUM_PROMPTS, type BenchDeploymentResult, benchServeDeployment } from '../../analytic/bench-serve.js';
import { compileEngine } from '../../analytic/context.js';
import { costMetrics } from '../../analytic/cost.js';
import { DEFAULT_HOST_COSTS, type HostCosts } from '../../analytic/host-costs.js';
import { engineMemory } from '../../analytic/memory.js';
import { predictScenarios, readScenarios } from '../../analytic/scenarios.js';
import { serveMetrics } from '../../analytic/serving.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { UsageError } from '../../io/errors.js';
import { type DeploymentContext, resolveDeployment } from '../../model/context.js';
import { type CliIO, floatOption, intOption } from '../io.js';
import { f1, f2, table } from './format.js';
import { addEngineFlags, addParallelism, addWorkload, costOf, deploymentOf, EngineFlags, engineOptionsOf, lengthsOf, ParallelFlags, WorkloadFlags, workloadOf } from './options.js';

type ServeResult = ReturnType<typeof serveMetrics>;

/** Disaggregation, protocol and scenario flags. */
function addServeFlags(c: CommandUnknownOpts): void {
  c.option('--disagg', 'prefill/decode disaggregation: separate prefill and decode GPU pools with KV handoff')
    .option('--prefill-tp <n>', 'disaggregated: TP of each prefill instance (default --tp)', intOption('--prefill-tp'))
    .option('--prefill-instances <n>', 'disaggregated: number of prefill instances', intOption('--prefill-instances'), 1)
    .option('--decode-instances <n>', 'disaggregated: number of decode instances', intOption('--decode-instances'), 1)
    .option('--kv-link-gbs <GB/s>', 'disaggregated: KV handoff bandwidth per GPU, GB/s (default: inter-node)', floatOption('--kv-link-gbs', 0.001))
    .addOption(
      new Option(
        '--protocol <kind>',
        "closed loop: 'bench' = vllm bench serve (clients, first wave, host costs, vLLM queueing; docs/serving.md; PP 1 — with --pp, --rate or --disagg the replay is used) or 'replay' = the step-by-step replay without host costs",
      )
        .choices(['bench', 'replay'] as const)
        .default('bench' as const),
    )
    .option('--num-prompts <n>', 'bench: prompts the benchmark sends in all (vllm bench serve --num-prompts)', intOption('--num-prompts'), BENCH_DEFAULT_NUM_PROMPTS);
}

/** Host-cost flags of the bench protocol, scenarios and the optional model / GPU. */
function addHostFlags(c: CommandUnknownOpts): void {
  c.option(
    '--api-overhead-us <µs>',
    `bench: α₀, per-request API/tokenization/first-token cost, µs (default ${DEFAULT_HOST_COSTS.apiOverheadUs}, fitted on real H100 deployments)`,
    floatOption('--api-overhead-us', 0),
  )
    .option('--step-host-us <µs>', `bench: host time per engine step not hidden by async scheduling, µs (default ${DEFAULT_HOST_COSTS.stepHostUs})`, floatOption('--step-host-us', 0))
    .option('--post-decode-us <µs>', `bench: α₁, per-request cost after the last token, µs (default ${DEFAULT_HOST_COSTS.postDecodeFixedUs})`, floatOption('--post-decode-us', 0))
    .option('--post-token-us <µs>', `bench: α₂, per-output-token cost after decode, µs (default ${DEFAULT_HOST_COSTS.postDecodePerTokenUs})`, floatOption('--post-token-us', 0))
    .option('--scenarios <csv>', 'predict every row of this CSV (model, gpu, dtype, tp, ep, dp, isl, osl, concurrency[, max_num_batched_tokens, max_num_seqs]) with the bench protocol; needs --out')
    .option('--out <csv>', 'with --scenarios: predictions CSV (written atomically)')
    .option('--model <id|path>', 'model: a configs/models id or a HuggingFace config.json path (required without --scenarios)')
    .option('--gpu <id|path>', 'GPU: a configs/hardware id or a datasheet JSON path (required without --scenarios)');
}

/** Every flag of `engine serve`, as commander parses them. */
const ServeFlags = z.object({
  ...EngineFlags.shape,
  ...ParallelFlags.shape,
  ...WorkloadFlags.shape,
  apiOverheadUs: z.number().optional(),
  stepHostUs: z.number().optional(),
  postDecodeUs: z.number().optional(),
  postTokenUs: z.number().optional(),
  disagg: z.literal(true).optional(),
  prefillTp: z.number().optional(),
  prefillInstances: z.number(),
  decodeInstances: z.number(),
  kvLinkGbs: z.number().optional(),
  protocol: z.enum(['bench', 'replay']),
  numPrompts: z.number(),
  scenarios: z.string().optional(),
  out: z.string().optional(),
  model: z.string().optional(),
  gpu: z.string().optional(),
});
type ServeFlags = z.infer<typeof ServeFlags>;

function hostOf(o: ServeFlags): HostCosts {
  return {
    apiOverheadUs: o.apiOverheadUs ?? DEFAULT_HOST_COSTS.apiOverheadUs,
    stepHostUs: o.stepHostUs ?? DEFAULT_HOST_COSTS.stepHostUs,
    postDecodeFixedUs: o.postDecodeUs ?? DEFAULT_HOST_COSTS.postDecodeFixedUs,
    postDecodePerTokenUs: o.postTokenUs ?? DEFAULT_HOST_COSTS.postDecodePerTokenUs,
  };
}

async function runScenarios(io: CliIO, o: ServeFlags, file: string): Promise<void> {
  if (!o.out) throw new UsageError(`option '--out <csv>' is required with --scenarios`);
  const t0 = performance.now();
  const { rows, columns } = readScenarios(file);
  const res = predictScenarios(rows, columns, engineOptionsOf(o, o), hostOf(o), { numPrompts: o.numPrompts }, file);
  writeFileAtomic(o.out, res.csv);
  const secs = (performance.now() - t0) / 1e3;
  if (o.json) io.out(JSON.stringify({ scenarios: res.rows, predicted: res.predicted, out: o.out, seconds: secs }, null, 2));
  else io.out(`engine serve: ${res.rows} scenarios, ${res.predicted} predicted (${res.rows - res.predicted} with a note) in ${secs.toFixed(2)} s → ${o.out}`);
}

/** The bench result in the shape `printServe`/`costMetrics` read. */
function benchAsServe(b: BenchDeploymentResult, ctx: DeploymentContext, o: ServeFlags): ServeResult {
  const e = compileEngine(ctx, engineOptionsOf(o, o));
  const mem = engineMemory(e, { maxModelLen: 1, maxBatchedTokens: b.maxNumBatchedTokens, maxSeqs: b.maxNumSeqs });
  return {
    deployment: `aggregated TP${ctx.tp}${o.ep > 1 ? ` EP${o.ep}` : ''}${o.dp > 1 ? ` DP${o.dp}` : ''}`,
    gpus: b.gpus,
    concurrency: b.concurrency,
    ...(b.limitedBy !== 'clients' ? { limitedBy: b.limitedBy } : {}),
    ttftMs: b.ttftS * 1e3,
    tpotMs: b.tpotS * 1e3,
    e2eS: b.e2eS,
    outputTokensPerS: b.outputTokensPerS,
    outputTokensPerSPerGpu: b.outputTokensPerSPerGpu,
    requestsPerS: b.requestsPerS,
    capacityRequestsPerS: b.requestsPerS,
    meanStepMs: b.meanStepS * 1e3,
    memory: mem,
  };
}

/** Closed loop at a given concurrency with the vllm bench serve protocol (host costs, first wave, queueing). */
function runBench(io: CliIO, o: ServeFlags, ctx: DeploymentContext, concurrency: number): void {
  const { input, output } = lengthsOf(o);
  const host = hostOf(o);
  const b = benchServeDeployment(ctx, engineOptionsOf(o, o), { isl: input, osl: output, concurrency, maxNumBatchedTokens: o.chunk, maxNumSeqs: o.maxSeqs, gpuMemUtil: o.gpuMemUtil }, host, {
    numPrompts: o.numPrompts,
  });
  const r = benchAsServe(b, ctx, o);
  const cost = costMetrics(r, ctx.gpu, costOf(o));
  if (o.json) {
    io.out(JSON.stringify({ ...r, protocol: 'bench', bench: b, hostCosts: host, cost }, null, 2));
    return;
  }
  io.out(printServe(r, cost));
  io.out(
    `protocol: vllm bench serve, ${o.numPrompts} prompts; vLLM limits max_num_batched_tokens ${b.maxNumBatchedTokens}, max_num_seqs ${b.maxNumSeqs} (${b.limitsSource}); running ${b.running * o.dp} of ${concurrency}, queue wait ${f1(b.queueS * 1e3)} ms; host: α₀ ${f1(host.apiOverheadUs / 1e3)} ms, step host ${host.stepHostUs} µs`,
  );
}

/** The step replay: open loop (--rate), PP, disaggregation, or --protocol replay. */
function runReplay(io: CliIO, o: ServeFlags, ctx: DeploymentContext): void {
  const disagg = o.disagg ? { prefillTp: o.prefillTp ?? o.tp, prefillInstances: o.prefillInstances, decodeInstances: o.decodeInstances, kvLinkGBs: o.kvLinkGbs } : undefined;
  const r = serveMetrics(ctx, engineOptionsOf(o, o), workloadOf(o, ctx.gpu), disagg);
  const cost = costMetrics(r, ctx.gpu, costOf(o));
  if (o.json) io.out(JSON.stringify({ ...r, cost }, null, 2));
  else io.out(printServe(r, cost));
}

function printServe(r: ServeResult, cost: ReturnType<typeof costMetrics>): string {
  const lines = [`${r.deployment}: ${r.gpus} GPUs; concurrency ${r.concurrency}${r.limitedBy ? ` (limited by ${r.limitedBy})` : ''}`];
  lines.push(
    table(
      ['metric', 'value'],
      [
        ['TTFT ms', f1(r.ttftMs)],
        ['TPOT / ITL ms', f2(r.tpotMs)],
        ['request latency s', f2(r.e2eS)],
        ['output tokens/s', f1(r.outputTokensPerS)],
        ['output tokens/s per GPU', f1(r.outputTokensPerSPerGpu)],
        ['requests/s', f2(r.requestsPerS)],
        ...(r.kvHandoffMs !== undefined ? [['KV handoff ms', f2(r.kvHandoffMs)] as [string, string]] : []),
        ['energy J/output token', cost.joulesPerOutputToken.toFixed(3)],
        ['$ per M output tokens', cost.dollarsPerMTokens === null ? '- (give --price)' : cost.dollarsPerMTokens.toFixed(3)],
        ['g CO₂ per M output tokens', f1(cost.gCo2PerMTokens)],
      ],
    ),
  );
  if (r.keepsUp === false) lines.push(`warning: the offered rate exceeds capacity (${r.capacityRequestsPerS.toFixed(2)} req/s); metrics are at saturation`);
  return lines.join('\n');
}

export function serveCommand(io: CliIO): CommandUnknownOpts {
  const c = new Command('serve').description(
    'serving metrics for a steady workload: TTFT, TPOT/ITL, throughput, energy and cost (aggregated or prefill/decode-disaggregated); closed loop = the vllm bench serve protocol with host costs (docs/serving.md)',
  );
  addServeFlags(c);
  addHostFlags(c);
  addParallelism(c);
  addEngineFlags(c);
  addWorkload(c);
  return c.action(async (raw) => {
    const o = ServeFlags.parse(raw);
    if (o.scenarios) return runScenarios(io, o, o.scenarios);
    if (!o.model) throw new UsageError(`required option '--model <id|path>' not specified`);
    if (!o.gpu) throw new UsageError(`required option '--gpu <id|path>' not specified`);
    const ctx = resolveDeployment(deploymentOf({ ...o, model: o.model, gpu: o.gpu }));
    if (o.protocol === 'bench' && !o.disagg && o.rate === undefined && o.concurrency !== undefined && o.pp === 1) runBench(io, o, ctx, o.concurrency);
    else runReplay(io, o, ctx);
  });
}
