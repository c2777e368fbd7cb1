/**
 * Report plots: vega-lite specifications built from report data, rendered in Node to SVG
 * (vega View.toSVG, renderer 'none' — no DOM, no canvas) and to PNG (@resvg/resvg-js) for
 * Markdown viewers. Scatter plots show a seeded random sample of at most MAX_POINTS rows (a
 * reservoir filled during the report's pass); the error CDF and all numbers use every row.
 */
import * as vl from 'vega-lite';
import * as vega from 'vega';
import { Resvg } from '@resvg/resvg-js';
import { PHASES, type ComparatorId, type ReportData, type Comparator, type PlotPoint } from './data.js';
import type { AccuracySection } from './accuracy.js';
import { statsOf } from './accuracy.js';

export { MAX_POINTS } from './data.js';
const WIDTH = 520;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const PHASE_COLORS = ['#d95f02', '#1b9e77', '#7570b3'];
const COMPARATOR_COLORS: Record<ComparatorId, string> = { fit: '#1f77b4', seed: '#ff7f0e', engine: '#2ca02c', naive: '#7f7f7f' };

export interface PlotSpec {
  id: string;
  title: string;
  caption: string;
  spec: vl.TopLevelSpec;
}

export interface RenderedPlot extends Omit<PlotSpec, 'spec'> {
  svg: string;
  png: Uint8Array;
}

const config = {
  font: FONT,
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 11, labelLimit: 260 },
  title: { fontSize: 13 },
  view: { stroke: '#ddd' },
};

const phaseColor = { field: 'phase', type: 'nominal', title: 'phase mix', scale: { domain: [...PHASES], range: PHASE_COLORS } } as const;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

function predVsMeasured(d: ReportData, rows: readonly PlotPoint[]): PlotSpec {
  const values = rows.map((r) => ({ m: r3(r.m), p: r3(r.p), phase: PHASES[r.phase] }));
  const pos = values.filter((v) => v.p > 0);
  let lo = Infinity,
    hi = 0;
  for (const v of pos) {
    lo = Math.min(lo, v.m, v.p);
    hi = Math.max(hi, v.m, v.p);
  }
  if (!(lo < hi)) {
    lo = 1;
    hi = 10;
  }
  return {
    id: 'pred-vs-measured',
    title: 'Predicted vs measured step time',
    caption: `Each point is a step (${rows.length < d.n ? `random sample of ${rows.length} of ${d.n}` : `all ${d.n}`}${pos.length < values.length ? `; ${values.length - pos.length} non-positive predictions not shown on the log axes` : ''}). Grey line: y = x. Points above it are over-predicted.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: WIDTH,
      height: 360,
      config,
      layer: [
        {
          data: {
            values: [
              { m: lo, p: lo },
              { m: hi, p: hi },
            ],
          },
          mark: { type: 'line', color: '#888', strokeDash: [4, 3] },
          encoding: { x: { field: 'm', type: 'quantitative' }, y: { field: 'p', type: 'quantitative' } },
        },
        {
          data: { values: pos },
          mark: { type: 'circle', size: 14, opacity: 0.55 },
          encoding: {
            x: { field: 'm', type: 'quantitative', title: 'measured step time (µs)', scale: { type: 'log', domain: [lo, hi] } },
            y: { field: 'p', type: 'quantitative', title: 'predicted step time (µs)', scale: { type: 'log', domain: [lo, hi] } },
            color: phaseColor,
          },
        },
      ],
    } as vl.TopLevelSpec,
  };
}

function residualPlot(rows: readonly PlotPoint[], id: string, field: 'requests' | 'tokens' | 'context', xTitle: string, scale: 'linear' | 'log' | 'symlog'): PlotSpec {
  const values = rows.map((r) => ({ x: r[field], e: r3(((r.p - r.m) / r.m) * 100), phase: PHASES[r.phase] }));
  const titles = { requests: 'batch size (requests)', tokens: 'tokens in the step', context: 'KV context tokens' };
  return {
    id,
    title: `Error vs ${titles[field]}`,
    caption: `Signed error (predicted − measured)/measured in % against ${xTitle}; a trend away from 0 shows what the basis misses.`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: WIDTH,
      height: 220,
      config,
      layer: [
        {
          data: { values },
          mark: { type: 'circle', size: 12, opacity: 0.5 },
          encoding: {
            x: { field: 'x', type: 'quantitative', title: xTitle, scale: { type: scale } },
            y: { field: 'e', type: 'quantitative', title: 'error (%)' },
            color: phaseColor,
          },
        },
        { data: { values: [{ z: 0 }] }, mark: { type: 'rule', color: '#444' }, encoding: { y: { field: 'z', type: 'quantitative' } } },
      ],
    } as vl.TopLevelSpec,
  };
}

/** Quantiles of APE for the CDF: 201 points (q = 0, 0.005, …, 1) of the absolute % errors (from the streamed sketch). */
export function apeCdfPoints(d: ReportData, c: ComparatorId): { ape: number; q: number }[] {
  const s = statsOf(d, c);
  if (s.n === 0) return [];
  const qs = Array.from({ length: 201 }, (_, k) => k / 200);
  const v = s.ape.quantiles(qs);
  return qs.map((q, k) => ({ ape: Math.max(0.01, r3(v[k]!)), q }));
}

function errorCdf(d: ReportData, comps: Comparator[]): PlotSpec {
  const avail = comps.filter((c) => c.rows > 0);
  const values = avail.flatMap((c) => apeCdfPoints(d, c.id).map((p) => ({ ...p, model: c.label })));
  return {
    id: 'error-cdf',
    title: 'Error CDF: fit vs baselines',
    caption: 'Share of steps whose absolute percentage error is at most x, for the fit and each baseline on the same rows (higher and further left is better). Errors below 0.01% are drawn at 0.01%.',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: WIDTH,
      height: 260,
      config,
      data: { values },
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x: { field: 'ape', type: 'quantitative', title: 'absolute percentage error (%)', scale: { type: 'log' } },
        y: { field: 'q', type: 'quantitative', title: 'share of steps', axis: { format: '%' } },
        color: { field: 'model', type: 'nominal', title: 'model', scale: { domain: avail.map((c) => c.label), range: avail.map((c) => COMPARATOR_COLORS[c.id]) } },
      },
    } as vl.TopLevelSpec,
  };
}

function groupErrors(sections: AccuracySection[]): PlotSpec {
  const values = sections.flatMap((s) => s.rows.map((r) => ({ g: `${s.label}: ${r.group}`, dim: s.label, mape: r3(r.mape), med: r3(r.medianApe), p90: r3(r.p90Ape), n: r.n })));
  const order = values.map((v) => v.g);
  return {
    id: 'group-errors',
    title: 'Error by group',
    caption: 'Bars: MAPE per group; black line from the median to the 90th-percentile absolute error. Groups of every dimension with at least two values, and the phase mix.',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: WIDTH - 120,
      height: { step: 16 },
      config,
      data: { values },
      encoding: { y: { field: 'g', type: 'nominal', title: null, sort: order, axis: { labelLimit: 320 } } },
      layer: [
        { mark: { type: 'bar', color: '#9ecae1' }, encoding: { x: { field: 'mape', type: 'quantitative', title: 'absolute percentage error (%)' } } },
        { mark: { type: 'rule', color: '#222', strokeWidth: 2 }, encoding: { x: { field: 'med', type: 'quantitative' }, x2: { field: 'p90' } } },
        { mark: { type: 'tick', color: '#222', thickness: 2, size: 10 }, encoding: { x: { field: 'p90', type: 'quantitative' } } },
      ],
    } as vl.TopLevelSpec,
  };
}

function termContributions(d: ReportData): PlotSpec {
  const terms = d.loaded.fit.terms.map((t) => t.name);
  const groups: { label: string; sums: Float64Array; count: number; meas: number }[] = [];
  PHASES.forEach((ph, k) => {
    if (d.contrib.count[k]! > 0) groups.push({ label: ph, sums: d.contrib.byPhase[k]!, count: d.contrib.count[k]!, meas: d.contrib.measuredByPhase[k]! });
  });
  const all = d.contrib.count.reduce((a, b) => a + b, 0);
  groups.push({ label: 'all steps', sums: d.contrib.sum, count: all, meas: d.contrib.measuredByPhase.reduce((a, b) => a + b, 0) });
  const values = groups.flatMap((g) => terms.map((t, j) => ({ group: g.label, term: t, k: j, us: r3(g.sums[j]! / g.count) })));
  const meas = groups.map((g) => ({ group: g.label, us: r3(g.meas / g.count) }));
  return {
    id: 'term-contributions',
    title: 'Per-term contribution to step time',
    caption: 'Mean contribution β·x of each term to the predicted step time (µs), by phase mix; the black tick is the mean measured step time of the same rows.',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      width: WIDTH - 120,
      height: { step: 34 },
      config,
      encoding: { y: { field: 'group', type: 'nominal', title: null, sort: groups.map((g) => g.label) } },
      layer: [
        {
          data: { values },
          mark: { type: 'bar' },
          encoding: {
            x: { field: 'us', type: 'quantitative', title: 'mean µs per step', stack: 'zero' },
            color: { field: 'term', type: 'nominal', title: 'term', sort: terms, scale: { scheme: 'tableau10' } },
            order: { field: 'k', sort: 'ascending' },
          },
        },
        { data: { values: meas }, mark: { type: 'tick', color: '#000', thickness: 3, size: 28 }, encoding: { x: { field: 'us', type: 'quantitative' } } },
      ],
    } as vl.TopLevelSpec,
  };
}

/** Every plot of the report, in display order. */
export function reportPlots(d: ReportData, sections: AccuracySection[]): PlotSpec[] {
  const rows = d.points;
  return [
    predVsMeasured(d, rows),
    errorCdf(d, d.comparators),
    groupErrors(sections),
    residualPlot(rows, 'residuals-batch', 'requests', 'batch size (requests in the step)', 'linear'),
    residualPlot(rows, 'residuals-tokens', 'tokens', 'tokens computed in the step (prefill + decode)', 'log'),
    residualPlot(rows, 'residuals-context', 'context', 'KV context tokens (Σ decode context + prefill prior)', 'symlog'),
    termContributions(d),
  ];
}

/** Render a vega-lite spec to SVG in Node (no DOM, no canvas). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterise an SVG to PNG at 2× (system fonts; DejaVu Sans when the SVG's fonts are missing). */
export function svgToPng(svg: string): Uint8Array {
  const r = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: 'white' });
  return r.render().asPng();
}

export async function renderPlots(specs: PlotSpec[], onEach?: (i: number) => void): Promise<RenderedPlot[]> {
  const out: RenderedPlot[] = [];
  for (let i = 0; i < specs.length; i++) {
    const { spec, ...rest } = specs[i]!;
    const svg = await renderSvg(spec);
    out.push({ ...rest, svg, png: svgToPng(svg) });
    onEach?.(i + 1);
  }
  return out;
}
