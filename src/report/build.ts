/**
 * The report end to end (no printing, no writing): fit + data set → the list of files
 * (index.html, report.md, plots/<id>.svg, plots/<id>.png) for the caller to write atomically.
 */
import path from 'node:path';
import type { LoadedFit } from '../predict/load.js';
import type { FitDataset } from '../fit/api.js';
import { collectReportData, type CollectOptions } from './data.js';
import { accuracyByGroup } from './accuracy.js';
import { reportPlots, renderPlots } from './plots.js';
import { buildReportModel, type ReportModel } from './model.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';

export interface ReportFile {
  path: string;
  data: string | Uint8Array;
}

export interface BuildReportOptions extends CollectOptions {
  title?: string;
  dataDescription: string;
}

export async function buildReport(loaded: LoadedFit, ds: FitDataset, outDir: string, opts: BuildReportOptions): Promise<{ model: ReportModel; files: ReportFile[] }> {
  const progress = opts.onProgress ?? (() => undefined);
  const data = await collectReportData(loaded, ds, opts);
  const sections = accuracyByGroup(data);
  const specs = reportPlots(data, sections);
  progress('plots', 0, specs.length);
  const plots = await renderPlots(specs, (i) => progress('plots', i, specs.length));
  const title = opts.title ?? `${path.basename(loaded.path).replace(/\.json$/, '')}: step-time fit report`;
  const model = buildReportModel(data, plots, { title, dataDescription: opts.dataDescription });
  const files: ReportFile[] = [
    { path: path.join(outDir, 'index.html'), data: renderHtml(model) },
    { path: path.join(outDir, 'report.md'), data: renderMarkdown(model) },
    ...plots.flatMap((p) => [
      { path: path.join(outDir, 'plots', `${p.id}.svg`), data: p.svg },
      { path: path.join(outDir, 'plots', `${p.id}.png`), data: p.png },
    ]),
  ];
  return { model, files };
}
