/**
 * The fast path's remembered attribute lists (otlp-attrs.ts `expected`): after a line has taught
 * it the attribute lists of each event name, a line whose attributes differ from them at one
 * place — another value type, a value intString reads as a number its own way, another key, an
 * attribute less or more — gives the full parser's records (or is declined).
 */
import { describe, expect, it } from 'vitest';
import { generateScheduleLog } from '../src/reconstruct/vllm-otlp/generate.js';
import { parseOtlpLine, type ParsedLine } from '../src/reconstruct/vllm-otlp/parse.js';
import { encodeRec } from '../src/reconstruct/vllm-otlp/records.js';
import { scanOtlpLine } from '../src/reconstruct/vllm-otlp/scan.js';
import { emitTraceLines } from '../src/reconstruct/vllm-otlp/trace-file.js';

const flat = (p: ParsedLine): string => JSON.stringify([p.recs.map(encodeRec), p.api, p.bad, p.ignoredSpans]);
const fast = (text: string): string | undefined => {
  const b = Buffer.from(text, 'latin1');
  const p = scanOtlpLine(b, 0, b.length, 3);
  return p && flat(p);
};
const full = (text: string): string => {
  try {
    return flat(parseOtlpLine(text, 3));
  } catch (e) {
    return `throws ${(e as Error).message}`;
  }
};

describe('OTLP fast path: remembered attribute lists', () => {
  const log = generateScheduleLog({ seed: 3, requests: 30, maxNumBatchedTokens: 512, maxNumSeqs: 16, numGpuBlocks: 600, meanInterArrivalMs: 20, maxPrompt: 900, maxOutput: 60 });
  const lines = emitTraceLines(log, { snapshots: true, stepSampleRate: 1, seed: 1, shuffle: 0 });
  const base = lines.find((x) => x.includes('step.REQUEST_SNAPSHOT') && x.includes('journey.SCHEDULED') && x.includes('step.BATCH_SUMMARY'))!;

  it('agrees with the full parser on each variant of a learnt list', () => {
    /** Replace every `a` with `b` (each occurrence is at a place the lists were learnt). */
    const all = (a: string | RegExp, b: string): string => base.replace(new RegExp(a, 'g'), b);
    const variants = [
      all(/"intValue":"(\d+)"/, '"intValue":"-$1"'),
      all(/"intValue":"(\d+)"/, '"intValue":"00$1"'),
      all(/"intValue":"(\d+)"/, '"intValue":"$1e0"'),
      all(/"intValue":"(\d+)"/, '"intValue":"1234567890123456$1"'),
      all(/"intValue":"(\d+)"/, '"intValue":""'),
      all(/"intValue":"(\d+)"/, '"intValue":" $1"'),
      all(/"intValue":"(\d+)"/, '"doubleValue":$1.5'),
      all(/"intValue":"(\d+)"/, '"stringValue":"$1"'),
      all(/"intValue":"(\d+)"/, '"intValue":"$1" '),
      all(/"doubleValue":([-\d.e]+)/, '"doubleValue":"$1"'),
      all(/"doubleValue":([-\d.e]+)/, '"intValue":"7"'),
      all(/"stringValue":"([^"]*)"/, '"stringValue":"$1x"'),
      all(/"stringValue":"([^"]*)"/, '"stringValue":"a\\"b"'),
      all(/"key":"request\.num_output_tokens"/, '"key":"request.num_output_tokenz"'),
      all(/"key":"step\.ts_start_ns"/, '"key":"step.ts_start_nsx"'),
      all(/\{"key":"kv\.blocks_cached_gpu","value":\{"intValue":"\d+"\}\},?/, ''),
      all(/\{"key":"request\.phase",/, '{"key":"request.extra","value":{"intValue":"1"}},{"key":"request.phase",'),
      all(/"value":\{"intValue":"(\d+)"\}\}/, '"value":{"intValue":"$1"},"note":1}'),
    ];
    let declined = 0;
    for (const v of variants) {
      expect(v).not.toBe(base);
      expect(fast(base)).toBe(full(base)); // (re)learn the lists
      const f = fast(v);
      if (f === undefined) declined++;
      else expect(f, v.slice(0, 300)).toBe(full(v));
      // and back: the lists learnt from the variant, then the original
      expect(fast(base)).toBe(full(base));
    }
    expect(declined).toBeLessThan(variants.length);
  });
});
