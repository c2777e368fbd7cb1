/**
 * Planner state (Node, no browser): the URL fragment round-trips and reports bad fields; the page's
 * compute path (planContext/planServe) returns exactly what `stepfit engine serve --json` prints;
 * the page bundles into one HTML file with no external references.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { DEFAULT_STATE, encodeFragment, decodeFragment, cliArgsOf, type PlannerState } from '../src/planner/state.js';
import { planContext, planServe, concurrencyGrid, batchCaps } from '../src/planner/compute.js';

describe('planner state and compute', () => {
  it('URL fragment: defaults encode to nothing, a state and its comparisons round-trip, bad fields are named', () => {
    expect(encodeFragment(DEFAULT_STATE)).toBe('');
    const s: PlannerState = { ...DEFAULT_STATE, model: 'qwen3-30b-a3b', tp: 2, ep: 2, weightDtype: 'fp8', load: 'rate', rate: 2.5 };
    const c = [
      { ...s, gpu: 'h200' },
      { ...DEFAULT_STATE, customConfig: '{"a": "b&c=#"}', model: 'custom' },
    ];
    const d = decodeFragment(`#${encodeFragment(s, c)}`);
    expect(d).toEqual({ state: s, compare: c, problems: [] });
    const bad = decodeFragment('tp=-1&kvDtype=fp4&load=open&compare=nope');
    expect(bad.state).toEqual(DEFAULT_STATE);
    expect(bad.problems).toEqual([
      "URL field 'tp': expected a non-negative number, got '-1'",
      "URL field 'kvDtype': expected one of bf16, fp16, fp8, got 'fp4'",
      "URL field 'load': expected concurrency or rate, got 'open'",
      expect.stringMatching(/^URL field 'compare': expected a JSON list of configurations/),
    ]);
  });

  it('concurrency grid: powers of two below the cap, then the cap; thinned to at most 10 points', () => {
    expect(concurrencyGrid(1)).toEqual([1]);
    expect(concurrencyGrid(24)).toEqual([1, 2, 4, 8, 16, 24]);
    const g = concurrencyGrid(4096);
    expect(g.length).toBeLessThanOrEqual(10);
    expect(g[0]).toBe(1);
    expect(g.at(-1)).toBe(4096);
  });

  it('planServe returns what `stepfit engine serve --json` prints for the same state', async () => {
    const s: PlannerState = { ...DEFAULT_STATE, input: 512, output: 64, concurrency: 8, price: 2 };
    const r = await runCli(cliArgsOf(s));
    expect(r.code, r.stderr).toBe(0);
    const page = planServe(planContext(s.model, s));
    expect(JSON.parse(JSON.stringify(page))).toEqual(JSON.parse(r.stdout));
    const caps = batchCaps(page, s);
    expect(caps.maxSeqs).toBe(256);
    expect(caps.kv).toBe(Math.floor(page.memory.maxKvTokens / 576));
  });

  it('`stepfit planner` writes one HTML file with no external references; a bad --fit is one clear line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-planner-'));
    const out = path.join(dir, 'p.html');
    const r = await runCli(['planner', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const html = fs.readFileSync(out, 'utf8');
    expect(JSON.parse(r.stdout)).toEqual({ out, bytes: Buffer.byteLength(html), fits: 0 });
    expect(html).not.toMatch(/<script[^>]+src=|<link\b|@import|@font-face|url\(\s*['"]?https?:/i);
    expect(html).toContain('configs/models/llama-3.1-8b.json');
    expect(html).toContain('configs/efficiency/h100-sxm.json');
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{}');
    const e = await runCli(['planner', '--out', path.join(dir, 'q.html'), '--fit', bad]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/bad\.json: not a stepfit fit file: field 'stepfitFit'/);
    expect(fs.existsSync(path.join(dir, 'q.html'))).toBe(false);
  });
});
