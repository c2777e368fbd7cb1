import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadGpu, knownGpuIds, parseGpuSpec } from '../src/hardware/gpu.js';

describe('GPU datasheets', () => {
  it('ships the required ids, each value with a source', () => {
    const ids = knownGpuIds();
    for (const id of ['a100-sxm-80gb', 'h100-sxm', 'h100-nvl', 'h200', 'b200', 'l40s', 'mi300x']) expect(ids).toContain(id);
    for (const id of ids) {
      const g = loadGpu(id);
      expect(g.fp16DenseTflops, id).toBeGreaterThan(0);
      expect(g.memBandwidthTBs, id).toBeGreaterThan(0);
      for (const k of ['fp16DenseTflops', 'memBandwidthTBs', 'memCapacityGB']) expect(g.sources[k]!.length, `${id}.${k}`).toBeGreaterThan(10);
    }
  });
  it('dense figures of the anchors used by the published baseline', () => {
    expect(loadGpu('h100-sxm')).toMatchObject({ fp16DenseTflops: 989.5, memBandwidthTBs: 3.35, scaleUpGBs: 900 });
    expect(loadGpu('a100-sxm-80gb')).toMatchObject({ fp16DenseTflops: 312, memBandwidthTBs: 2.039, scaleUpGBs: 600, fp8DenseTflops: null });
  });
  it('boost clock (MHz) with a source on every bundled datasheet; null only where the vendor publishes none (B200)', () => {
    const want: Record<string, number | null> = {
      'a100-sxm-80gb': 1410,
      'a100-pcie-80gb': 1410,
      'h100-sxm': 1980,
      'h100-pcie': 1755,
      'h100-nvl': 1785,
      h200: 1980,
      b200: null,
      l40s: 2520,
      mi300x: 2100,
      'rtx-4090': 2520,
      'rtx-pro-6000-blackwell': 2617,
    };
    for (const id of knownGpuIds()) {
      const g = loadGpu(id);
      expect(id in want, `${id}: clock expected in this test`).toBe(true);
      expect(g.boostClockMHz, id).toBe(want[id]);
      expect(g.sources['boostClockMHz']!.length, `${id}.boostClockMHz source`).toBeGreaterThan(40);
    }
  });
  it('boostClockMHz is optional in a datasheet (→ null) and must be positive when given', () => {
    const base = { id: 'x', name: 'x', fp16DenseTflops: { value: 100, source: 's' }, memCapacityGB: { value: 80, source: 's' }, memBandwidthTBs: { value: 2, source: 's' } };
    expect(parseGpuSpec(base, 'x.json').boostClockMHz).toBeNull();
    expect(parseGpuSpec({ ...base, boostClockMHz: { value: 1500, source: 's' } }, 'x.json').boostClockMHz).toBe(1500);
    expect(() => parseGpuSpec({ ...base, boostClockMHz: { value: 0, source: 's' } }, 'x.json')).toThrow(/x\.json: field 'boostClockMHz\.value'/);
  });
  it('accepts the crossmodel datasheet layout (dense = half of the sparse figure)', () => {
    const g = parseGpuSpec({ compute: { fp16_tensor_core: 1979 }, memory: { bandwidth_tb_s: 3.35, capacity_gb: 80 }, interconnect: { nvlink_bandwidth_gb_s: 900 } }, 'H100.json');
    expect(g).toMatchObject({ fp16DenseTflops: 989.5, memBandwidthTBs: 3.35, memCapacityGB: 80, scaleUpGBs: 900, boostClockMHz: null });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-'));
    const f = path.join(dir, 'H100.json');
    fs.writeFileSync(f, JSON.stringify({ compute: { fp16_tensor_core: 1979 }, memory: { bandwidth_tb_s: 3.35 }, interconnect: { nvlink_bandwidth_gb_s: 900 } }));
    expect(loadGpu(f).fp16DenseTflops).toBe(989.5);
  });
  it('unknown id and malformed files give one clear message', () => {
    expect(() => loadGpu('h900')).toThrow(/unknown GPU id 'h900' \(known: .*h100-sxm/);
    expect(() => parseGpuSpec({ id: 'x', name: 'x', fp16DenseTflops: { value: -1, source: 's' } }, 'x.json')).toThrow(/x\.json: field 'fp16DenseTflops/);
    expect(() => parseGpuSpec({ compute: {}, memory: { bandwidth_tb_s: 1 } }, 'y.json')).toThrow(/y\.json: field 'compute\.fp16_tensor_core'/);
  });
});
