/**
 * Planner page (issue 20): `stepfit planner` build time and page size, and — when Debian's chromium
 * is at /usr/bin/chromium — time from navigation start to the first numbers on screen (median of 5
 * loads of the default configuration, and of two larger ones) and to the finished plots.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measure } from './util.js';
import { plannerHtml } from '../src/planner/build.js';
import { VERSION } from '../src/version.js';

const CHROMIUM = '/usr/bin/chromium';

export default async function (log: (s: string) => void): Promise<void> {
  const b = await measure(() => plannerHtml({ version: VERSION }));
  log(`planner build: ${b.seconds.toFixed(2)} s, page ${(Buffer.byteLength(b.result) / 1024).toFixed(0)} KiB, peak RSS ${b.peakRssMiB.toFixed(0)} MiB`);
  if (!fs.existsSync(CHROMIUM)) {
    log(`planner page load: skipped (${CHROMIUM} not found)`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-planner-bench-'));
  const file = path.join(dir, 'planner.html');
  fs.writeFileSync(file, b.result);
  const { chromium } = await import('playwright-core');
  const ctx = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1366, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    for (const frag of ['', '#model=llama-3.1-70b&gpu=h200&tp=4', '#model=qwen3-30b-a3b&tp=2&ep=2']) {
      const load: number[] = [];
      const plots: number[] = [];
      for (let i = 0; i < 5; i++) {
        const page = await ctx.newPage();
        await page.goto(`file://${file}${frag}`);
        await page.waitForFunction(() => ((globalThis as any).document.body.dataset.sweep ?? '').startsWith('k:'), null, { timeout: 120_000 });
        const t = await page.evaluate(() => ({ load: Number((globalThis as any).document.body.dataset.loadMs), now: (globalThis as any).performance.now() as number }));
        load.push(t.load);
        plots.push(t.now);
        await page.close();
      }
      const med = (a: number[]): number => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
      log(
        `planner page ${frag || '(defaults)'}: first numbers ${med(load).toFixed(0)} ms after navigation start (median of 5; min ${Math.min(...load).toFixed(0)}), plots done ${med(plots).toFixed(0)} ms`,
      );
    }
  } finally {
    await ctx.close();
  }
}
