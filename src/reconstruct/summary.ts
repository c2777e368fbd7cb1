/** What a reconstruction recovered, shared by every input format (printed by the CLI, or as JSON). */
export interface ReconstructSummary {
  format: 'vllm-otlp' | 'request-log' | 'sweep' | 'vllm-request-spans' | 'vllm-bench';
  input: string;
  experiments: string[];
  /** Input lines / rows read. */
  records: number;
  steps: number;
  /** Steps whose composition was read directly (snapshots, sweep rows) vs inferred from a scheduler rule. */
  stepsExact: number;
  stepsInferred: number;
  stepsWithDuration: number;
  /** Where step durations came from (e.g. "ts-delta: consecutive step.ts_start_ns"), or "none". */
  durationSource: string;
  requests: number;
  targets: number;
  /** Span of time the input covers, seconds (undefined when it has no timestamps). */
  timeCoveredS?: number;
  /** Step (or row) drops by reason. */
  dropped: Record<string, number>;
  /** Bad input records skipped under --skip-bad: count and the first messages. */
  bad: { count: number; examples: string[] };
  /** Disagreements between inference and the trace's own checks: count and the first messages. */
  mismatches: { count: number; examples: string[] };
  /** Format-specific figures (exact/inferred breakdown, residuals, ...). */
  detail: Record<string, number | string>;
  notes: string[];
}

export function emptySummary(format: ReconstructSummary['format'], input: string): ReconstructSummary {
  return {
    format,
    input,
    experiments: [],
    records: 0,
    steps: 0,
    stepsExact: 0,
    stepsInferred: 0,
    stepsWithDuration: 0,
    durationSource: 'none',
    requests: 0,
    targets: 0,
    dropped: {},
    bad: { count: 0, examples: [] },
    mismatches: { count: 0, examples: [] },
    detail: {},
    notes: [],
  };
}

const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(x < 10 ? 3 : 1));

/** Human-readable summary lines. */
export function formatSummary(s: ReconstructSummary): string[] {
  const pct = (a: number, b: number): string => (b > 0 ? ` (${((100 * a) / b).toFixed(1)}%)` : '');
  const out = [
    `reconstruct ${s.format}: ${s.input}`,
    `  experiments: ${s.experiments.length} (${s.experiments.slice(0, 6).join(', ')}${s.experiments.length > 6 ? ', …' : ''})`,
    `  records read: ${s.records}`,
    `  steps: ${s.steps} — exact ${s.stepsExact}${pct(s.stepsExact, s.steps)}, inferred ${s.stepsInferred}${pct(s.stepsInferred, s.steps)}`,
    `  steps with duration: ${s.stepsWithDuration}${pct(s.stepsWithDuration, s.steps)} — source: ${s.durationSource}`,
    `  requests: ${s.requests}; request-level targets: ${s.targets}`,
  ];
  if (s.timeCoveredS !== undefined) out.push(`  time covered: ${s.timeCoveredS.toFixed(3)} s`);
  for (const [k, v] of Object.entries(s.detail)) out.push(`  ${k}: ${typeof v === 'number' ? fmt(v) : v}`);
  const dropped = Object.entries(s.dropped);
  if (dropped.length === 0) out.push('  dropped: none');
  else for (const [k, v] of dropped) out.push(`  dropped: ${v} — ${k}`);
  if (s.mismatches.count > 0) {
    out.push(`  mismatches: ${s.mismatches.count}`);
    for (const m of s.mismatches.examples.slice(0, 5)) out.push(`    ${m}`);
  }
  if (s.bad.count > 0) {
    out.push(`  bad records skipped: ${s.bad.count}`);
    for (const m of s.bad.examples.slice(0, 5)) out.push(`    ${m}`);
  }
  for (const n of s.notes) out.push(`  note: ${n}`);
  return out;
}
