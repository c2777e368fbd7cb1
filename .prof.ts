import { fitDataset } from './src/fit/api.js';
import { stepsToBatch } from './src/steps/batch.js';
import { loadArchitecture } from './src/model/load.js';
import { loadGpu } from './src/hardware/gpu.js';
import { makeRng } from './src/util/rng.js';
import { getBasis } from './src/basis/registry.js';
const n = Number(process.env.N ?? 1e6);
const basis = process.env.B ?? 'seed';
const c = getBasis(basis).compile({ arch: loadArchitecture('llama-3.1-8b'), gpu: loadGpu('h100-sxm'), tp: 1 }, {});
const rng = makeRng(42); const x = new Float64Array(20);
const batches = []; let buf = [];
for (let i = 0; i < n; i++) {
  const nd = rng.int(0, 48); const decode = new Array(nd); for (let k = 0; k < nd; k++) decode[k] = rng.int(10, 4000);
  const prefill = []; if (nd === 0 || rng.next() < 0.3) { const t = rng.int(16, 2048); const prior = rng.next() < 0.5 ? 0 : rng.int(1, 2000); prefill.push({ tokens: t, prior, prompt: prior + t }); }
  const st = { experiment: 'b', step: i, durationUs: 1, prefill, decode };
  c.row(st, x); let mu = 0; for (let j = 0; j < 7; j++) mu += 1.2 * x[j];
  buf.push({ ...st, durationUs: mu * (1 + 0.03 * rng.normal()) + 100 });
  if (buf.length === 16384) { batches.push(stepsToBatch(buf)); buf = []; }
}
if (buf.length) batches.push(stepsToBatch(buf));
const exp = { ref: { id: 'b', model: 'llama-3.1-8b', gpu: 'h100-sxm', tp: 1, groups: {} }, arch: loadArchitecture('llama-3.1-8b'), gpu: loadGpu('h100-sxm'), steps: { batches } };
import inspector from 'node:inspector/promises'; import fs from 'node:fs';
const sess = new inspector.Session(); sess.connect(); await sess.post('Profiler.enable'); await sess.post('Profiler.start');
const c0 = process.cpuUsage(); const t0 = performance.now();
const r = await fitDataset({ experiments: [exp] }, basis === 'seed' ? { basis: 'seed', method: 'nnls' } : {});
const cu = process.cpuUsage(c0);
const { profile } = await sess.post('Profiler.stop'); fs.writeFileSync('/tmp/s4fit/fit.cpuprofile', JSON.stringify(profile));
console.log('fit', ((performance.now() - t0) / 1000).toFixed(2), 's wall', ((cu.user + cu.system) / 1e6).toFixed(2), 'CPU-s passes', r.passes, 'rss', (process.resourceUsage().maxRSS / 1024).toFixed(0), 'MiB');
{
  const cc = getBasis(basis).compile({ arch: loadArchitecture('llama-3.1-8b'), gpu: loadGpu('h100-sxm'), tp: 1 }, {});
  const p = getBasis(basis).terms.length;
  const out = new Float64Array(16384 * p);
  const c1 = process.cpuUsage();
  for (const b of batches) cc.rowsBatch(b, out);
  const u = process.cpuUsage(c1); console.log('rowsBatch one pass', ((u.user + u.system) / 1e6).toFixed(2), 'CPU-s');
  const { NormalAccumulator } = await import('./src/fit/accumulate.js');
  const acc = new NormalAccumulator(p); const xr = new Float64Array(p);
  const c2 = process.cpuUsage();
  for (const b of batches) { cc.rowsBatch(b, out); for (let r = 0; r < b.n; r++) { for (let j = 0; j < p; j++) xr[j] = out[r * p + j]; acc.add(xr, b.durationUs[r], 1 / (b.durationUs[r] ** 2)); } }
  const u2 = process.cpuUsage(c2); console.log('rowsBatch+accumulate one pass', ((u2.user + u2.system) / 1e6).toFixed(2), 'CPU-s');
}
