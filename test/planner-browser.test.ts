/**
 * The planner page in headless Chromium: set a configuration through the UI (labels, keyboard) and
 * read back numbers equal to `stepfit engine serve --json` for the same inputs; a pasted config.json
 * gives the CLI's numbers for that file; the URL fragment restores the state; no console errors and
 * no network requests. Needs Debian's chromium at /usr/bin/chromium: skipped with a printed reason
 * when absent, failing under CI. STEPFIT_PLANNER_SCREENSHOT=path saves the screenshot (docs/planner.png).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { haveChromium as haveChromiumFor, launchChromium, watchPage } from './support/browser.js';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/shared.js';
import { cliArgsOf, decodeFragment, DEFAULT_STATE, type PlannerState } from '../src/planner/state.js';

const haveChromium = haveChromiumFor('planner browser test');

/** Page metric id → where the CLI's JSON has it. */
const METRICS: [string, (j: Record<string, any>) => unknown][] = [
  ['ttftMs', (j) => j.ttftMs],
  ['tpotMs', (j) => j.tpotMs],
  ['e2eS', (j) => j.e2eS],
  ['outputTokensPerS', (j) => j.outputTokensPerS],
  ['outputTokensPerSPerGpu', (j) => j.outputTokensPerSPerGpu],
  ['requestsPerS', (j) => j.requestsPerS],
  ['concurrency', (j) => j.concurrency],
  ['gpus', (j) => j.gpus],
  ['dollarsPerMTokens', (j) => j.cost.dollarsPerMTokens],
  ['joulesPerOutputToken', (j) => j.cost.joulesPerOutputToken],
  ['gCo2PerMTokens', (j) => j.cost.gCo2PerMTokens],
];

async function pageNumbers(page: Page): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const [k] of METRICS) {
    const v = await page.getAttribute(`#m-${k}`, 'data-value');
    out[k] = v === null || v === '' ? null : Number(v);
  }
  return out;
}

/**
 * Same code, same inputs: equal up to the last bits (1e-12 relative), which Node's and Chromium's V8
 * builds may round differently in Math functions; everything else (nulls, integers) exactly.
 */
function expectSame(page: Record<string, number | null>, cli: Record<string, number | null>): void {
  expect(Object.keys(page).sort()).toEqual(Object.keys(cli).sort());
  for (const k of Object.keys(cli)) {
    const a = page[k];
    const b = cli[k];
    if (a === null || b === null || !Number.isFinite(b!) || Number.isInteger(b)) {
      expect(a, k).toBe(b);
      continue;
    }
    expect(Math.abs(a - b!) / Math.abs(b!), `${k}: page ${a} vs CLI ${b}`).toBeLessThan(1e-12);
  }
}

async function cliNumbers(args: string[]): Promise<Record<string, number | null>> {
  const r = await runCli(args);
  expect(r.code, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as Record<string, any>;
  return Object.fromEntries(METRICS.map(([k, f]) => [k, (f(j) as number | null) ?? null]));
}

/** Wait until the page shows the numbers (and, with `plots`, the finished plots) for the state now in the URL fragment. */
async function settled(page: Page, plots = false): Promise<PlannerState> {
  await page.waitForFunction(
    (which) => {
      const d = (globalThis as any).document.body.dataset;
      return d[which] === `k:${(globalThis as any).location.hash.slice(1)}`;
    },
    plots ? 'sweep' : 'ready',
    { timeout: 60_000 },
  );
  return decodeFragment(await page.evaluate(() => (globalThis as any).location.hash as string)).state;
}

describe.runIf(haveChromium)('planner page in headless Chromium', () => {
  let dir: string;
  let html: string;
  let ctx: BrowserContext;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-planner-'));
    html = path.join(dir, 'planner.html');
    const r = await runCli(['planner', '--out', html]);
    expect(r.code, r.stderr).toBe(0);
    ctx = await launchChromium({ width: 1366, height: 900 });
  }, 60_000);

  afterAll(async () => {
    await ctx?.close();
  });

  async function open(fragment = ''): Promise<{ page: Page; errors: string[]; requests: string[]; loadMs: number }> {
    const page = await ctx.newPage();
    const { errors, requests } = await watchPage(page, `file://${html}`);
    const t0 = Date.now();
    await page.goto(`file://${html}${fragment}`);
    await page.waitForFunction(() => ((globalThis as any).document.body.dataset.ready ?? '').startsWith('k:'), null, { timeout: 30_000 });
    return { page, errors, requests, loadMs: Date.now() - t0 };
  }

  it('a configuration set through the UI gives the numbers of `stepfit engine serve --json`', async () => {
    const { page, errors, requests, loadMs } = await open();
    const t = await page.evaluate(() => ({ ...(globalThis as any).document.body.dataset }));
    console.log(
      `planner: first numbers ${t.loadMs} ms after navigation start (script starts at ${t.scriptMs} ms, first engine call ${t.firstComputeMs} ms; ${loadMs} ms wall incl. goto; ${(fs.statSync(html).size / 1024).toFixed(0)} KiB page)`,
    );
    // defaults first
    let s = await settled(page);
    expect(s).toEqual(DEFAULT_STATE);
    expectSame(await pageNumbers(page), await cliNumbers(cliArgsOf(s)));
    // a dense model, closed loop: every field set through its label
    await page.getByLabel('GPU', { exact: true }).selectOption('h200');
    await page.getByLabel('TP (tensor)').fill('2');
    await page.getByLabel('KV-cache dtype').selectOption('fp8');
    await page.getByLabel('Input tokens (ISL)').fill('2000');
    await page.getByLabel('Output tokens (OSL)').fill('300');
    await page.getByLabel('Concurrency (0 = max)').fill('24');
    await page.getByLabel('max_num_batched_tokens').fill('1024');
    await page.getByLabel('$ per GPU-hour').fill('3.5');
    s = await settled(page);
    expect(s).toMatchObject({ gpu: 'h200', tp: 2, kvDtype: 'fp8', input: 2000, output: 300, concurrency: 24, chunk: 1024, price: 3.5 });
    const cli = await cliNumbers(cliArgsOf(s));
    expect(cli['dollarsPerMTokens']).not.toBeNull();
    expectSame(await pageNumbers(page), cli);
    expect(await page.textContent('#cli')).toBe(`npx stepfit ${cliArgsOf(s).join(' ')}`);
    // MoE with expert parallelism, FP8 weights, open loop at a request rate
    await page.getByLabel('Model', { exact: true }).selectOption('qwen3-30b-a3b');
    await page.getByLabel('EP (expert)').fill('2');
    await page.getByLabel('Weight dtype').selectOption('fp8');
    await page.getByLabel('Load').selectOption('rate');
    await page.getByLabel('Rate, req/s').fill('4');
    s = await settled(page);
    expect(s).toMatchObject({ model: 'qwen3-30b-a3b', ep: 2, weightDtype: 'fp8', load: 'rate', rate: 4 });
    expectSame(await pageNumbers(page), await cliNumbers(cliArgsOf(s)));
    // keyboard: TP 2 → 4 with the arrow key; the page follows
    await page.getByLabel('TP (tensor)').focus();
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    s = await settled(page, true);
    expect(s.tp).toBe(4);
    expectSame(await pageNumbers(page), await cliNumbers(cliArgsOf(s)));
    // plots drew their data; the batch limit and memory are stated
    expect(await page.$$eval('#plots svg', (e) => e.length)).toBe(3);
    expect(await page.$$eval('#plots svg circle.mk', (e) => e.length)).toBeGreaterThan(10);
    expect(await page.textContent('#limited-by')).toMatch(/limited by|set by your load/);
    const shot = process.env['STEPFIT_PLANNER_SCREENSHOT'] ?? path.join(dir, 'planner.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(20_000);
    // the URL fragment restores the state in a fresh page
    const url = page.url();
    const again = await open(url.slice(url.indexOf('#')));
    expect(await settled(again.page, true)).toEqual(s);
    expect(await pageNumbers(again.page)).toEqual(await pageNumbers(page));
    expect([...errors, ...again.errors]).toEqual([]);
    expect([...requests, ...again.requests]).toEqual([]);
  }, 120_000);

  it('a pasted HF config.json (MLA model) gives the CLI numbers for that file; bad input is one clear line', async () => {
    const { page, errors, requests } = await open();
    await settled(page);
    const file = path.join(REPO_ROOT, 'configs', 'models', 'deepseek-v2-lite.json');
    await page.getByLabel('Model', { exact: true }).selectOption('custom');
    await page.getByLabel('config.json').fill(fs.readFileSync(file, 'utf8'));
    const s = await settled(page);
    expect(s.model).toBe('custom');
    expectSame(await pageNumbers(page), await cliNumbers(cliArgsOf(s, file)));
    // a config that does not fit: the engine's message, no numbers
    await page.getByLabel('Model', { exact: true }).selectOption('llama-3.1-70b');
    await settled(page);
    expect(await page.textContent('#alert')).toMatch(/does not fit/);
    expect(await page.$$eval('#cards output', (e) => e.length)).toBe(0);
    // a bad form value names the field and what was expected
    await page.getByLabel('TP (tensor)').fill('0');
    await page.waitForFunction(() => /TP \(tensor\): expected an integer ≥ 1/.test((globalThis as any).document.getElementById('alert').textContent));
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
  }, 90_000);
});
