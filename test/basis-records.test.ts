/**
 * Basis terms as records (issue 16): the record form compiles to the same design rows and feature
 * columns, byte for byte, as the positional form it replaced (golden SHA-256 of every Float64 value
 * over many contexts and steps, recorded from the positional code), the column order is the documented
 * one, and `defineBasis` derives the tables from the records.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defineBasis, flatEvaluator } from '../src/basis/define.js';
import { servingConsts, svKv, svPrefillGemm, svTpHops } from '../src/basis/serving.js';
import { BASES } from '../src/basis/registry.js';
import type { Basis, BasisContext } from '../src/basis/types.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { loadArchitecture } from '../src/model/load.js';
import type { PrefillChunk, Step } from '../src/steps/step.js';
import { makeRng } from '../src/util/rng.js';

const MODELS = ['llama-2-7b', 'llama-3.1-70b', 'mixtral-8x7b', 'deepseek-v2-lite', 'qwen3-30b-a3b', 'mistral-7b', 'bloom-176b'];
const GPUS = ['h100-sxm', 'a100-sxm-80gb', 'b200', 'mi300x', 'l40s'];
const TPS = [1, 2, 4, 8];

/** Deterministic steps: empty phases, chunks with prior context, long contexts, single requests. */
function steps(): Step[] {
  const rng = makeRng(16);
  const out: Step[] = [
    { experiment: 'g', step: 0, prefill: [], decode: [] },
    { experiment: 'g', step: 1, prefill: [{ tokens: 1, prior: 0, prompt: 1 }], decode: [] },
    { experiment: 'g', step: 2, prefill: [], decode: [1] },
    { experiment: 'g', step: 3, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: [300, 600] },
  ];
  for (let i = 4; i < 400; i++) {
    const prefill: PrefillChunk[] = [];
    for (let k = rng.int(0, 3); k > 0; k--) {
      const tokens = rng.int(1, 4096);
      const prior = rng.next() < 0.5 ? 0 : rng.int(1, 60000);
      prefill.push({ tokens, prior, prompt: prior + tokens + (rng.next() < 0.3 ? rng.int(1, 2000) : 0) });
    }
    const decode = Array.from({ length: rng.int(0, 300) }, () => rng.int(1, 130000));
    out.push({ experiment: 'g', step: i, prefill, decode });
  }
  return out;
}

function contexts(): BasisContext[] {
  const out: BasisContext[] = [];
  for (const m of MODELS) {
    const arch = loadArchitecture(m);
    for (const g of GPUS) for (const tp of TPS) if (arch.numHeads % tp === 0) out.push({ arch, gpu: loadGpu(g), tp });
  }
  return out;
}

function digest(b: Basis, params?: Record<string, number>): { rows: string; features: string } {
  const hr = createHash('sha256');
  const hf = createHash('sha256');
  const r = new Float64Array(b.terms.length);
  const f = new Float64Array(b.featureColumns.length);
  const all = steps();
  for (const ctx of contexts()) {
    const c = b.compile(ctx, params);
    for (const s of all) {
      r.fill(Number.NaN);
      f.fill(Number.NaN);
      c.row(s, r);
      c.features(s, f);
      hr.update(new Uint8Array(r.buffer));
      hf.update(new Uint8Array(f.buffer));
    }
  }
  return { rows: hr.digest('hex').slice(0, 16), features: hf.digest('hex').slice(0, 16) };
}

describe('basis records', () => {
  it('design rows and feature columns are byte-identical to the positional implementation', () => {
    const got = Object.fromEntries(Object.entries(BASES).map(([k, b]) => [k, digest(b)]));
    got['serving knee 16 MiB'] = digest(BASES['serving']!, { tp_comm_knee_mib: 16 });
    expect(got).toEqual(GOLDEN);
  });

  it('column and term order are the documented ones', () => {
    expect(BASES['seed']!.featureColumns).toEqual(['t_pf_compute', 't_pf_kv', 't_dc_compute', 't_dc_kv', 't_weight', 't_tp', 'num_layers', 'batch_size']);
    expect(BASES['seed']!.terms.map((t) => t.name)).toEqual(['prefill', 'decode', 'weight', 'tp', 'layers', 'batch', 'constant']);
    expect(BASES['roofline']!.featureColumns).toEqual(['gemm', 'prefill_attn', 'decode_attn', 'prefill_kv', 'weight', 'tp_comm', 'tp_calls', 'layers', 'requests']);
    expect(BASES['serving']!.featureColumns).toEqual([
      'prefill_gemm',
      'decode_gemm',
      'prefill_attn',
      'kv',
      'weight',
      'tp_comm',
      'tp_comm_large',
      'tp_hops',
      'prefill_layers',
      'decode_layers',
      'requests',
      'latency_scale',
    ]);
    expect([...BASES['serving']!.countColumns].sort()).toEqual(['decode_layers', 'prefill_layers', 'requests', 'tp_hops']);
    expect([...BASES['seed']!.countColumns].sort()).toEqual(['batch_size', 'num_layers']);
    expect(BASES['serving']!.terms.every((t) => t.lower !== undefined && !('compute' in t))).toBe(true);
  });

  it('a basis is its records: one record adds a term, its column, its count flag and its row entry', () => {
    const b = defineBasis<{ L: number }>({
      name: 'tiny',
      version: 1,
      description: 'two terms',
      consts: (ctx) => ({ L: ctx.arch.numLayers }),
      terms: [
        { name: 'tokens', unit: 'count', prior: 0, meaning: 'µs per decode', compute: (_c, s) => s.decode.length, columns: [{ name: 'decodes', count: true, compute: (_c, s) => s.decode.length }] },
        {
          name: 'layers',
          unit: 'count',
          prior: 0,
          lower: 0,
          meaning: 'µs per layer',
          compute: (c) => 2 * c.L,
          perStep: false,
          columns: [{ name: 'layers', count: true, compute: (c) => c.L, perStep: false }],
        },
        { name: 'constant', unit: 'count', prior: 0, meaning: 'µs per step', compute: () => 1, perStep: false },
      ],
    });
    expect(b.featureColumns).toEqual(['decodes', 'layers']);
    expect([...b.countColumns]).toEqual(['decodes', 'layers']);
    expect(b.terms).toEqual([
      { name: 'tokens', unit: 'count', prior: 0, meaning: 'µs per decode' },
      { name: 'layers', unit: 'count', prior: 0, lower: 0, meaning: 'µs per layer' },
      { name: 'constant', unit: 'count', prior: 0, meaning: 'µs per step' },
    ]);
    const c = b.compile(contexts()[0]!);
    const r = new Float64Array(3);
    const f = new Float64Array(2);
    c.row({ experiment: 'x', step: 0, prefill: [], decode: [5, 6, 7] }, r);
    c.features({ experiment: 'x', step: 0, prefill: [], decode: [5, 6, 7] }, f);
    expect([...r]).toEqual([3, 64, 1]);
    expect([...f]).toEqual([3, 32]);
  });

  it('the straight-line evaluator and its loop fallback write the same values', () => {
    const c = servingConsts(contexts()[5]!);
    const slots = [{ compute: svKv }, { compute: svTpHops, perStep: false }, { compute: svPrefillGemm }];
    const gen = flatEvaluator(slots, c);
    const loop = flatEvaluator(slots, c, { codegen: false });
    const a = new Float64Array(3);
    const b = new Float64Array(3);
    for (const s of steps()) {
      gen(s, a);
      loop(s, b);
      expect([...a]).toEqual([...b]);
      expect(a[0]).toBe(svKv(c, s));
    }
  });

  it('refuses duplicate term or column names', () => {
    const t = { name: 'a', unit: 'count' as const, prior: 0, meaning: 'a', compute: () => 1 };
    expect(() => defineBasis({ name: 'd', version: 1, description: '', consts: () => ({}), terms: [t, t] })).toThrow(/duplicate term 'a'/);
    expect(() =>
      defineBasis({
        name: 'd',
        version: 1,
        description: '',
        consts: () => ({}),
        terms: [
          { ...t, columns: [{ name: 'x', compute: () => 1 }] },
          { ...t, name: 'b', columns: [{ name: 'x', compute: () => 1 }] },
        ],
      }),
    ).toThrow(/duplicate feature column 'x'/);
  });
});

/** Recorded from the positional implementation (commit 225c60f) with this file's `digest`. */
const GOLDEN: Record<string, { rows: string; features: string }> = {
  seed: { rows: 'a72c7e7e4f30b9ab', features: '43acc72a4c62beb3' },
  roofline: { rows: '83de00126bc730c0', features: 'b1ba1435c2cc864a' },
  serving: { rows: 'b471d1a75321507e', features: 'c13e7b5351eb5859' },
  'serving knee 16 MiB': { rows: '87b3fd0b02521d03', features: '7fc77d16f2271acb' },
};
