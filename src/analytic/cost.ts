/**
 * Energy, cost and carbon per token from board power, price, PUE and grid carbon intensity:
 *
 *   facility power P = GPUs · TDP · powerFraction · PUE                       [W]
 *   energy per output token = P / (output tokens/s)                            [J]
 *   $ per M output tokens   = GPUs · price per GPU-hour / (3600 · tokens/s) · 10⁶
 *   g CO₂ per M output tokens = energy per token · 10⁶ / 3.6·10⁶ J/kWh · carbon [g/kWh]
 */
import type { GpuSpec } from '../hardware/gpu.js';
import { InputError } from '../io/errors.js';

export interface CostOptions {
  /** $ per GPU-hour (0 = unknown). */
  pricePerGpuHour?: number;
  /** Power usage effectiveness of the facility (≥ 1), default 1.2. */
  pue?: number;
  /** Grid carbon intensity, g CO₂/kWh, default 400. */
  carbonGPerKWh?: number;
  /** Average board power as a fraction of TDP while serving, default 0.7. */
  powerFraction?: number;
  /** Board power in W instead of the datasheet TDP. */
  powerW?: number;
}

export interface CostResult {
  readonly facilityPowerW: number;
  readonly joulesPerOutputToken: number;
  /** null when no price per GPU-hour was given. */
  readonly dollarsPerMTokens: number | null;
  readonly gCo2PerMTokens: number;
  readonly kWhPerMTokens: number;
}

/** Energy / cost / carbon for `gpus` GPUs producing `outputTokensPerS`. */
export function costMetrics(r: { gpus: number; outputTokensPerS: number }, gpu: GpuSpec, o: CostOptions = {}): CostResult {
  const tdp = o.powerW ?? gpu.tdpW;
  if (!(tdp > 0)) throw new InputError(`${gpu.file}: field 'tdpW' has no value; pass a board power (powerW) to compute energy`);
  const pue = o.pue ?? 1.2;
  if (pue < 1) throw new InputError(`PUE must be ≥ 1, got ${pue}`);
  const P = r.gpus * tdp * (o.powerFraction ?? 0.7) * pue;
  const tps = r.outputTokensPerS;
  const j = tps > 0 ? P / tps : Infinity;
  const kWhPerM = (j * 1e6) / 3.6e6;
  return {
    facilityPowerW: P,
    joulesPerOutputToken: j,
    dollarsPerMTokens: !o.pricePerGpuHour ? null : tps > 0 ? ((r.gpus * o.pricePerGpuHour) / (3600 * tps)) * 1e6 : Infinity,
    kWhPerMTokens: kWhPerM,
    gCo2PerMTokens: kWhPerM * (o.carbonGPerKWh ?? 400),
  };
}
