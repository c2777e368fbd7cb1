/** sweep: Splitwise perf_model.csv → 12 experiments with a manifest; column mapping for other sweeps. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { reconstructSweep, parseColumnMapping, parseIdMap, SPLITWISE_HARDWARE } from '../src/reconstruct/sweep/read.js';
import { loadManifest } from '../src/steps/manifest.js';
import { readAllSteps } from '../src/steps/io.js';
import { loadArchitecture } from '../src/model/load.js';
import { loadGpu } from '../src/hardware/gpu.js';
import { haveShared, sharedPath } from './support/shared.js';
import { runCli } from './support/cli.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-sweep-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const SPLITWISE = 'Mutinifni__splitwise-sim/data/perf_model.csv';

describe('sweep: Splitwise perf_model.csv', () => {
  it.skipIf(!haveShared(SPLITWISE))('reads 12 experiments (model × hardware × TP), keeping every repetition', async () => {
    const { experiments, summary } = await reconstructSweep({ input: sharedPath(SPLITWISE) });
    expect(experiments).toHaveLength(12);
    expect(summary.records).toBe(1260);
    // every row gives one prefill and one decode step: nothing averaged or dropped
    expect(experiments.reduce((a, e) => a + e.steps.length, 0)).toBe(2520);
    for (const e of experiments) expect(e.steps.length).toBe(210);
    const pcap = experiments.filter((e) => e.groups['power'] === 'capped');
    expect(pcap.map((e) => e.id).sort()).toEqual(['bloom-176b-h100-80gb-pcap-tp8', 'llama2-70b-h100-80gb-pcap-tp2', 'llama2-70b-h100-80gb-pcap-tp4', 'llama2-70b-h100-80gb-pcap-tp8']);
    for (const e of pcap) expect(e.gpu).toBe('h100-sxm');
    expect(new Set(experiments.map((e) => e.model))).toEqual(new Set(['llama-2-70b', 'bloom-176b']));
    expect(new Set(experiments.map((e) => e.gpu))).toEqual(new Set(['a100-sxm-80gb', 'h100-sxm']));
    // ids resolve to the project's configs
    for (const m of ['llama-2-70b', 'bloom-176b']) expect(loadArchitecture(m).name).toBeTruthy();
    for (const g of ['a100-sxm-80gb', 'h100-sxm']) expect(loadGpu(g).id).toBe(g);
  });

  it.skipIf(!haveShared(SPLITWISE))('maps one row to its two steps with hand-checked values (ms → µs, context = prompt + tokens/2)', async () => {
    const text = fs.readFileSync(sharedPath(SPLITWISE), 'utf8').split('\n');
    const hdr = text[0]!.split(',');
    const row = text[1]!.split(',');
    const v = (c: string) => row[hdr.indexOf(c)]!;
    const { experiments } = await reconstructSweep({ input: sharedPath(SPLITWISE) });
    const id = `${v('model')}-${v('hardware')}-tp${v('tensor_parallel')}`;
    const e = experiments.find((x) => x.id === id)!;
    const [pf, dc] = [e.steps[0]!, e.steps[1]!];
    expect(pf.prefill).toHaveLength(Number(v('batch_size')));
    expect(pf.prefill[0]).toEqual({ tokens: Number(v('prompt_size')), prior: 0, prompt: Number(v('prompt_size')) });
    expect(pf.durationUs).toBeCloseTo(Number(v('prompt_time')) * 1000, 6);
    expect(dc.decode).toEqual(new Array(Number(v('batch_size'))).fill(Number(v('prompt_size')) + Number(v('token_size')) / 2));
    expect(dc.durationUs).toBeCloseTo(Number(v('token_time')) * 1000, 6);
  });

  it.skipIf(!haveShared(SPLITWISE))('CLI writes one step file per experiment and a manifest that loads', async () => {
    const out = path.join(dir, 'splitwise');
    const r = await runCli(['reconstruct', '--format', 'sweep', '--in', sharedPath(SPLITWISE), '--out-dir', out, '--manifest', path.join(out, 'm.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/experiments: 12/);
    const m = loadManifest(path.join(out, 'm.yaml'));
    expect(m.experiments).toHaveLength(12);
    for (const e of m.experiments) {
      const steps = await readAllSteps(e.steps);
      expect(steps).toHaveLength(210);
      expect(steps.every((s) => s.experiment === e.id && s.durationUs! > 0)).toBe(true);
    }
  });
});

describe('sweep: column mapping for other sweeps', () => {
  it('reads a decode-only sweep with constants, µs times and custom id maps', async () => {
    const f = path.join(dir, 'other.csv');
    fs.writeFileSync(f, ['gpu,bs,ctx,iter_us', 'H100-SXM5,8,1024,12000', 'H100-SXM5,8,1024,12100', 'H100-SXM5,16,2048,15000', ''].join('\n'));
    const cols = parseColumnMapping('model==llama-3.1-8b,hardware=gpu,tp==1,batch=bs,prompt=ctx,tokens==0,prefill_time=-,decode_time=iter_us');
    const r = await reconstructSweep({ input: f, columns: cols, timeUnit: 'us', models: parseIdMap(undefined, {}), hardware: parseIdMap('H100-SXM5=h100-sxm:lab=ours', SPLITWISE_HARDWARE) });
    expect(r.experiments).toHaveLength(1);
    const e = r.experiments[0]!;
    expect(e).toMatchObject({ id: 'llama-3.1-8b-h100-sxm5-tp1', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1 });
    expect(e.groups['lab']).toBe('ours');
    expect(e.steps.map((s) => [s.decode.length, s.decode[0], s.durationUs])).toEqual([
      [8, 1024, 12000],
      [8, 1024, 12100],
      [16, 2048, 15000],
    ]);
    expect(r.summary.dropped).toEqual({});
  });

  it('a missing mapped column is a clear error', async () => {
    const f = path.join(dir, 'cols.csv');
    fs.writeFileSync(f, 'a,b\n1,2\n');
    await expect(reconstructSweep({ input: f })).rejects.toThrow(/column 'model' \(for model\) not in the header \(a, b\); map it with --columns model=<column>/);
    expect(() => parseColumnMapping('nope=x')).toThrow(/unknown key 'nope'/);
  });
});
