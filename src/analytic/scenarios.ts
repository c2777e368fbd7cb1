/**
 * Scenario batches for `stepfit engine serve --scenarios S.csv --out P.csv`: many deployments
 * predicted in one process with the closed-loop benchmark model (analytic/bench-serve.ts).
 *
 * Input columns (header row; names as below, any order; extra columns are carried through):
 *   model, gpu                      configs id or path (resolved relative to the CSV's folder when a path)
 *   dtype                           weight dtype ('' = the model config's)
 *   tp, ep, dp                      parallelism (ep, dp default 1)
 *   isl, osl, concurrency           input / output tokens per request, total clients
 *   max_num_batched_tokens, max_num_seqs   optional vLLM limits ('' = vLLM's defaults for the GPU)
 * Output: the input columns, then ttft_ms, tpot_ms, e2e_s, output_tokens_per_s,
 * output_tokens_per_s_per_gpu, requests_per_s, running, queue_ms, limited_by, max_num_batched_tokens_used,
 * max_num_seqs_used, note (why a row has no prediction, e.g. the model does not fit).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { InputError } from '../io/errors.js';
import { type DeploymentContext, resolveDeployment } from '../model/context.js';
import type { Dtype } from '../model/arch.js';
import { compileEngine, type Engine, type EngineOptions } from './context.js';
import { benchServeDeployment, type BenchProtocol } from './bench-serve.js';
import type { HostCosts } from './host-costs.js';

const DTYPES = ['bf16', 'fp16', 'fp8', 'int8', 'int4', 'fp4'] as const;
const blank = (v: unknown): unknown => (v === '' || v === undefined ? undefined : v);
const posInt = z.coerce.number().int().positive();
const optPosInt = z.preprocess(blank, z.coerce.number().int().positive().optional());

export const ScenarioRow = z.looseObject({
  model: z.string().min(1),
  gpu: z.string().min(1),
  dtype: z.preprocess(blank, z.enum(DTYPES).optional()),
  tp: posInt,
  ep: optPosInt,
  dp: optPosInt,
  isl: posInt,
  osl: posInt,
  concurrency: posInt,
  max_num_batched_tokens: optPosInt,
  max_num_seqs: optPosInt,
});
export type ScenarioRow = z.infer<typeof ScenarioRow>;

/** Parse a scenario CSV; errors name the file, line and field. */
export function readScenarios(file: string): { rows: ScenarioRow[]; columns: string[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new InputError(`${file}: cannot read the scenario file`);
  }
  let recs: Record<string, string>[];
  try {
    recs = parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (e) {
    throw new InputError(`${file}: not a valid CSV (${(e as Error).message.split('\n')[0]})`);
  }
  const columns = text
    .split(/\r?\n/, 1)[0]!
    .split(',')
    .map((s) => s.trim());
  for (const need of ['model', 'gpu', 'tp', 'isl', 'osl', 'concurrency']) {
    if (!columns.includes(need)) throw new InputError(`${file}:1: missing column '${need}' (need model, gpu, tp, isl, osl, concurrency; optional dtype, ep, dp, max_num_batched_tokens, max_num_seqs)`);
  }
  const base = path.dirname(path.resolve(file));
  const rows = recs.map((r, i) => {
    const p = ScenarioRow.safeParse(r);
    if (!p.success) {
      const iss = p.error.issues[0]!;
      throw new InputError(`${file}:${i + 2}: field '${iss.path.join('.')}': ${iss.message} (got '${r[String(iss.path[0])] ?? ''}')`);
    }
    const rel = (v: string): string => (/[/\\]|\.json$/.test(v) && !path.isAbsolute(v) ? path.join(base, v) : v);
    return { ...p.data, model: rel(p.data.model), gpu: rel(p.data.gpu) };
  });
  return { rows, columns };
}

export interface ScenarioOutput {
  readonly csv: string;
  readonly rows: number;
  readonly predicted: number;
}

/** Predict every scenario (engines shared across rows with the same model, GPU, parallelism and dtype). */
export function predictScenarios(rows: ScenarioRow[], columns: string[], base: EngineOptions, host: HostCosts, protocol: BenchProtocol, file: string): ScenarioOutput {
  const engines = new Map<string, Engine>();
  const outCols = [
    ...columns,
    'ttft_ms',
    'tpot_ms',
    'e2e_s',
    'output_tokens_per_s',
    'output_tokens_per_s_per_gpu',
    'requests_per_s',
    'running',
    'queue_ms',
    'limited_by',
    'max_num_batched_tokens_used',
    'max_num_seqs_used',
    'note',
  ];
  const out: (string | number)[][] = [outCols];
  let predicted = 0;
  rows.forEach((r, i) => {
    const carry = columns.map((c) => String((r as Record<string, unknown>)[c] ?? ''));
    let ctx: DeploymentContext;
    try {
      ctx = resolveDeployment({ model: r.model, gpu: r.gpu, tp: r.tp, check: false });
    } catch (e) {
      throw new InputError(`${file}:${i + 2}: ${(e as Error).message}`);
    }
    const opts: EngineOptions = { ...base, ep: r.ep ?? 1, dp: r.dp ?? 1, pp: 1, ...(r.dtype ? { weightDtype: r.dtype as Dtype } : {}) };
    const key = `${r.model}|${r.gpu}|${r.tp}|${opts.ep}|${opts.dp}|${r.dtype ?? ''}`;
    try {
      let e = engines.get(key);
      if (!e) {
        e = compileEngine(ctx, opts);
        engines.set(key, e);
      }
      const p = benchServeDeployment(ctx, opts, { isl: r.isl, osl: r.osl, concurrency: r.concurrency, maxNumBatchedTokens: r.max_num_batched_tokens, maxNumSeqs: r.max_num_seqs }, host, protocol, e);
      out.push(
        [
          ...carry,
          p.ttftS * 1e3,
          p.tpotS * 1e3,
          p.e2eS,
          p.outputTokensPerS,
          p.outputTokensPerSPerGpu,
          p.requestsPerS,
          p.running * (opts.dp ?? 1),
          p.queueS * 1e3,
          p.limitedBy,
          p.maxNumBatchedTokens,
          p.maxNumSeqs,
          '',
        ].map((v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v)),
      );
      predicted++;
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      out.push([...carry, '', '', '', '', '', '', '', '', '', '', '', e.message]);
    }
  });
  return { csv: stringify(out), rows: rows.length, predicted };
}
