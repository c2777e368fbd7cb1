/** The packed chunks' string table (vllm-otlp/intern.ts): one index per distinct string, whether it came as a string or as bytes. */
import { describe, expect, it } from 'vitest';
import { StringTable } from '../src/reconstruct/vllm-otlp/intern.js';

describe('StringTable', () => {
  it('gives each distinct string one index, from strings and from bytes alike, across table growth', () => {
    const t = new StringTable();
    const line = Buffer.from(`xx${Array.from({ length: 3000 }, (_, i) => `cmpl-${(i * 7919) % 1000}-${i % 3}`).join(',')}yy`, 'latin1');
    const want = new Map<string, number>();
    let at = 2;
    for (let k = 0; k < 3000; k++) {
      const end = line.indexOf(k === 2999 ? 'yy' : ',', at);
      const s = line.toString('latin1', at, end);
      // every third string arrives as a string first
      const i = k % 3 === 0 ? t.of(s) : t.ofBytes(line, at, end);
      if (!want.has(s)) want.set(s, i);
      expect(i, s).toBe(want.get(s));
      expect(t.ofBytes(line, at, end)).toBe(i);
      expect(t.of(s)).toBe(i);
      at = end + 1;
    }
    expect(t.strs.length).toBe(want.size);
    for (const [s, i] of want) expect(t.strs[i]).toBe(s);
    expect(t.ofBytes(line, 0, 0)).toBe(t.of(''));
  });
});
