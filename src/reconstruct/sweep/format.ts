/** The `sweep` entry of the reconstruct format registry (reconstruct/registry.ts). */
import type { ExperimentsFormat } from '../registry.js';

export const SWEEP_FORMAT: ExperimentsFormat = {
  name: 'sweep',
  describe: 'controlled batch sweeps (CSV: pure prefill batches and pure decode iterations at known batch size and length)',
  kind: 'experiments',
  options: ['outDir', 'manifest', 'columns', 'modelMap', 'gpuMap'],
  async run(o) {
    // loaded when used: the reader brings a CSV parser the other formats do not need
    const { reconstructSweep, sweepManifest } = await import('./read.js');
    const r = await reconstructSweep({ input: o.input, skipBad: o.skipBad, ...(o.sweep ?? {}) });
    return { summary: r.summary, experiments: r.experiments, manifest: (stepFile) => sweepManifest(r.experiments, stepFile) };
  },
};
