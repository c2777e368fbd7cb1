/**
 * Which options of each command are files it reads and which it writes, for the check that no output
 * overwrites an input (io/guard.ts). One table; a new command with file options adds one line.
 * Keys are option attribute names (commander's camelCase); `dir` outputs list the files written in them.
 * The same table decides where '-' (standard input / output) is allowed (cli/stdio.ts): any file input or
 * output listed here, never a `dirOut` folder.
 */
import type { PathRole } from '../io/guard.js';

interface Roles {
  readonly in: readonly string[];
  readonly out: readonly string[];
  readonly dirOut?: Readonly<Record<string, readonly string[]>>;
}

export const IO_ROLES: Readonly<Record<string, Roles>> = Object.freeze({
  demo: { in: ['in'], out: [], dirOut: { out: ['steps.jsonl', 'targets.jsonl', 'fit.json', 'fit-seed.json', 'table.csv', 'blis-defaults.yaml'] } },
  reconstruct: { in: ['in'], out: ['out', 'targets', 'labels', 'manifest'], dirOut: { outDir: [] } },
  features: { in: ['steps'], out: ['out'] },
  fit: { in: ['steps', 'targets', 'manifest'], out: ['out'] },
  evaluate: { in: ['fit', 'steps', 'targets', 'manifest'], out: [] },
  predict: { in: ['fit', 'steps'], out: ['out'] },
  report: { in: ['fit', 'steps', 'manifest'], out: [], dirOut: { out: ['index.html', 'report.md'] } },
  export: { in: ['fit'], out: ['out'] },
  sample: { in: [], out: ['out'] },
  simulate: { in: ['fit', 'workload'], out: ['traceOut'], dirOut: { out: ['steps.jsonl', 'requests.csv', 'summary.json', 'traces.jsonl.gz'] } },
  'engine step': { in: ['steps'], out: ['out'] },
  'engine serve': { in: ['scenarios'], out: ['out'] },
  'engine calibrate': { in: [], out: ['out'] },
  'engine check': { in: ['fit'], out: ['out'] },
  planner: { in: [], out: ['out'] },
  collect: { in: [], out: [], dirOut: { out: [] } },
  'fits rebuild': { in: [], out: [], dirOut: { out: [] } },
});

const flagOf = (attr: string): string => `--${attr.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Input and output paths of one invocation (options that are not strings are ignored). */
export function pathRoles(command: string, opts: Record<string, unknown>): { inputs: PathRole[]; outputs: PathRole[] } | null {
  const r = IO_ROLES[command];
  if (!r) return null;
  const str = (k: string): string | undefined => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
  const inputs = r.in.flatMap((k) => {
    const p = str(k);
    return p === undefined ? [] : [{ flag: flagOf(k), path: p }];
  });
  const outputs: PathRole[] = r.out.flatMap((k) => {
    const p = str(k);
    return p === undefined ? [] : [{ flag: flagOf(k), path: p }];
  });
  for (const [k, writes] of Object.entries(r.dirOut ?? {})) {
    const p = str(k);
    if (p !== undefined) outputs.push({ flag: flagOf(k), path: p, writes });
  }
  return { inputs, outputs };
}
