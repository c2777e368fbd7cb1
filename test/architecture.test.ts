/**
 * Layers only point down (docs/architecture.md): the folder import graph of src/ (type imports
 * included) must respect the layer table, and no source file may take part in an import cycle
 * (value imports; type-only imports are erased at run time).
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './support/shared.js';

/** Layer of each src/ folder (or top-level file): a folder may import only its own or lower layers. */
const LAYERS: Readonly<Record<string, number>> = {
  io: 0,
  util: 0,
  version: 0,
  steps: 1,
  model: 1,
  hardware: 1,
  basis: 2,
  analytic: 3,
  fit: 3,
  scheduler: 3,
  predict: 4,
  reconstruct: 5,
  collect: 5,
  simulate: 6,
  report: 7,
  export: 7,
  validate: 7,
  planner: 7,
  fits: 7,
  cli: 8,
  index: 9,
};

const SRC = path.join(REPO_ROOT, 'src');
const files = (fs.readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => path.join(SRC, f));
const folderOf = (f: string): string => {
  const r = path.relative(SRC, f).split(path.sep);
  return r.length === 1 ? r[0]!.replace(/\.ts$/, '') : r[0]!;
};

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}
function imports(f: string): Edge[] {
  const src = fs.readFileSync(f, 'utf8');
  const out: Edge[] = [];
  for (const m of src.matchAll(/^(import|export)(\s+type)?[^;]*?from\s+'(\.[^']+)'/gm)) {
    out.push({ from: f, to: path.resolve(path.dirname(f), m[3]!).replace(/\.js$/, '.ts'), typeOnly: m[2] !== undefined });
  }
  for (const m of src.matchAll(/^import\s+'(\.[^']+)'/gm)) out.push({ from: f, to: path.resolve(path.dirname(f), m[1]!).replace(/\.js$/, '.ts'), typeOnly: false });
  return out;
}
const edges = files.flatMap(imports);

describe('architecture', () => {
  it('every src folder has a layer', () => {
    expect(new Set(files.map(folderOf)).size).toBeGreaterThan(10);
    for (const f of files) expect(LAYERS[folderOf(f)], `no layer for ${folderOf(f)} (${f})`).toBeDefined();
  });

  it('folders import only their own or lower layers (type imports included)', () => {
    const bad = edges.filter((e) => LAYERS[folderOf(e.to)]! > LAYERS[folderOf(e.from)]!).map((e) => `${path.relative(SRC, e.from)} → ${path.relative(SRC, e.to)}`);
    expect(bad).toEqual([]);
  });

  it('no import cycles between files (value imports)', () => {
    const g = new Map<string, string[]>();
    for (const e of edges) if (!e.typeOnly) g.set(e.from, [...(g.get(e.from) ?? []), e.to]);
    const state = new Map<string, 1 | 2>();
    const cycles: string[] = [];
    const visit = (n: string, stack: string[]): void => {
      state.set(n, 1);
      for (const m of g.get(n) ?? []) {
        if (state.get(m) === 1) cycles.push([...stack.slice(stack.indexOf(m)), m].map((x) => path.relative(SRC, x)).join(' → '));
        else if (!state.has(m)) visit(m, [...stack, m]);
      }
      state.set(n, 2);
    };
    for (const f of files) if (!state.has(f)) visit(f, [f]);
    expect(cycles).toEqual([]);
  });
});
