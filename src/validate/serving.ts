/**
 * `stepfit validate --suite serving`: the closed-loop serving model (analytic/bench-serve.ts) against
 * the real vLLM deployments on H100 (validate/silicon.ts). Reports TTFT and TPOT MAPE / median APE /
 * bias overall and per model, dtype, TP and concurrency band, for:
 *   - leave-one-model-out: the host-cost terms (α₀ = apiOverheadUs, stepHostUs) are fitted on the rows
 *     of three models and the fourth is predicted with them (one configuration for every split: the
 *     same grid, objective and protocol; nothing keyed by model or GPU);
 *   - in-sample: the same fit on all rows (these are the shipped DEFAULT_HOST_COSTS);
 *   - the ablation: GPU kernels only (no host terms, steady state only), + first-wave burst,
 *     + α₀, + per-step host time.
 * The fit: grid over stepHostUs; for each, α₀ ≥ 0 minimizing TTFT MAPE (α₀ enters TTFT additively
 * apart from its small effect on the clients' cycle, which the final evaluation includes) by a
 * scan; objective = TTFT MAPE + TPOT MAPE on the training rows.
 */
import { resolveDeployment } from '../model/context.js';
import { compileEngine, type Engine, type EngineOptions } from '../analytic/context.js';
import { benchServeDeployment, type BenchProtocol } from '../analytic/bench-serve.js';
import { NO_HOST_COSTS, type HostCosts } from '../analytic/host-costs.js';
import * as aq from 'arquero';
import { loadSiliconScenarios, type ServingScenario } from './silicon.js';

const { op } = aq;

export interface ServingPrediction {
  readonly ttftMs: number;
  readonly tpotMs: number;
  readonly limitedBy: string;
}

export interface ErrStats {
  readonly n: number;
  readonly mape: number;
  readonly medianApe: number;
  readonly biasPct: number;
}
export interface GroupStats {
  readonly group: string;
  readonly ttft: ErrStats;
  readonly tpot: ErrStats;
}

export interface ServingEvaluation {
  readonly label: string;
  readonly host: HostCosts | 'per fold';
  readonly overall: GroupStats;
  readonly groups: GroupStats[];
}

export interface ServingSuiteResult {
  readonly source: string;
  readonly rows: number;
  readonly skipped: { disagg: number; notFitting: number };
  readonly fitted: { readonly allRows: HostCosts; readonly folds: { readonly heldOut: string; readonly host: HostCosts }[] };
  readonly leaveOneModelOut: ServingEvaluation;
  readonly inSample: ServingEvaluation;
  readonly ablation: ServingEvaluation[];
  readonly notes: string[];
}

/** Predictor with an engine cache (scenarios that share model, GPU and parallelism share one compiled engine). */
export function scenarioPredictor(engineOpts: EngineOptions = {}): (s: ServingScenario, host: HostCosts, protocol?: BenchProtocol) => ServingPrediction {
  const engines = new Map<string, Engine>();
  return (s, host, protocol = {}) => {
    const key = `${s.model}|${s.gpu}|${s.tp}|${s.ep}|${s.dp}|${s.dtype ?? ''}`;
    let e = engines.get(key);
    const { arch, gpu } = resolveDeployment({ model: s.model, gpu: s.gpu, tp: s.tp, check: false });
    if (!e) {
      e = compileEngine({ arch, gpu, tp: s.tp }, { ...engineOpts, ep: s.ep, dp: s.dp, weightDtype: s.dtype, efficiency: 'auto' });
      engines.set(key, e);
    }
    const r = benchServeDeployment(
      { arch, gpu, tp: s.tp },
      {},
      { isl: s.isl, osl: s.osl, concurrency: s.concurrency, maxNumBatchedTokens: s.maxNumBatchedTokens, maxNumSeqs: s.maxNumSeqs },
      host,
      protocol,
      e,
    );
    return { ttftMs: r.ttftS * 1e3, tpotMs: r.tpotS * 1e3, limitedBy: r.limitedBy };
  };
}

export function concurrencyBand(c: number): string {
  return c <= 8 ? 'c ≤ 8' : c <= 32 ? 'c 9–32' : c <= 128 ? 'c 33–128' : 'c > 128';
}

/** The grouping dimensions of the per-group tables: name → the row's value. */
const GROUP_KEYS: readonly (readonly [string, (s: ServingScenario) => string])[] = [
  ['model', (s) => s.labels['model']!],
  ['dtype', (s) => s.labels['dtype']!],
  ['TP', (s) => `TP${s.tp}${s.dp > 1 ? ` DP${s.dp}` : ''}`],
  ['concurrency', (s) => concurrencyBand(s.concurrency)],
];

/**
 * One row per scenario: its group labels and signed percent errors pe = 100·(pred − meas)/meas of
 * TTFT and TPOT (absolute errors ape = |pe|), as an arquero table for the group-by roll-ups.
 */
function errorTable(rows: readonly ServingScenario[], preds: readonly ServingPrediction[]): aq.ColumnTable {
  const pe = (p: number, m: number) => (100 * (p - m)) / m;
  const ttftPe = rows.map((s, i) => pe(preds[i]!.ttftMs, s.measuredTtftMs!));
  const tpotPe = rows.map((s, i) => pe(preds[i]!.tpotMs, s.measuredTpotMs!));
  const cols: Record<string, unknown[]> = {
    all: rows.map(() => 'all rows'),
    lowC: rows.map((s) => (s.concurrency <= 128 ? 'rows with c ≤ 128' : '')),
    ttftPe,
    ttftApe: ttftPe.map(Math.abs),
    tpotPe,
    tpotApe: tpotPe.map(Math.abs),
  };
  for (const [kind, f] of GROUP_KEYS) cols[kind] = rows.map(f);
  return aq.table(cols);
}

/** MAPE / median APE / bias of TTFT and TPOT per value of column `dim` (ordered by value), labelled `prefix + value`. */
function rollupBy(t: aq.ColumnTable, dim: string, prefix: string): GroupStats[] {
  if (t.numRows() === 0) return [];
  const r = t
    .groupby(dim)
    .rollup({
      n: op.count(),
      ttftMape: op.mean('ttftApe'),
      ttftMedian: op.median('ttftApe'),
      ttftBias: op.mean('ttftPe'),
      tpotMape: op.mean('tpotApe'),
      tpotMedian: op.median('tpotApe'),
      tpotBias: op.mean('tpotPe'),
    })
    .orderby(dim);
  return (r.objects() as Record<string, number | string>[]).map((o) => ({
    group: `${prefix}${String(o[dim])}`,
    ttft: { n: o['n'] as number, mape: o['ttftMape'] as number, medianApe: o['ttftMedian'] as number, biasPct: o['ttftBias'] as number },
    tpot: { n: o['n'] as number, mape: o['tpotMape'] as number, medianApe: o['tpotMedian'] as number, biasPct: o['tpotBias'] as number },
  }));
}

function evaluate(label: string, host: ServingEvaluation['host'], rows: ServingScenario[], preds: ServingPrediction[]): ServingEvaluation {
  const t = errorTable(rows, preds);
  const nan: ErrStats = { n: 0, mape: NaN, medianApe: NaN, biasPct: NaN };
  const overall = rollupBy(t, 'all', '')[0] ?? { group: 'all rows', ttft: nan, tpot: nan };
  const groups = rollupBy(
    t.filter((d: { lowC: string }) => d.lowC !== ''),
    'lowC',
    '',
  );
  for (const [kind] of GROUP_KEYS) groups.push(...rollupBy(t, kind, `${kind}: `));
  return { label, host, overall, groups };
}

/** The stepHostUs grid and the α₀ scan (µs) of the fit. */
export const STEP_HOST_GRID_US = Object.freeze([0, 250, 500, 750, 1000, 1500, 2000, 3000]);
const ALPHA0_MAX_US = 200_000;
const ALPHA0_STEP_US = 1000;

interface Cached {
  readonly h: number;
  readonly preds: ServingPrediction[];
}

/** MAPE (%) of `pred` against `meas`: 100 · mean |p − m| / m (summed in ascending order). */
function mapePct(pred: number[], meas: number[]): number {
  const a = pred.map((p, i) => Math.abs(p - meas[i]!) / meas[i]!).sort((x, y) => x - y);
  return a.length ? (100 * a.reduce((x, y) => x + y, 0)) / a.length : NaN;
}

/** Fit (α₀, stepHostUs) on the rows in `train` (indices) from predictions cached at α₀ = 0 per h. */
function fitHost(rows: ServingScenario[], cached: Cached[], train: number[]): HostCosts {
  let best = { obj: Infinity, h: 0, a0: 0 };
  for (const c of cached) {
    const tpot = mapePct(
      train.map((i) => c.preds[i]!.tpotMs),
      train.map((i) => rows[i]!.measuredTpotMs!),
    );
    for (let a0 = 0; a0 <= ALPHA0_MAX_US; a0 += ALPHA0_STEP_US) {
      let s = 0;
      for (const i of train) {
        const m = rows[i]!.measuredTtftMs!;
        s += Math.abs(c.preds[i]!.ttftMs + a0 / 1e3 - m) / m;
      }
      const obj = (100 * s) / train.length + tpot;
      if (obj < best.obj) best = { obj, h: c.h, a0 };
    }
  }
  return { ...NO_HOST_COSTS, apiOverheadUs: best.a0, stepHostUs: best.h };
}

/** Run the serving suite on the shared data root. */
export function runServingSuite(dataRoot: string): ServingSuiteResult {
  const load = loadSiliconScenarios(dataRoot);
  const predict = scenarioPredictor();
  // rows whose deployment does not fit at all (the engine refuses) are reported, not hidden
  const rows: ServingScenario[] = [];
  let notFitting = 0;
  for (const s of load.scenarios) {
    try {
      predict(s, NO_HOST_COSTS);
      rows.push(s);
    } catch {
      notFitting++;
    }
  }
  const at = (host: HostCosts, protocol: BenchProtocol = {}): ServingPrediction[] => rows.map((s) => predict(s, host, protocol));
  const curvePredict = scenarioPredictor({ gemmModel: 'curve' });
  const cached: Cached[] = STEP_HOST_GRID_US.map((h) => ({ h, preds: at({ ...NO_HOST_COSTS, stepHostUs: h }) }));
  const all = rows.map((_, i) => i);
  const allHost = fitHost(rows, cached, all);
  const models = [...new Set(rows.map((s) => s.labels['model']!))].sort();
  const lomoPreds: ServingPrediction[] = new Array(rows.length);
  const folds = models.map((m) => {
    const train = all.filter((i) => rows[i]!.labels['model'] !== m);
    const host = fitHost(rows, cached, train);
    for (const i of all) if (rows[i]!.labels['model'] === m) lomoPreds[i] = predict(rows[i]!, host);
    return { heldOut: m, host };
  });
  const inSample = evaluate('in-sample (host terms fitted on all rows)', allHost, rows, at(allHost));
  const lomo = evaluate('leave-one-model-out (host terms fitted on the other three models)', 'per fold', rows, lomoPreds);
  const steadyOnly: BenchProtocol = { numPrompts: Infinity };
  const ablation = [
    evaluate('GPU kernels only, fluid steady state (no host terms, no prefill queueing, no first wave)', NO_HOST_COSTS, rows, at(NO_HOST_COSTS, { ...steadyOnly, prefillQueue: false })),
    evaluate('+ prefills as lumps (M/D/1 queueing; mean step mixes prefill and decode-only steps)', NO_HOST_COSTS, rows, at(NO_HOST_COSTS, steadyOnly)),
    evaluate('+ first wave (1000 prompts, all clients start at t = 0)', NO_HOST_COSTS, rows, at(NO_HOST_COSTS)),
    evaluate('+ α₀ API overhead (in-sample value)', { ...NO_HOST_COSTS, apiOverheadUs: allHost.apiOverheadUs }, rows, at({ ...NO_HOST_COSTS, apiOverheadUs: allHost.apiOverheadUs })),
    evaluate('+ per-step host time (in-sample value) = in-sample', allHost, rows, at(allHost)),
    evaluate(
      'in-sample, but dense GEMMs on the 1-D efficiency curve (no (m, n, k) tables, no FP8 twin bound)',
      allHost,
      rows,
      rows.map((s) => curvePredict(s, allHost)),
    ),
  ];
  return {
    source: load.source,
    rows: rows.length,
    skipped: { disagg: load.skipped.disagg, notFitting },
    fitted: { allRows: allHost, folds },
    leaveOneModelOut: lomo,
    inSample,
    ablation,
    notes: [
      `${load.skipped.disagg} disaggregated rows are not scenarios of this model; ${notFitting} rows do not fit in memory per the engine`,
      "vLLM limits: the GPU's vLLM defaults (analytic/vllm-defaults.ts) for every row (the rows do not record their limits)",
      'protocol: vllm bench serve, 1000 prompts, all clients start at t = 0, fixed ISL/OSL (docs/serving.md)',
    ],
  };
}

/**
 * Regression guards at the measured values × 1.1 + 0.5 (LOMO 23.1 / 37.1 %, in-sample 21.6 / 34.4 %): a run worse than these prints
 * FAIL and `validate` exits 1. They are NOT the issue's targets (SERVING_TARGETS), which this model does
 * not reach yet (docs/serving.md, "What still limits accuracy").
 */
export const SERVING_THRESHOLDS = Object.freeze({ lomoTpotMape: 25.9, lomoTtftMape: 41.3, inSampleTpotMape: 24.3, inSampleTtftMape: 38.3 });

/** Aspirational targets (issue 12): leave-one-model-out TPOT ≤ 12 %, TTFT ≤ 25 %; printed as met / not met. */
export const SERVING_TARGETS = Object.freeze({ lomoTpotMape: 12, lomoTtftMape: 25 });

interface Check {
  readonly what: string;
  readonly value: number;
  readonly limit: number;
}

function checks(r: ServingSuiteResult, lim: { lomoTpotMape: number; lomoTtftMape: number; inSampleTpotMape?: number; inSampleTtftMape?: number }): Check[] {
  const c: Check[] = [
    { what: 'leave-one-model-out TPOT MAPE', value: r.leaveOneModelOut.overall.tpot.mape, limit: lim.lomoTpotMape },
    { what: 'leave-one-model-out TTFT MAPE', value: r.leaveOneModelOut.overall.ttft.mape, limit: lim.lomoTtftMape },
  ];
  if (lim.inSampleTpotMape !== undefined) c.push({ what: 'in-sample TPOT MAPE', value: r.inSample.overall.tpot.mape, limit: lim.inSampleTpotMape });
  if (lim.inSampleTtftMape !== undefined) c.push({ what: 'in-sample TTFT MAPE', value: r.inSample.overall.ttft.mape, limit: lim.inSampleTtftMape });
  return c;
}

const ok = (c: Check): boolean => c.value <= c.limit; // NaN fails
const miss = (c: Check): string => `${c.what} ${f1(c.value)}% > ${c.limit}%`;

/** Failed regression guards (empty when all pass); a failure makes validate exit 1. */
export function servingFailures(r: ServingSuiteResult): string[] {
  return checks(r, SERVING_THRESHOLDS)
    .filter((c) => !ok(c))
    .map(miss);
}

/** Aspirational targets not met (printed; exit 1 only under --check). */
export function servingTargetsNotMet(r: ServingSuiteResult): string[] {
  return checks(r, SERVING_TARGETS)
    .filter((c) => !ok(c))
    .map(miss);
}

/** Guards and targets in the shape of validate/format.ts `Verdict`. */
export function servingVerdict(r: ServingSuiteResult): { guards: { checked: number; failed: string[] }; targets: { checked: number; notMet: string[] } } {
  return {
    guards: { checked: checks(r, SERVING_THRESHOLDS).length, failed: servingFailures(r) },
    targets: { checked: checks(r, SERVING_TARGETS).length, notMet: servingTargetsNotMet(r) },
  };
}

/** The guard / target lines closing the Markdown rendering. */
function servingVerdictLines(r: ServingSuiteResult): string[] {
  const out = ['### guards (regression: FAIL exits 1) and targets (aspirational)', ''];
  for (const c of checks(r, SERVING_THRESHOLDS)) out.push(`- guard: ${c.what} ${f1(c.value)}% ≤ ${c.limit}%: ${ok(c) ? 'PASS' : 'FAIL'}`);
  for (const c of checks(r, SERVING_TARGETS)) out.push(`- target: ${c.what} ${f1(c.value)}% ≤ ${c.limit}%: ${ok(c) ? 'met' : 'not met'}`);
  const v = servingVerdict(r);
  out.push('', v.guards.failed.length === 0 ? `guards: PASS (${v.guards.checked} of ${v.guards.checked})` : `guards: FAIL (${v.guards.failed.length} of ${v.guards.checked})`);
  return out;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const sg = (x: number): string => (Number.isFinite(x) ? (x >= 0 ? '+' : '') + x.toFixed(1) : '–');
const hostCell = (h: ServingEvaluation['host']): string => (h === 'per fold' ? 'per fold' : `α₀ ${(h.apiOverheadUs / 1e3).toFixed(1)} ms, step host ${h.stepHostUs} µs`);

/** Markdown tables: the headline rows, per-group LOMO and in-sample, the ablation and the fitted terms. */
export function formatServingMarkdown(r: ServingSuiteResult): string {
  const head = '| rows | n | TPOT MAPE / median / bias % | TTFT MAPE / median / bias % |\n|---|---|---|---|';
  const line = (g: GroupStats): string =>
    `| ${g.group} | ${g.tpot.n} | ${f1(g.tpot.mape)} / ${f1(g.tpot.medianApe)} / ${sg(g.tpot.biasPct)} | ${f1(g.ttft.mape)} / ${f1(g.ttft.medianApe)} / ${sg(g.ttft.biasPct)} |`;
  const out = [`suite serving: ${r.rows} real vLLM deployments on H100 SXM (${r.source})`, ''];
  for (const ev of [r.leaveOneModelOut, r.inSample]) {
    out.push(`### ${ev.label}`, '', head, line(ev.overall), ...ev.groups.map(line), '');
  }
  out.push('### ablation (all rows)', '', '| configuration | host terms | TPOT MAPE / bias % | TTFT MAPE / bias % |', '|---|---|---|---|');
  for (const ev of r.ablation)
    out.push(`| ${ev.label} | ${hostCell(ev.host)} | ${f1(ev.overall.tpot.mape)} / ${sg(ev.overall.tpot.biasPct)} | ${f1(ev.overall.ttft.mape)} / ${sg(ev.overall.ttft.biasPct)} |`);
  out.push('', '### fitted host terms', '', `- all rows: ${hostCell(r.fitted.allRows)}`);
  for (const f of r.fitted.folds) out.push(`- without ${f.heldOut}: ${hostCell(f.host)}`);
  out.push('', ...r.notes.map((n) => `note: ${n}`), '', ...servingVerdictLines(r));
  return out.join('\n');
}

export function formatServingText(r: ServingSuiteResult): string {
  return formatServingMarkdown(r);
}
