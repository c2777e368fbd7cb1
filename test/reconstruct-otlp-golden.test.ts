/**
 * The vLLM OTLP reader's outputs pinned byte for byte (issue 17): SHA-256 of the steps, targets,
 * labels and summary of generated traces, taken from the reader before the packed-record and
 * byte-range-worker rewrite, and the same hashes for every worker count and chunk size (chunks
 * smaller than a line force range boundaries inside lines), bucket size and spill cap.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepsJsonl, targetsJsonl } from '../src/reconstruct/jsonl.js';
import { generateScheduleLog, type GenerateOptions } from '../src/reconstruct/vllm-otlp/generate.js';
import { reconstructOtlp, type OtlpOptions } from '../src/reconstruct/vllm-otlp/read.js';
import { writeTrace } from '../src/reconstruct/vllm-otlp/trace-file.js';
import { stepToJson } from '../src/steps/step.js';
import { targetToJson } from '../src/steps/targets.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-golden-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** KV-bound (preemptions), chunked prefill, a few hundred requests. */
const GEN: GenerateOptions = { seed: 17, requests: 160, maxNumBatchedTokens: 512, maxNumSeqs: 48, numGpuBlocks: 700, meanInterArrivalMs: 20, maxPrompt: 2500, maxOutput: 300 };

const sha = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

async function hashes(o: OtlpOptions): Promise<string> {
  const h = { steps: createHash('sha256'), targets: createHash('sha256'), labels: createHash('sha256') };
  const sum = await reconstructOtlp(o, {
    // the CLI writes these lines with reconstruct/jsonl.ts: the same bytes
    steps: async (b) => {
      const text = b.map((s) => `${stepToJson(s)}\n`).join('');
      expect(stepsJsonl(b)).toBe(text);
      h.steps.update(text);
    },
    targets: async (b) => {
      const text = b.map((t) => `${targetToJson(t)}\n`).join('');
      expect(targetsJsonl(b)).toBe(text);
      h.targets.update(text);
    },
    labels: async (b) => {
      for (const l of b) h.labels.update(`${JSON.stringify(l)}\n`);
    },
  });
  expect(sum.steps).toBeGreaterThan(1000);
  const summary = JSON.stringify({ ...sum, input: path.basename(sum.input ?? '') });
  return [h.steps, h.targets, h.labels].map((x) => x.digest('hex').slice(0, 16)).join(' ') + ` ${sha(summary)}`;
}

const CASES = [
  {
    name: 'snapshots, every step traced, shuffled, plain',
    file: 'snap.jsonl',
    emit: { snapshots: true, stepSampleRate: 1, shuffle: 64, seed: 3, spansPerLine: 6 },
    golden: '385a63211bfe5b60 fef4c5d9d1db8d8b cc73c17a05d75e38 742f7d4ca0c145fb',
  },
  {
    name: 'sampled steps without snapshots (inferred composition), gzip',
    file: 'sampled.jsonl.gz',
    emit: { snapshots: false, stepSampleRate: 0.3, shuffle: 32, seed: 4 },
    golden: 'dec199c26499712a 4aa1504b16cb1334 98031bf6aa7485b4 7fbc4afa39f8c32e',
  },
  {
    name: 'snapshots on half the steps, split at preemption',
    file: 'half.jsonl',
    emit: { snapshots: true, stepSampleRate: 0.5, shuffle: 200, seed: 5, splitAtPreemption: true },
    golden: 'e5a46d9919b79387 207e08d3afb10ac1 2afeaed686a37510 b048541164cd70a7',
  },
] as const;

describe('vllm-otlp outputs: golden hashes, independent of workers, chunk size and spill', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const file = path.join(dir, c.file);
      await writeTrace(file, generateScheduleLog(GEN), c.emit);
      const base = { input: file, maxNumBatchedTokens: GEN.maxNumBatchedTokens, tmpDir: dir };
      const ref = await hashes(base);
      expect(ref).toBe(c.golden);
      const size = fs.statSync(file).size;
      for (const [workers, chunkBytes] of [
        [1, 4096],
        [2, 16_384],
        [3, Math.ceil(size / 3)],
      ] as const) {
        expect(await hashes({ ...base, workers, chunkBytes }), `${workers} workers, ${chunkBytes} B chunks`).toBe(ref);
      }
      if (c.file !== 'snap.jsonl') return;
      // spilled: the same outputs (the summary differs in its 'spilled to disk' figure)
      const spilled = await hashes({ ...base, workers: 2, chunkBytes: 8192, memCapBytes: 16 << 10, stepsPerBucket: 37 });
      expect(spilled.slice(0, 50), 'spilled, odd buckets').toBe(ref.slice(0, 50));
    }, 60_000);
  }
});
