/**
 * GPU datasheet → GpuSpec (frozen, validated).
 *
 * Two file layouts are accepted:
 * 1. stepfit's own `configs/hardware/<id>.json`: every figure is `{ "value": number|null, "source": "<datasheet>" }`,
 *    dense (non-sparse) tensor throughput explicitly named.
 * 2. The published crossmodel layout:
 *    `{"compute":{"fp16_tensor_core": <TFLOPS with sparsity>},"memory":{"bandwidth_tb_s":…,"capacity_gb":…},"interconnect":{"nvlink_bandwidth_gb_s":…}}`
 *    where the dense figure is half the sparse one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { checkKeys } from '../io/keys.js';
import { CONFIGS_DIR } from '../io/paths.js';

export interface GpuSpec {
  readonly id: string;
  readonly name: string;
  /** F: dense FP16/BF16 tensor TFLOPS. */
  readonly fp16DenseTflops: number;
  /** Dense FP8 TFLOPS, or null when the GPU has no FP8 tensor cores. */
  readonly fp8DenseTflops: number | null;
  /** Dense FP4 TFLOPS, or null. */
  readonly fp4DenseTflops: number | null;
  /** HBM/GDDR capacity in GB (10⁹ bytes). */
  readonly memCapacityGB: number;
  /** BW: memory bandwidth in TB/s. */
  readonly memBandwidthTBs: number;
  /** NV: scale-up link bandwidth in GB/s as the vendor quotes it (NVLink bidirectional total); PCIe when no NVLink. */
  readonly scaleUpGBs: number;
  readonly scaleUpKind: string;
  /** PCIe GB/s per direction. */
  readonly pcieGBs: number;
  /** Board power in W (0 when unknown). */
  readonly tdpW: number;
  /**
   * Maximum SM (graphics / engine) boost clock in MHz, or null when the datasheet does not carry it
   * (and always null for the crossmodel layout). Optional in the interface so that hand-built specs stay valid;
   * the parsers always set it.
   */
  readonly boostClockMHz?: number | null;
  /** Where each number came from. */
  readonly sources: Readonly<Record<string, string>>;
  readonly file: string;
}

const Sourced = z.object({ value: z.number().positive().nullable(), source: z.string().min(1) });
const OwnLayout = z
  .object({
    id: z.string(),
    name: z.string(),
    fp16DenseTflops: Sourced,
    fp8DenseTflops: Sourced.optional(),
    fp4DenseTflops: Sourced.optional(),
    memCapacityGB: Sourced,
    memBandwidthTBs: Sourced,
    scaleUpGBs: Sourced.optional(),
    scaleUpKind: z.string().optional(),
    pcieGBs: Sourced.optional(),
    tdpW: Sourced.optional(),
    boostClockMHz: Sourced.optional(),
  })
  .loose();

const CrossmodelLayout = z
  .object({
    compute: z.object({ fp16_tensor_core: z.number().positive(), fp8_tensor_core: z.number().positive().optional() }).loose(),
    memory: z.object({ bandwidth_tb_s: z.number().positive(), capacity_gb: z.number().positive().optional() }).loose(),
    interconnect: z.object({ nvlink_bandwidth_gb_s: z.number().nonnegative().optional(), pcie_bandwidth_gb_s: z.number().positive().optional() }).loose().optional(),
  })
  .loose();

/** Keys of stepfit's own datasheet layout: the parsed ones and the documentary ones the bundled sheets carry. */
const OWN_KEYS: readonly string[] = [...Object.keys(OwnLayout.shape), 'vendor', 'architecture', 'fp16SparseTflops', 'int8DenseTops'];

/** Unknown keys in stepfit's own layout are refused with the closest known key (a misspelt optional figure must not vanish). */
function checkOwnKeys(json: unknown, file: string): void {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return;
  checkKeys(file, '', json, OWN_KEYS);
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) if (v && typeof v === 'object') checkKeys(file, k, v, ['value', 'source']);
}

function zodMsg(file: string, err: z.ZodError): string {
  const iss = err.issues[0]!;
  return `${file}: field '${iss.path.join('.')}': ${iss.message}`;
}

/** Parse a datasheet object (either layout). */
export function parseGpuSpec(json: unknown, file: string): GpuSpec {
  if (json && typeof json === 'object' && 'compute' in json) {
    const r = CrossmodelLayout.safeParse(json);
    if (!r.success) throw new InputError(zodMsg(file, r.error));
    const c = r.data;
    const src = `${file} (crossmodel layout: dense = half of fp16_tensor_core with sparsity)`;
    const nv = c.interconnect?.nvlink_bandwidth_gb_s ?? 0;
    const pcie = c.interconnect?.pcie_bandwidth_gb_s ?? 32;
    const id = path.basename(file).replace(/\.json$/, '');
    return Object.freeze({
      id,
      name: String((json as Record<string, unknown>)['name'] ?? id),
      fp16DenseTflops: c.compute.fp16_tensor_core / 2,
      fp8DenseTflops: c.compute.fp8_tensor_core ? c.compute.fp8_tensor_core / 2 : null,
      fp4DenseTflops: null,
      memCapacityGB: c.memory.capacity_gb ?? 80,
      memBandwidthTBs: c.memory.bandwidth_tb_s,
      scaleUpGBs: nv > 0 ? nv : pcie,
      scaleUpKind: nv > 0 ? 'nvlink' : 'pcie',
      pcieGBs: pcie,
      tdpW: 0,
      boostClockMHz: null,
      sources: Object.freeze({ all: src }),
      file,
    });
  }
  checkOwnKeys(json, file);
  const r = OwnLayout.safeParse(json);
  if (!r.success) throw new InputError(zodMsg(file, r.error));
  const g = r.data;
  const need = (v: { value: number | null } | undefined, field: string): number => {
    if (!v || v.value === null) throw new InputError(`${file}: field '${field}' must have a numeric value`);
    return v.value;
  };
  const sources: Record<string, string> = {};
  for (const [k, v] of Object.entries(g)) {
    if (v && typeof v === 'object' && 'source' in v) sources[k] = String((v as { source: string }).source);
  }
  const pcie = g.pcieGBs?.value ?? 32;
  return Object.freeze({
    id: g.id,
    name: g.name,
    fp16DenseTflops: need(g.fp16DenseTflops, 'fp16DenseTflops.value'),
    fp8DenseTflops: g.fp8DenseTflops?.value ?? null,
    fp4DenseTflops: g.fp4DenseTflops?.value ?? null,
    memCapacityGB: need(g.memCapacityGB, 'memCapacityGB.value'),
    memBandwidthTBs: need(g.memBandwidthTBs, 'memBandwidthTBs.value'),
    scaleUpGBs: g.scaleUpGBs?.value ?? pcie,
    scaleUpKind: g.scaleUpGBs?.value ? (g.scaleUpKind ?? 'nvlink') : 'pcie',
    pcieGBs: pcie,
    tdpW: g.tdpW?.value ?? 0,
    boostClockMHz: g.boostClockMHz?.value ?? null,
    sources: Object.freeze(sources),
    file,
  });
}

export const HARDWARE_DIR = path.join(CONFIGS_DIR, 'hardware');

/** Ids of the bundled datasheets. */
export function knownGpuIds(): string[] {
  if (!fs.existsSync(HARDWARE_DIR)) return [];
  return fs
    .readdirSync(HARDWARE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

/** `--gpu` value: a bundled id (configs/hardware/<id>.json) or a path to a datasheet JSON. */
export function loadGpu(idOrPath: string): GpuSpec {
  let file: string;
  if (idOrPath.endsWith('.json') || idOrPath.includes('/') || idOrPath.includes(path.sep)) {
    file = idOrPath;
    if (!fs.existsSync(file)) throw new InputError(`GPU datasheet '${file}' not found`);
  } else {
    file = path.join(HARDWARE_DIR, `${idOrPath}.json`);
    if (!fs.existsSync(file)) {
      throw new InputError(`unknown GPU id '${idOrPath}' (known: ${knownGpuIds().join(', ')}; or pass a datasheet JSON path)`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${jsonErrorDetail(e)})`);
  }
  return parseGpuSpec(json, file);
}
