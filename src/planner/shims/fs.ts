/**
 * Browser stand-in for `node:fs`: a read-only in-memory file system holding the files the planner
 * page embeds (bundled model configs, GPU datasheets, efficiency tables, pasted configs). The engine's
 * own loaders (loadArchitecture, loadGpu, loadEfficiency) then run unchanged in the page, on the same
 * paths they use on disk, so page and CLI share every line of engine code.
 */
const files = new Map<string, string>();

/** Add or replace files (absolute POSIX paths → UTF-8 text). */
export function mount(entries: Record<string, string>): void {
  for (const [p, text] of Object.entries(entries)) files.set(p, text);
}

const isDir = (p: string): boolean => {
  const prefix = p.endsWith('/') ? p : `${p}/`;
  for (const k of files.keys()) if (k.startsWith(prefix)) return true;
  return false;
};

function enoent(p: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
}

export function existsSync(p: string): boolean {
  return files.has(p) || isDir(p);
}

export function readFileSync(p: string): string {
  const t = files.get(p);
  if (t === undefined) throw enoent(p);
  return t;
}

export function statSync(p: string): { isDirectory(): boolean; isFile(): boolean } {
  if (!existsSync(p)) throw enoent(p);
  const dir = !files.has(p);
  return { isDirectory: () => dir, isFile: () => !dir };
}

export function readdirSync(p: string): string[] {
  const prefix = p.endsWith('/') ? p : `${p}/`;
  const out = new Set<string>();
  for (const k of files.keys()) if (k.startsWith(prefix)) out.add(k.slice(prefix.length).split('/')[0]!);
  return [...out].sort();
}

export default { existsSync, readFileSync, statSync, readdirSync };
