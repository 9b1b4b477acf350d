// A FIFO of encoded frame bodies bounded in bytes: the memory a peer's outbound stream may hold
// whatever the peer's speed. A body that would cross the bound is refused, never queued.

export class FrameQueue {
  private items: Uint8Array[] = [];
  private head = 0;
  private queuedBytes = 0;

  constructor(private readonly maxBytes: number) {}

  get bytes(): number {
    return this.queuedBytes;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Queues `body` unless that would exceed the bound; false means it was refused. */
  push(body: Uint8Array): boolean {
    if (this.queuedBytes + body.length > this.maxBytes) return false;
    this.items.push(body);
    this.queuedBytes += body.length;
    return true;
  }

  /** Removes the oldest bodies totalling at most `maxBytes` (always at least one if any). */
  take(maxBytes: number): Uint8Array[] {
    const batch: Uint8Array[] = [];
    let bytes = 0;
    while (this.head < this.items.length) {
      const next = this.items[this.head]!;
      if (batch.length > 0 && bytes + next.length > maxBytes) break;
      batch.push(next);
      bytes += next.length;
      this.head++;
    }
    this.queuedBytes -= bytes;
    this.compact();
    return batch;
  }

  /** Empties the queue; returns how many bodies were discarded. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    this.queuedBytes = 0;
    return n;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
