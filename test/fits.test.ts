/**
 * Published fits (fits/): the CI regeneration check and the commands that read them.
 * The regeneration check rebuilds a representative subset (one bundled H200 fit, which needs no
 * ../shared data) — the whole rebuild takes ≈ 45 s on a 2-core machine; `npm run fits` runs it all.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './support/cli.js';
import { rebuildFits, fitsReadme } from '../src/fits/build.js';
import { FITS_DIR, resolveFitRef } from '../src/io/fit-ref.js';
import { readCards, readTransfers, nearestFits } from '../src/fits/nearest.js';
import { loadFit } from '../src/predict/load.js';

const CI_SUBSET = ['measured-qwen3-8b-h200-tp1-graphs'];
const noCreatedAt = (s: string): string => s.replace(/"createdAt": "[^"]*"/, '"createdAt": ""');

describe('published fits', () => {
  it('a rebuild of the CI subset is byte-identical to the committed files (except createdAt)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-fits-'));
    const r = await rebuildFits({ dir, only: CI_SUBSET });
    expect(r.written).toEqual(CI_SUBSET);
    for (const f of fs.readdirSync(dir).sort()) {
      const committed = path.join(FITS_DIR, f);
      expect(fs.existsSync(committed), `${f} is not committed: run npm run fits and commit fits/`).toBe(true);
      expect(noCreatedAt(fs.readFileSync(path.join(dir, f), 'utf8')), `fits/${f} differs from its regeneration: run npm run fits and commit fits/`).toBe(
        noCreatedAt(fs.readFileSync(committed, 'utf8')),
      );
    }
    expect(fs.readdirSync(dir).sort()).toEqual(CI_SUBSET.flatMap((id) => [`${id}.blis.yaml`, `${id}.card.json`, `${id}.json`]));
  }, 120_000);

  it('fits/README.md is generated from the committed cards and transfer table', () => {
    expect(fs.readFileSync(path.join(FITS_DIR, 'README.md'), 'utf8')).toBe(fitsReadme(readCards(), readTransfers()));
  });

  it('≥ 10 fits from real data, each loads by id with finite in-sample and held-out error and a BLIS fragment', () => {
    const cards = readCards();
    expect(cards.length).toBeGreaterThanOrEqual(10);
    for (const c of cards) {
      expect(loadFit(c.id).path).toBe(path.join(FITS_DIR, `${c.id}.json`));
      expect(Number.isFinite(c.inSample.mape) && Number.isFinite(c.heldOut.mape), c.id).toBe(true);
      expect(c.heldOut.groups).toBeGreaterThanOrEqual(2);
      expect(fs.readFileSync(path.join(FITS_DIR, c.blis.file), 'utf8')).toMatch(/beta_coeffs/);
      expect(c.command).toBe(`stepfit fits rebuild --only ${c.id}`);
    }
  });

  it('resolveFitRef: existing paths win, ids map to fits/<id>.json, unknown refs pass through', () => {
    expect(resolveFitRef('measured-qwen3-8b-h200-tp1-graphs')).toBe(path.join(FITS_DIR, 'measured-qwen3-8b-h200-tp1-graphs.json'));
    expect(resolveFitRef('no-such-fit')).toBe('no-such-fit');
    expect(resolveFitRef('../x/y.json')).toBe('../x/y.json');
  });

  it('nearest fits: none for a covered pair; same-GPU fits with their transfer MAPE otherwise', () => {
    const cards = readCards();
    const tr = readTransfers();
    expect(nearestFits('qwen3-8b', 'h200', cards, tr)).toBeNull();
    const near = nearestFits('qwen3-32b', 'h200', cards, tr)!;
    expect(
      near
        .filter((n) => n.relation === 'same GPU')
        .map((n) => n.id)
        .sort(),
    ).toEqual(
      cards
        .filter((c) => c.gpu === 'h200')
        .map((c) => c.id)
        .sort(),
    );
    expect(
      near
        .filter((n) => n.relation === 'same model family')
        .map((n) => n.id)
        .sort(),
    ).toEqual(
      cards
        .filter((c) => c.gpu !== 'h200' && c.family === 'qwen3')
        .map((c) => c.id)
        .sort(),
    );
    for (const n of near) {
      const rows = tr.filter((t) => t.from === n.id && t.relation === n.relation);
      if (rows.length === 0) expect(n.transferMape).toBeNull();
      else expect(n.transferMape).toBeCloseTo(rows.reduce((a, t) => a + t.mape, 0) / rows.length, 9);
    }
  });
});

describe('stepfit fits / --fit <id>', () => {
  it('fits list shows every fit with its held-out MAPE; fits show prints the card; unknown id → exit 1, one line', async () => {
    const list = await runCli(['fits', 'list']);
    expect(list.code).toBe(0);
    for (const c of readCards()) expect(list.stdout).toMatch(new RegExp(`^${c.id.replace(/\./g, '\\.')}\\s.*\\s${c.heldOut.mape.toFixed(1)}\\s`, 'm'));
    const show = await runCli(['fits', 'show', 'measured-llama-3.1-8b-h200-tp1-eager']);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout).command).toBe('stepfit fits rebuild --only measured-llama-3.1-8b-h200-tp1-eager');
    const bad = await runCli(['fits', 'show', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.split('\n')).toHaveLength(1);
  });

  it('predict --fit <id> works; for an unpublished model/GPU it names the nearest published fits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-fits-'));
    const ok = await runCli(['predict', '--fit', 'measured-qwen3-8b-h200-tp1-graphs', '--grid', 'batch=1,8;context=1024', '--model', 'qwen3-8b', '--gpu', 'h200', '--out', path.join(dir, 'a.csv')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).not.toMatch(/nearest/);
    const far = await runCli(['predict', '--fit', 'measured-qwen3-8b-h200-tp1-graphs', '--grid', 'batch=1,8;context=1024', '--model', 'qwen3-32b', '--gpu', 'h200', '--out', path.join(dir, 'b.csv')]);
    expect(far.code, far.stderr).toBe(0);
    expect(far.stderr).toMatch(/no published fit for qwen3-32b on h200; nearest published fits: measured-.*same GPU; transfer MAPE \d+\.\d% over 2 published pairs/);
    const exp = await runCli(['export', '--fit', 'splitwise-llama-2-70b-h100-sxm-tp4', '--to', 'json']);
    expect(exp.code, exp.stderr).toBe(0);
  });
});
