import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Root of the installed package (works from src/ via tsx and from dist/ after build: both are two levels below). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CONFIGS_DIR = path.join(PACKAGE_ROOT, 'configs');
