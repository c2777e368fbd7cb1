/**
 * A double-ended queue (ring buffer): O(1) push/pop at both ends. The scheduler's waiting queue
 * takes arrivals at the back and preempted requests at the front, and admits from the front; an
 * array's shift/unshift would be O(n) per admission with a long queue.
 */
export class Deque<T> implements Iterable<T> {
  private buf: (T | undefined)[];
  private head = 0;
  private len = 0;

  constructor(capacity = 16) {
    this.buf = new Array(Math.max(4, capacity));
  }

  get length(): number {
    return this.len;
  }

  private grow(): void {
    const old = this.buf;
    const next: (T | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.len; i++) next[i] = old[(this.head + i) % old.length];
    this.buf = next;
    this.head = 0;
  }

  pushBack(x: T): void {
    if (this.len === this.buf.length) this.grow();
    this.buf[(this.head + this.len) % this.buf.length] = x;
    this.len++;
  }

  pushFront(x: T): void {
    if (this.len === this.buf.length) this.grow();
    this.head = (this.head - 1 + this.buf.length) % this.buf.length;
    this.buf[this.head] = x;
    this.len++;
  }

  /** The front element (undefined when empty). */
  peek(): T | undefined {
    return this.len > 0 ? this.buf[this.head] : undefined;
  }

  popFront(): T | undefined {
    if (this.len === 0) return undefined;
    const x = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.len--;
    return x;
  }

  /** Element i from the front. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.len ? this.buf[(this.head + i) % this.buf.length] : undefined;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.len; i++) yield this.buf[(this.head + i) % this.buf.length]!;
  }

  toArray(): T[] {
    return [...this];
  }
}
