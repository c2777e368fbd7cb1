/**
 * The design rows of a fit's first pass, kept for the later passes (Huber IRLS, the metrics pass) so the
 * data are read and the basis evaluated once. Rows are Float64Array records of stride p + 3
 * (x, y, experiment, index·4 + kind), bit-exact copies, so a replayed pass equals a re-read one.
 * In memory (chunks that are never copied to grow) up to `memBytes`; beyond that (when `spill` is allowed: the fit allows it when the steps come from
 * files) the rows go to a temporary file in
 * blocks of at most BLOCK_ROWS, each in a lossless compact encoding (row-codec.ts: constant columns once, Int32 or
 * Float32 columns where every value is exact in them), read back and decoded one block at a time: memory stays
 * O(block) for any number of rows.
 * Without spill, a cache over budget is dropped and every pass reads the data again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChunkShape, RowKind, RowVisitor } from './dataset-types.js';
import { encodeRows, RowDecoder } from './row-codec.js';

/** Rows per block written to (and read from) the spill file. */
export const BLOCK_ROWS = 8192;

/**
 * The kept rows as another thread can replay them (`replayRows`): the in-memory chunks (shared memory) and the
 * rows in the last one, or the spill file and its row count.
 */
export interface SharedRows {
  readonly p: number;
  readonly chunks: readonly Float64Array[];
  readonly lastRows: number;
  readonly file: string | null;
  /** Bytes of each encoded block in the spill file, in order, and the shape of its rows (`chunkShape`). */
  readonly blocks: readonly number[];
  readonly blockShapes: readonly ChunkShape[];
}

/** The columns of a chunk's n rows (stride p + 3) that are not all 0, and the largest |x|. */
export function chunkShape(c: Float64Array, n: number, p: number): ChunkShape {
  const s = p + 3;
  const nonzero = new Uint8Array(p);
  let maxAbs = 0;
  for (let r = 0; r < n; r++) {
    const off = r * s;
    for (let j = 0; j < p; j++) {
      const a = Math.abs(c[off + j]!);
      if (a !== 0) nonzero[j] = 1;
      if (!(a <= maxAbs)) maxAbs = Number.isFinite(a) ? a : Infinity;
    }
  }
  const nz: number[] = [];
  nonzero.forEach((f, j) => f && nz.push(j));
  return { nz: Int32Array.from(nz), maxAbs };
}

/** Shapes of in-memory chunks, computed on their first replay (a chunk does not change once the first pass is over). */
const shapes = new WeakMap<Float64Array, { n: number; shape: ChunkShape }>();

/**
 * Visit rows of a chunk (stride p + 3): in place (`v.chunk`), or copying each into x. `keep`: the chunk is an
 * in-memory one (its shape may be kept); `shape`: the chunk's shape, known.
 */
function visitChunk(c: Float64Array, n: number, p: number, v: RowVisitor, x: Float64Array, keep = false, shape?: ChunkShape): void {
  if (v.chunk && shape) {
    v.chunk(c, n, p, shape);
    return;
  }
  if (v.chunk) {
    let known = keep ? shapes.get(c) : undefined;
    if (!known || known.n !== n) {
      known = { n, shape: chunkShape(c, n, p) };
      if (keep) shapes.set(c, known);
    }
    v.chunk(c, n, p, known.shape);
    return;
  }
  const s = p + 3;
  for (let r = 0; r < n; r++) {
    const off = r * s;
    for (let j = 0; j < p; j++) x[j] = c[off + j]!;
    const ik = c[off + p + 2]!;
    v.row(x, c[off + p]!, c[off + p + 1]!, Math.floor(ik / 4), (ik % 4) as RowKind);
  }
}

/** Visit every kept row in order: the same rows, bit for bit, as `RowCache.replay` (fd: the spill file, opened by the caller). */
export function replayRows(rows: SharedRows, v: RowVisitor, x: Float64Array, fd: number | null = null): void {
  const s = rows.p + 3;
  if (rows.file !== null) {
    const own = fd === null;
    const f = fd ?? fs.openSync(rows.file, 'r');
    try {
      const buf = new Float64Array(s * BLOCK_ROWS);
      const dec = new RowDecoder(buf);
      const bytes = new Uint8Array(rows.blocks.reduce((a, b) => Math.max(a, b), 0));
      let pos = 0;
      rows.blocks.forEach((want, k) => {
        let got = 0;
        while (got < want) got += fs.readSync(f, bytes, got, want - got, pos + got);
        pos += want;
        visitChunk(buf, dec.decode(bytes), rows.p, v, x, false, rows.blockShapes[k]);
      });
    } finally {
      if (own) fs.closeSync(f);
    }
    return;
  }
  const last = rows.chunks.length - 1;
  rows.chunks.forEach((c, k) => visitChunk(c, k === last ? rows.lastRows : c.length / s, rows.p, v, x, true));
}

/** A Float64Array in memory other threads can read (SharedArrayBuffer). */
const sharedF64 = (n: number): Float64Array => new Float64Array(new SharedArrayBuffer(n * 8));

/** Most rows in one in-memory chunk (chunks double up to this size, then the cache grows by whole chunks: no copying). */
export const CHUNK_ROWS = 65536;

export class RowCache {
  private readonly stride: number;
  /** Full in-memory chunks, in order, then the one being filled (`cur`, `rows` rows in it). */
  private chunks: Float64Array[] = [];
  private chunkRows = 0;
  private cur: Float64Array;
  private rows = 0;
  private dropped = false;
  /** Spill file (fd and path), rows already written to it; `cur` is then the block being filled. */
  private fd: number | null = null;
  private file: string | null = null;
  private spilled = 0;
  private spillBytes = 0;
  private blocks: number[] = [];
  private blockShapes: ChunkShape[] = [];
  /** Where a block is encoded before it is written (grown to the largest block seen). */
  private scratch = new Uint8Array(0);
  private complete = false;

  constructor(
    private readonly p: number,
    private readonly memBytes: number,
    private readonly spill: boolean,
  ) {
    this.stride = p + 3;
    this.cur = sharedF64(this.stride * 1024);
  }

  /** True once the first pass has finished with every row kept. */
  get ready(): boolean {
    return this.complete && !this.dropped;
  }

  /** Rows written to disk (0 while everything is in memory). */
  get spilledRows(): number {
    return this.spilled;
  }

  add(x: Float64Array, y: number, e: number, i: number, kind: RowKind): void {
    if (this.dropped) return;
    const s = this.stride;
    if ((this.rows + 1) * s > this.cur.length) this.grow();
    if (this.dropped) return;
    const c = this.cur;
    const off = this.rows++ * s;
    for (let j = 0; j < this.p; j++) c[off + j] = x[j]!;
    c[off + this.p] = y;
    c[off + this.p + 1] = e;
    c[off + this.p + 2] = i * 4 + kind;
  }

  /**
   * The current chunk is full: a new chunk (as many rows as are kept, at most CHUNK_ROWS) within budget; else
   * start (or continue) spilling — every kept row, then one block at a time; else drop the cache.
   */
  private grow(): void {
    const s = this.stride;
    if (this.fd === null) {
      const kept = this.chunkRows + this.rows;
      const next = Math.min(kept, CHUNK_ROWS);
      if ((kept + next) * s * 8 <= this.memBytes) {
        this.chunks.push(this.cur);
        this.chunkRows = kept;
        this.cur = sharedF64(s * next);
        this.rows = 0;
        return;
      }
    }
    if (!this.spill) {
      this.dropped = true;
      this.chunks = [];
      this.cur = new Float64Array(0);
      return;
    }
    if (this.fd === null) {
      this.file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-rows-')), 'rows.f64');
      this.fd = fs.openSync(this.file, 'w+');
      for (const c of this.chunks) this.write(c, c.length / s);
      this.chunks = [];
      this.chunkRows = 0;
    }
    this.flushBlock();
    if (this.cur.length !== s * BLOCK_ROWS) this.cur = new Float64Array(s * BLOCK_ROWS);
  }

  /** Append c's n rows to the spill file, encoded a block of at most BLOCK_ROWS rows at a time. */
  private write(c: Float64Array, n: number): void {
    const s = this.stride;
    for (let r0 = 0; r0 < n; r0 += BLOCK_ROWS) {
      const k = Math.min(BLOCK_ROWS, n - r0);
      const rows = c.subarray(r0 * s, (r0 + k) * s);
      const bytes = encodeRows(rows, k, s, (b) => {
        if (this.scratch.length < b) this.scratch = new Uint8Array(b);
        return this.scratch.subarray(0, b);
      });
      try {
        fs.writeSync(this.fd!, bytes, 0, bytes.length, this.spillBytes);
      } catch (e) {
        throw new Error(`cannot keep the fit's design rows in ${this.file} (${(e as Error).message}): free space in the temporary folder or point TMPDIR elsewhere`);
      }
      this.spillBytes += bytes.length;
      this.blocks.push(bytes.length);
      this.blockShapes.push(chunkShape(rows, k, this.p));
      this.spilled += k;
    }
  }

  private flushBlock(): void {
    this.write(this.cur, this.rows);
    this.rows = 0;
  }

  /** Add n rows already in the cache's layout (row r at src[r·(p + 3) …]): the same as `add` of each in order. */
  addRows(src: Float64Array, n: number): void {
    const s = this.stride;
    let r = 0;
    while (r < n && !this.dropped) {
      if ((this.rows + 1) * s > this.cur.length) {
        this.grow();
        if (this.dropped) return;
      }
      const k = Math.min(n - r, Math.floor(this.cur.length / s) - this.rows);
      this.cur.set(src.subarray(r * s, (r + k) * s), this.rows * s);
      this.rows += k;
      r += k;
    }
  }

  /** The first pass is over. */
  finish(): void {
    if (this.dropped) return;
    if (this.fd !== null) this.flushBlock();
    this.complete = true;
  }

  /** Visit every kept row, in the order added. */
  replay(v: RowVisitor, x: Float64Array): void {
    replayRows(this.shared(), v, x, this.fd);
  }

  /** The kept rows for another thread (complete cache only). */
  shared(): SharedRows {
    if (this.fd !== null) return { p: this.p, chunks: [], lastRows: 0, file: this.file, blocks: this.blocks, blockShapes: this.blockShapes };
    return { p: this.p, chunks: [...this.chunks, this.cur], lastRows: this.rows, file: null, blocks: [], blockShapes: [] };
  }

  /** Release the rows: the memory and the spill file (idempotent; the cache is not ready afterwards). */
  close(): void {
    this.chunks = [];
    this.cur = new Float64Array(0);
    this.rows = 0;
    this.dropped = true;
    this.blocks = [];
    this.blockShapes = [];
    this.scratch = new Uint8Array(0);
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
    if (this.file !== null) {
      fs.rmSync(path.dirname(this.file), { recursive: true, force: true });
      this.file = null;
    }
  }
}

/**
 * A visitor of kept wide rows that hands `v` the rows of one basis-parameter variant (`cols`: the wide-row column of
 * each of its values, batch-rows.ts variantColumns), keeping them in `into` as well: a chunk at a time when replayed.
 */
export function variantRows(cols: Int32Array, v: RowVisitor, into: RowCache | null): RowVisitor {
  const pb = cols.length;
  const s = pb + 3;
  const x = new Float64Array(pb);
  let buf = new Float64Array(0);
  return {
    row(w, y, e, i, kind) {
      for (let j = 0; j < pb; j++) x[j] = w[cols[j]!]!;
      into?.add(x, y, e, i, kind);
      v.row(x, y, e, i, kind);
    },
    chunk(c, n, p) {
      if (buf.length < n * s) buf = new Float64Array(n * s);
      for (let r = 0; r < n; r++) {
        const off = r * (p + 3);
        const o = r * s;
        for (let j = 0; j < pb; j++) buf[o + j] = c[off + cols[j]!]!;
        buf[o + pb] = c[off + p]!;
        buf[o + pb + 1] = c[off + p + 1]!;
        buf[o + pb + 2] = c[off + p + 2]!;
      }
      into?.addRows(buf, n);
      visitChunk(buf, n, pb, v, x);
    },
  };
}
