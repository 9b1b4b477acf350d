// The first k items of a stream in a given order, held in O(k) memory whatever the stream's length:
// what a sorted read with a limit keeps while it walks a range. Ties keep arrival order, so the
// result is exactly a stable sort of the whole stream cut to k.

/** Sorts before (< 0), after (> 0) or ties (0). */
export type Order<T> = (a: T, b: T) => number;

interface Entry<T> {
  readonly item: T;
  /** Arrival number: breaks ties, earlier first. */
  readonly seq: number;
}

export class TopK<T> {
  /** A binary heap with the entry that sorts last on top, so it is the one a better item evicts. */
  private readonly heap: Entry<T>[] = [];
  private readonly k: number;
  private readonly order: Order<T>;
  private arrivals = 0;

  constructor(k: number, order: Order<T>) {
    if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`TopK needs k >= 1, got ${k}`);
    this.k = k;
    this.order = order;
  }

  /** Takes `item` if it is among the first k so far (a tie with the kth arrived later, so it is not). */
  offer(item: T): void {
    const e: Entry<T> = { item, seq: this.arrivals++ };
    if (this.heap.length < this.k) {
      this.heap.push(e);
      this.up(this.heap.length - 1);
    } else if (this.after(this.heap[0]!, e)) {
      this.heap[0] = e;
      this.down(0);
    }
  }

  /** How many items are held (at most k). */
  get size(): number {
    return this.heap.length;
  }

  /** The items held, in order. */
  sorted(): T[] {
    return [...this.heap].sort((a, b) => this.compare(a, b)).map((e) => e.item);
  }

  private compare(a: Entry<T>, b: Entry<T>): number {
    return this.order(a.item, b.item) || a.seq - b.seq;
  }

  /** Whether `a` sorts after `b`. */
  private after(a: Entry<T>, b: Entry<T>): boolean {
    return this.compare(a, b) > 0;
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.after(h[i]!, h[parent]!)) return;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let last = i;
      if (left < h.length && this.after(h[left]!, h[last]!)) last = left;
      if (right < h.length && this.after(h[right]!, h[last]!)) last = right;
      if (last === i) return;
      [h[i], h[last]] = [h[last]!, h[i]!];
      i = last;
    }
  }
}
