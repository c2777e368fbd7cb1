// node cmp.mjs <dist> <a.parquet> <b.parquet>: decode both through the fast and general readers, compare
import { isDeepStrictEqual } from 'node:util';
const [dist, a, b] = process.argv.slice(2);
const pq = await import(dist + '/steps/parquet.js');
const batch = await import(dist + '/steps/parquet-batch.js');
const rows = async (f) => { const out = []; for await (const { step } of pq.readStepsParquetRows(f)) out.push(step); return out; };
const before = { ...batch.rowGroupPaths };
const ra = await rows(a), rb = await rows(b);
console.log('fast reader: rows', ra.length, rb.length, 'equal', isDeepStrictEqual(ra, rb), 'paths', JSON.stringify(batch.rowGroupPaths), 'before', JSON.stringify(before));
const ga = await pq.readParquetRows(a), gb = await pq.readParquetRows(b);
console.log('general reader: rows', ga.length, gb.length, 'equal', isDeepStrictEqual(ga, gb));
const { asyncBufferFromFile, parquetMetadataAsync } = await import('hyparquet');
const ma = await parquetMetadataAsync(await asyncBufferFromFile(a)), mb = await parquetMetadataAsync(await asyncBufferFromFile(b));
console.log('schema equal', isDeepStrictEqual(ma.schema, mb.schema), 'kv equal', isDeepStrictEqual(ma.key_value_metadata, mb.key_value_metadata), 'groups', ma.row_groups.length, mb.row_groups.length);
let statsEq = true;
for (let g = 0; g < ma.row_groups.length; g++) for (let c = 0; c < 7; c++) { const x = ma.row_groups[g].columns[c].meta_data, y = mb.row_groups[g].columns[c].meta_data; if (!isDeepStrictEqual(x.statistics, y.statistics) || x.num_values !== y.num_values) { statsEq = false; console.log('stats differ', g, x.path_in_schema.join('.'), x.statistics, y.statistics); } }
console.log('stats equal', statsEq);
