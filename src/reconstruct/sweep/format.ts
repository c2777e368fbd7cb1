/** The `sweep` entry of the reconstruct format registry (reconstruct/registry.ts). */
import type { ExperimentsFormat } from '../registry.js';
import { reconstructSweep, sweepManifest } from './read.js';

export const SWEEP_FORMAT: ExperimentsFormat = {
  name: 'sweep',
  describe: 'controlled batch sweeps (CSV: pure prefill batches and pure decode iterations at known batch size and length)',
  kind: 'experiments',
  options: ['outDir', 'manifest', 'columns', 'modelMap', 'gpuMap'],
  async run(o) {
    const r = await reconstructSweep({ input: o.input, skipBad: o.skipBad, ...(o.sweep ?? {}) });
    return { summary: r.summary, experiments: r.experiments, manifest: (stepFile) => sweepManifest(r.experiments, stepFile) };
  },
};
