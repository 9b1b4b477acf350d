// Lease ids for grants that name none: chosen by the proposing member before the grant enters the
// log (apply never invents ids). etcd's idutil layout squeezed into 53 bits so ids stay exact
// JavaScript numbers: member bits on top, then a start time and a counter; never 0 (NoLease).

import assert from 'node:assert/strict';

const MEMBER_BITS = 13;
const SUFFIX_BITS = 40;
/** Low bits of the suffix that count ids within one millisecond of the start time (etcd uses 8). */
const COUNTER_BITS = 8;
const SUFFIX_SPAN = 2 ** SUFFIX_BITS;
const MEMBER_SPAN = 2 ** MEMBER_BITS;
/** Bound on ids skipped because they are taken, so a full id space cannot spin forever. */
export const MAX_LEASE_ID_PROBES = 1024;

export class LeaseIdGenerator {
  private readonly prefix: number;
  private suffix: number;

  /**
   * `memberId` separates members' id spaces (its low 13 bits); `startMs` (any clock, read once by
   * the caller) separates restarts of the same member, like etcd's timestamp-seeded suffix.
   */
  constructor(memberId: number, startMs: number) {
    assert(Number.isSafeInteger(memberId) && memberId >= 0, 'member id is a non-negative integer');
    assert(Number.isFinite(startMs) && startMs >= 0, 'start time is a non-negative number');
    this.prefix = (memberId % MEMBER_SPAN) * SUFFIX_SPAN;
    this.suffix = (Math.floor(startMs) % 2 ** (SUFFIX_BITS - COUNTER_BITS)) * 2 ** COUNTER_BITS - 1;
  }

  /**
   * The next id for which `taken` is false (pass the lease table's `has`). A taken id can still
   * race with another member's grant; the apply's LEASE_EXISTS settles that.
   */
  next(taken: (id: number) => boolean = () => false): number {
    for (let probe = 0; probe < MAX_LEASE_ID_PROBES; probe++) {
      this.suffix = (this.suffix + 1) % SUFFIX_SPAN;
      const id = this.prefix + this.suffix;
      if (id !== 0 && !taken(id)) return id;
    }
    throw new RangeError(`no free lease id after ${MAX_LEASE_ID_PROBES} probes`);
  }
}
