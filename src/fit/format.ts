/** Plain-text rendering of fits and metrics for the CLI (returns lines; nothing here prints). */
import type { FitFile, Metrics } from './fitfile.js';

/** A number with `sig` significant digits; exponent form outside [1e-3, 1e6). */
export function num(x: number | null | undefined, sig = 4): string {
  if (x === null || x === undefined) return '—';
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-3) return x.toExponential(sig - 1);
  return String(Number(x.toPrecision(sig)));
}

const pad = (s: string, w: number): string => (s.length >= w ? s : s + ' '.repeat(w - s.length));
const padL = (s: string, w: number): string => (s.length >= w ? s : ' '.repeat(w - s.length) + s);

/** Align a table: first row is the header; numeric-looking columns right-aligned. */
export function table(rows: string[][], rightAlign: boolean[] = []): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (rightAlign[c] ? padL(cell, widths[c]!) : pad(cell, widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** One line of metrics. */
export function metricsLine(m: Metrics): string {
  return `MAPE ${m.mape.toFixed(2)}%  median ${m.medianApe.toFixed(2)}%  p90 ${m.p90Ape.toFixed(2)}%  p99 ${m.p99Ape.toFixed(2)}%  RMSE ${num(m.rmseUs)} µs  R² ${m.r2 === null ? '—' : m.r2.toFixed(4)}  bias ${m.biasPct >= 0 ? '+' : ''}${m.biasPct.toFixed(2)}%  (n ${m.n})`;
}

/** Metrics by group as tables (dimensions with more than one value, or all when `all`). */
export function groupTables(byGroup: Record<string, Record<string, Metrics>>, all = false): string[] {
  const out: string[] = [];
  for (const [dim, rec] of Object.entries(byGroup)) {
    const entries = Object.entries(rec);
    if (entries.length < 2 && !all) continue;
    out.push(`by ${dim}:`);
    const rows = [[dim, 'n', 'MAPE%', 'median%', 'p90%', 'p99%', 'RMSE µs', 'R²', 'bias%']];
    for (const [v, m] of entries) {
      rows.push([v, String(m.n), m.mape.toFixed(2), m.medianApe.toFixed(2), m.p90Ape.toFixed(2), m.p99Ape.toFixed(2), num(m.rmseUs), m.r2 === null ? '—' : m.r2.toFixed(4), m.biasPct.toFixed(2)]);
    }
    out.push(...table(rows, [false, true, true, true, true, true, true, true, true]).map((l) => '  ' + l));
  }
  return out;
}

/** The human-readable summary of a fit file: coefficient table, diagnostics, train / CV metrics. */
export function formatFit(fit: FitFile): string[] {
  const out: string[] = [];
  const rows = fit.experiments.reduce((a, e) => a + e.rows, 0);
  const ex = fit.experiments.length === 1 ? fit.experiments[0]!.id : `${fit.experiments.length} experiments`;
  out.push(`fit: basis ${fit.basis} v${fit.basisVersion}, method ${fit.method.name}, weight ${fit.method.weight}; ${rows} rows from ${ex}`);
  const boot = Number(fit.method.options['bootstrap'] ?? 0) > 0;
  const trows = [['term', 'coef', boot ? '±se (bootstrap)' : '±se', '95% CI', 'status']];
  for (const t of fit.terms) {
    trows.push([t.name, num(t.coef, 5), t.se === null ? '—' : `±${num(t.se, 3)}`, t.ci95[0] === null ? '—' : `[${num(t.ci95[0], 4)}, ${num(t.ci95[1], 4)}]`, t.status]);
  }
  out.push(...table(trows, [false, true, true, false, false]));
  for (const c of fit.diagnostics.basisParams ?? []) {
    out.push(
      `basis parameter ${c.name} = ${num(c.value)} ${c.unit} (${c.source === 'profile' ? 'fitted by profile on the training rows' : c.source === 'given' ? 'given' : 'default'})${c.interval && c.source === 'profile' ? `, 95% profile interval ${num(c.interval[0])}–${num(c.interval[1])} ${c.unit}` : ''}`,
    );
  }
  out.push(`residual σ = ${num(fit.residual.sigma)}${fit.residual.scale === 'relative' ? ' (relative: fraction of the step time)' : ' µs'}, dof ${num(fit.residual.dof, 6)}`);
  const kinds = fit.residual.byKind;
  if (kinds) {
    const parts = Object.entries(kinds)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k} ${num(v!.sigma)} (n ${v!.n})`);
    if (parts.length > 0) out.push(`  per row kind (used for prediction intervals): ${parts.join(', ')}`);
  }
  const d = fit.diagnostics;
  const p = d.terms ?? fit.terms.length;
  const fitted = fit.terms.filter((t) => t.status === 'fitted' || t.status === 'at-bound').length;
  out.push(
    `diagnostics: scaled design rank ${d.rank} of ${p}, condition number ${d.conditionNumber === null ? '∞ (rank-deficient)' : num(d.conditionNumber)}${d.activeConditionNumber !== undefined && d.activeConditionNumber !== null ? `; ${fitted} fitted terms: condition number ${num(d.activeConditionNumber)}` : ''}`,
  );
  for (const n of d.notes) out.push(`  - ${n}`);
  out.push(`train: ${metricsLine(fit.metrics.train.overall)}`);
  const cv = fit.metrics.cv;
  if (cv) {
    out.push(`cv ${cv.scheme}${cv.seed !== undefined ? ` (seed ${cv.seed})` : ''}: ${metricsLine(cv.overall)}`);
    const frows = [['fold', 'held out', 'MAPE%', 'median%', 'p90%', 'p99%', 'R²', 'bias%', 'dropped']];
    for (const f of cv.folds) {
      const m = f.metrics;
      frows.push([
        f.fold,
        String(m.n),
        m.mape.toFixed(2),
        m.medianApe.toFixed(2),
        m.p90Ape.toFixed(2),
        m.p99Ape.toFixed(2),
        m.r2 === null ? '—' : m.r2.toFixed(4),
        m.biasPct.toFixed(2),
        (f.dropped ?? []).join(',') || '—',
      ]);
    }
    out.push(...table(frows, [false, true, true, true, true, true, true, true, false]).map((l) => '  ' + l));
  }
  const g = groupTables(fit.metrics.train.byGroup);
  if (g.length > 0) out.push('train metrics ' + g[0]!, ...g.slice(1));
  return out;
}
