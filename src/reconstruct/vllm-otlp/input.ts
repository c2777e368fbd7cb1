/**
 * Input of the vLLM OTLP reader: a trace file, or an experiment directory (`exp-config.yaml` +
 * `traces.json[.gz]`), and the engine settings its exp-config.yaml gives.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { InputError } from '../../io/errors.js';

export interface ResolvedOtlpInput {
  traceFile: string;
  experiment: string;
  config: Record<string, unknown>;
  maxNumBatchedTokens?: number;
}

const TRACE_NAMES = ['traces.json', 'traces.json.gz', 'traces.jsonl', 'traces.jsonl.gz'];

/** Resolve a file or experiment directory; reads exp-config.yaml when present. */
export function resolveOtlpInput(input: string): ResolvedOtlpInput {
  if (!fs.existsSync(input)) throw new InputError(`${input}: trace file or experiment directory not found`);
  if (!fs.statSync(input).isDirectory()) {
    const experiment = path
      .basename(input)
      .replace(/\.gz$/, '')
      .replace(/\.(jsonl|json)$/, '');
    const cfgFile = path.join(path.dirname(input), 'exp-config.yaml');
    const config = fs.existsSync(cfgFile) ? readExpConfig(cfgFile) : {};
    const m = config['max_num_batched_tokens'];
    return { traceFile: input, experiment, config, ...(typeof m === 'number' ? { maxNumBatchedTokens: m } : {}) };
  }
  const cfgFile = path.join(input, 'exp-config.yaml');
  if (!fs.existsSync(cfgFile)) throw new InputError(`${input}: experiment directory has no exp-config.yaml`);
  const config = readExpConfig(cfgFile);
  const name = TRACE_NAMES.find((n) => fs.existsSync(path.join(input, n)));
  if (!name) throw new InputError(`${input}: experiment directory has no trace file (expected one of ${TRACE_NAMES.join(', ')})`);
  const m = config['max_num_batched_tokens'];
  if (m !== undefined && (typeof m !== 'number' || !Number.isInteger(m) || m <= 0)) {
    throw new InputError(`${cfgFile}: field 'max_num_batched_tokens': expected a positive integer, got ${JSON.stringify(m)}`);
  }
  return { traceFile: path.join(input, name), experiment: path.basename(path.resolve(input)), config, ...(typeof m === 'number' ? { maxNumBatchedTokens: m } : {}) };
}

function readExpConfig(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new InputError(`${file}: expected a YAML mapping (model, max_num_batched_tokens, ...)`);
  return doc as Record<string, unknown>;
}
