// Every stored version of every key, by revision: main revisions ascend (append-only), and each
// holds its changes by sub revision. Compaction removes individual versions; a main revision
// with nothing left is dropped. This is the in-memory image of the backend's revision records.

import type { Revision } from './types.js';

export interface StoredKv {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
  /** A deletion marker: key and modRevision are meaningful, the rest is zero. */
  readonly tombstone: boolean;
  readonly sub: number;
}

/** A stored version as a flat tuple: the one encoding of backend records and snapshots. */
export type StoredKvTuple = [Uint8Array, Uint8Array, number, number, number, number, number, number];

export function storedKvToTuple(r: StoredKv): StoredKvTuple {
  return [r.key, r.value, r.createRevision, r.modRevision, r.version, r.lease, r.tombstone ? 1 : 0, r.sub];
}

/** The inverse of storedKvToTuple; copies the byte fields (decoders may hand out shared buffers). */
export function storedKvFromTuple(a: unknown): StoredKv | null {
  if (!Array.isArray(a) || a.length !== 8) return null;
  const [key, value, createRevision, modRevision, version, lease, tomb, sub] = a as StoredKvTuple;
  return {
    key: new Uint8Array(key),
    value: new Uint8Array(value),
    createRevision,
    modRevision,
    version,
    lease,
    tombstone: tomb === 1,
    sub,
  };
}

export class RevisionLog {
  /** Main revisions present, ascending. */
  private mains: number[] = [];
  private readonly byMain = new Map<number, (StoredKv | undefined)[]>();

  append(rec: StoredKv): void {
    let subs = this.byMain.get(rec.modRevision);
    if (subs === undefined) {
      const last = this.mains[this.mains.length - 1];
      if (last !== undefined && last >= rec.modRevision)
        throw new RangeError(`revision ${rec.modRevision} appended after ${last}`);
      subs = [];
      this.byMain.set(rec.modRevision, subs);
      this.mains.push(rec.modRevision);
    }
    subs[rec.sub] = rec;
  }

  get(rev: Revision): StoredKv | undefined {
    return this.byMain.get(rev.main)?.[rev.sub];
  }

  remove(rev: Revision): void {
    const subs = this.byMain.get(rev.main);
    if (subs === undefined) return;
    subs[rev.sub] = undefined;
  }

  /** Drops main revisions left empty by removals (called after a compaction batch). */
  sweep(): void {
    this.mains = this.mains.filter((m) => {
      const subs = this.byMain.get(m)!;
      if (subs.some((r) => r !== undefined)) return true;
      this.byMain.delete(m);
      return false;
    });
  }

  /** Removes every change at main revision `main` (rolling back a failed transaction). */
  dropMain(main: number): void {
    if (!this.byMain.delete(main)) return;
    this.mains = this.mains.filter((m) => m !== main);
  }

  /** Changes with main revision in [from, to], ascending by (main, sub). */
  *between(from: number, to: number): Generator<StoredKv> {
    let lo = 0;
    let hi = this.mains.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.mains[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.mains.length && this.mains[i]! <= to; i++) {
      for (const r of this.byMain.get(this.mains[i]!)!) if (r !== undefined) yield r;
    }
  }

  get size(): number {
    return this.mains.length;
  }
}
