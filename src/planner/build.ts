/**
 * Build the planner page: bundle src/planner/page.ts for the browser with esbuild (node:fs → the
 * in-memory file system of shims/fs.ts, node:path → pathe, node:url → shims/url.ts) and inline it,
 * with the bundled configs (models, GPU datasheets, efficiency tables) and optional fit summaries,
 * into one self-contained HTML file: no network, no external scripts or fonts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { PACKAGE_ROOT, CONFIGS_DIR } from '../io/paths.js';
import { readFitFile } from '../fit/fitfile.js';
import { fitSummary, type FitSummary } from './fits.js';
import { PAGE_CSS } from './style.js';

/** Where the page's in-memory file system puts the package (paths.ts computes PACKAGE_ROOT from it). */
export const VIRTUAL_ROOT = '/stepfit';

export interface PlannerData {
  /** Virtual path → file text (configs/models, configs/hardware, configs/efficiency). */
  readonly files: Record<string, string>;
  readonly fits: FitSummary[];
  readonly version: string;
}

/** Every JSON file under configs/{models,hardware,efficiency}, keyed by its path under VIRTUAL_ROOT. */
export function collectConfigs(configsDir: string = CONFIGS_DIR): Record<string, string> {
  const files: Record<string, string> = {};
  for (const sub of ['models', 'hardware', 'efficiency']) {
    const dir = path.join(configsDir, sub);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs
      .readdirSync(dir)
      .filter((x) => x.endsWith('.json'))
      .sort()) {
      files[`${VIRTUAL_ROOT}/configs/${sub}/${f}`] = fs.readFileSync(path.join(dir, f), 'utf8');
    }
  }
  return files;
}

function shimPlugin(): Plugin {
  const shims = path.join(PACKAGE_ROOT, 'src', 'planner', 'shims');
  return {
    name: 'stepfit-browser-shims',
    setup(b) {
      b.onResolve({ filter: /^node:fs$/ }, () => ({ path: path.join(shims, 'fs.ts') }));
      b.onResolve({ filter: /^node:url$/ }, () => ({ path: path.join(shims, 'url.ts') }));
      // pathe: a browser-safe POSIX path module, found by esbuild's own resolver from this package
      b.onResolve({ filter: /^node:path$/ }, () => b.resolve('pathe', { kind: 'import-statement', resolveDir: PACKAGE_ROOT }));
    },
  };
}

/** The page's script, bundled and minified (one ES module, no imports left). */
export async function bundlePage(): Promise<string> {
  const r = await build({
    entryPoints: [path.join(PACKAGE_ROOT, 'src', 'planner', 'page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'import.meta.url': JSON.stringify(`file://${VIRTUAL_ROOT}/src/io/paths.js`) },
    plugins: [shimPlugin()],
  });
  return r.outputFiles[0]!.text;
}

/** Inline JS may not contain `</script` or `<!--` (the HTML parser would end or change the script). */
const escapeScript = (s: string): string => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

/** The complete HTML page. */
export async function plannerHtml(o: { fitFiles?: string[]; version: string }): Promise<string> {
  const data: PlannerData = {
    files: collectConfigs(),
    fits: (o.fitFiles ?? []).map((f) => fitSummary(readFitFile(f), path.basename(f))),
    version: o.version,
  };
  const js = await bundlePage();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>stepfit capacity planner</title>
<style>${PAGE_CSS}</style>
</head><body>
<div id="app"><p>Loading the planner…</p></div>
<script type="application/json" id="planner-data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>
<script type="module">${escapeScript(js)}</script>
</body></html>
`;
}
