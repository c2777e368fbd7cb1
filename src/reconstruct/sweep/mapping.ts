/**
 * The `sweep` reader's column and id mappings (`--columns`, `--model-map`, `--gpu-map`): parsed at
 * the CLI edge, so they live apart from the reader (which loads a CSV parser).
 */
import { InputError } from '../../io/errors.js';

export const SWEEP_KEYS = ['model', 'hardware', 'tp', 'batch', 'prompt', 'tokens', 'prefill_time', 'decode_time'] as const;
export type SweepKey = (typeof SWEEP_KEYS)[number];

/** Column of each field; `=value` is a constant; `-` (prefill_time/decode_time/tokens) means absent. */
export type ColumnMapping = Record<SweepKey, string>;

/** Splitwise perf_model.csv. */
export const SPLITWISE_COLUMNS: ColumnMapping = {
  model: 'model',
  hardware: 'hardware',
  tp: 'tensor_parallel',
  batch: 'batch_size',
  prompt: 'prompt_size',
  tokens: 'token_size',
  prefill_time: 'prompt_time',
  decode_time: 'token_time',
};

/** Name → configs id (+ group labels). Splitwise names by default. */
export interface IdMapEntry {
  readonly id: string;
  readonly groups?: Readonly<Record<string, string>>;
}
export const SPLITWISE_MODELS: Readonly<Record<string, IdMapEntry>> = {
  'llama2-70b': { id: 'llama-2-70b' },
  'bloom-176b': { id: 'bloom-176b' },
};
export const SPLITWISE_HARDWARE: Readonly<Record<string, IdMapEntry>> = {
  'a100-80gb': { id: 'a100-sxm-80gb', groups: { power: 'nominal' } },
  'h100-80gb': { id: 'h100-sxm', groups: { power: 'nominal' } },
  'h100-80gb-pcap': { id: 'h100-sxm', groups: { power: 'capped' } },
};

export type TimeUnit = 'ms' | 'us' | 's';
export const TO_US: Record<TimeUnit, number> = { ms: 1e3, us: 1, s: 1e6 };

/** Parse `key=column,key=column` over the default mapping. */
export function parseColumnMapping(spec: string | undefined, base: ColumnMapping = SPLITWISE_COLUMNS): ColumnMapping {
  const m: ColumnMapping = { ...base };
  if (!spec) return m;
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new InputError(`--columns: expected key=column pairs, got '${part}'`);
    const k = part.slice(0, i).trim() as SweepKey;
    if (!SWEEP_KEYS.includes(k)) throw new InputError(`--columns: unknown key '${k}' (expected one of ${SWEEP_KEYS.join(', ')})`);
    m[k] = part.slice(i + 1).trim();
  }
  return m;
}

/** Parse `name=id[:group=value...]` pairs, e.g. `h100-80gb-pcap=h100-sxm:power=capped`, over a base map. */
export function parseIdMap(spec: string | undefined, base: Readonly<Record<string, IdMapEntry>>): Record<string, IdMapEntry> {
  const m: Record<string, IdMapEntry> = { ...base };
  if (!spec) return m;
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new InputError(`expected name=id pairs, got '${part}'`);
    const [id, ...gs] = part.slice(i + 1).split(':');
    const groups: Record<string, string> = {};
    for (const g of gs) {
      const j = g.indexOf('=');
      if (j <= 0) throw new InputError(`group label '${g}' in '${part}': expected key=value`);
      groups[g.slice(0, j)] = g.slice(j + 1);
    }
    m[part.slice(0, i).trim()] = { id: id!.trim(), ...(gs.length ? { groups } : {}) };
  }
  return m;
}
