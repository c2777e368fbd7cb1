/**
 * Unknown keys in stepfit's own input formats (manifests, GPU datasheets, …): a misspelt key
 * (`stpes:`) must not be dropped silently. The message names the file, where the key is and the
 * closest known key ("did you mean"), by Levenshtein distance.
 */
import { InputError } from './errors.js';

/** Edit distance (insertions, deletions, substitutions; each costs 1). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known word closest to `word` (case-insensitive), when close enough to be a typo: distance ≤ max(2, ⌊length/3⌋). */
export function closest(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = levenshtein(w, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** " (did you mean 'x'?)" or " (known keys: a, b, c)". */
export function suggestion(word: string, known: readonly string[]): string {
  const c = closest(word, known);
  return c !== undefined ? ` (did you mean '${c}'?)` : ` (known keys: ${known.join(', ')})`;
}

/**
 * Refuse keys of `obj` that are not in `known`: `<file>: unknown key '<where.key>' (did you mean '…'?)`.
 * `where` is the path of `obj` in the document ('' at the top). Non-objects are left to the schema.
 */
export function checkKeys(file: string, where: string, obj: unknown, known: readonly string[]): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
  for (const k of Object.keys(obj)) {
    if (known.includes(k)) continue;
    throw new InputError(`${file}: unknown key '${where ? `${where}.` : ''}${k}'${suggestion(k, known)}`);
  }
}
