/**
 * Text, Markdown and JSON renderings of a validation suite result, and its verdict.
 *
 * Two kinds of threshold, never mixed: a **guard** is a regression check (the seed baseline must
 * reproduce the published number within its tolerance): PASS / FAIL, and a FAIL makes `validate` exit 1.
 * A **target** is an aspirational accuracy goal for the default configuration (issue 7's numbers):
 * "met" / "not met", printed but deciding the exit code only under `--check`.
 */
import type { SplitResult, SuiteResult } from './run.js';

const pct = (x: number | undefined | null): string => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(1));
const signed = (x: number): string => (Number.isFinite(x) ? (x >= 0 ? '+' : '') + x.toFixed(1) : '–');

function check(r: SplitResult): string {
  if (r.reference)
    return r.reference.ok === null
      ? `published ${r.reference.mape.toFixed(1)} (not checked ‡)`
      : `guard: ref ${r.reference.mape.toFixed(1)} ±${r.reference.tolerance} ${r.reference.ok ? 'PASS' : 'FAIL'}`;
  if (r.target) return `target ≤ ${r.target.mape}: ${r.target.ok ? 'met' : 'not met'}`;
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
  out.push('', ...verdictLines(suiteVerdict(s)));
  return out.join('\n');
}

/** GitHub Markdown table (for reports/validation.md). */
export function formatSuiteMarkdown(s: SuiteResult): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  const out = [`| ${HEAD.join(' | ')} |`, `|${HEAD.map((_, j) => (j >= 4 && j <= 9 ? '---:' : '---')).join('|')}|`];
  for (const r of s.results) out.push(`| ${cells(r).map(esc).join(' | ')} |`);
  return out.join('\n');
}

/** The result with its verdict (`verdict`: guards and targets, see the module comment). */
export function formatSuiteJson(s: SuiteResult): string {
  return JSON.stringify({ ...s, verdict: suiteVerdict(s) }, null, 2);
}

/** What a suite run concludes: guards (decide the exit code) and aspirational targets (printed). */
export interface Verdict {
  /** Regression guards checked, and one line per failed one (a failure makes validate exit 1). */
  guards: { checked: number; failed: string[] };
  /** Aspirational targets checked, and one line per target not met (exit 1 only under --check). */
  targets: { checked: number; notMet: string[] };
}

export function suiteVerdict(s: SuiteResult): Verdict {
  const v: Verdict = { guards: { checked: 0, failed: [] }, targets: { checked: 0, notMet: [] } };
  for (const r of s.results) {
    if (r.reference && r.reference.ok !== null) {
      v.guards.checked++;
      if (!r.reference.ok) v.guards.failed.push(`${r.split} (${r.config}): MAPE ${r.overall.mape.toFixed(2)} does not reproduce ${r.reference.mape} ± ${r.reference.tolerance}`);
    }
    if (r.target) {
      v.targets.checked++;
      if (!r.target.ok) v.targets.notMet.push(`${r.split} (${r.config}): MAPE ${r.overall.mape.toFixed(2)} misses the target ≤ ${r.target.mape}`);
    }
  }
  return v;
}

/** Closing lines of a text rendering: 'guards: PASS …' / 'guards: FAIL …' and the targets met. */
export function verdictLines(v: Verdict): string[] {
  const out: string[] = [];
  if (v.guards.checked === 0) out.push('guards: none in this suite (nothing decides a FAIL)');
  else if (v.guards.failed.length === 0) out.push(`guards: PASS (${v.guards.checked} of ${v.guards.checked})`);
  else out.push(`guards: FAIL (${v.guards.failed.length} of ${v.guards.checked}): ${v.guards.failed.join('; ')}`);
  if (v.targets.checked > 0) {
    const met = v.targets.checked - v.targets.notMet.length;
    out.push(`targets (aspirational): ${met} of ${v.targets.checked} met${v.targets.notMet.length ? `; not met: ${v.targets.notMet.join('; ')}` : ''}`);
  }
  return out;
}
