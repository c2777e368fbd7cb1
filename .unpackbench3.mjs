import { PackedBuckets } from './dist/reconstruct/vllm-otlp/packed-spill.js';
import { parseChunk } from './dist/reconstruct/vllm-otlp/chunks.js';
import { RangeReader, byteRanges } from './dist/reconstruct/vllm-otlp/ranges.js';
import { unpackSeg } from './dist/reconstruct/vllm-otlp/packed.js';
import fs from 'node:fs';
const file = process.argv[2];
const fd = fs.openSync(file, 'r');
const rr = new RangeReader(fd, file, 64 << 20);
const pb = new PackedBuckets('x', Number(process.argv[3] ?? (32 << 20)), '/tmp');
let base = 0;
for (const r of byteRanges(fs.fstatSync(fd).size, 4 << 20)) { const t = rr.read(r); const res = parseChunk(t.buf, { first: r.start === 0, perBucket: 1024 }); pb.addChunk(res.recs, base); base += res.lines; }
let tu = 0n, n = 0, ns = 0;
const c0 = process.cpuUsage();
for (const k of pb.keys()) { const segs = pb.take(k); ns += segs.length; const out = []; const t = process.hrtime.bigint(); for (const s of segs) unpackSeg(s, out); tu += process.hrtime.bigint() - t; n += out.length; }
const c = process.cpuUsage(c0);
console.log('segments', ns, 'records', n, 'unpack ms', Number(tu) / 1e6, 'take+unpack CPU', (c.user + c.system) / 1e3);
pb.dispose();
// variant: re-read and unpack to Smi-coerced fields
{
const pb2 = new PackedBuckets('y', 1e9, '/tmp'); let base2 = 0;
for (const r of byteRanges(fs.fstatSync(fd).size, 4 << 20)) { const t = rr.read(r); const res = parseChunk(t.buf, { first: r.start === 0, perBucket: 1024 }); pb2.addChunk(res.recs, base2); base2 += res.lines; }
const kinds = new Map(); let big = 0, frac = 0;
for (const k of pb2.keys()) for (const s of pb2.take(k)) { const d = s.data; for (let p = 0; p < d.length;) { const code = d[p]; const w = code < 8 ? 9 : code === 8 ? 14 : 9; kinds.set(code, (kinds.get(code) ?? 0) + 1); for (let q = 1; q < w; q++) { const v = d[p + q]; if (v === v && Math.abs(v) > 2 ** 30) big++; if (v === v && !Number.isInteger(v)) frac++; } p += w; } }
console.log([...kinds], 'big', big, 'frac', frac);
}
