// Periodic corruption check, on by default (--corrupt-check-interval): the leader asks every
// peer for HashKV at the leader's current revision and compares it with its own at the same
// revision. A member whose hash differs gets a CORRUPT alarm, raised through raft so every member
// reports it in Status and refuses writes until an operator disarms it.

import type { Logger } from 'pino';

export interface HashAt {
  readonly hash: number;
  readonly revision: number;
  readonly compactRevision: number;
}

export interface CorruptionTarget {
  isLeader(): boolean;
  memberId(): number;
  peers(): number[];
  currentRevision(): number;
  localHash(revision: number): Promise<HashAt>;
  peerHash(peer: number, revision: number): Promise<HashAt>;
  raiseCorrupt(memberId: number): Promise<void>;
}

export interface CorruptionCheckOptions {
  readonly target: CorruptionTarget;
  readonly intervalMs: number;
  readonly logger: Logger;
}

export interface CheckReport {
  /** Peers whose hash matched the leader's at the same revision. */
  readonly agreed: number[];
  /** Peers whose hash differed: each has been given a CORRUPT alarm. */
  readonly corrupt: number[];
  /** Peers that could not be compared (unreachable, or compacted differently). */
  readonly skipped: number[];
}

export class CorruptionCheck {
  private readonly o: CorruptionCheckOptions;
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(o: CorruptionCheckOptions) {
    this.o = o;
  }

  start(): void {
    if (this.o.intervalMs <= 0 || this.timer !== null) return;
    this.timer = setInterval(() => void this.runOnce(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async runOnce(): Promise<CheckReport> {
    const report: CheckReport = { agreed: [], corrupt: [], skipped: [] };
    const t = this.o.target;
    if (this.running || !t.isLeader()) return report;
    this.running = true;
    try {
      const revision = t.currentRevision();
      const mine = await t.localHash(revision);
      for (const peer of t.peers()) {
        let theirs: HashAt;
        try {
          theirs = await t.peerHash(peer, revision);
        } catch (err) {
          this.o.logger.debug({ err, peer: peer.toString(16) }, 'corruption check: peer not compared');
          report.skipped.push(peer);
          continue;
        }
        if (theirs.compactRevision !== mine.compactRevision || theirs.revision < revision) {
          report.skipped.push(peer);
        } else if (theirs.hash === mine.hash) {
          report.agreed.push(peer);
        } else {
          this.o.logger.error(
            { peer: peer.toString(16), revision, leaderHash: mine.hash, peerHash: theirs.hash },
            'corruption check: hash mismatch; raising CORRUPT alarm',
          );
          report.corrupt.push(peer);
          await t.raiseCorrupt(peer);
        }
      }
      return report;
    } catch (err) {
      this.o.logger.warn({ err }, 'corruption check failed');
      return report;
    } finally {
      this.running = false;
    }
  }
}
