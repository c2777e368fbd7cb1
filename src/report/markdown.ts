/** report.md: the same numbers as index.html (same formatting functions), plots as PNG links. */
import type { ReportModel } from './model.js';
import { pct, spct, us, coef, int, cond, metricCells, METRIC_HEADERS, verdict } from './format.js';
import { headlineSentence, coverageSentence, worstLines, comparisonSentence, sampleSentence, fitIdentLines, cvSentence } from './text.js';

/** Escape a Markdown table cell. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A Markdown table; `left` = indices of left-aligned (text) columns besides the first. */
function table(headers: string[], rows: string[][], left: number[] = []): string {
  const out = [`| ${headers.map(cell).join(' | ')} |`, `|${headers.map((_, i) => (i === 0 || left.includes(i) ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) out.push(`| ${r.map(cell).join(' | ')} |`);
  return out.join('\n');
}

/** The first screen: headline numbers, where the fit is worst, baselines, predicted vs measured. */
function summaryLines(m: ReportModel, L: string[]): void {
  const h = m.headline;
  const v = verdict(h.mape);
  const cv = m.fileMetrics.cv;
  const cvNote = cv && m.sample.kind !== 'held-out' ? `; held-out (CV) ${pct(cv.overall.mape)}: ${verdict(cv.overall.mape).word}` : '';
  L.push(`**MAPE ${pct(h.mape)}** (${v.word}, ${m.sample.kind}${cvNote}) — median ${pct(h.medianApe)} · p90 ${pct(h.p90Ape)} · p99 ${pct(h.p99Ape)} · bias ${spct(h.biasPct)}`, '');
  const cov = coverageSentence(m);
  L.push(headlineSentence(m) + (cov ? ' ' + cov : '') + (cvSentence(m) ? ` **${cvSentence(m)}**` : ''), '');
  const worst = worstLines(m);
  if (worst.length) {
    L.push('**Where it is worst:**', '');
    for (const w of worst) L.push(`- ${w}`);
    L.push('');
  }
  L.push(`**Against baselines (same ${int(m.commonRows)} rows):**`, '');
  L.push(
    table(
      ['model', 'MAPE', 'median', 'p90', 'bias'],
      m.comparison.map((r) => [r.comparator.label, pct(r.metrics?.mape), pct(r.metrics?.medianApe), pct(r.metrics?.p90Ape), spct(r.metrics?.biasPct)]),
    ),
    '',
  );
  L.push(`_${sampleSentence(m)}_`, '');
  const first = m.plots[0];
  if (first) L.push(`![${first.title}](plots/${first.id}.png)`, '', `_${first.caption}_ ([SVG](plots/${first.id}.svg))`, '');
}

/** Comparison with the baselines, and accuracy by group (worst first). */
function comparisonLines(m: ReportModel, L: string[]): void {
  L.push('## Comparison with baselines', '', comparisonSentence(m), '');
  L.push(
    table(
      ['model', ...METRIC_HEADERS, 'how it was obtained'],
      m.comparison.map((r) => [
        r.comparator.label,
        ...(r.metrics ? metricCells(r.metrics) : METRIC_HEADERS.map(() => '–')),
        r.comparator.description + (r.comparator.note ? ` (${r.comparator.note})` : ''),
      ]),
      [8],
    ),
    '',
  );

  L.push('## Accuracy by group', '', '_Worst group first. Dimensions with a single value in this data are left out._', '');
  for (const s of m.byGroup) {
    L.push(
      `### By ${s.label}`,
      '',
      table(
        [s.label, ...METRIC_HEADERS],
        s.rows.map((r) => [r.group, ...metricCells(r)]),
      ),
      '',
    );
  }
}

/** Every plot but the first, as PNG links. */
function plotsLines(m: ReportModel, L: string[]): void {
  L.push('## Plots', '');
  for (const p of m.plots.slice(1)) L.push(`### ${p.title}`, '', `![${p.title}](plots/${p.id}.png)`, '', `_${p.caption}_ ([SVG](plots/${p.id}.svg))`, '');
}

/** Coefficients with their physical reading. */
function coefficientLines(m: ReportModel, L: string[]): void {
  L.push('## Coefficients', '');
  L.push(
    `Basis '${m.basis}' v${m.basisVersion}, method ${m.method.name}${m.method.weight === 'relative' ? ' with relative-error weights' : ''}. Residual σ = ${m.residual.scale === 'relative' ? pct(m.residual.sigma * 100) + ' (relative)' : us(m.residual.sigma)}, ${coef(m.residual.dof)} residual degrees of freedom. Time terms multiply a roofline time: 1/β is the share of peak the work actually reaches.`,
    '',
  );
  L.push(
    table(
      ['term', 'β', 'SE', '95% CI', 'status', 'reading', 'mean contribution', 'share', 'meaning'],
      m.coefficients.map((c) => [
        `\`${c.name}\``,
        coef(c.coef),
        coef(c.se),
        c.ci95[0] === null ? '–' : `${coef(c.ci95[0])} … ${coef(c.ci95[1])}`,
        c.status,
        c.reading,
        us(c.meanContributionUs),
        pct(c.sharePct),
        c.meaning,
      ]),
      [4, 5, 8],
    ),
    '',
  );
}

/** Identifiability in the fit and on the report's rows, and the fit file's metrics. */
function identifiabilityLines(m: ReportModel, L: string[]): void {
  const fd = m.fitDiagnostics;
  const dd = m.dataDiagnostics;
  const fdProblems = (fd as { problems?: { kind: string; detail: string }[] }).problems ?? [];
  L.push('## Identifiability', '', '### In the fit (training data)', '');
  L.push(
    `Rank ${fd.rank} of ${fd.terms ?? m.coefficients.length} terms; condition number of the scaled design ${cond(fd.conditionNumber)}${fd.activeConditionNumber !== undefined ? `, of the fitted terms ${cond(fd.activeConditionNumber)}` : ''}.${fd.dropped.length ? ` Dropped: ${fd.dropped.join(', ')}.` : ''}${fd.merged.length ? ` Merged: ${fd.merged.map((x) => `${x.term} → ${x.into}`).join(', ')}.` : ''}`,
    '',
  );
  const identLines = fitIdentLines(fd.notes, fdProblems);
  for (const x of identLines) L.push(`- ${x}`);
  if (identLines.length) L.push('');
  L.push('### On the report data', '', `Rank ${dd.rank} of ${m.coefficients.length} terms; condition number ${cond(dd.conditionNumber)}.`, '');
  for (const p of dd.problems) L.push(`- ${p.kind}: ${p.detail}`);
  if (dd.problems.length) L.push('');

  const fm = m.fileMetrics;
  L.push('## Metrics recorded in the fit file', '');
  const rows: string[][] = [['training (in-sample)', ...metricCells(fm.train.overall)]];
  if (fm.cv) rows.push([`cross-validation (${fm.cv.scheme})`, ...metricCells(fm.cv.overall)]);
  L.push(table(['', ...METRIC_HEADERS], rows), '');
}

/** The data the report was computed on. */
function dataLines(m: ReportModel, L: string[]): void {
  L.push('## Data', '', `${m.dataDescription}. ${int(m.n)} steps with a measured duration${m.skipped ? `; ${int(m.skipped)} steps without duration_us skipped` : ''}.`, '');
  L.push(
    table(
      ['experiment', 'model', 'GPU', 'TP', 'labels', 'steps'],
      m.experiments.map((e) => [
        e.id,
        e.archName,
        e.gpuId,
        String(e.tp),
        Object.entries(e.groups)
          .map(([k, x]) => `${k}=${x}`)
          .join(', ') || '–',
        int(e.rows),
      ]),
      [1, 2, 4],
    ),
    '',
  );
  L.push(`_Fit file \`${m.fitPath}\` (created ${m.fitCreatedAt}). Report by stepfit ${m.stepfitVersion}._`, '');
}

export function renderMarkdown(m: ReportModel): string {
  const L: string[] = [`# ${m.title}`, ''];
  for (const section of [summaryLines, comparisonLines, plotsLines, coefficientLines, identifiabilityLines, dataLines]) section(m, L);
  return L.join('\n');
}
