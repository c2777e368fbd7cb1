import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { readAllSteps, writeSteps } from '../src/steps/io.js';
import { validateStep, stepToJson } from '../src/steps/step.js';
import { loadManifest, writeManifest } from '../src/steps/manifest.js';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'steps-'));

describe('canonical step records', () => {
  it('round-trips through JSONL and gzip', async () => {
    const d = tmp();
    const steps = [
      { experiment: 'e', step: 0, durationUs: 1234.5, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: [612, 700] },
      { experiment: 'e', step: 1, prefill: [{ tokens: 100, prior: 412, prompt: 1024 }], decode: [] },
    ];
    const f = path.join(d, 's.jsonl');
    expect(await writeSteps(f, steps)).toBe(2);
    expect(await readAllSteps(f)).toEqual([steps[0], { ...steps[1], durationUs: undefined }]);
    fs.writeFileSync(path.join(d, 's.jsonl.gz'), zlib.gzipSync(fs.readFileSync(f)));
    expect((await readAllSteps(path.join(d, 's.jsonl.gz'))).length).toBe(2);
    expect(stepToJson(steps[1]!)).toBe('{"experiment":"e","step":1,"prefill":[{"tokens":100,"prior":412,"prompt":1024}],"decode":[]}');
  });
  it('line-numbered errors naming the field', async () => {
    const d = tmp();
    const f = path.join(d, 'bad.jsonl');
    fs.writeFileSync(f, '{"experiment":"e","step":0,"prefill":[],"decode":[1]}\n\n{"experiment":"e","step":1,"prefill":[{"tokens":-5,"prior":0}],"decode":[]}\n');
    await expect(readAllSteps(f)).rejects.toThrow(`${f}:3: field 'prefill[0].tokens': expected a positive integer, got -5`);
    fs.writeFileSync(f, '{"experiment":"e","step":0,"decode":[1]}\n{"experiment":"e",\n');
    await expect(readAllSteps(f)).rejects.toThrow(new RegExp(`${f}:2: not valid JSON`));
    const bad: string[] = [];
    expect((await readAllSteps(f, { skipBad: true, onBad: (m) => bad.push(m) })).length).toBe(1);
    expect(bad.length).toBe(1);
  });
  it('validates every field', () => {
    expect(() => validateStep({ step: 1.5, decode: [1] }, 'w')).toThrow(/field 'step'/);
    expect(() => validateStep({ step: 1, duration_us: -3, decode: [1] }, 'w')).toThrow(/field 'duration_us': expected a positive finite number \(µs\)/);
    expect(() => validateStep({ step: 1, decode: [-1] }, 'w')).toThrow(/field 'decode\[0\]'/);
    expect(() => validateStep({ step: 1, prefill: [{ tokens: 5, prior: 10, prompt: 12 }] }, 'w')).toThrow(/field 'prefill\[0\]\.prompt': expected an integer ≥ prior \+ tokens \(15\)/);
    expect(() => validateStep({ step: 1 }, 'w')).toThrow(/neither 'prefill' nor 'decode'/);
    expect(() => validateStep([1], 'w')).toThrow(/expected a JSON object/);
  });
  it('truncated gzip gives a clear error', async () => {
    const d = tmp();
    const f = path.join(d, 't.jsonl.gz');
    const lines = Array.from({ length: 5000 }, (_, i) => `{"experiment":"e","step":${i},"decode":[${i}]}`).join('\n');
    const gz = zlib.gzipSync(lines);
    fs.writeFileSync(f, gz.subarray(0, Math.floor(gz.length / 2)));
    await expect(readAllSteps(f)).rejects.toThrow(/t\.jsonl\.gz:\d+: corrupt or truncated gzip data/);
  });
  it('manifests resolve paths relative to the manifest and reject duplicates', () => {
    const d = tmp();
    const m = path.join(d, 'm.yaml');
    writeManifest(m, { experiments: [{ id: 'a', steps: path.join(d, 'a.jsonl'), model: 'llama-2-7b', gpu: 'h100-sxm', tp: 1, groups: { workload: 'chat' } }] });
    expect(fs.readFileSync(m, 'utf8')).toContain('steps: a.jsonl');
    const back = loadManifest(m);
    expect(back.experiments[0]!.steps).toBe(path.join(d, 'a.jsonl'));
    expect(back.experiments[0]!.model).toBe('llama-2-7b');
    fs.writeFileSync(m, 'experiments:\n  - {id: a, steps: a.jsonl, model: x, gpu: y, tp: 1}\n  - {id: a, steps: b.jsonl, model: x, gpu: y, tp: 2}\n');
    expect(() => loadManifest(m)).toThrow(/duplicate experiment id 'a'/);
    fs.writeFileSync(m, 'experiments:\n  - {id: a, steps: a.jsonl, model: x, gpu: y, tp: zero}\n');
    expect(() => loadManifest(m)).toThrow(/m\.yaml: field 'experiments\.0\.tp'/);
  });
});
