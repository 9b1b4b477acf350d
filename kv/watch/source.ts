// What the watch hub reads from the MVCC store: the current and compacted revisions, and the
// history of events in a revision window. The store implements it; the hub never writes through it.
// Reads are synchronous so that a catch-up and the next notify can never interleave.

import type { Bytes, Event } from '../types.js';

export interface WatchSource {
  /** Revision of the last applied write. */
  currentRevision(): number;
  /** Revisions below this are gone. */
  compactRevision(): number;
  /** Events with revision in [fromRevision, toRevision] for keys in [key, rangeEnd) (rangeEnd semantics as RangeRequest: empty = single key, [0] = all from key), ordered by (revision, sub); at most maxEvents but never splitting one revision's events; prevKv filled when withPrevKv. */
  eventsBetween(
    fromRevision: number,
    toRevision: number,
    key: Bytes,
    rangeEnd: Bytes | undefined,
    maxEvents: number,
    withPrevKv: boolean,
  ): Event[];
}
