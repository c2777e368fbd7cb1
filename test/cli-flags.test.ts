import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { buildProgram } from '../src/cli/main.js';
import { memoryIO } from '../src/cli/io.js';
import { renameDeprecatedFlags } from '../src/cli/flags.js';
import { withFitDefaults as defaultFitOptions, DEFAULT_FIT } from '../src/fit/defaults.js';
import { fitDataset, buildFitFile, experimentFrom, getBasis, physicalBounds } from '../src/index.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-flags-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let program: Awaited<ReturnType<typeof buildProgram>>;
beforeAll(async () => {
  program = await buildProgram(memoryIO());
});
const rename = (argv: string[]): { argv: string[]; notes: string[] } => {
  const notes: string[] = [];
  return { argv: renameDeprecatedFlags(program as never, argv, (l) => notes.push(l)), notes };
};

describe('one flag vocabulary', () => {
  it('rewrites old spellings only on commands that define the new one, with one note per flag', () => {
    const a = rename(['sample', '--steps', '10', '--budget=512', '--max-seqs', '4', '--max-seqs', '8']);
    expect(a.argv).toEqual(['sample', '--num-steps', '10', '--max-num-batched-tokens=512', '--max-num-seqs', '4', '--max-num-seqs', '8']);
    expect(a.notes).toHaveLength(3);
    expect(a.notes[0]).toMatch(/sample --steps is deprecated; use --num-steps/);
    // --steps is a file everywhere else: untouched
    expect(rename(['fit', '--steps', 'x.jsonl']).argv).toEqual(['fit', '--steps', 'x.jsonl']);
    expect(rename(['report', '--data', 'x.jsonl']).argv).toEqual(['report', '--steps', 'x.jsonl']);
    // validate's --data is a data root (no --steps there): untouched
    expect(rename(['validate', '--data', 'd']).notes).toEqual([]);
    expect(rename(['sample', '--', '--steps']).argv).toEqual(['sample', '--', '--steps']);
  });

  it('old and new spellings of sample give the same records; the old one prints a deprecation note', async () => {
    const a = path.join(dir, 'a.jsonl');
    const b = path.join(dir, 'b.jsonl');
    const ra = await runCli(['sample', '--model', 'llama-3.1-8b', '--steps', '50', '--max-seqs', '8', '--seed', '2', '--out', a]);
    const rb = await runCli(['sample', '--model', 'llama-3.1-8b', '--num-steps', '50', '--max-num-seqs', '8', '--seed', '2', '--out', b]);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    expect(ra.stderr).toMatch(/--steps is deprecated/);
    expect(rb.stderr).not.toMatch(/deprecated/);
    expect(fs.readFileSync(a, 'utf8')).toBe(fs.readFileSync(b, 'utf8'));
    expect(fs.readFileSync(b, 'utf8').trim().split('\n')).toHaveLength(50);
  });
});

describe('one default fit policy', () => {
  it('fills the CLI defaults: huber + physical bounds + tiny ridge for the default basis, nnls for seed', () => {
    const d = defaultFitOptions({});
    expect(d.basis).toBe(DEFAULT_FIT.basis);
    expect(d.method).toBe('huber');
    expect(d.weight).toBe('relative');
    expect(d.bounds).toEqual(physicalBounds(getBasis(DEFAULT_FIT.basis)));
    expect(d.ridge).toEqual({ lambda: DEFAULT_FIT.boundedRidgeLambda });
    const s = defaultFitOptions({ basis: 'seed' });
    expect([s.method, s.bounds, s.ridge]).toEqual(['nnls', undefined, undefined]);
    expect(defaultFitOptions({ method: 'ols' }).ridge).toBeUndefined();
  });

  it('the library fit() and `stepfit fit` give the same coefficients from the same options', async () => {
    const out = path.join(dir, 'cli.json');
    const r = await runCli(['fit', '--steps', 'data/sample/steps.jsonl', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--basis', 'seed', '--out', out]);
    expect(r.code).toBe(0);
    const cli = JSON.parse(fs.readFileSync(out, 'utf8')) as { terms: { name: string; coef: number }[] };
    const r2 = await fitDataset({ experiments: [experimentFrom({ steps: 'data/sample/steps.jsonl', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 })] }, { basis: 'seed' });
    const lib = buildFitFile(r2, { commandLine: 'lib', inputs: [], gpus: {}, createdAt: '1970-01-01T00:00:00.000Z' });
    expect(lib.terms.map((t: { coef: number }) => t.coef)).toEqual(cli.terms.map((t) => t.coef));
  });
});

describe('commands load on demand (cli/commands.ts)', () => {
  it('every entry loads a factory whose command has the entry name; one named command loads alone', async () => {
    const { COMMANDS } = await import('../src/cli/commands.js');
    const { commandsFor } = await import('../src/cli/main.js');
    for (const c of COMMANDS) expect((await c.load())(memoryIO(), async () => 0).name()).toBe(c.name);
    expect(commandsFor(['features', '--steps', 'x']).map((c) => c.name)).toEqual(['features']);
    expect(commandsFor(['--help'])).toBe(COMMANDS);
    expect(commandsFor(['featurs'])).toBe(COMMANDS);
    expect(commandsFor([])).toBe(COMMANDS);
  });
});
