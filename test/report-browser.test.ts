/**
 * The report renders in headless Chromium: no console errors, no network requests, every plot's
 * SVG has data marks, and the first screen shows the headline. Needs Debian's chromium at
 * /usr/bin/chromium: skipped with a printed reason when absent, failing under CI.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { BrowserContext } from 'playwright-core';
import { haveChromium as haveChromiumFor, launchChromium, watchPage } from './support/browser.js';
import { runCli } from './support/cli.js';
import { tmpDir, synthDataset, writeStepsFile } from './predict-fixtures.js';
import { REPO_ROOT } from './support/shared.js';

const haveChromium = haveChromiumFor('report browser test');

describe.runIf(haveChromium)('report in headless Chromium', () => {
  let dir: string;
  let report: string;
  let ctx: BrowserContext;

  beforeAll(async () => {
    dir = tmpDir('stepfit-browser-');
    const ds = [synthDataset('llama-3.1-8b', 'h100-sxm', 1, 400, 41), synthDataset('mistral-7b', 'a100-sxm-80gb', 2, 400, 42)];
    for (const d of ds) writeStepsFile(path.join(dir, `${d.id}.jsonl`), d.steps);
    const manifest = path.join(dir, 'm.yaml');
    fs.writeFileSync(manifest, YAML.stringify({ experiments: ds.map((d) => ({ id: d.id, steps: `${d.id}.jsonl`, model: d.model, gpu: d.gpu, tp: d.tp })) }));
    const fit = path.join(dir, 'fit.json');
    expect((await runCli(['fit', '--manifest', manifest, '--basis', 'roofline', '--out', fit])).code).toBe(0);
    const out = path.join(dir, 'report');
    const r = await runCli(['report', '--fit', fit, '--manifest', manifest, '--out', out, '--title', 'Browser test report']);
    expect(r.code, r.stderr).toBe(0);
    report = path.join(out, 'index.html');
    ctx = await launchChromium({ width: 1280, height: 800 });
  });

  afterAll(async () => {
    await ctx?.close();
  });

  it('loads offline without console errors or requests, every plot has marks, the first screen shows the headline', async () => {
    const page = await ctx.newPage();
    const { errors, requests } = await watchPage(page, 'file://');
    await page.goto('file://' + report, { waitUntil: 'load' });
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);

    const plots = await page.$$eval('figure.plot', (figs) =>
      figs.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        const marks = svg ? svg.querySelectorAll('g.role-mark:not(.role-axis):not(.role-legend) > path, g.role-mark > line, g.role-mark > rect').length : 0;
        const dataMarks = svg
          ? svg.querySelectorAll(
              'g.mark-symbol.role-mark path, g.mark-line.role-mark path, g.mark-rect.role-mark path, g.mark-rule.role-mark line, g.mark-tick.role-mark path, g.mark-tick.role-mark rect',
            ).length
          : 0;
        return { id: f.getAttribute('data-plot'), width: box?.width ?? 0, height: box?.height ?? 0, marks, dataMarks };
      }),
    );
    expect(plots.map((p) => p.id).sort()).toEqual(['error-cdf', 'group-errors', 'pred-vs-measured', 'residuals-batch', 'residuals-context', 'residuals-tokens', 'term-contributions']);
    for (const p of plots) {
      expect(p.dataMarks, `${p.id} has no data marks`).toBeGreaterThan(0);
      expect(p.width, p.id).toBeGreaterThan(200);
      expect(p.height, p.id).toBeGreaterThan(100);
    }
    // scatter plots draw one symbol per sampled step
    const scatter = await page.$$eval('figure[data-plot="pred-vs-measured"] g.mark-symbol.role-mark path', (ps) => ps.length);
    expect(scatter).toBe(800);

    // first screen (1280×800): the headline, the worst groups and the predicted-vs-measured plot are visible
    const visible = async (sel: string): Promise<boolean> =>
      page.$eval(sel, (el) => {
        const b = el.getBoundingClientRect();
        return b.top >= 0 && b.bottom <= (globalThis as unknown as { innerHeight: number }).innerHeight && b.width > 0;
      });
    expect(await visible('#headline-mape')).toBe(true);
    expect(await visible('#headline-stats')).toBe(true);
    expect(await visible('#worst')).toBe(true);
    expect(await page.$eval('figure[data-plot="pred-vs-measured"] svg', (el) => el.getBoundingClientRect().top < (globalThis as unknown as { innerHeight: number }).innerHeight - 200)).toBe(true);
    const shot = path.join(REPO_ROOT, 'reports', '_scratch', 'report-first-screen.png');
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    expect(fs.statSync(shot).size).toBeGreaterThan(20_000);
  });
});
