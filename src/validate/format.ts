/** Text, Markdown and JSON renderings of a validation suite result. */
import type { SplitResult, SuiteResult } from './run.js';

const pct = (x: number | undefined | null): string => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(1));
const signed = (x: number): string => (Number.isFinite(x) ? (x >= 0 ? '+' : '') + x.toFixed(1) : '–');

function check(r: SplitResult): string {
  if (r.reference)
    return r.reference.ok === null ? `published ${r.reference.mape.toFixed(1)} (not checked ‡)` : `ref ${r.reference.mape.toFixed(1)} ±${r.reference.tolerance}: ${r.reference.ok ? 'ok' : 'FAIL'}`;
  if (r.target) return `target ≤ ${r.target.mape}: ${r.target.ok ? 'ok' : 'FAIL'}`;
  return '';
}

const HEAD = ['split', 'config', 'basis', 'method', 'test rows', 'MAPE %', 'p90 APE %', 'bias %', 'prefill MAPE %', 'decode MAPE %', 'check'];

/** Basis label with the basis parameters the fit used, e.g. 'serving v3, knee 2.83 MiB fitted'. */
function basisCell(r: SplitResult): string {
  const ps = (r.paramChoices ?? []).map((c) => `${c.name} ${Number(c.value.toPrecision(3))} ${c.source === 'profile' ? 'fitted' : c.source}`);
  return ps.length ? `${r.basis}, ${ps.join(', ')}` : r.basis;
}

function cells(r: SplitResult): string[] {
  return [r.split, r.config, basisCell(r), r.method, String(r.testRows), pct(r.overall.mape), pct(r.overall.p90Ape), signed(r.overall.biasPct), pct(r.prefill?.mape), pct(r.decode?.mape), check(r)];
}

/** Aligned plain-text table with the suite's notes. */
export function formatSuiteText(s: SuiteResult): string {
  const rows = [HEAD, ...s.results.map(cells)];
  const w = HEAD.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  const right = new Set([4, 5, 6, 7, 8, 9]);
  const line = (r: string[]): string =>
    r
      .map((c, j) => (right.has(j) ? c.padStart(w[j]!) : c.padEnd(w[j]!)))
      .join('  ')
      .trimEnd();
  const out = [`suite ${s.suite}: ${s.description}`, `data: ${s.source}`];
  for (const sp of s.splits) out.push(`  ${sp.name}: train ${sp.train}; test ${sp.test}`);
  out.push('', line(rows[0]!), line(w.map((n) => '-'.repeat(n))), ...rows.slice(1).map(line), '');
  for (const r of s.results) if (r.reference?.ok === null) out.push(`‡ ${r.split}: ${r.reference.why}`);
  for (const n of s.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

/** GitHub Markdown table (for reports/validation.md). */
export function formatSuiteMarkdown(s: SuiteResult): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  const out = [`| ${HEAD.join(' | ')} |`, `|${HEAD.map((_, j) => (j >= 4 && j <= 9 ? '---:' : '---')).join('|')}|`];
  for (const r of s.results) out.push(`| ${cells(r).map(esc).join(' | ')} |`);
  return out.join('\n');
}

export function formatSuiteJson(s: SuiteResult): string {
  return JSON.stringify(s, null, 2);
}

/** Lines describing every failed reference reproduction or target (empty when all pass). */
export function suiteFailures(s: SuiteResult): string[] {
  const f: string[] = [];
  for (const r of s.results) {
    if (r.reference && r.reference.ok === false) f.push(`${r.split} (${r.config}): MAPE ${r.overall.mape.toFixed(2)} does not reproduce ${r.reference.mape} ± ${r.reference.tolerance}`);
    if (r.target && !r.target.ok) f.push(`${r.split} (${r.config}): MAPE ${r.overall.mape.toFixed(2)} misses the target ≤ ${r.target.mape}`);
  }
  return f;
}
