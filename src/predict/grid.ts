/**
 * Batch-shape grids for `predict --grid` and `export --to table`.
 *
 * SPEC syntax: `key=values;key=values;…` with keys
 *   batch    number of decoding requests in the step (≥ 0)
 *   context  KV context length of each decoding request, tokens (≥ 0)
 *   prefill  new prompt tokens of one prefill chunk in the step (≥ 0; 0 = no prefill)
 *   prior    tokens of that prefill request already in the KV cache (≥ 0; default 0)
 * and values a comma list of integers and ranges:
 *   `a..b`     every integer from a to b
 *   `a..b+s`   a, a+s, a+2s, … ≤ b
 *   `a..b*f`   a, a·f, a·f², … ≤ b (a ≥ 1, f ≥ 2)
 * e.g. `batch=1,8,64;context=512,4096;prefill=0,512,2048` or `batch=1..256*2;context=1024`.
 * Defaults: prefill=0, prior=0; `context` may be left out only when every batch value is 0.
 * Steps are the Cartesian product in key order batch → context → prefill → prior (prior varies
 * fastest); combinations with neither decode requests nor prefill tokens are skipped.
 */
import { UsageError } from '../io/errors.js';
import type { Step } from '../steps/step.js';

export interface Grid {
  batch: number[];
  context: number[];
  prefill: number[];
  prior: number[];
}

export interface GridPoint {
  batch: number;
  context: number;
  prefill: number;
  prior: number;
}

export const GRID_KEYS = ['batch', 'context', 'prefill', 'prior'] as const;
export type GridKey = (typeof GRID_KEYS)[number];

/** Most grid points a grid may have. */
export const MAX_GRID_POINTS = 10_000_000;
const MAX_LIST = 100_000;

/** Parse one value list (`1,8,64`, `1..64*2`, `0..2048+512`); `what` names it in errors. */
export function parseValueList(text: string, what: string): number[] {
  const out: number[] = [];
  const t = text.trim();
  if (t === '') throw new UsageError(`${what}: empty value list (expected e.g. 1,8,64 or 1..64*2)`);
  for (const raw of t.split(',')) {
    const item = raw.trim();
    const m = /^(\d+)\.\.(\d+)(?:([+*])(\d+))?$/.exec(item);
    if (m) {
      const a = Number(m[1]);
      const b = Number(m[2]);
      const op = m[3] ?? '+';
      const s = m[4] === undefined ? 1 : Number(m[4]);
      if (b < a) throw new UsageError(`${what}: range '${item}' ends before it starts`);
      if (op === '+' && s < 1) throw new UsageError(`${what}: range '${item}': step must be ≥ 1`);
      if (op === '*' && (s < 2 || a < 1)) throw new UsageError(`${what}: range '${item}': geometric ranges need a start ≥ 1 and a factor ≥ 2`);
      for (let v = a; v <= b; v = op === '+' ? v + s : v * s) {
        out.push(v);
        if (out.length > MAX_LIST) throw new UsageError(`${what}: more than ${MAX_LIST} values`);
      }
      continue;
    }
    if (!/^\d+$/.test(item)) throw new UsageError(`${what}: '${item}' is not a non-negative integer or a range a..b, a..b+step, a..b*factor`);
    out.push(Number(item));
  }
  return out;
}

function gridSize(g: Grid): number {
  return g.batch.length * g.context.length * g.prefill.length * g.prior.length;
}

/** Build a grid from value lists (undefined = default), checking defaults and size. `what` prefixes errors. */
export function makeGrid(v: Partial<Record<GridKey, number[]>>, what: string): Grid {
  if (!v.batch) throw new UsageError(`${what}: 'batch' is required (number of decoding requests, e.g. batch=1,8,64; batch=0 for prefill-only steps)`);
  const allZeroBatch = v.batch.every((b) => b === 0);
  if (!v.context && !allZeroBatch) throw new UsageError(`${what}: 'context' is required when batch > 0 (context length of each decoding request, e.g. context=512,4096)`);
  const g: Grid = { batch: v.batch, context: v.context ?? [0], prefill: v.prefill ?? [0], prior: v.prior ?? [0] };
  const n = gridSize(g);
  if (n > MAX_GRID_POINTS) throw new UsageError(`${what}: grid has ${n} points, more than the ${MAX_GRID_POINTS} allowed`);
  if (countGridSteps(g) === 0) throw new UsageError(`${what}: every grid point is empty (batch=0 and prefill=0)`);
  return g;
}

/** Parse a `--grid` SPEC (syntax in the module comment). */
export function parseGridSpec(spec: string): Grid {
  const what = `--grid '${spec}'`;
  const v: Partial<Record<GridKey, number[]>> = {};
  for (const part of spec.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw new UsageError(`${what}: '${part.trim()}' is not key=values (keys: ${GRID_KEYS.join(', ')})`);
    const key = part.slice(0, eq).trim();
    if (!(GRID_KEYS as readonly string[]).includes(key)) throw new UsageError(`${what}: unknown key '${key}' (keys: ${GRID_KEYS.join(', ')})`);
    if (v[key as GridKey]) throw new UsageError(`${what}: key '${key}' given twice`);
    v[key as GridKey] = parseValueList(part.slice(eq + 1), `${what}: ${key}`);
  }
  return makeGrid(v, what);
}

/** The grid back as a SPEC string (parseGridSpec(gridToSpec(g)) reproduces g). */
export function gridToSpec(g: Grid): string {
  return GRID_KEYS.map((k) => `${k}=${g[k].join(',')}`).join(';');
}

/** Points in product order, skipping empty ones. */
export function* gridPoints(g: Grid): Generator<GridPoint> {
  for (const batch of g.batch) {
    for (const context of g.context) {
      for (const prefill of g.prefill) {
        for (const prior of g.prior) {
          if (batch === 0 && prefill === 0) continue;
          yield { batch, context, prefill, prior };
        }
      }
    }
  }
}

export function countGridSteps(g: Grid): number {
  const nonEmptyPerPrior = g.batch.filter((b) => b > 0).length * g.prefill.length + g.batch.filter((b) => b === 0).length * g.prefill.filter((p) => p > 0).length;
  return nonEmptyPerPrior * g.context.length * g.prior.length;
}

/** The step a grid point stands for: `batch` decodes at `context`, plus one prefill chunk of `prefill` new tokens after `prior`. */
export function gridStep(p: GridPoint, index: number, experiment = 'grid'): Step {
  return {
    experiment,
    step: index,
    prefill: p.prefill > 0 ? [{ tokens: p.prefill, prior: p.prior, prompt: p.prior + p.prefill }] : [],
    decode: new Array<number>(p.batch).fill(p.context),
  };
}
