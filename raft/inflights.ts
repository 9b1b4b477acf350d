// Sliding window of in-flight append messages to one follower, bounded by count and bytes.
// A leader in replicate state sends while the window has room and frees it on acks.

export class Inflights {
  /** Last index of each message in flight, oldest first. */
  private indices: number[] = [];
  private sizes: number[] = [];
  private head = 0;
  private totalBytes = 0;
  readonly maxCount: number;
  readonly maxBytes: number;

  constructor(maxCount: number, maxBytes: number) {
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
  }

  get count(): number {
    return this.indices.length - this.head;
  }

  add(index: number, bytes: number): void {
    this.indices.push(index);
    this.sizes.push(bytes);
    this.totalBytes += bytes;
  }

  /** Frees every message whose last index is <= `to`. */
  freeLE(to: number): void {
    while (this.head < this.indices.length && this.indices[this.head]! <= to) {
      this.totalBytes -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.indices.length) {
      this.indices = this.indices.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }

  /** Frees the oldest message (a heartbeat ack shows the follower is alive though acks were lost). */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.indices[this.head]!);
  }

  full(): boolean {
    return this.count >= this.maxCount || (this.maxBytes > 0 && this.totalBytes >= this.maxBytes);
  }

  reset(): void {
    this.indices = [];
    this.sizes = [];
    this.head = 0;
    this.totalBytes = 0;
  }
}
