import fs from 'node:fs';
import { parseChunk } from './dist/reconstruct/vllm-otlp/chunks.js';
import { RangeReader, byteRanges } from './dist/reconstruct/vllm-otlp/ranges.js';
const file = process.argv[2];
const fd = fs.openSync(file, 'r');
const rr = new RangeReader(fd, file, 64 << 20);
const mode = process.argv[3] ?? 'parse';
for (let rep = 0; rep < 2; rep++) {
  const c0 = process.cpuUsage(); const t0 = Date.now();
  let recs = 0, bytes = 0;
  for (const r of byteRanges(fs.fstatSync(fd).size, 4 << 20)) {
    const t = rr.read(r);
    bytes += t.buf.length;
    if (mode === 'parse') { const res = parseChunk(t.buf, { first: r.start === 0, perBucket: 1024 }); recs += res.journey + res.summaries + res.snapshots; }
  }
  const c = process.cpuUsage(c0);
  console.log(mode, rep, recs, (bytes / 2 ** 20).toFixed(0), 'MiB', ((c.user + c.system) / 1e6).toFixed(2), 'CPU s', Date.now() - t0, 'ms wall', ((bytes / 2 ** 20) / ((c.user + c.system) / 1e6)).toFixed(0), 'MiB/CPU-s');
}
