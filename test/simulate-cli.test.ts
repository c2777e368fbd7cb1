/**
 * `stepfit simulate` command line: outputs, workload specs (file, inline, replay), KV sizing from
 * memory, and one-line errors for bad input. Plus the workload samplers' statistics.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { readAllSteps } from '../src/steps/io.js';
import { buildWorkload, parseInlineSpec, readWorkloadSpecFile } from '../src/simulate/workload.js';
import { lognormalParams, sampleGamma } from '../src/simulate/dist.js';
import { gpuBlocksFromMemory } from '../src/scheduler/kv.js';
import { compileEngine } from '../src/analytic/context.js';
import { kvBytesPerTokenPerGpu, weightBytesPerGpu, activationBytes, RUNTIME_RESERVED_BYTES } from '../src/analytic/memory.js';
import { quantileSorted, LogHistogram } from '../src/simulate/metrics.js';
import { makeRng } from '../src/util/rng.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-simcli-'));
const base = ['simulate', '--synthetic-truth', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm'];

describe('stepfit simulate: outputs', () => {
  it('writes requests.csv, steps.jsonl and summary.json whose numbers agree', async () => {
    const out = path.join(tmp, 'basic');
    const r = await runCli([...base, '--workload', 'closed:requests=40,concurrency=8,input=512,output=64', '--noise', '0.03', '--overhead-us', '200', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    const csv = fs.readFileSync(path.join(out, 'requests.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe(
      'request_id,rank,status,reason,arrival_s,input_tokens,output_tokens,generated_tokens,cached_tokens,preemptions,recomputed_tokens,queue_us,ttft_us,tpot_us,itl_mean_us,itl_max_us,e2e_us',
    );
    expect(csv.length).toBe(41);
    const steps = await readAllSteps(path.join(out, 'steps.jsonl'));
    const sum = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(sum).toMatchObject({ requests: 40, finished: 40, dropped: 0, steps: steps.length, tp: 1, seed: 1 });
    // token conservation between the step records and the requests: Σ prefill tokens + Σ decodes = Σ (in + out − 1)
    let tok = 0;
    for (const s of steps) tok += s.decode.length + s.prefill.reduce((a, c) => a + c.tokens, 0);
    expect(tok).toBe(40 * (512 + 64 - 1));
    // busy time = Σ step durations (the closed loop never idles)
    const busy = steps.reduce((a, s) => a + s.durationUs!, 0) / 1e6;
    expect(sum.makespanS).toBeCloseTo(busy, 4);
    expect(sum.throughput.outputTokensPerS).toBeCloseTo((40 * 64) / sum.makespanS, 0);
    expect(sum.tpotUs.p50).toBeGreaterThan(0);
    expect(sum.itlAllGapsUs.n).toBe(40 * 63);
  });

  it('replays a request log (spec file with a relative path) and writes a trace elsewhere with --trace-out', async () => {
    const dir = path.join(tmp, 'replay');
    fs.mkdirSync(dir, { recursive: true });
    const recs = [
      { request_id: 'a', input_toks: 100, output_toks: 5, arrival_time: 1000.5 },
      { request_id: 'b', input_toks: 300, output_toks: 3, arrival_time: 1000.0 },
    ];
    fs.writeFileSync(path.join(dir, 'requests.jsonl'), recs.map((x) => JSON.stringify(x)).join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'w.yaml'), 'kind: replay\nfile: requests.jsonl\n');
    const trace = path.join(dir, 'elsewhere', 't.jsonl');
    const r = await runCli([...base, '--workload', path.join(dir, 'w.yaml'), '--emit-trace', 'vllm-otlp', '--trace-out', trace, '--no-steps', '--out', path.join(dir, 'out')]);
    expect(r.code).toBe(0);
    expect(fs.existsSync(trace)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'elsewhere', 'exp-config.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'out', 'steps.jsonl'))).toBe(false);
    const csv = fs
      .readFileSync(path.join(dir, 'out', 'requests.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    // sorted by arrival: b first at t = 0, a at 0.5 s
    expect(csv.map((c) => [c[0], c[4]])).toEqual([
      ['b', '0.000000'],
      ['a', '0.500000'],
    ]);
    // a .jsonl given directly is replayed too
    const r2 = await runCli([...base, '--workload', path.join(dir, 'requests.jsonl'), '--out', path.join(dir, 'out2')]);
    expect(r2.code).toBe(0);
  });
});

describe('stepfit simulate: step models', () => {
  it('runs on a fit file (fitted by `stepfit fit` on the bundled sample) and on the analytical engine', async () => {
    const fit = path.join(tmp, 'fit.json');
    const f = await runCli(['fit', '--steps', path.join('data', 'sample', 'steps.jsonl'), '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--basis', 'seed', '--out', fit]);
    expect(f.code).toBe(0);
    const wl = 'poisson:requests=50,rate=20,input=lognormal(600;1),output=lognormal(100;1)';
    const medians: Record<string, number> = {};
    for (const [name, flag] of [
      ['fit', ['--fit', fit]],
      ['engine', ['--engine']],
      ['truth', ['--synthetic-truth']],
    ] as const) {
      const out = path.join(tmp, `model-${name}`);
      const r = await runCli(['simulate', ...flag, '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--workload', wl, '--out', out]);
      expect(r.code).toBe(0);
      const sum = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
      expect(sum.finished).toBe(50);
      expect(sum.model).toMatch(name === 'fit' ? /seed v\d+ fit/ : name === 'engine' ? /^engine/ : /synthetic truth/);
      medians[name] = sum.tpotUs.p50;
    }
    // the sample's steps come from the synthetic truth, so a fit on them predicts decode steps close to it
    expect(Math.abs(medians['fit']! / medians['truth']! - 1)).toBeLessThan(0.1);
    // the engine is an independent model: same order of magnitude
    expect(medians['engine']! / medians['truth']!).toBeGreaterThan(0.3);
    expect(medians['engine']! / medians['truth']!).toBeLessThan(3);
  });
});

describe('stepfit simulate: bad input is one clear line', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['no step model', ['simulate', '--model', 'llama-3.1-8b', '--gpu', 'h100-sxm', '--workload', 'closed:requests=1,concurrency=1,input=1,output=1', '--out', tmp], 2, /exactly one step model/],
    ['two step models', [...base, '--engine', '--workload', 'closed:requests=1,concurrency=1,input=1,output=1', '--out', tmp], 2, /exactly one step model/],
    ['inline spec with a bad kind', [...base, '--workload', 'uniform:requests=3', '--out', tmp], 1, /KIND poisson\|gamma\|closed\|replay/],
    ['inline spec missing a field', [...base, '--workload', 'poisson:requests=3,input=5,output=5', '--out', tmp], 1, /field 'rate'/],
    [
      'budget below max_num_seqs',
      [...base, '--workload', 'closed:requests=1,concurrency=1,input=1,output=1', '--max-num-batched-tokens', '64', '--out', tmp],
      1,
      /max_num_batched_tokens \(64\) must be ≥ max_num_seqs \(256\)/,
    ],
    ['trace with DP', [...base, '--workload', 'closed:requests=1,concurrency=1,input=1,output=1', '--dp', '2', '--emit-trace', 'vllm-otlp', '--out', tmp], 2, /--emit-trace needs --dp 1/],
    [
      'model too big for the GPU',
      ['simulate', '--synthetic-truth', '--model', 'llama-3.1-70b', '--gpu', 'rtx-4090', '--workload', 'closed:requests=1,concurrency=1,input=1,output=1', '--out', tmp],
      1,
      /no memory left for the KV cache/,
    ],
  ];
  for (const [name, args, code, re] of cases) {
    it(name, async () => {
      const r = await runCli(args);
      expect(r.code).toBe(code);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    });
  }

  it('a bad spec file names the file and field; a bad log record names file:line and field', async () => {
    const spec = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(spec, 'kind: gamma\nrequests: 10\nrate: 5\ncv: -1\ninput: 10\noutput: 10\n');
    let r = await runCli([...base, '--workload', spec, '--out', tmp]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${spec}: field 'cv'`));
    const log = path.join(tmp, 'bad.jsonl');
    fs.writeFileSync(log, '{"request_id":"x","input_toks":5,"output_toks":2,"arrival_time":1}\n{"request_id":"y","input_toks":0,"output_toks":2,"arrival_time":2}\n');
    r = await runCli([...base, '--workload', log, '--out', tmp]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${log}:2: field 'input_toks': expected a positive integer`));
    expect(fs.existsSync(path.join(tmp, 'requests.csv'))).toBe(false);
  });
});

describe('workloads and formulas', () => {
  it('poisson and gamma arrivals have the asked rate and gap CV; lognormal lengths the asked mean', async () => {
    const gaps = async (spec: string): Promise<{ mean: number; cv: number; lenMean: number }> => {
      const w = await buildWorkload(parseInlineSpec(spec), 11);
      const g: number[] = [];
      for (let i = 1; i < w.open.length; i++) g.push((w.open[i]!.arrivalUs - w.open[i - 1]!.arrivalUs) / 1e6);
      const m = g.reduce((a, b) => a + b, 0) / g.length;
      const sd = Math.sqrt(g.reduce((a, b) => a + (b - m) ** 2, 0) / g.length);
      return { mean: m, cv: sd / m, lenMean: w.open.reduce((a, q) => a + q.input, 0) / w.open.length };
    };
    const p = await gaps('poisson:requests=20000,rate=8,input=lognormal(600;0.8),output=1');
    expect(p.mean).toBeCloseTo(1 / 8, 2);
    expect(Math.abs(p.cv - 1)).toBeLessThan(0.05);
    expect(Math.abs(p.lenMean / 600 - 1)).toBeLessThan(0.03);
    const g = await gaps('gamma:requests=20000,rate=8,cv=2.5,input=100..200,output=1');
    expect(Math.abs(g.mean * 8 - 1)).toBeLessThan(0.05);
    expect(Math.abs(g.cv / 2.5 - 1)).toBeLessThan(0.08);
    expect(Math.abs(g.lenMean / 150 - 1)).toBeLessThan(0.01);
  });

  it('lognormal parameters, gamma moments, quantiles and the ITL histogram match hand values', () => {
    // mean 100, cv 1: σ² = ln 2, μ = ln 100 − ln2/2
    const { mu, sigma } = lognormalParams(100, 1);
    expect(sigma).toBeCloseTo(Math.sqrt(Math.log(2)), 12);
    expect(mu).toBeCloseTo(Math.log(100) - Math.log(2) / 2, 12);
    const rng = makeRng(3);
    let s = 0;
    let s2 = 0;
    const n = 40000;
    for (let i = 0; i < n; i++) {
      const x = sampleGamma(0.3, 2, rng);
      s += x;
      s2 += x * x;
    }
    expect(s / n).toBeCloseTo(0.6, 1); // kθ
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1.2, 1); // kθ²
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([10, 20, 30], 0.9)).toBe(28);
    const h = new LogHistogram();
    for (let i = 1; i <= 1000; i++) h.add(i * 10);
    expect(Math.abs(h.quantile(0.5) / 5005 - 1)).toBeLessThan(0.01);
    expect(Math.abs(h.quantile(0.9) / 9001 - 1)).toBeLessThan(0.01);
  });

  it('KV blocks from memory: hand-computed for Llama-3.1-8B on an RTX 4090 (vLLM logged 2588), the engine formula', () => {
    const arch = loadArchitecture('llama-3.1-8b');
    const gpu = loadGpu('rtx-4090');
    const e = compileEngine({ arch, gpu, tp: 1 }, { efficiency: 'default' });
    // 2 (K,V) · 32 layers · 8 KV heads · 128 · 2 bytes = 131072 B per token
    expect(kvBytesPerTokenPerGpu(e)).toBe(131072);
    // TP 8 with 8 KV heads: one head per GPU
    expect(kvBytesPerTokenPerGpu(compileEngine({ arch, gpu, tp: 8 }, { efficiency: 'default' }))).toBe(131072 / 8);
    const w = weightBytesPerGpu(e);
    expect(w / 1e9).toBeCloseTo(16.06, 1);
    const blocks = gpuBlocksFromMemory({ arch, gpu, tp: 1, blockSize: 16, utilization: 0.9, maxNumBatchedTokens: 2048, maxNumSeqs: 256 });
    expect(blocks).toBe(Math.floor((24 * 2 ** 30 * 0.9 - w - activationBytes(e, 2048, 256) - RUNTIME_RESERVED_BYTES) / (16 * 131072)));
    expect(Math.abs(blocks / 2588 - 1)).toBeLessThan(0.01);
    // a fixed reserve (--kv-reserve-gb) replaces activations + reserved
    expect(gpuBlocksFromMemory({ arch, gpu, tp: 1, blockSize: 16, utilization: 0.9, reserveGB: 1.7 })).toBe(Math.floor((24 * 2 ** 30 * 0.9 - w - 1.7e9) / (16 * 131072)));
    // experts split over EP ranks spanning DP replicas (EP 2 at TP 1): more KV blocks than EP 1
    const moe = loadArchitecture('qwen3-30b-a3b');
    const pro = loadGpu('rtx-pro-6000-blackwell');
    const w1 = weightBytesPerGpu(compileEngine({ arch: moe, gpu: pro, tp: 1 }, { efficiency: 'default' }));
    const w2 = weightBytesPerGpu(compileEngine({ arch: moe, gpu: pro, tp: 1 }, { efficiency: 'default', ep: 2, dp: 2 }));
    expect(w2).toBeLessThan(0.6 * w1);
    expect(gpuBlocksFromMemory({ arch: moe, gpu: pro, tp: 1, ep: 2, blockSize: 16, utilization: 0.9 })).toBeGreaterThan(
      gpuBlocksFromMemory({ arch: moe, gpu: pro, tp: 1, blockSize: 16, utilization: 0.9 }),
    );
  });

  it('spec files: YAML with distributions; relative replay paths resolve against the spec', () => {
    const f = path.join(tmp, 'spec.yaml');
    fs.writeFileSync(
      f,
      'kind: poisson\nrequests: 10\nrate: 2\ninput: {dist: lognormal, mean: 500, cv: 1, max: 4096}\noutput: {dist: uniform, min: 10, max: 20}\nprefix: {fraction: 0.5, tokens: 128, groups: 2}\n',
    );
    expect(readWorkloadSpecFile(f)).toMatchObject({ kind: 'poisson', input: { dist: 'lognormal', mean: 500, cv: 1, min: 1, max: 4096 } });
    const g = path.join(tmp, 'r.yml');
    fs.writeFileSync(g, 'kind: replay\nfile: logs/requests.jsonl\nclock: queued\n');
    expect(readWorkloadSpecFile(g)).toMatchObject({ file: path.join(tmp, 'logs', 'requests.jsonl'), clock: 'queued' });
  });
});
