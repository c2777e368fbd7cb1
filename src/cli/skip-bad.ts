/**
 * `--skip-bad` for every command that reads step records: bad lines are collected (once each, however
 * many passes see them) and summarised on stderr — the count and the first few file:line reasons —
 * the same way `features`, `fit` and `reconstruct` do.
 */
import type { FitDataset } from '../fit/api.js';
import type { ReadStepsOptions } from '../steps/io.js';

/** One summary of the lines `--skip-bad` skipped: the count and the first few messages. */
export function skippedSummary(messages: ReadonlySet<string> | readonly string[]): string {
  const all = [...messages];
  const show = all.slice(0, 5).map((m) => `  - ${m}`);
  return [`--skip-bad: skipped ${all.length} bad line${all.length === 1 ? '' : 's'}${all.length > 5 ? ' (first 5 shown)' : ''}:`, ...show].join('\n');
}

export const SKIP_BAD_HELP = 'skip malformed step lines (listed in a summary) instead of stopping at the first one';

export class SkippedLines {
  private readonly seen = new Set<string>();
  constructor(readonly enabled: boolean) {}

  bad(message: string): void {
    this.seen.add(message);
  }

  /** Options for readSteps: skip and record bad lines when enabled. */
  readOptions(): ReadStepsOptions {
    return this.enabled ? { skipBad: true, onBad: (m) => this.bad(m) } : {};
  }

  /** The data set with every experiment's bad lines going here when enabled. */
  dataset(ds: FitDataset): FitDataset {
    if (!this.enabled) return ds;
    return { ...ds, experiments: ds.experiments.map((e) => ({ ...e, skipBad: { bad: (m: string) => this.bad(m) } })) };
  }

  /** The summary line(s) for stderr, or null when nothing was skipped. */
  summary(): string | null {
    return this.seen.size > 0 ? skippedSummary(this.seen) : null;
  }
}
