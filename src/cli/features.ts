import { Command, Option } from '@commander-js/extra-typings';
import { resolveDeployment } from '../model/context.js';
import type { CliIO } from './io.js';
import { intOption } from './io.js';
import { getBasis, BASES } from '../basis/registry.js';
import type { CompiledBasis } from '../basis/types.js';
import { readStepBatches } from '../steps/io.js';
import type { StepBatch } from '../steps/batch.js';
import { skippedSummary } from './skip-bad.js';
import { withAtomicWriter } from '../io/atomic.js';
import { featureCsvHeader, featureCsvRows } from '../basis/features.js';
import { isParquetPath, writeFeaturesParquet } from '../steps/parquet.js';

/** Each batch of steps with its features (row-major, width k), evaluated column-wise by the compiled basis. */
async function* withFeatures(batches: AsyncIterable<StepBatch>, compiled: CompiledBasis, k: number): AsyncGenerator<{ b: StepBatch; f: Float64Array }> {
  let f = new Float64Array(0);
  for await (const b of batches) {
    if (f.length < b.n * k) f = new Float64Array(b.n * k);
    compiled.featuresBatch(b, f);
    yield { b, f };
  }
}

export function featuresCommand(io: CliIO) {
  return new Command('features')
    .description('compute basis features (µs per term) for each step and write them as CSV or Parquet')
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
      const k = basis.featureColumns.length;
      const rows = () => withFeatures(readStepBatches(o.steps, { skipBad: o.skipBad === true, onBad: (m) => skipped.push(m), reuse: true }), compiled, k);
      const n = isParquetPath(o.out)
        ? await writeFeaturesParquet(o.out, basis.featureColumns, { 'stepfit.basis': `${basis.name} v${basis.version}`, 'stepfit.units': 'features: microseconds' }, async (w) => {
            for await (const { b, f } of rows()) w.addBatch(b, f);
          })
        : await withAtomicWriter(o.out, async (w) => {
            await w.write(featureCsvHeader(basis) + '\n');
            let count = 0;
            for await (const { b, f } of rows()) {
              await w.write(featureCsvRows(basis, b, f));
              count += b.n;
            }
            return count;
          });
      if (skipped.length > 0) io.err(skippedSummary(skipped));
      io.err(`features: ${n} steps → ${o.out} (basis ${basis.name} v${basis.version}, ${arch.name}, ${gpu.id}, TP ${o.tp})`);
    });
}
