/**
 * The real vLLM serving measurements on H100 SXM (AIConfigurator `silicon_sample.vllm-h100.csv`,
 * shared data README §2b) as serving scenarios: one row = one `vllm serve` deployment benchmarked
 * closed-loop at a fixed input length, output length and client concurrency, with its measured mean
 * TTFT and TPOT (ms). Only `mode = agg` rows are scenarios (the 3 `disagg` rows are counted and skipped).
 *
 * Mapping of a row (no per-model knowledge; the HF config is found by its repository name):
 * - model: `model_configs/<org>--<name>_config.json` whose stem ends with the `model_path` name part
 *   (`meta-llama/Llama-3.1-70B` → `meta-llama--Meta-Llama-3.1-70B_config.json`);
 * - weight dtype: `precision` ('' = the config's own dtype; 'fp8'; 'fp4' = a 4-bit float format);
 * - TP = `tp_size`, attention DP = `attention_dp_size` (default 1), EP = `moe_ep_size` (default 1);
 * - concurrency = `batch_size` × attention DP (README §2b: batch_size is per attention-DP rank).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { InputError } from '../io/errors.js';
import type { Dtype } from '../model/arch.js';

export const SILICON_DIR = 'ai-dynamo__aiconfigurator/aic-core/src/aiconfigurator_core';
export const SILICON_CSV = `${SILICON_DIR}/systems/silicon_sample.vllm-h100.csv`;
export const SILICON_MODELS = `${SILICON_DIR}/model_configs`;

export interface ServingScenario {
  /** Row id (or `row N`). */
  readonly id: string;
  /** Model id or config path. */
  readonly model: string;
  /** GPU id or datasheet path. */
  readonly gpu: string;
  /** Weight dtype override (undefined = the config's). */
  readonly dtype?: Dtype;
  readonly tp: number;
  readonly ep: number;
  readonly dp: number;
  readonly isl: number;
  readonly osl: number;
  /** Total client concurrency across the deployment. */
  readonly concurrency: number;
  readonly maxNumBatchedTokens?: number;
  readonly maxNumSeqs?: number;
  /** Measured values when known (ms). */
  readonly measuredTtftMs?: number;
  readonly measuredTpotMs?: number;
  /** Grouping labels: model name, dtype, vLLM version. */
  readonly labels: Readonly<Record<string, string>>;
}

const num = z.coerce.number().finite();
const int = z.coerce.number().int().positive();
const optInt = z.preprocess((v) => (v === '' || v === undefined ? undefined : v), z.coerce.number().int().nonnegative().optional());

const Row = z.looseObject({
  id: z.string(),
  model_path: z.string().min(1),
  backend_version: z.string(),
  precision: z.string(),
  mode: z.string(),
  isl: int,
  osl: int,
  batch_size: int,
  tp_size: int,
  attention_dp_size: optInt,
  moe_ep_size: optInt,
  silicon_ttft_ms: num,
  silicon_tpot_ms: num,
});

const PRECISION: Readonly<Record<string, Dtype | undefined>> = Object.freeze({ '': undefined, bf16: 'bf16', fp16: 'fp16', fp8: 'fp8', fp4: 'fp4', int4: 'int4', int8: 'int8' });

/** Find the HF config of `org/name` in `dir`: the `*_config.json` whose stem ends with `name` (case-insensitive). */
export function siliconConfigPath(dir: string, modelPath: string, where: string): string {
  const name = (modelPath.split('/').pop() ?? modelPath).toLowerCase();
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('_config.json'));
  const hit = files.filter((f) => f.toLowerCase().slice(0, -'_config.json'.length).endsWith(name));
  if (hit.length !== 1) throw new InputError(`${where}: field 'model_path': no unique HF config for '${modelPath}' in ${dir} (found ${hit.length})`);
  return path.join(dir, hit[0]!);
}

export interface SiliconLoad {
  readonly source: string;
  readonly scenarios: ServingScenario[];
  readonly skipped: { disagg: number };
}

/** Read the H100 silicon rows as scenarios on GPU `gpu` (a configs/hardware id). */
export function loadSiliconScenarios(dataRoot: string, gpu = 'h100-sxm'): SiliconLoad {
  const file = path.join(dataRoot, SILICON_CSV);
  if (!fs.existsSync(file)) throw new InputError(`${file}: not found (the serving suite needs ../shared/data README §2b)`);
  const records = parse(fs.readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const cfgDir = path.join(dataRoot, SILICON_MODELS);
  const scenarios: ServingScenario[] = [];
  let disagg = 0;
  records.forEach((rec, i) => {
    const where = `${file}:${i + 2}`;
    if (rec['mode'] !== 'agg') {
      disagg++;
      return;
    }
    const r = Row.safeParse(rec);
    if (!r.success) {
      const iss = r.error.issues[0]!;
      throw new InputError(`${where}: field '${iss.path.join('.')}': ${iss.message}`);
    }
    const x = r.data;
    if (!(x.precision in PRECISION)) throw new InputError(`${where}: field 'precision': expected one of '', ${Object.keys(PRECISION).filter(Boolean).join(', ')}, got '${x.precision}'`);
    const dtype = PRECISION[x.precision];
    const dp = Math.max(1, x.attention_dp_size ?? 1);
    const ep = Math.max(1, x.moe_ep_size ?? 1);
    const model = siliconConfigPath(cfgDir, x.model_path, where);
    scenarios.push({
      id: x.id,
      model,
      gpu,
      ...(dtype ? { dtype } : {}),
      tp: x.tp_size,
      ep,
      dp,
      isl: x.isl,
      osl: x.osl,
      concurrency: x.batch_size * dp,
      measuredTtftMs: x.silicon_ttft_ms,
      measuredTpotMs: x.silicon_tpot_ms,
      labels: { model: x.model_path.split('/').pop()!, dtype: dtype ?? 'bf16', vllm: x.backend_version || 'unknown', tp: String(x.tp_size) },
    });
  });
  return { source: file, scenarios, skipped: { disagg } };
}
