/**
 * Headless Debian Chromium for page tests (report, planner): one launch recipe (no network, no
 * background services) and one watcher that records console errors/warnings and blocks every request
 * outside the page's own file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** True when Chromium is installed; under CI its absence is an error, elsewhere the test is skipped. */
export function haveChromium(what: string): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  if (process.env['CI']) throw new Error(`${CHROMIUM} is required under CI (apt-get install -y chromium)`);
  console.warn(`skipping ${what}: ${CHROMIUM} not found (apt-get install -y chromium)`);
  return false;
}

export function launchChromium(viewport: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Record console errors/warnings and page errors; abort (and record) every request not starting with `allowed`. */
export async function watchPage(page: Page, allowed: string): Promise<{ errors: string[]; requests: string[] }> {
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (!u.startsWith(allowed)) {
      requests.push(u);
      return route.abort();
    }
    return route.continue();
  });
  return { errors, requests };
}
