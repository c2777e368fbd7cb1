/**
 * Seeded fuzzing of the input boundary (issue 14): a few hundred random mutations of a step file,
 * a vLLM OTLP trace, a fit file and a manifest, each run through the command that reads it (a
 * manifest key the mutation renamed must be refused by name). Whatever the
 * mutation, the outcome is exit 0 or a clean error (exit 1/2, one `stepfit: error:` line): never
 * exit 70, never a stack trace, never a temp file left behind.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';

const M = ['--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'];
let dir: string;
let steps: string;
let trace: string;
let fit: string;

/** mulberry32: a small seeded PRNG, so every CI run sees the same cases. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY = ['1e300', '-1', '1e-300', 'NaN', '"noon"', 'null', '[]', '{}', '0', '-0', '99999999999999999999', '"\u00ff\u00fe"', 'true'];

/** One random mutation of a text (line-oriented JSON). */
function mutate(text: string, r: () => number): string {
  const lines = text.split('\n');
  const pick = (): number => Math.floor(r() * Math.max(1, lines.length - 1));
  const k = Math.floor(r() * 8);
  const i = pick();
  const l = lines[i] ?? '';
  switch (k) {
    case 0: {
      // replace one number with a nasty value
      const nums = [...l.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?/g)];
      if (nums.length === 0) break;
      const m = nums[Math.floor(r() * nums.length)]!;
      lines[i] = l.slice(0, m.index) + NASTY[Math.floor(r() * NASTY.length)] + l.slice(m.index! + m[0].length);
      break;
    }
    case 1:
      lines[i] = l.slice(0, Math.floor(r() * l.length));
      break; // truncate a line
    case 2: {
      const p = Math.floor(r() * l.length);
      lines[i] = l.slice(0, p) + String.fromCharCode(Math.floor(r() * 256)) + l.slice(p + 1);
      break;
    } // flip a byte
    case 3:
      lines.splice(i, 1);
      break; // drop a line
    case 4:
      lines.splice(i, 0, l);
      break; // duplicate a line
    case 5: {
      const keys = [...l.matchAll(/"([a-z_.]+)":/g)];
      if (keys.length) {
        const m = keys[Math.floor(r() * keys.length)]!;
        lines[i] = l.replace(m[0], `"${m[1]}x":`);
      }
      break;
    } // rename a key
    case 6:
      return '\ufeff' + lines.join('\n'); // BOM
    default:
      return lines.slice(0, Math.floor(r() * lines.length)).join('\n'); // cut the file
  }
  return lines.join('\n');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-fuzz-'));
  steps = fs.readFileSync(path.join(REPO_ROOT, 'data/sample/steps.jsonl'), 'utf8').split('\n').slice(0, 120).join('\n') + '\n';
  const sim = path.join(dir, 'sim');
  const r = await runCli([
    'simulate',
    '--engine',
    ...M,
    '--workload',
    'poisson:requests=12,rate=20,input=300,output=12',
    '--max-num-batched-tokens',
    '256',
    '--emit-trace',
    'vllm-otlp',
    '--trace-out',
    path.join(dir, 'trace.jsonl'),
    '--out',
    sim,
  ]);
  expect(r.code, r.stderr).toBe(0);
  trace = fs.readFileSync(path.join(dir, 'trace.jsonl'), 'utf8');
  const sf = path.join(dir, 'steps-ok.jsonl');
  fs.writeFileSync(sf, steps);
  expect((await runCli(['fit', '--steps', sf, ...M, '--basis', 'seed', '--out', path.join(dir, 'fit-ok.json')])).code).toBe(0);
  fit = fs.readFileSync(path.join(dir, 'fit-ok.json'), 'utf8').replace(/\n\s*/g, '\n'); // one value per line, so line mutations hit fields
});

const CASES = 150;

describe.each([
  ['step file → fit', 1, () => steps, (f: string, o: string) => ['fit', '--steps', f, ...M, '--basis', 'seed', '--out', o]],
  ['vLLM OTLP trace → reconstruct', 2, () => trace, (f: string, o: string) => ['reconstruct', '--format', 'vllm-otlp', '--in', f, '--out', o]],
  ['fit file → predict', 3, () => fit, (f: string, o: string) => ['predict', '--fit', f, '--grid', 'batch=1,8;context=512;prefill=0,256', ...M, '--out', o]],
])('fuzz: %s', (_name, seed, base, args) => {
  it(`${CASES} seeded mutations: exit 0/1/2, one clean error line, no temp file`, async () => {
    const r = rng(seed);
    const codes = new Map<number, number>();
    for (let c = 0; c < CASES; c++) {
      const d = path.join(dir, `case-${seed}-${c}`);
      fs.mkdirSync(d);
      const f = path.join(d, 'input.jsonl');
      let text = base();
      for (let m = 1 + Math.floor(r() * 3); m > 0; m--) text = mutate(text, r);
      fs.writeFileSync(f, text);
      const res = await runCli(args(f, path.join(d, 'out')));
      codes.set(res.code, (codes.get(res.code) ?? 0) + 1);
      const why = `case ${c}: exit ${res.code}: ${res.stderr.slice(0, 300)}`;
      expect([0, 1, 2], why).toContain(res.code);
      expect(res.stderr, why).not.toMatch(/internal error|\n\s+at .*:\d+:\d+/);
      if (res.code !== 0)
        expect(
          res.stderr.split('\n').filter((l) => l.startsWith('stepfit: error:')),
          why,
        ).toHaveLength(1);
      expect(
        fs.readdirSync(d).filter((n) => n.includes('.tmp-')),
        why,
      ).toEqual([]);
      if (res.code !== 0) expect(fs.existsSync(path.join(d, 'out')), why).toBe(false);
    }
    expect(codes.get(70) ?? 0).toBe(0);
    expect(codes.get(1) ?? 0, `mutations must reach the error paths: ${JSON.stringify([...codes])}`).toBeGreaterThan(CASES / 10);
  }, 120_000);
});

describe('fuzz: manifest (JSON, one key per line) → evaluate', () => {
  it(`${CASES} seeded mutations: a renamed key is refused with a did-you-mean; otherwise exit 0/1/2, one clean error line`, async () => {
    const r = rng(4);
    const base = JSON.stringify({ experiments: [{ id: 'a', steps: 's.jsonl', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: { workload: 'chat' } }] }, null, 1);
    const known = new Set(['experiments', 'id', 'steps', 'model', 'gpu', 'tp', 'groups', 'targets']);
    let renamed = 0;
    for (let c = 0; c < CASES; c++) {
      const d = path.join(dir, `case-manifest-${c}`);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 's.jsonl'), steps);
      let text = base;
      for (let m = 1 + Math.floor(r() * 2); m > 0; m--) text = mutate(text, r);
      const f = path.join(d, 'm.json');
      fs.writeFileSync(f, text);
      const res = await runCli(['evaluate', '--fit', path.join(dir, 'fit-ok.json'), '--manifest', f]);
      const why = `case ${c}: exit ${res.code}: ${res.stderr.slice(0, 300)}\n${text}`;
      expect([0, 1, 2], why).toContain(res.code);
      expect(res.stderr, why).not.toMatch(/internal error|\n\s+at .*:\d+:\d+/);
      if (res.code !== 0)
        expect(
          res.stderr.split('\n').filter((l) => l.startsWith('stepfit: error:')),
          why,
        ).toHaveLength(1);
      // a key that is not a manifest key (outside the free-form groups) must be refused, naming it
      let doc: unknown = null;
      try {
        doc = JSON.parse(text.replace(/^\ufeff/, ''));
      } catch {}
      const e0 = (doc as { experiments?: Record<string, unknown>[] } | null)?.experiments?.[0];
      const unknown = [...Object.keys((doc as object | null) ?? {}), ...Object.keys(e0 && typeof e0 === 'object' ? e0 : {})].find((k) => !known.has(k));
      // (JSON.parse keeps the last of duplicate keys; YAML refuses them, a clean error of its own)
      if (unknown !== undefined && !/not valid YAML/.test(res.stderr)) {
        renamed++;
        expect(res.code, why).toBe(1);
        expect(res.stderr, why).toMatch(new RegExp(`unknown key '[^']*${unknown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
      }
    }
    expect(renamed, 'the key-renaming mutation must be exercised').toBeGreaterThan(5);
  }, 120_000);
});
