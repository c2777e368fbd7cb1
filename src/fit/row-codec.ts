/**
 * A lossless compact encoding of a block of kept design rows (row-cache.ts: n rows of stride s, Float64, row-major),
 * used for the blocks the row cache writes to its spill file. Per column: one value when every row holds the same
 * bits (constant), Int32 when every value is an integer in range (not −0), Float32 when every value round-trips
 * through Float32 (Math.fround(v) === v: never NaN), else the Float64 bits. Decoding gives back the same bits.
 *
 * Layout (little-endian as the platform's typed arrays; payloads 8-byte aligned):
 * n (Uint32), s (Uint32), s kind bytes padded to 8, then per column its payload padded to 8 bytes.
 */

/** Column kinds. */
const CONST = 0;
const I32 = 1;
const F32 = 2;
const F64 = 3;

const pad8 = (b: number): number => (b + 7) & ~7;
const payloadBytes = (kind: number, n: number): number => (kind === CONST ? 8 : pad8(kind === F64 ? n * 8 : n * 4));

/** The kind of column j of c's n rows (stride s); `u` views c's bits. */
function columnKind(c: Float64Array, u: Uint32Array, n: number, s: number, j: number): number {
  const lo = u[2 * j]!;
  const hi = u[2 * j + 1]!;
  let r = 1;
  while (r < n && u[2 * (r * s + j)] === lo && u[2 * (r * s + j) + 1] === hi) r++;
  if (r >= n) return CONST;
  let int = true;
  let f32 = true;
  for (let k = 0; k < n && (int || f32); k++) {
    const v = c[k * s + j]!;
    if (int && ((v | 0) !== v || Object.is(v, -0))) int = false;
    if (f32 && Math.fround(v) !== v) f32 = false;
  }
  return int ? I32 : f32 ? F32 : F64;
}

/** Bytes `encodeRows` writes for these kinds. */
function encodedBytes(kinds: Uint8Array, n: number): number {
  let b = 8 + pad8(kinds.length);
  for (const k of kinds) b += payloadBytes(k, n);
  return b;
}

/** Encode n rows of stride s (c[0 … n·s)); `alloc` gives the bytes (e.g. shared memory). */
export function encodeRows(c: Float64Array, n: number, s: number, alloc: (bytes: number) => Uint8Array = (b) => new Uint8Array(b)): Uint8Array {
  const u = new Uint32Array(c.buffer, c.byteOffset, n * s * 2);
  const kinds = new Uint8Array(s);
  for (let j = 0; j < s; j++) kinds[j] = n === 0 ? CONST : columnKind(c, u, n, s, j);
  const out = alloc(encodedBytes(kinds, n));
  const head = new Uint32Array(out.buffer, out.byteOffset, 2);
  head[0] = n;
  head[1] = s;
  out.set(kinds, 8);
  let at = out.byteOffset + 8 + pad8(s);
  for (let j = 0; j < s; j++) {
    const kind = kinds[j]!;
    if (kind === CONST || kind === F64) {
      const m = kind === CONST ? Math.min(n, 1) : n;
      const d = new Uint32Array(out.buffer, at, m * 2);
      for (let r = 0; r < m; r++) {
        d[2 * r] = u[2 * (r * s + j)]!;
        d[2 * r + 1] = u[2 * (r * s + j) + 1]!;
      }
    } else {
      const d = kind === I32 ? new Int32Array(out.buffer, at, n) : new Float32Array(out.buffer, at, n);
      for (let r = 0; r < n; r++) d[r] = c[r * s + j]!;
    }
    at += payloadBytes(kind, n);
  }
  return out;
}

/** Rows and stride of an encoded block. */
export function encodedShape(b: Uint8Array): { n: number; s: number } {
  const head = new Uint32Array(b.buffer, b.byteOffset, 2);
  return { n: head[0]!, s: head[1]! };
}

/**
 * Decodes blocks into one buffer (row-major, stride s; 8-byte aligned), giving back the same bits as encoded. A
 * constant column the buffer already holds (same bits, in at least as many rows) is not written again.
 */
export class RowDecoder {
  private heldLo: Uint32Array;
  private heldHi: Uint32Array;
  private heldRows: Int32Array;
  private readonly u: Uint32Array;

  constructor(private readonly out: Float64Array) {
    this.u = new Uint32Array(out.buffer, out.byteOffset, out.length * 2);
    this.heldLo = new Uint32Array(0);
    this.heldHi = this.heldLo;
    this.heldRows = new Int32Array(0);
  }

  /** Decode block b into the buffer (out.length ≥ n·s); returns n. */
  decode(b: Uint8Array): number {
    const { n, s } = encodedShape(b);
    if (this.heldRows.length !== s) {
      this.heldLo = new Uint32Array(s);
      this.heldHi = new Uint32Array(s);
      this.heldRows = new Int32Array(s);
    }
    let at = b.byteOffset + 8 + pad8(s);
    for (let j = 0; j < s; j++) {
      const kind = b[8 + j]!;
      if (kind === CONST) this.constant(new Uint32Array(b.buffer, at, 2), n, s, j);
      else {
        this.heldRows[j] = 0;
        column(b.buffer, at, kind, n, s, j, this.out, this.u);
      }
      at += payloadBytes(kind, n);
    }
    return n;
  }

  private constant(d: Uint32Array, n: number, s: number, j: number): void {
    const lo = d[0]!;
    const hi = d[1]!;
    if (this.heldRows[j]! >= n && this.heldLo[j] === lo && this.heldHi[j] === hi) return;
    const u = this.u;
    for (let r = 0; r < n; r++) {
      u[2 * (r * s + j)] = lo;
      u[2 * (r * s + j) + 1] = hi;
    }
    this.heldLo[j] = lo;
    this.heldHi[j] = hi;
    this.heldRows[j] = n;
  }
}

/** Write column j (an Int32, Float32 or Float64 payload at byte `at` of buf) of n rows into out (u: out's bits). */
function column(buf: ArrayBufferLike, at: number, kind: number, n: number, s: number, j: number, out: Float64Array, u: Uint32Array): void {
  if (kind === F64) {
    const d = new Uint32Array(buf, at, n * 2);
    for (let r = 0; r < n; r++) {
      u[2 * (r * s + j)] = d[2 * r]!;
      u[2 * (r * s + j) + 1] = d[2 * r + 1]!;
    }
    return;
  }
  const d = kind === I32 ? new Int32Array(buf, at, n) : new Float32Array(buf, at, n);
  for (let r = 0; r < n; r++) out[r * s + j] = d[r]!;
}

/** Decode a block into out (row-major, stride s; out.length ≥ n·s, 8-byte aligned): the same bits as encoded. Returns n. */
export function decodeRows(b: Uint8Array, out: Float64Array): number {
  return new RowDecoder(out).decode(b);
}
