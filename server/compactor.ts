// Auto-compaction (--auto-compaction-mode/--auto-compaction-retention), run by the leader only.
// periodic: keep `retention` of history — revisions are sampled on a timer and the store is
// compacted to the newest sample older than the retention window. revision: keep the last
// `retention` revisions, checked every `revisionCheckMs`. Compactions go through raft like a
// client's, so every member compacts at the same revision.

import type { Logger } from 'pino';

export type AutoCompaction =
  | { readonly kind: 'off' }
  | { readonly kind: 'periodic'; readonly ms: number }
  | { readonly kind: 'revision'; readonly revisions: number };

/** What the compactor needs of the member. */
export interface CompactionTarget {
  isLeader(): boolean;
  currentRevision(): number;
  compactRevision(): number;
  compact(revision: number): Promise<void>;
}

export interface CompactorOptions {
  readonly mode: AutoCompaction;
  readonly target: CompactionTarget;
  readonly logger: Logger;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
  /** revision mode: how often to check (etcd: 5 minutes). */
  readonly revisionCheckMs?: number;
  /** Bound on the revision samples kept in periodic mode. */
  readonly maxSamples?: number;
}

export const DEFAULT_REVISION_CHECK_MS = 5 * 60 * 1000;
const DEFAULT_MAX_SAMPLES = 64;
/** periodic mode samples this many times per retention window (and at most once a second). */
const SAMPLES_PER_WINDOW = 10;

export class Compactor {
  private readonly o: CompactorOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  /** periodic mode: [time, revision], oldest first. */
  private samples: (readonly [number, number])[] = [];
  private running = false;

  constructor(o: CompactorOptions) {
    this.o = o;
    this.now = o.now ?? (() => performance.now());
  }

  /** How often `runOnce` is called by the timer. */
  get intervalMs(): number {
    const m = this.o.mode;
    if (m.kind === 'periodic') return Math.max(1000, Math.floor(m.ms / SAMPLES_PER_WINDOW));
    if (m.kind === 'revision') return this.o.revisionCheckMs ?? DEFAULT_REVISION_CHECK_MS;
    return 0;
  }

  start(): void {
    if (this.o.mode.kind === 'off' || this.timer !== null) return;
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One step: sample, and compact when due. Returns the revision compacted to, or 0. */
  async runOnce(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const t = this.o.target;
      const m = this.o.mode;
      if (m.kind === 'off') return 0;
      if (!t.isLeader()) {
        // A follower's samples would be stale when it takes over; start afresh then.
        this.samples = [];
        return 0;
      }
      const rev = this.due(m);
      if (rev <= t.compactRevision()) return 0;
      await t.compact(rev);
      this.o.logger.info({ revision: rev, mode: m.kind }, 'auto-compaction done');
      return rev;
    } catch (err) {
      this.o.logger.warn({ err }, 'auto-compaction failed');
      return 0;
    } finally {
      this.running = false;
    }
  }

  private due(m: Exclude<AutoCompaction, { kind: 'off' }>): number {
    const current = this.o.target.currentRevision();
    if (m.kind === 'revision') return current - m.revisions;
    const now = this.now();
    this.samples.push([now, current]);
    const max = this.o.maxSamples ?? DEFAULT_MAX_SAMPLES;
    if (this.samples.length > max) this.samples.splice(0, this.samples.length - max);
    let rev = 0;
    for (const [at, r] of this.samples) if (now - at >= m.ms) rev = r;
    return rev;
  }
}
