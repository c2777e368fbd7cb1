/**
 * Per-request α data (src/fit/alpha.ts) from files: the step-tracing fork's request labels
 * (`reconstruct --format vllm-otlp --labels x.jsonl`, JSON Lines) or upstream vLLM request spans
 * (OTLP JSON Lines; API time before queueing only). Detected from the first record.
 */
import { InputError } from '../io/errors.js';
import { readLines } from '../io/lines.js';
import { ATTR } from '../steps/otlp-attributes.js';
import { fitAlpha, type AlphaFit, type AlphaRow } from './alpha.js';

const num = (o: Record<string, unknown>, k: string): number | undefined => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : undefined);

export async function alphaFromFile(file: string): Promise<AlphaFit> {
  const rows: AlphaRow[] = [];
  let kind: 'labels' | 'spans' | undefined;
  for await (const { text, lineNo } of readLines(file)) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${file}:${lineNo}: not valid JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new InputError(`${file}:${lineNo}: expected a JSON object (a request label or an OTLP TracesData line)`);
    const o = v as Record<string, unknown>;
    kind ??= Array.isArray(o['resourceSpans']) ? 'spans' : 'labels';
    if (kind === 'spans') {
      for (const rs of (o['resourceSpans'] as { scopeSpans?: { spans?: { attributes?: { key: string; value: Record<string, unknown> }[] }[] }[] }[]) ?? []) {
        for (const ss of rs.scopeSpans ?? []) {
          for (const sp of ss.spans ?? []) {
            const m = new Map((sp.attributes ?? []).map((a) => [a.key, Number(a.value?.['doubleValue'] ?? a.value?.['intValue'])]));
            const ttft = m.get(ATTR.ttft),
              q = m.get(ATTR.timeInQueue),
              pf = m.get(ATTR.prefill);
            if (ttft === undefined || q === undefined || pf === undefined || ![ttft, q, pf].every(Number.isFinite)) continue;
            rows.push({ apiUs: (ttft - q - pf) * 1e6, outputTokens: m.get(ATTR.completionTokens) ?? 0 });
          }
        }
      }
      continue;
    }
    const out = num(o, 'output_tokens');
    if (out === undefined) throw new InputError(`${file}:${lineNo}: field 'output_tokens': expected a number (a request label from reconstruct --labels)`);
    const ttft = num(o, 'ttft_us'),
      q = num(o, 'queueing_us'),
      pf = num(o, 'prefill_us'),
      pg = num(o, 'prefill_gap_us') ?? 0;
    const e2e = num(o, 'e2e_us'),
      dc = num(o, 'decode_us'),
      dg = num(o, 'decode_gap_us') ?? 0;
    const api = ttft !== undefined && q !== undefined && pf !== undefined ? ttft - q - pf - pg : undefined;
    const post = e2e !== undefined && ttft !== undefined && dc !== undefined && o['finished'] === true ? e2e - ttft - dc - dg : undefined;
    // labels fall back to QUEUED / FINISHED where the trace has no api.* events: exact zeros mean "no API events"
    rows.push({ ...(api !== undefined && api !== 0 ? { apiUs: api } : {}), ...(post !== undefined && post !== 0 ? { postUs: post } : {}), outputTokens: out });
  }
  if (rows.length === 0) throw new InputError(`${file}: no requests with α data (expected request labels or llm_request spans)`);
  return fitAlpha(rows, `${kind === 'spans' ? 'vllm request spans' : 'request labels (api.* events)'}: ${file}`);
}
