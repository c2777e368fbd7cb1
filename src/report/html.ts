/**
 * index.html: one self-contained file (inline CSS and inline SVG plots; no scripts, no external
 * fonts, images or links), readable offline. The first screen answers "how accurate is the fit and
 * where is it worst"; details follow.
 */
import type { ReportModel } from './model.js';
import type { AccuracySection } from './accuracy.js';
import { pct, spct, us, coef, int, cond, metricCells, METRIC_HEADERS, verdict } from './format.js';
import { headlineSentence, coverageSentence, worstLines, comparisonSentence, sampleSentence, fitIdentLines, cvSentence } from './text.js';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Helvetica,Arial,sans-serif;color:#1d2530;background:#f6f7f9;font-size:14px;line-height:1.45}
header{background:#1d2530;color:#fff;padding:10px 24px;display:flex;flex-wrap:wrap;gap:4px 24px;align-items:baseline}
header h1{font-size:18px;margin:0;font-weight:600}
header .meta{font-size:12px;color:#c8d0da}
main{padding:14px 24px 40px;max-width:1320px}
.summary{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.card{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:14px 18px;flex:1 1 440px;max-width:560px}
.figcard{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:8px 10px;flex:1 1 560px;max-width:700px}
.big{display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}
.big .num{font-size:40px;font-weight:700;letter-spacing:-0.5px}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600}
.good{color:#0a6b35}.fair{color:#9a6200}.poor{color:#b3261e}
.badge.good{background:#dcf3e5}.badge.fair{background:#fdf0d5}.badge.poor{background:#fbe0de}
.badge.sample{background:#e7ecf3;color:#34465c}
.sub{font-size:15px;color:#34465c;margin:2px 0 8px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2e8;padding-bottom:4px}
h3{font-size:14px;margin:12px 0 4px}
ul{margin:4px 0;padding-left:20px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #dde2e8;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.l,th.l{text-align:left}
td.n{white-space:nowrap}
.card table{width:100%}
figure{margin:0}
figcaption{font-size:12px;color:#4a5a6d;margin:4px 2px 0}
.plots{display:flex;flex-wrap:wrap;gap:16px}
.plots .plot{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:8px 10px;flex:1 1 560px;max-width:700px}
.plot svg,.figcard svg{max-width:100%;height:auto;display:block}
nav{margin:14px 0 0;font-size:13px}
nav a{margin-right:14px;color:#1f5fa8}
.note{font-size:12px;color:#4a5a6d}
.muted{color:#7a8896}
code{background:#eef1f5;padding:0 3px;border-radius:3px}
`;

/** An HTML table; `left` = number of leading left-aligned (text) columns, or their indices. Cells are HTML. */
function table(headers: string[], rows: string[][], left: number | number[] = 1): string {
  const isLeft = (i: number): boolean => (typeof left === 'number' ? i < left : left.includes(i));
  const th = headers.map((h, i) => `<th${isLeft(i) ? ' class="l"' : ''}>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c, i) => `<td${isLeft(i) ? ' class="l"' : ' class="n"'}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

function groupTable(s: AccuracySection): string {
  return table(
    [s.label, ...METRIC_HEADERS],
    s.rows.map((r) => [esc(r.group), ...metricCells(r).map(esc)]),
  );
}

/**
 * Make the ids inside an inline SVG unique in the page (vega names clip paths clip1, clip2, … in
 * every SVG; several inline SVGs would otherwise resolve each other's url(#clipN) references).
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/\sid="([^"]+)"/g, (_m, id: string) => ` id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_m, id: string) => `url(#${prefix}-${id})`)
    .replace(/(xlink:href|href)="#([^"]+)"/g, (_m, a: string, id: string) => `${a}="#${prefix}-${id}"`);
}

/** One plot as a figure (inline SVG with ids scoped to the plot). */
function plotFigure(m: ReportModel, id: string): string {
  const p = m.plots.find((x) => x.id === id);
  return p ? `<figure class="plot" id="plot-${p.id}" data-plot="${p.id}"><h3>${esc(p.title)}</h3>${scopeSvgIds(p.svg, p.id)}<figcaption>${esc(p.caption)}</figcaption></figure>` : '';
}

/** The first screen: headline numbers, where the fit is worst, baselines, predicted vs measured. */
function summarySection(m: ReportModel): string {
  const h = m.headline;
  const v = verdict(h.mape);
  const first = m.plots[0]!;
  // in-sample numbers flatter the fit: show the held-out (cross-validated) verdict next to them
  const cv = m.fileMetrics.cv;
  const cvBadge =
    cv && m.sample.kind !== 'held-out' ? `<span class="badge ${verdict(cv.overall.mape).cls}" id="cv-badge">held-out (CV) ${pct(cv.overall.mape)}: ${verdict(cv.overall.mape).word}</span>` : '';
  const cov = coverageSentence(m);
  const worst = worstLines(m);
  const cmpRows = m.comparison.map((r) => [
    `${esc(r.comparator.label)}${r.comparator.id === 'fit' ? '' : ''}`,
    r.metrics ? pct(r.metrics.mape) : '–',
    r.metrics ? pct(r.metrics.medianApe) : '–',
    r.metrics ? pct(r.metrics.p90Ape) : '–',
    r.metrics ? spct(r.metrics.biasPct) : '–',
  ]);

  return `
<section class="summary" id="summary">
  <div class="card">
    <div class="big"><span class="num ${v.cls}" id="headline-mape">MAPE ${pct(h.mape)}</span><span class="badge ${v.cls}">${v.word}</span><span class="badge sample">${esc(m.sample.kind)}</span>${cvBadge}</div>
    <div class="sub" id="headline-stats">median ${pct(h.medianApe)} · p90 ${pct(h.p90Ape)} · p99 ${pct(h.p99Ape)} · bias ${spct(h.biasPct)}</div>
    <p id="headline-sentence">${esc(headlineSentence(m))}${cov ? ' ' + esc(cov) : ''}${cvSentence(m) ? ` <b>${esc(cvSentence(m)!)}</b>` : ''}</p>
    <h3>Where it is worst</h3>
    ${worst.length ? `<ul id="worst">${worst.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : '<p class="muted">only one group per dimension: see the phase mix table below</p>'}
    <h3>Against baselines (same ${int(m.commonRows)} rows)</h3>
    ${table(['model', 'MAPE', 'median', 'p90', 'bias'], cmpRows)}
    <p class="note">${esc(sampleSentence(m))}</p>
  </div>
  <figure class="figcard plot" id="plot-${first.id}" data-plot="${first.id}"><h3>${esc(first.title)}</h3>${scopeSvgIds(first.svg, first.id)}<figcaption>${esc(first.caption)}</figcaption></figure>
</section>
<nav><a href="#comparison">baselines</a><a href="#groups">by group</a><a href="#plots">plots</a><a href="#coefficients">coefficients</a><a href="#identifiability">identifiability</a><a href="#fitfile">fit-file metrics</a><a href="#data">data</a></nav>`;
}

/** Comparison with the baselines on the same rows. */
function comparisonSection(m: ReportModel): string {
  return `
<h2 id="comparison">Comparison with baselines</h2>
<p>${esc(comparisonSentence(m))}</p>
${table(
  ['model', ...METRIC_HEADERS, 'how it was obtained'],
  m.comparison.map((r) => [
    esc(r.comparator.label),
    ...(r.metrics ? metricCells(r.metrics).map(esc) : METRIC_HEADERS.map(() => '–')),
    `${esc(r.comparator.description)}${r.comparator.note ? ` <span class="poor">(${esc(r.comparator.note)})</span>` : ''}`,
  ]),
  [0, 8],
)}`;
}

/** Accuracy by group, worst first. */
function groupsSection(m: ReportModel): string {
  return `
<h2 id="groups">Accuracy by group</h2>
<p class="note">Worst group first. Dimensions with a single value in this data are left out (all rows share it).</p>
${m.byGroup.map((s) => `<h3>By ${esc(s.label)}</h3>${groupTable(s)}`).join('\n')}`;
}

/** Every plot but the first (which is on the first screen). */
function plotsSection(m: ReportModel): string {
  return `
<h2 id="plots">Plots</h2>
<p class="note">${esc(m.plots[0]!.title)}: at the top of the page.</p>
<div class="plots">
${m.plots
  .slice(1)
  .map((p) => plotFigure(m, p.id))
  .join('\n')}
</div>`;
}

/** Coefficients with their physical reading. */
function coefficientsSection(m: ReportModel): string {
  return `
<h2 id="coefficients">Coefficients</h2>
<p class="note">Basis '${esc(m.basis)}' v${m.basisVersion}, method ${esc(m.method.name)}${m.method.weight === 'relative' ? ' with relative-error weights' : ''}. Residual σ = ${m.residual.scale === 'relative' ? pct(m.residual.sigma * 100) + ' (relative)' : us(m.residual.sigma)}, ${coef(m.residual.dof)} residual degrees of freedom. Time terms multiply a roofline time: 1/β is the share of peak the work actually reaches.</p>
${table(
  ['term', 'β', 'SE', '95% CI', 'status', 'reading', 'mean contribution', 'share', 'meaning'],
  m.coefficients.map((c) => [
    `<code>${esc(c.name)}</code>`,
    coef(c.coef),
    coef(c.se),
    c.ci95[0] === null ? '–' : `${coef(c.ci95[0])} … ${coef(c.ci95[1])}`,
    esc(c.status),
    esc(c.reading),
    us(c.meanContributionUs),
    pct(c.sharePct),
    esc(c.meaning),
  ]),
  [0, 4, 5, 8],
)}`;
}

/** Identifiability in the fit and on the report's rows. */
function identifiabilitySection(m: ReportModel): string {
  const fd = m.fitDiagnostics;
  const dd = m.dataDiagnostics;
  const fdProblems = (fd as { problems?: { kind: string; detail: string }[] }).problems ?? [];
  return `
<h2 id="identifiability">Identifiability</h2>
<h3>In the fit (training data)</h3>
<p>Rank ${fd.rank} of ${fd.terms ?? m.coefficients.length} terms; condition number of the scaled design ${cond(fd.conditionNumber)}${fd.activeConditionNumber !== undefined ? `, of the fitted terms ${cond(fd.activeConditionNumber)}` : ''}.${fd.dropped.length ? ` Dropped: ${fd.dropped.map(esc).join(', ')}.` : ''}${fd.merged.length ? ` Merged: ${fd.merged.map((x) => `${esc(x.term)} → ${esc(x.into)}`).join(', ')}.` : ''}</p>
${
  fitIdentLines(fd.notes, fdProblems).length
    ? `<ul>${fitIdentLines(fd.notes, fdProblems)
        .map((x) => `<li>${esc(x)}</li>`)
        .join('')}</ul>`
    : '<p class="muted">No identifiability problems recorded.</p>'
}
<h3>On the report data</h3>
<p>Rank ${dd.rank} of ${m.coefficients.length} terms; condition number ${cond(dd.conditionNumber)}.</p>
${dd.problems.length ? `<ul>${dd.problems.map((p) => `<li>${esc(p.kind)}: ${esc(p.detail)}</li>`).join('')}</ul><p class="note">Terms that are zero or constant here are not tested by these rows: their coefficients come from other data (or are merged) and predictions lean on them only through the constant.</p>` : '<p class="muted">Every term varies independently in these rows.</p>'}`;
}

/** The train and CV metrics recorded in the fit file. */
function fileMetricsSection(m: ReportModel): string {
  const fm = m.fileMetrics;
  const fileRows: string[][] = [['training (in-sample)', ...metricCells(fm.train.overall).map(esc)]];
  if (fm.cv) fileRows.push([`cross-validation (${esc(fm.cv.scheme)})`, ...metricCells(fm.cv.overall).map(esc)]);
  return `
<h2 id="fitfile">Metrics recorded in the fit file</h2>
${table(['', ...METRIC_HEADERS], fileRows)}
${
  fm.cv?.folds.length
    ? `<h3>Cross-validation folds</h3>${table(
        ['fold', ...METRIC_HEADERS],
        fm.cv.folds.map((f) => [esc(f.fold), ...metricCells(f.metrics).map(esc)]),
      )}`
    : ''
}`;
}

/** The data the report was computed on. */
function dataSection(m: ReportModel): string {
  return `
<h2 id="data">Data</h2>
<p>${esc(m.dataDescription)}. ${int(m.n)} steps with a measured duration${m.skipped ? `; ${int(m.skipped)} steps without <code>duration_us</code> skipped` : ''}.</p>
${table(
  ['experiment', 'model', 'GPU', 'TP', 'labels', 'steps'],
  m.experiments.map((e) => [
    esc(e.id),
    esc(e.archName),
    esc(e.gpuId),
    String(e.tp),
    esc(
      Object.entries(e.groups)
        .map(([k, x]) => `${k}=${x}`)
        .join(', ') || '–',
    ),
    int(e.rows),
  ]),
  5,
)}
<p class="note">Fit file <code>${esc(m.fitPath)}</code> (created ${esc(m.fitCreatedAt)}). Report by stepfit ${esc(m.stepfitVersion)}. Plots: vega-lite, rendered to SVG in Node; PNG copies in <code>plots/</code>.</p>`;
}

export function renderHtml(m: ReportModel): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(m.title)} — stepfit report</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(m.title)}</h1><span class="meta">basis ${esc(m.basis)} v${m.basisVersion} · ${esc(m.method.name)}${m.method.weight === 'relative' ? ' (relative)' : ''} · ${int(m.n)} steps · ${m.experiments.length} experiment${m.experiments.length === 1 ? '' : 's'}</span></header>
<main>
${summarySection(m)}
${comparisonSection(m)}
${groupsSection(m)}
${plotsSection(m)}
${coefficientsSection(m)}
${identifiabilitySection(m)}
${fileMetricsSection(m)}
${dataSection(m)}
</main>
</body>
</html>
`;
}
