import fs from 'node:fs';
import path from 'node:path';
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { CONFIGS_DIR } from '../io/paths.js';
import { parseArchitecture, type Architecture } from './arch.js';

export const MODELS_DIR = path.join(CONFIGS_DIR, 'models');

export function knownModelIds(): string[] {
  if (!fs.existsSync(MODELS_DIR)) return [];
  return fs
    .readdirSync(MODELS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

/** `--model` value: a bundled id (configs/models/<id>.json), a config.json path, or a directory holding config.json. */
export function loadArchitecture(idOrPath: string): Architecture {
  let file = idOrPath;
  let name = path.basename(idOrPath).replace(/\.json$/, '');
  if (fs.existsSync(idOrPath) && fs.statSync(idOrPath).isDirectory()) {
    file = path.join(idOrPath, 'config.json');
    name = path.basename(path.resolve(idOrPath));
  } else if (!idOrPath.endsWith('.json') && !idOrPath.includes('/')) {
    file = path.join(MODELS_DIR, `${idOrPath}.json`);
    if (!fs.existsSync(file)) throw new InputError(`unknown model id '${idOrPath}' (known: ${knownModelIds().join(', ')}; or pass a config.json path)`);
  }
  if (!fs.existsSync(file)) throw new InputError(`model config '${file}' not found`);
  if (name === 'config') name = path.basename(path.dirname(path.resolve(file)));
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${jsonErrorDetail(e)})`);
  }
  return parseArchitecture(json, file, name);
}
