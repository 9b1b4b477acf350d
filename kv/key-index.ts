// The history of one key: generations, each from a creation to its tombstone, each holding the
// revisions that modified the key. Invariants: revisions strictly increase across the whole
// index; only the last generation may be open (no tombstone); an empty generation is never kept
// except as the last one.

import { KvError } from './errors.js';
import type { Revision } from './types.js';

export interface Generation {
  /** Number of modifications in this generation (the key's version at its last revision). */
  ver: number;
  created: Revision;
  /** Revisions of this generation, ascending; for a closed generation the last is the tombstone. */
  revs: Revision[];
}

export function revLess(a: Revision, b: Revision): boolean {
  return a.main < b.main || (a.main === b.main && a.sub < b.sub);
}

export function revCompare(a: Revision, b: Revision): number {
  return a.main - b.main || a.sub - b.sub;
}

export interface VisibleRevision {
  readonly modified: Revision;
  readonly created: Revision;
  readonly version: number;
}

export class KeyIndex {
  readonly key: Uint8Array;
  modified: Revision = { main: 0, sub: 0 };
  generations: Generation[] = [{ ver: 0, created: { main: 0, sub: 0 }, revs: [] }];

  constructor(key: Uint8Array) {
    this.key = key;
  }

  private last(): Generation {
    return this.generations[this.generations.length - 1]!;
  }

  put(rev: Revision): void {
    if (!revLess(this.modified, rev)) {
      throw new KvError(
        'CORRUPT',
        `put revision ${rev.main}.${rev.sub} not after ${this.modified.main}.${this.modified.sub}`,
      );
    }
    const g = this.last();
    if (g.revs.length === 0) g.created = rev;
    g.revs.push(rev);
    g.ver++;
    this.modified = rev;
  }

  /** Records a deletion and closes the current generation. */
  tombstone(rev: Revision): void {
    if (this.isDeleted()) throw new KvError('CORRUPT', 'tombstone on a deleted key');
    this.put(rev);
    this.generations.push({ ver: 0, created: { main: 0, sub: 0 }, revs: [] });
  }

  isDeleted(): boolean {
    return this.last().revs.length === 0;
  }

  isEmpty(): boolean {
    return this.generations.length === 1 && this.last().revs.length === 0;
  }

  /** The revision of the key visible at `atRev`, or null if absent (never created or deleted) then. */
  get(atRev: number): VisibleRevision | null {
    const g = this.findGeneration(atRev);
    if (g === null) return null;
    for (let i = g.revs.length - 1; i >= 0; i--) {
      const r = g.revs[i]!;
      if (r.main <= atRev)
        return { modified: r, created: g.created, version: g.ver - (g.revs.length - 1 - i) };
    }
    return null;
  }

  /** The generation alive at `atRev` (its tombstone, if any, after atRev), or null. */
  private findGeneration(atRev: number): Generation | null {
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const g = this.generations[i]!;
      if (g.revs.length === 0) continue;
      const closed = i < this.generations.length - 1;
      const tomb = g.revs[g.revs.length - 1]!;
      if (closed && tomb.main <= atRev) return null;
      if (g.revs[0]!.main <= atRev) return g;
    }
    return null;
  }

  /**
   * Drops revisions no read at or after `atRev` can see: for each generation, everything before
   * the last revision <= atRev; whole generations whose tombstone is <= atRev. Returns the
   * revisions dropped (their records can be deleted from storage).
   */
  compact(atRev: number): Revision[] {
    const dropped: Revision[] = [];
    const kept: Generation[] = [];
    const lastIdx = this.generations.length - 1;
    this.generations.forEach((g, i) => {
      if (g.revs.length === 0) {
        if (i === lastIdx) kept.push(g);
        return;
      }
      const closed = i < lastIdx;
      const tomb = g.revs[g.revs.length - 1]!;
      if (closed && tomb.main <= atRev) {
        dropped.push(...g.revs);
        return;
      }
      let keepFrom = 0;
      for (let j = g.revs.length - 1; j >= 0; j--) {
        if (g.revs[j]!.main <= atRev) {
          keepFrom = j;
          break;
        }
      }
      dropped.push(...g.revs.slice(0, keepFrom));
      kept.push({ ver: g.ver, created: g.created, revs: g.revs.slice(keepFrom) });
    });
    this.generations = kept.length > 0 ? kept : [{ ver: 0, created: { main: 0, sub: 0 }, revs: [] }];
    return dropped;
  }
}
