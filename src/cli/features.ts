import { Command, Option } from '@commander-js/extra-typings';
import { resolveDeployment } from '../model/context.js';
import type { CliIO } from './io.js';
import { intOption } from './io.js';
import { getBasis, BASES } from '../basis/registry.js';
import { readSteps } from '../steps/io.js';
import { skippedSummary } from './fit.js';
import { withAtomicWriter } from '../io/atomic.js';
import { featureCsvHeader, featureCsvRow } from '../basis/features.js';
import { isParquetPath, writeFeaturesParquet } from '../steps/parquet.js';

export function featuresCommand(io: CliIO) {
  return new Command('features')
    .description('compute basis features (µs per term) for each step and write them as CSV')
    .requiredOption('--steps <path>', 'canonical step records (JSONL, .jsonl.gz, .parquet, or a directory of them)')
    .requiredOption('--model <id|path>', 'model: a configs/models id or a HuggingFace config.json path')
    .requiredOption('--gpu <id|path>', 'GPU: a configs/hardware id or a datasheet JSON path')
    .option('--tp <n>', 'tensor-parallel degree', intOption('--tp'), 1)
    .addOption(new Option('--basis <name>', 'basis whose features to compute').choices(Object.keys(BASES)).default('seed'))
    .requiredOption('--out <file>', 'output table (written atomically): CSV, or Parquet when the name ends in .parquet')
    .option('--skip-bad', 'skip malformed step lines (listed in a summary) instead of stopping at the first one')
    .action(async (o) => {
      const skipped: string[] = [];
      const { arch, gpu } = resolveDeployment({ model: o.model, gpu: o.gpu, tp: o.tp });
      const basis = getBasis(o.basis);
      const compiled = basis.compile({ arch, gpu, tp: o.tp });
      const buf = new Float64Array(basis.featureColumns.length);
      const n = isParquetPath(o.out)
        ? await writeFeaturesParquet(o.out, basis.featureColumns, { 'stepfit.basis': `${basis.name} v${basis.version}`, 'stepfit.units': 'features: microseconds' }, async (w) => {
            for await (const s of readSteps(o.steps, { skipBad: o.skipBad === true, onBad: (m) => skipped.push(m) })) {
              compiled.features(s, buf);
              w.add(s, buf);
            }
          })
        : await withAtomicWriter(o.out, async (w) => {
            await w.write(featureCsvHeader(basis) + '\n');
            let count = 0;
            let chunk = '';
            for await (const s of readSteps(o.steps, { skipBad: o.skipBad === true, onBad: (m) => skipped.push(m) })) {
              compiled.features(s, buf);
              chunk += featureCsvRow(basis, s, buf) + '\n';
              if (++count % 4096 === 0) {
                await w.write(chunk);
                chunk = '';
              }
            }
            if (chunk) await w.write(chunk);
            return count;
          });
      if (skipped.length > 0) io.err(skippedSummary(skipped));
      io.err(`features: ${n} steps → ${o.out} (basis ${basis.name} v${basis.version}, ${arch.name}, ${gpu.id}, TP ${o.tp})`);
    });
}
