/**
 * The planner's configuration form (browser): the field table, its HTML, and reading / writing a
 * `PlannerState` from / to it. `formGroups` takes the bundled model and GPU ids, which the page reads
 * after mounting its embedded files.
 */
import { KV_DTYPES, type PlannerState, WEIGHT_DTYPES } from './state.js';

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

type FieldKind = 'int' | 'num' | 'sel' | 'text';
export interface Field {
  key: keyof PlannerState;
  label: string;
  kind: FieldKind;
  options?: readonly (readonly [string, string])[];
  min?: number;
  step?: string;
  help?: string;
}
export interface FieldGroup {
  legend: string;
  fields: Field[];
}

/** The form's field groups, in display order, for the bundled model and GPU ids. */
export function formGroups(modelIds: readonly string[], gpuIds: readonly string[]): FieldGroup[] {
  return [
    {
      legend: 'Model and GPU',
      fields: [
        { key: 'model', label: 'Model', kind: 'sel', options: [...modelIds.map((m) => [m, m] as const), ['custom', 'paste a HF config.json…'] as const] },
        { key: 'customConfig', label: 'config.json', kind: 'text', help: 'HuggingFace config.json text (model = custom)' },
        { key: 'gpu', label: 'GPU', kind: 'sel', options: gpuIds.map((g) => [g, g] as const) },
      ],
    },
    {
      legend: 'Parallelism and dtypes',
      fields: [
        { key: 'tp', label: 'TP (tensor)', kind: 'int', min: 1 },
        { key: 'pp', label: 'PP (pipeline)', kind: 'int', min: 1 },
        { key: 'ep', label: 'EP (expert)', kind: 'int', min: 1 },
        { key: 'dp', label: 'DP (replicas)', kind: 'int', min: 1 },
        { key: 'weightDtype', label: 'Weight dtype', kind: 'sel', options: WEIGHT_DTYPES.map((d) => [d, d || "model's own"] as const) },
        { key: 'kvDtype', label: 'KV-cache dtype', kind: 'sel', options: KV_DTYPES.map((d) => [d, d] as const) },
      ],
    },
    {
      legend: 'vLLM limits',
      fields: [
        { key: 'chunk', label: 'max_num_batched_tokens', kind: 'int', min: 1 },
        { key: 'maxSeqs', label: 'max_num_seqs', kind: 'int', min: 1 },
        { key: 'gpuMemUtil', label: 'gpu_memory_utilization', kind: 'num', min: 0.01, step: '0.01' },
      ],
    },
    {
      legend: 'Workload',
      fields: [
        { key: 'input', label: 'Input tokens (ISL)', kind: 'int', min: 1 },
        { key: 'output', label: 'Output tokens (OSL)', kind: 'int', min: 1 },
        {
          key: 'load',
          label: 'Load',
          kind: 'sel',
          options: [
            ['concurrency', 'concurrency (closed loop)'],
            ['rate', 'request rate (open loop)'],
          ],
        },
        { key: 'concurrency', label: 'Concurrency (0 = max)', kind: 'int', min: 0 },
        { key: 'rate', label: 'Rate, req/s', kind: 'num', min: 0, step: 'any' },
      ],
    },
    {
      legend: 'Cost, energy and SLA',
      fields: [
        { key: 'price', label: '$ per GPU-hour', kind: 'num', min: 0, step: 'any' },
        { key: 'pue', label: 'PUE', kind: 'num', min: 1, step: 'any' },
        { key: 'carbon', label: 'g CO₂ per kWh', kind: 'num', min: 0, step: 'any' },
        { key: 'powerFraction', label: 'power, fraction of TDP', kind: 'num', min: 0, step: 'any' },
        { key: 'slaTtftMs', label: 'SLA TTFT, ms', kind: 'num', min: 0, step: 'any' },
        { key: 'slaTpotMs', label: 'SLA TPOT, ms', kind: 'num', min: 0, step: 'any' },
      ],
    },
  ];
}

export function fieldHtml(f: Field): string {
  const id = `f-${f.key}`;
  const label = `<label for="${id}">${esc(f.label)}</label>`;
  if (f.kind === 'sel') return `<div class="row">${label}<select id="${id}" name="${f.key}">${f.options!.map(([v, t]) => `<option value="${esc(v)}">${esc(t)}</option>`).join('')}</select></div>`;
  if (f.kind === 'text')
    return `<div class="row" id="l-${f.key}">${label}<textarea id="${id}" name="${f.key}" spellcheck="false" aria-describedby="h-${f.key}"></textarea></div><div id="h-${f.key}" class="src">${esc(f.help ?? '')}</div>`;
  return `<div class="row">${label}<input id="${id}" name="${f.key}" type="number" inputmode="decimal" min="${f.min ?? 0}" step="${f.step ?? '1'}"></div>`;
}

export function writeForm(fields: readonly Field[], s: PlannerState): void {
  for (const f of fields) {
    const el = $<HTMLInputElement>(`f-${f.key}`);
    el.value = String(s[f.key]);
  }
  showConditional(s);
}

export function showConditional(s: PlannerState): void {
  $(`l-customConfig`).hidden = s.model !== 'custom';
  $(`h-customConfig`).hidden = s.model !== 'custom';
  $<HTMLInputElement>('f-concurrency').disabled = s.load !== 'concurrency';
  $<HTMLInputElement>('f-rate').disabled = s.load !== 'rate';
}

/** Read the form over `base`; returns the problems (field: expected …) instead of a state when a value is bad. */
export function readForm(fields: readonly Field[], base: PlannerState): { state?: PlannerState; problems: string[] } {
  const s: PlannerState = { ...base };
  const problems: string[] = [];
  for (const f of fields) {
    const raw = $<HTMLInputElement>(`f-${f.key}`).value;
    if (f.kind === 'sel' || f.kind === 'text') {
      (s as unknown as Record<string, string>)[f.key] = raw;
      continue;
    }
    const v = Number(raw);
    const min = f.min ?? 0;
    if (raw.trim() === '' || !Number.isFinite(v) || v < min || (f.kind === 'int' && !Number.isInteger(v))) {
      problems.push(`${f.label}: expected ${f.kind === 'int' ? 'an integer' : 'a number'} ≥ ${min}, got '${raw}'`);
      continue;
    }
    (s as unknown as Record<string, number>)[f.key] = v;
  }
  return problems.length ? { problems } : { state: s, problems };
}
