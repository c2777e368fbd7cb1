/**
 * The vLLM OTLP reader's fast path and parallel parsing (issue 17): the byte-level fast path gives
 * the full parser's records or declines; outputs and messages are byte-identical for every worker
 * count and chunk size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitTraceLines, writeTrace } from '../src/reconstruct/vllm-otlp/trace-file.js';
import { generateScheduleLog, type GenerateOptions } from '../src/reconstruct/vllm-otlp/generate.js';
import { parseOtlpLine, type ParsedLine } from '../src/reconstruct/vllm-otlp/parse.js';
import { reconstructOtlp, type OtlpOptions } from '../src/reconstruct/vllm-otlp/read.js';
import { encodeRec } from '../src/reconstruct/vllm-otlp/records.js';
import { scanOtlpLine } from '../src/reconstruct/vllm-otlp/scan.js';
import { makeRng } from '../src/util/rng.js';
import { stepToJson } from '../src/steps/step.js';
import { targetToJson } from '../src/steps/targets.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-par-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const GEN: GenerateOptions = { seed: 5, requests: 70, maxNumBatchedTokens: 512, maxNumSeqs: 32, numGpuBlocks: 900, meanInterArrivalMs: 30, maxPrompt: 1500, maxOutput: 200 };

const flat = (p: ParsedLine): string => JSON.stringify([p.recs.map(encodeRec), p.api, p.bad, p.ignoredSpans]);
const fast = (text: string): ParsedLine | undefined => {
  const b = Buffer.from(text, 'latin1');
  return scanOtlpLine(b, 0, b.length, 7);
};
const full = (text: string): string => {
  try {
    return flat(parseOtlpLine(text, 7));
  } catch (e) {
    return `throws ${(e as Error).message}`;
  }
};

/** Reorder an OTLP object's keys (reversed), recursively: another exporter's key order. */
function reorder(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reorder);
  if (v === null || typeof v !== 'object') return v;
  const keys = Object.keys(v as object);
  const keep = new Set(['key', 'value', 'scope', 'spans', 'name', 'events', 'attributes']);
  // keep the orders the fast path relies on (key before value, scope before spans, name/attributes before events)
  const moved = keys.filter((k) => !keep.has(k)).reverse();
  return Object.fromEntries([...moved, ...keys.filter((k) => keep.has(k))].map((k) => [k, reorder((v as Record<string, unknown>)[k])]));
}

describe('OTLP fast path (scan.ts)', () => {
  const log = generateScheduleLog({ ...GEN, requests: 40 });
  const lines = emitTraceLines(log, { snapshots: true, stepSampleRate: 0.5, seed: 2, shuffle: 16 });

  it('gives the full parser’s records on every emitted line, compact, spaced or reordered', () => {
    expect(lines.length).toBeGreaterThan(20);
    for (const l of lines) {
      const spaced = JSON.stringify(JSON.parse(l), null, 1).replace(/\n/g, ' ');
      const other = JSON.stringify(reorder(JSON.parse(l)));
      for (const text of [l, spaced, other]) {
        const f = fast(text);
        expect(f, text.slice(0, 200)).toBeDefined();
        expect(flat(f!)).toBe(full(text));
      }
    }
  });

  it('declines (or agrees) on damaged lines, so the full parser reports them', () => {
    const rng = makeRng(11);
    let declined = 0;
    let agreed = 0;
    const edits: ((s: string, i: number) => string)[] = [
      (s, i) => s.slice(0, i) + s.slice(i + 1), // drop a byte
      (s, i) => s.slice(0, i) + '"' + s.slice(i), // stray quote
      (s, i) => s.slice(0, i) + '\\u00e9' + s.slice(i), // an escape
      (s, i) => s.slice(0, i) + '9' + s.slice(i + 1), // a digit
      (s, i) => s.slice(0, i) + ' \t ' + s.slice(i), // whitespace
      (s, i) => s.slice(0, i) + '\u0001' + s.slice(i), // a control character
    ];
    for (let k = 0; k < 1500; k++) {
      const l = lines[k % lines.length]!;
      const i = Math.floor(rng.next() * l.length);
      const text = edits[k % edits.length]!(l, i);
      const f = fast(text);
      if (f === undefined) declined++;
      else {
        expect(flat(f), `edit ${k % edits.length} at ${i}`).toBe(full(text));
        agreed++;
      }
    }
    expect(declined).toBeGreaterThan(150);
    expect(agreed).toBeGreaterThan(150);
  });

  it('declines on values it would have to interpret: bad step ids, missing attributes, duplicate keys, intValue as a number', () => {
    const l = lines.find((x) => x.includes('step.REQUEST_SNAPSHOT') && x.includes('journey.SCHEDULED'))!;
    /** Replace the first `a` after `marker`. */
    const replaceAfter = (marker: string, a: string, b: string): string => {
      const i = l.indexOf(a, l.indexOf(marker));
      return l.slice(0, i) + b + l.slice(i + a.length);
    };
    const bad = [
      replaceAfter('step.BATCH_SUMMARY', '"key":"step.id","value":{"intValue":"', '"key":"step.id","value":{"intValue":"-'),
      replaceAfter('journey.SCHEDULED', '"key":"scheduler.step"', '"key":"scheduler.stepx"'),
      replaceAfter('step.REQUEST_SNAPSHOT', '"key":"request.phase","value":{"stringValue":"', '"key":"request.phase","value":{"stringValue":"X'),
    ];
    for (const text of bad) {
      expect(text).not.toBe(l);
      expect(fast(text)).toBeUndefined();
      expect(JSON.parse(full(text))[2].length).toBeGreaterThan(0); // the full parser reports it
    }
    const odd = [l.replace('{"resourceSpans":', '{"resourceSpans":[],"resourceSpans":'), replaceAfter('step.REQUEST_SNAPSHOT', '"intValue":"1', '"intValue":1')];
    for (const text of odd) {
      expect(text).not.toBe(l);
      expect(fast(text)).toBeUndefined();
    }
  });
});

async function run(o: OtlpOptions): Promise<{ steps: string; targets: string; labels: string; summary: string }> {
  let steps = '';
  let targets = '';
  let labels = '';
  const sum = await reconstructOtlp(o, {
    steps: async (b) => {
      steps += b.map(stepToJson).join('\n');
    },
    targets: async (b) => {
      targets += b.map(targetToJson).join('\n');
    },
    labels: async (b) => {
      labels += b.map((x) => JSON.stringify(x)).join('\n');
    },
  });
  return { steps, targets, labels, summary: JSON.stringify(sum) };
}

describe('parallel parsing: byte-identical for every worker count and chunk size', () => {
  for (const gzip of [false, true]) {
    it(`${gzip ? 'gzipped' : 'plain'} trace: 1, 2 and 3 workers, small and whole-file chunks`, async () => {
      const file = path.join(dir, gzip ? 'p.jsonl.gz' : 'p.jsonl');
      await writeTrace(file, generateScheduleLog(GEN), { snapshots: true, stepSampleRate: 0.3, shuffle: 64, seed: 9 });
      const base = { input: file, maxNumBatchedTokens: 512 };
      const ref = await run({ ...base, workers: 1, chunkBytes: 1 << 30 });
      expect(ref.steps.length).toBeGreaterThan(5_000);
      for (const workers of [1, 2, 3]) {
        for (const chunkBytes of [50_000, 1 << 20]) {
          const got = await run({ ...base, workers, chunkBytes });
          expect(got.steps, `${workers} workers, ${chunkBytes} B chunks`).toBe(ref.steps);
          expect(got.targets).toBe(ref.targets);
          expect(got.labels).toBe(ref.labels);
          expect(got.summary).toBe(ref.summary);
        }
      }
    }, 60_000);
  }

  it('bad lines: the same messages (file:line) and the same skip-bad summary with workers', async () => {
    const lines = emitTraceLines(generateScheduleLog({ ...GEN, requests: 60 }), { snapshots: true, seed: 3 });
    lines.splice(30, 0, '{"resourceSpans": 5}', '', 'not json');
    lines.splice(70, 0, lines[10]!.replace('"key":"step.id","value":{"intValue":"', '"key":"step.id","value":{"intValue":"x'));
    const file = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(file, `${lines.join('\r\n')}\n`);
    const base = { input: file, maxNumBatchedTokens: 512 };
    const fail = async (o: OtlpOptions): Promise<string> =>
      run(o).then(
        () => 'no error',
        (e: Error) => e.message,
      );
    const msg = await fail({ ...base, workers: 1, chunkBytes: 1 << 30 });
    expect(msg).toMatch(/bad\.jsonl:31: expected an OTLP\/JSON export request/);
    expect(await fail({ ...base, workers: 2, chunkBytes: 20_000 })).toBe(msg);
    const ref = await run({ ...base, skipBad: true, workers: 1, chunkBytes: 1 << 30 });
    expect(ref.summary).toMatch(/bad\.jsonl:33: not valid JSON/);
    const got = await run({ ...base, skipBad: true, workers: 3, chunkBytes: 20_000 });
    expect(got).toEqual(ref);
  }, 60_000);
});
