/**
 * Published fit cards and, for a (model, GPU) no published fit covers, the nearest published fits
 * (same GPU, same model family) with their measured transfer error (fits/transfer.json).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../io/errors.js';
import { FITS_DIR } from '../io/fit-ref.js';
import { modelFamily, type FitCard, type TransferRow } from './build.js';

/** Every published fit's card (fits/<id>.card.json), sorted by id. */
export function readCards(dir: string = FITS_DIR): FitCard[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.card.json'))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8')) as FitCard;
      } catch {
        throw new InputError(`${file}: not valid JSON (regenerate with stepfit fits rebuild)`);
      }
    });
}

export function readTransfers(dir: string = FITS_DIR): TransferRow[] {
  const file = path.join(dir, 'transfer.json');
  if (!fs.existsSync(file)) return [];
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as TransferRow[];
  } catch {
    throw new InputError(`${file}: not valid JSON (regenerate with stepfit fits rebuild)`);
  }
}

export interface NearestFit {
  id: string;
  relation: 'same GPU' | 'same model family';
  transferMape: number | null;
  transfers: number;
}

/**
 * Null when a published fit covers (model, gpu) (configs ids); else the published fits on the same GPU
 * and of the same model family, each with its mean transfer MAPE over the published pairs of that relation.
 */
export function nearestFits(model: string, gpu: string, cards: readonly FitCard[], transfers: readonly TransferRow[]): NearestFit[] | null {
  if (cards.some((c) => c.model === model && c.gpu === gpu)) return null;
  const out: NearestFit[] = [];
  const add = (c: FitCard, relation: NearestFit['relation']): void => {
    const rows = transfers.filter((t) => t.from === c.id && t.relation === relation && Number.isFinite(t.mape));
    out.push({ id: c.id, relation, transferMape: rows.length ? rows.reduce((a, t) => a + t.mape, 0) / rows.length : null, transfers: rows.length });
  };
  for (const c of cards) if (c.gpu === gpu) add(c, 'same GPU');
  for (const c of cards) if (c.gpu !== gpu && c.family === modelFamily(model)) add(c, 'same model family');
  return out;
}

/** One line for predict: which published fits are nearest and their transfer error. */
export function nearestLine(model: string, gpu: string, near: readonly NearestFit[]): string {
  if (near.length === 0) return `no published fit for ${model} on ${gpu}, and none on the same GPU or of the same model family (stepfit fits list): the prediction is an extrapolation`;
  const items = near.map(
    (n) => `${n.id} (${n.relation}; transfer MAPE ${n.transferMape === null ? 'not measured' : `${n.transferMape.toFixed(1)}% over ${n.transfers} published pair${n.transfers > 1 ? 's' : ''}`})`,
  );
  return `no published fit for ${model} on ${gpu}; nearest published fits: ${items.join(', ')}`;
}
