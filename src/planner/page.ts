/**
 * The planner page (browser entry, bundled by build.ts). Reads the embedded data, mounts the
 * configs into the in-memory file system, builds the form, and on every change runs the engine
 * through compute.ts — the same functions `stepfit engine serve` calls — then renders metrics,
 * memory, the batch limit, plots and the comparison. State lives in the URL fragment.
 */
import { mount } from './shims/fs.js';
import { loadEfficiency } from '../analytic/efficiency.js';
import { knownGpuIds } from '../hardware/gpu.js';
import { knownModelIds } from '../model/load.js';
import { $, esc, fieldHtml, formGroups, readForm, showConditional, writeForm } from './form.js';
import { DEFAULT_STATE, encodeFragment, decodeFragment, cliArgsOf, type PlannerState } from './state.js';
import { planContext, planServe, concurrencyGrid, batchCaps, type ServeJson, type PlanContext } from './compute.js';
import { linePlot, PALETTE, type Series } from './plot.js';
import type { PlannerData } from './build.js';
import type { FitSummary } from './fits.js';

const PASTED = '/pasted/config.json';
const scriptStartMs = performance.now();
const data = JSON.parse(document.getElementById('planner-data')!.textContent!) as PlannerData;
mount(data.files);
const mountedMs = performance.now();

const modelIds = knownModelIds();
const gpuIds = knownGpuIds();
const GROUPS = formGroups(modelIds, gpuIds);
const FIELDS = GROUPS.flatMap((g) => g.fields);

document.getElementById('app')!.outerHTML = `
<header><h1>stepfit capacity planner</h1><p>Analytic engine of stepfit ${esc(data.version)}, running in this page (offline). Every number below comes from the <b>engine</b> unless it says <b>fit</b>.</p></header>
<main>
<form id="form" aria-label="Configuration" onsubmit="return false">
${GROUPS.map((g) => `<fieldset><legend>${esc(g.legend)}</legend>${g.fields.map(fieldHtml).join('')}</fieldset>`).join('')}
<fieldset><legend>Compare</legend><button type="button" id="add-compare">Add to comparison</button> <button type="button" class="sec" id="clear-compare">Clear comparison</button><div class="src">Up to 4 saved configurations, plotted beside the current one.</div></fieldset>
</form>
<div id="results">
<div id="status" role="status" aria-live="polite" class="mut"></div>
<section id="alert" role="alert"></section>
<section aria-labelledby="h-metrics"><h2 id="h-metrics">Serving metrics</h2><div id="deployment" class="mut"></div><div class="cards" id="cards"></div><p class="src" id="source"></p></section>
<section aria-labelledby="h-limit"><h2 id="h-limit">What limits the batch</h2><div id="limit"></div></section>
<section aria-labelledby="h-mem"><h2 id="h-mem">Memory per GPU</h2><div id="memory"></div></section>
<section aria-labelledby="h-plots"><h2 id="h-plots">Latency and throughput vs concurrency</h2><div class="plots" id="plots"></div></section>
<section aria-labelledby="h-cmp"><h2 id="h-cmp">Comparison</h2><div id="compare"></div></section>
<section aria-labelledby="h-fits"><h2 id="h-fits">Fits</h2><div id="fits"></div></section>
<section aria-labelledby="h-cli"><h2 id="h-cli">Same numbers from the command line</h2><code id="cli"></code></section>
</div></main>`;

let state: PlannerState = { ...DEFAULT_STATE };
let compare: PlannerState[] = [];

const fx = (x: number | null, d: number): string => (x === null ? '–' : Number.isFinite(x) ? x.toFixed(d) : '∞');

function modelRefOf(s: PlannerState): string {
  if (s.model !== 'custom') return s.model;
  mount({ [PASTED]: s.customConfig });
  return PASTED;
}

function setStatus(t: string): void {
  $('status').textContent = t;
}
function setAlert(lines: string[]): void {
  $('alert').innerHTML = lines.map((l) => `<div>${esc(l)}</div>`).join('');
}

function errorText(e: unknown): string {
  const err = e as Error;
  if (err && err.name === 'InputError') return err.message;
  if (err instanceof SyntaxError) return `pasted config.json: not valid JSON (${err.message})`;
  return `internal error: ${err?.message ?? String(e)}`;
}

const METRICS: { key: string; label: string; value: (r: ServeJson) => number | null; d: number }[] = [
  { key: 'ttftMs', label: 'TTFT, ms', value: (r) => r.ttftMs, d: 1 },
  { key: 'tpotMs', label: 'TPOT / ITL, ms', value: (r) => r.tpotMs, d: 2 },
  { key: 'e2eS', label: 'request latency, s', value: (r) => r.e2eS, d: 2 },
  { key: 'outputTokensPerS', label: 'output tokens/s', value: (r) => r.outputTokensPerS, d: 1 },
  { key: 'outputTokensPerSPerGpu', label: 'output tokens/s per GPU', value: (r) => r.outputTokensPerSPerGpu, d: 1 },
  { key: 'requestsPerS', label: 'requests/s', value: (r) => r.requestsPerS, d: 2 },
  { key: 'concurrency', label: 'requests in flight', value: (r) => r.concurrency, d: 0 },
  { key: 'gpus', label: 'GPUs', value: (r) => r.gpus, d: 0 },
  { key: 'dollarsPerMTokens', label: '$ per M output tokens', value: (r) => r.cost.dollarsPerMTokens, d: 3 },
  { key: 'joulesPerOutputToken', label: 'energy, J per output token', value: (r) => r.cost.joulesPerOutputToken, d: 3 },
  { key: 'gCo2PerMTokens', label: 'g CO₂ per M output tokens', value: (r) => r.cost.gCo2PerMTokens, d: 1 },
];

function renderMetrics(p: PlanContext, r: ServeJson): void {
  $('deployment').textContent =
    `${p.ctx.arch.name} on ${r.gpus} × ${p.gpu.name}: ${r.deployment}${r.keepsUp === false ? ` — the offered rate exceeds capacity (${r.capacityRequestsPerS.toFixed(2)} req/s); metrics are at saturation` : ''}`;
  $('cards').innerHTML = METRICS.map((m) => {
    const v = m.value(r);
    const shown = m.key === 'dollarsPerMTokens' && v === null ? '– (set $/GPU-hour)' : fx(v, m.d);
    return `<div class="card"><div class="k" id="k-${m.key}">${esc(m.label)}</div><output id="m-${m.key}" aria-labelledby="k-${m.key}" data-value="${v === null ? '' : String(v)}">${esc(shown)}</output><div class="src">engine</div></div>`;
  }).join('');
  const eff = loadEfficiency(p.gpu, 'auto');
  $('source').innerHTML =
    `Source: the analytic <b>engine</b> (per-operator roofline, efficiency tables: ${esc(eff.calibrated.length ? `calibrated ${eff.origin.split('/').slice(-2).join('/')}` : 'documented defaults (uncalibrated GPU)')}), replaying one vLLM replica step by step — the same code as <code>stepfit engine serve</code>. An engine number is not a fit, so it carries no held-out error; fitted models and their held-out error are under Fits.` +
    `<details><summary>GPU datasheet sources</summary><ul>${Object.entries(p.gpu.sources)
      .map(([k, v]) => `<li>${esc(k)}: ${esc(v)}</li>`)
      .join('')}</ul></details>`;
}

function renderLimit(s: PlannerState, r: ServeJson): void {
  const caps = batchCaps(r, s);
  const cap = Math.min(caps.kv, caps.maxSeqs);
  const which = caps.kv <= caps.maxSeqs ? 'KV-cache memory' : 'max_num_seqs';
  const lines = [
    `KV cache holds ${r.memory.maxKvTokens.toLocaleString('en-US')} tokens per GPU → ${caps.kv.toLocaleString('en-US')} requests of ${s.input + s.output} tokens in flight (× DP ${s.dp}).`,
    `max_num_seqs ${s.maxSeqs} × PP ${s.pp} × DP ${s.dp} → ${caps.maxSeqs.toLocaleString('en-US')} requests.`,
    `Token budget (max_num_batched_tokens) ${s.chunk}: a ${s.input}-token prompt is prefilled in ${Math.ceil(s.input / s.chunk)} chunk(s), sharing each step with the running decodes.`,
    r.limitedBy
      ? `<b id="limited-by">The batch is limited by ${esc(r.limitedBy)}</b> (${cap} requests).`
      : `<b id="limited-by">The batch is set by your load</b> (${r.concurrency} in flight; the cap is ${cap}, set by ${which}).`,
  ];
  $('limit').innerHTML = lines.map((l) => `<p>${l}</p>`).join('');
}

function renderMemory(s: PlannerState, r: ServeJson): void {
  const m = r.memory;
  const parts: [string, number, string][] = [
    ['weights', m.weightBytes, '#1f77b4'],
    ['activations (peak)', m.activationBytes, '#ff7f0e'],
    ['reserved (runtime, NCCL)', m.reservedBytes, '#9467bd'],
    ['KV cache', Math.max(0, m.kvCacheBytes), '#2ca02c'],
    ['outside gpu_memory_utilization', m.capacityBytes - m.usableBytes, '#d0d7de'],
  ];
  const gb = (b: number): string => (b / 1e9).toFixed(2);
  $('memory').innerHTML =
    `<div class="bar" role="img" aria-label="${esc(parts.map(([n, b]) => `${n} ${gb(b)} GB`).join(', '))}">${parts.map(([n, b, c]) => `<span title="${esc(n)}: ${gb(b)} GB" style="width:${((Math.max(0, b) / m.capacityBytes) * 100).toFixed(2)}%;background:${c}"></span>`).join('')}</div>
<table><thead><tr><th>per GPU</th><th>GB</th></tr></thead><tbody>
<tr><td>capacity</td><td>${gb(m.capacityBytes)}</td></tr><tr><td>usable (× gpu_memory_utilization)</td><td>${gb(m.usableBytes)}</td></tr>
${parts
  .slice(0, 4)
  .map(([n, b, c]) => `<tr><td><span style="color:${c}">■</span> ${esc(n)}</td><td>${gb(b)}</td></tr>`)
  .join('')}
</tbody></table><p class="${m.fits ? 'ok' : 'bad'}" id="fits-memory">${m.fits ? `Fits: KV bytes per token per GPU ${m.kvBytesPerToken.toFixed(0)}; ${m.maxSequences} sequences of ${s.input + s.output} tokens (ISL + OSL) fit.` : esc(m.reason ?? 'does not fit')}</p>`;
}

interface Sweep {
  label: string;
  points: { c: number; r: ServeJson }[];
}

function labelOf(s: PlannerState, p?: PlanContext): string {
  return `${s.model === 'custom' ? (p?.ctx.arch.name ?? 'custom') : s.model} · ${s.gpu} TP${s.tp}${s.pp > 1 ? ` PP${s.pp}` : ''}${s.ep > 1 ? ` EP${s.ep}` : ''}${s.dp > 1 ? ` DP${s.dp}` : ''}${s.weightDtype ? ` ${s.weightDtype}` : ''}`;
}

function renderPlots(s: PlannerState, sweeps: Sweep[]): void {
  const ser = (f: (r: ServeJson) => number, x: (pt: { c: number; r: ServeJson }) => number = (pt) => pt.c): Series[] =>
    sweeps.map((sw) => ({ name: sw.label, points: sw.points.map((pt) => [x(pt), f(pt.r)] as const) }));
  $('plots').innerHTML =
    [
      linePlot({ title: 'TTFT vs concurrency', xLabel: 'requests in flight', yLabel: 'TTFT, ms', logX: true, series: ser((r) => r.ttftMs), hline: { y: s.slaTtftMs, label: `SLA ${s.slaTtftMs} ms` } }),
      linePlot({ title: 'TPOT vs concurrency', xLabel: 'requests in flight', yLabel: 'TPOT, ms', logX: true, series: ser((r) => r.tpotMs), hline: { y: s.slaTpotMs, label: `SLA ${s.slaTpotMs} ms` } }),
      linePlot({
        title: 'Throughput–latency frontier',
        xLabel: 'TPOT, ms',
        yLabel: 'output tokens/s per GPU',
        series: ser(
          (r) => r.outputTokensPerSPerGpu,
          (pt) => pt.r.tpotMs,
        ),
      }),
    ]
      .map((svg) => `<figure style="margin:0">${svg}</figure>`)
      .join('') +
    `<details><summary>Plot data (engine)</summary><table><thead><tr><th>configuration</th><th>in flight</th><th>TTFT ms</th><th>TPOT ms</th><th>tok/s/GPU</th><th>meets SLA</th></tr></thead><tbody>${sweeps
      .flatMap((sw) =>
        sw.points.map(
          (pt) =>
            `<tr><td>${esc(sw.label)}</td><td>${pt.r.concurrency}</td><td>${pt.r.ttftMs.toFixed(1)}</td><td>${pt.r.tpotMs.toFixed(2)}</td><td>${pt.r.outputTokensPerSPerGpu.toFixed(1)}</td><td>${pt.r.ttftMs <= s.slaTtftMs && pt.r.tpotMs <= s.slaTpotMs ? 'yes' : 'no'}</td></tr>`,
        ),
      )
      .join('')}</tbody></table></details>`;
}

function renderCompare(rows: { s: PlannerState; label: string; r?: ServeJson; err?: string }[]): void {
  $('compare').innerHTML =
    `<table><thead><tr><th>configuration</th><th>GPUs</th><th>TTFT ms</th><th>TPOT ms</th><th>tok/s/GPU</th><th>$/M tok</th><th>J/token</th><th>limited by</th><th></th></tr></thead><tbody>${rows
      .map(
        (x, i) =>
          `<tr><td><span style="color:${PALETTE[i % PALETTE.length]}">■</span> ${esc(x.label)}${i === 0 ? ' (current)' : ''}</td>${
            x.r
              ? `<td>${x.r.gpus}</td><td>${x.r.ttftMs.toFixed(1)}</td><td>${x.r.tpotMs.toFixed(2)}</td><td>${x.r.outputTokensPerSPerGpu.toFixed(1)}</td><td>${fx(x.r.cost.dollarsPerMTokens, 3)}</td><td>${x.r.cost.joulesPerOutputToken.toFixed(3)}</td><td>${esc(x.r.limitedBy ?? 'load')}</td>`
              : `<td colspan="7" class="bad">${esc(x.err ?? '')}</td>`
          }<td>${i === 0 ? '' : `<button type="button" class="sec" data-remove="${i - 1}" aria-label="Remove ${esc(x.label)} from the comparison">Remove</button>`}</td></tr>`,
      )
      .join('')}</tbody></table>`;
}

function renderFits(fits: readonly FitSummary[], s: PlannerState): void {
  if (!fits.length) {
    $('fits').innerHTML = '<p class="mut">No fit files embedded (build the page with <code>stepfit planner --fit fits/x.json</code> to show them). All numbers above are engine numbers.</p>';
    return;
  }
  $('fits').innerHTML =
    `<p class="mut">Embedded fits and their held-out error (the fit's own cross-validation). The serving numbers above are from the engine, not from these fits.</p><table><thead><tr><th>fit</th><th>basis</th><th>trained on</th><th>in-sample MAPE %</th><th>held-out MAPE %</th><th>held-out p90 %</th><th>matches this GPU/TP</th></tr></thead><tbody>${fits
      .map(
        (f) =>
          `<tr><td>${esc(f.name)}</td><td>${esc(f.basis)}</td><td>${esc(f.experiments.map((e) => `${e.model}/${e.gpu}/TP${e.tp}`).join(', '))}</td><td>${f.trainMapePct.toFixed(1)}</td><td>${f.heldOut ? `${f.heldOut.mapePct.toFixed(1)} (${esc(f.heldOut.scheme)})` : 'none in file'}</td><td>${f.heldOut ? f.heldOut.p90ApePct.toFixed(1) : '–'}</td><td>${f.experiments.some((e) => e.gpu === s.gpu && e.tp === s.tp) ? 'yes' : 'no'}</td></tr>`,
      )
      .join('')}</tbody></table>`;
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));
let generation = 0;

async function sweepOf(s: PlannerState): Promise<Sweep | string> {
  try {
    const p = planContext(modelRefOf(s), s);
    const capR = planServe({ ...p, state: { ...s, load: 'concurrency', concurrency: 0 } });
    const grid = concurrencyGrid(capR.concurrency);
    const points: { c: number; r: ServeJson }[] = [];
    for (const c of grid) {
      await tick();
      points.push({ c, r: c === capR.concurrency ? capR : planServe(p, c) });
    }
    return { label: labelOf(s, p), points };
  } catch (e) {
    return errorText(e);
  }
}

async function recompute(): Promise<void> {
  const gen = ++generation;
  const s = state;
  const key = `k:${encodeFragment(s, compare)}`;
  document.body.dataset['ready'] = '';
  setStatus('computing…');
  const t0 = performance.now();
  $('cli').textContent = `npx stepfit ${cliArgsOf(s, '<your config.json>')
    .map((a) => (/^[\w.,@/<>-]+$/.test(a) ? a : `'${a}'`))
    .join(' ')}`;
  renderFits(data.fits, s);
  await tick();
  if (gen !== generation) return;
  let p: PlanContext;
  let r: ServeJson;
  try {
    p = planContext(modelRefOf(s), s);
    r = planServe(p);
  } catch (e) {
    setAlert([errorText(e)]);
    for (const id of ['cards', 'limit', 'memory', 'plots', 'compare']) $(id).innerHTML = '';
    $('deployment').textContent = '';
    setStatus('no result: see the message above');
    document.body.dataset['ready'] = key;
    document.body.dataset['sweep'] = key;
    return;
  }
  setAlert([]);
  renderMetrics(p, r);
  renderLimit(s, r);
  renderMemory(s, r);
  const headlineMs = performance.now() - t0;
  // ms since navigation start until the first numbers are on screen (the page-load figure)
  if (!document.body.dataset['loadMs'])
    Object.assign(document.body.dataset, {
      loadMs: performance.now().toFixed(0),
      scriptMs: scriptStartMs.toFixed(0),
      dataMs: (mountedMs - scriptStartMs).toFixed(0),
      firstComputeMs: headlineMs.toFixed(0),
    });
  document.body.dataset['ready'] = key;
  setStatus(`computed in ${headlineMs.toFixed(0)} ms; sweeping concurrency…`);
  const sweeps: Sweep[] = [];
  const rows: { s: PlannerState; label: string; r?: ServeJson; err?: string }[] = [{ s, label: labelOf(s, p), r }];
  for (const cs of [s, ...compare]) {
    const sw = await sweepOf(cs);
    if (gen !== generation) return;
    if (typeof sw === 'string') {
      if (cs !== s) rows.push({ s: cs, label: labelOf(cs), err: sw });
      continue;
    }
    sweeps.push(sw);
    if (cs !== s) {
      try {
        const cp = planContext(modelRefOf(cs), cs);
        rows.push({ s: cs, label: labelOf(cs, cp), r: planServe(cp) });
      } catch (e) {
        rows.push({ s: cs, label: labelOf(cs), err: errorText(e) });
      }
    }
    renderPlots(s, sweeps);
  }
  renderCompare(rows);
  setStatus(`computed in ${headlineMs.toFixed(0)} ms; plots in ${(performance.now() - t0).toFixed(0)} ms (engine)`);
  document.body.dataset['sweep'] = key;
}

function applyHash(): void {
  const d = decodeFragment(location.hash);
  state = d.state;
  compare = d.compare;
  if (!gpuIds.includes(state.gpu)) {
    d.problems.push(`URL field 'gpu': unknown GPU '${state.gpu}' (known: ${gpuIds.join(', ')})`);
    state.gpu = DEFAULT_STATE.gpu;
  }
  if (state.model !== 'custom' && !modelIds.includes(state.model)) {
    d.problems.push(`URL field 'model': unknown model '${state.model}'`);
    state.model = DEFAULT_STATE.model;
  }
  writeForm(FIELDS, state);
  void recompute().then(() => {
    if (d.problems.length) setAlert([...d.problems, ...Array.from($('alert').querySelectorAll('div')).map((x) => x.textContent ?? '')]);
  });
}

let timer: ReturnType<typeof setTimeout> | undefined;
function onChange(): void {
  const f = readForm(FIELDS, state);
  if (!f.state) {
    setAlert(f.problems);
    return;
  }
  state = f.state;
  showConditional(state);
  history.replaceState(null, '', `#${encodeFragment(state, compare)}`);
  clearTimeout(timer);
  timer = setTimeout(() => void recompute(), 150);
}

$('form').addEventListener('input', onChange);
$('form').addEventListener('change', onChange);
$('add-compare').addEventListener('click', () => {
  if (compare.length >= 4) {
    setAlert(['Comparison: at most 4 saved configurations; remove one first']);
    return;
  }
  compare = [...compare, { ...state }];
  history.replaceState(null, '', `#${encodeFragment(state, compare)}`);
  void recompute();
});
$('clear-compare').addEventListener('click', () => {
  compare = [];
  history.replaceState(null, '', `#${encodeFragment(state, compare)}`);
  void recompute();
});
$('compare').addEventListener('click', (ev) => {
  const b = (ev.target as HTMLElement).closest('button[data-remove]') as HTMLElement | null;
  if (!b) return;
  compare = compare.filter((_, i) => i !== Number(b.dataset['remove']));
  history.replaceState(null, '', `#${encodeFragment(state, compare)}`);
  void recompute();
});
window.addEventListener('hashchange', applyHash);
applyHash();
