/**
 * The report as plain data (every number the HTML and Markdown writers print), built from the
 * collected report data; both writers format it with the same functions (format.ts), so the two
 * files carry the same numbers.
 */
import { identify, type Metrics, type Identification } from '../fit/api.js';
import type { FitFile } from '../fit/fitfile.js';
import { VERSION } from '../version.js';
import { COMPARATORS, type Comparator, type ReportData, type ReportExperiment } from './data.js';
import { accuracyByGroup, overallMetrics, worstGroups, intervalCoverage, commonStats, type AccuracySection, type Worst } from './accuracy.js';
import { coefficientRows, type CoefRow } from './coefficients.js';
import type { RenderedPlot } from './plots.js';

export interface ComparisonRow {
  comparator: Comparator;
  /** Metrics on the rows every available comparator predicts (null when unavailable). */
  metrics: Metrics | null;
}

export interface ReportModel {
  title: string;
  fitPath: string;
  fitCreatedAt: string;
  stepfitVersion: string;
  basis: string;
  basisVersion: number;
  method: FitFile['method'];
  residual: FitFile['residual'];
  n: number;
  skipped: number;
  experiments: ReportExperiment[];
  sample: ReportData['sample'];
  headline: Metrics;
  coveragePct: number | null;
  worst: Worst[];
  comparison: ComparisonRow[];
  /** Rows the comparison uses (where every available comparator predicts). */
  commonRows: number;
  byGroup: AccuracySection[];
  coefficients: CoefRow[];
  fitDiagnostics: FitFile['diagnostics'];
  dataDiagnostics: Identification;
  fileMetrics: FitFile['metrics'];
  plots: RenderedPlot[];
  dataDescription: string;
}

export function buildReportModel(d: ReportData, plots: RenderedPlot[], opts: { title: string; dataDescription: string }): ReportModel {
  const { fit, basis, path } = d.loaded;
  const headline = overallMetrics(d, 'fit')!;
  const byGroup = accuracyByGroup(d);
  // the comparison uses the rows where every comparator with any prediction predicts
  const common = COMPARATORS.map((id) => commonStats(d, id));
  const commonRows = common[0]!.n;
  const comparison: ComparisonRow[] = COMPARATORS.map((id, i) => {
    const comparator = d.comparators.find((c) => c.id === id)!;
    return { comparator, metrics: comparator.rows > 0 && commonRows > 0 ? common[i]!.result() : null };
  });
  const names = fit.terms.map((t) => t.name);
  const dataDiagnostics = identify(d.normal.system(), names, 'report');
  return {
    title: opts.title,
    fitPath: path,
    fitCreatedAt: fit.provenance.createdAt,
    stepfitVersion: VERSION,
    basis: fit.basis,
    basisVersion: fit.basisVersion,
    method: fit.method,
    residual: fit.residual,
    n: d.n,
    skipped: d.experiments.reduce((a, e) => a + e.skipped, 0),
    experiments: d.experiments,
    sample: d.sample,
    headline,
    coveragePct: intervalCoverage(d),
    worst: worstGroups(byGroup, d.n),
    comparison,
    commonRows,
    byGroup,
    coefficients: coefficientRows(fit, basis, d.contrib),
    fitDiagnostics: fit.diagnostics,
    dataDiagnostics,
    fileMetrics: fit.metrics,
    plots,
    dataDescription: opts.dataDescription,
  };
}
