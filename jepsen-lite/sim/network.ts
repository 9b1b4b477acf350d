// The simulated network: per-message fate decided by the seeded PRNG (latency, drop, duplicate,
// reorder through random extra delay) and by partitions, modelled as a set of blocked directed
// links so symmetric, asymmetric and partial partitions are all the same mechanism.

import type { Prng } from '../../raft/prng.js';
import type { Message, NodeId } from '../../raft/types.js';

export interface LinkFaults {
  dropRate: number;
  duplicateRate: number;
  maxExtraDelayMs: number;
}

export type Fate =
  | { readonly delivered: false }
  | { readonly delivered: true; readonly delaysMs: readonly number[] };

export class SimNetwork {
  readonly baseLatencyMs: number;
  private readonly prng: Prng;
  /** Directed links that drop everything, as "from>to", with a count so overlapping faults compose. */
  private readonly blocked = new Map<string, number>();
  readonly faults: LinkFaults = { dropRate: 0, duplicateRate: 0, maxExtraDelayMs: 0 };
  sent = 0;
  dropped = 0;

  constructor(prng: Prng, baseLatencyMs: number) {
    this.prng = prng;
    this.baseLatencyMs = baseLatencyMs;
  }

  block(from: NodeId, to: NodeId): void {
    const k = `${from}>${to}`;
    this.blocked.set(k, (this.blocked.get(k) ?? 0) + 1);
  }

  unblock(from: NodeId, to: NodeId): void {
    const k = `${from}>${to}`;
    const n = (this.blocked.get(k) ?? 0) - 1;
    if (n <= 0) this.blocked.delete(k);
    else this.blocked.set(k, n);
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  healAll(): void {
    this.blocked.clear();
    this.faults.dropRate = 0;
    this.faults.duplicateRate = 0;
    this.faults.maxExtraDelayMs = 0;
  }

  /** Decides what happens to `m`: lost, or delivered once or more after the returned delays. */
  fate(m: Message): Fate {
    this.sent++;
    if (this.isBlocked(m.from, m.to) || this.prng.chance(this.faults.dropRate)) {
      this.dropped++;
      return { delivered: false };
    }
    const delay = (): number =>
      this.baseLatencyMs +
      this.prng.int(this.baseLatencyMs + 1) +
      this.prng.int(this.faults.maxExtraDelayMs + 1);
    const delaysMs = [delay()];
    // Forwarded proposals travel on a stream connection that never duplicates; raft's own
    // messages are duplicated to prove raft tolerates it.
    if (m.type !== 'prop' && this.prng.chance(this.faults.duplicateRate)) delaysMs.push(delay());
    return { delivered: true, delaysMs };
  }
}
