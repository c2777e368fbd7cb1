/** Growable typed columns for per-row report data (millions of rows without per-row objects). */

export class F64Col {
  private a: Float64Array;
  n = 0;
  constructor(cap = 1024) {
    this.a = new Float64Array(cap);
  }
  push(x: number): void {
    if (this.n === this.a.length) {
      const g = new Float64Array(this.a.length * 2);
      g.set(this.a);
      this.a = g;
    }
    this.a[this.n++] = x;
  }
  get(i: number): number {
    return this.a[i]!;
  }
  view(): Float64Array {
    return this.a.subarray(0, this.n);
  }
}

export class U32Col {
  private a: Uint32Array;
  n = 0;
  constructor(cap = 1024) {
    this.a = new Uint32Array(cap);
  }
  push(x: number): void {
    if (this.n === this.a.length) {
      const g = new Uint32Array(this.a.length * 2);
      g.set(this.a);
      this.a = g;
    }
    this.a[this.n++] = x;
  }
  get(i: number): number {
    return this.a[i]!;
  }
  view(): Uint32Array {
    return this.a.subarray(0, this.n);
  }
}
