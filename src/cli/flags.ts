/**
 * One flag vocabulary across commands. Limits are named as vLLM names them (`--max-num-seqs`,
 * `--max-num-batched-tokens`, `--gpu-memory-utilization`); a file of step records is `--steps`, a count
 * is `--num-…`; a fixed per-step time is `--overhead-us`. Old spellings keep working for one release:
 * `renameDeprecatedFlags` rewrites them before parsing and prints one deprecation note per flag.
 *
 * A rename applies to a command only when that command defines the new spelling and not the old one,
 * so a command whose option is still spelled the old way is never broken by this table.
 */
import type { Command } from '@commander-js/extra-typings';

export interface FlagRename {
  readonly old: string;
  readonly new: string;
}

export const FLAG_RENAMES: readonly FlagRename[] = Object.freeze([
  { old: '--max-seqs', new: '--max-num-seqs' },
  { old: '--budget', new: '--max-num-batched-tokens' },
  { old: '--chunk', new: '--max-num-batched-tokens' },
  { old: '--gpu-mem-util', new: '--gpu-memory-utilization' },
  { old: '--step-overhead-us', new: '--overhead-us' },
  { old: '--steps', new: '--num-steps' }, // `sample`: a count, not a file
  { old: '--data', new: '--steps' }, // `report`: step records like every other command
]);

type AnyCommand = Command<unknown[], Record<string, unknown>, Record<string, unknown>>;

/** The subcommand an argv addresses (deepest match of leading non-flag words), or null. */
function addressed(program: AnyCommand, argv: readonly string[]): AnyCommand | null {
  let cmd: AnyCommand | null = null;
  let at: AnyCommand = program;
  for (const word of argv) {
    if (word.startsWith('-')) break;
    const sub = at.commands.find((c) => c.name() === word || c.aliases().includes(word)) as AnyCommand | undefined;
    if (!sub) break;
    cmd = at = sub;
  }
  return cmd;
}

/** argv with deprecated spellings replaced by the current ones; `note` gets one line per replaced flag. */
export function renameDeprecatedFlags(program: AnyCommand, argv: readonly string[], note: (line: string) => void): string[] {
  const cmd = addressed(program, argv);
  if (!cmd) return [...argv];
  const defined = new Set(cmd.options.map((o) => o.long).filter((l): l is string => l !== undefined));
  const active = FLAG_RENAMES.filter((r) => defined.has(r.new) && !defined.has(r.old));
  if (active.length === 0) return [...argv];
  const noted = new Set<string>();
  const out: string[] = [];
  let passThrough = false;
  for (const a of argv) {
    if (passThrough || a === '--') {
      passThrough = true;
      out.push(a);
      continue;
    }
    const r = active.find((x) => a === x.old || a.startsWith(`${x.old}=`));
    if (!r) {
      out.push(a);
      continue;
    }
    out.push(r.new + a.slice(r.old.length));
    if (!noted.has(r.old)) {
      noted.add(r.old);
      note(`stepfit: note: ${cmd.name()} ${r.old} is deprecated; use ${r.new} (the old spelling will be removed in the next release)`);
    }
  }
  return out;
}
