// Entries and a snapshot that raft holds in memory until the application reports them
// durable (stableTo / stableSnapTo). Invariant: entries[i].index === offset + i, and when a
// snapshot is present, offset === snapshot.index + 1.

import { invariant } from './errors.js';
import type { Entry, Snapshot } from './types.js';

export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | null {
    return this.snapshot === null ? null : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === null ? null : this.snapshot.metadata.index;
  }

  maybeTerm(index: number): number | null {
    if (index < this.offset) {
      if (this.snapshot !== null && this.snapshot.metadata.index === index)
        return this.snapshot.metadata.term;
      return null;
    }
    const last = this.maybeLastIndex();
    if (last === null || index > last) return null;
    return this.entries[index - this.offset]!.term;
  }

  /** Entries up to (index, term) are durable: drop them from memory if they are still ours. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === null || t !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === index) this.snapshot = null;
  }

  restore(snap: Snapshot): void {
    this.offset = snap.metadata.index + 1;
    this.entries = [];
    this.snapshot = snap;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents);
    } else if (after <= this.offset) {
      // Replaces everything unstable; storage keeps what precedes `after`.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.slice(this.offset, after).concat(ents);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    invariant(
      lo <= hi && lo >= this.offset && hi <= this.offset + this.entries.length,
      `unstable.slice[${lo},${hi}) out of [${this.offset},${this.offset + this.entries.length})`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
