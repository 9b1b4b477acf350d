// Raft's safety properties, checked as the simulation runs: Election Safety (one leader per
// term), State Machine Safety (one entry per applied index across all members), Leader
// Completeness (a new leader holds every entry already applied anywhere) and Log Matching.

import type { RawNode } from '../../raft/rawnode.js';
import type { Entry, NodeId } from '../../raft/types.js';

/** What the election restriction sees of a member's log (live: in memory; crashed: on disk). */
export interface LogView {
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly snapshotIndex: number;
  termAt(index: number): number;
}

export interface Violation {
  readonly property: string;
  readonly atMs: number;
  readonly detail: string;
}

interface AppliedEntry {
  readonly term: number;
  readonly fingerprint: string;
  readonly node: NodeId;
}

function fingerprint(e: Entry): string {
  let h = 0x811c9dc5;
  for (const b of e.data) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `${e.type}:${e.data.length}:${h.toString(16)}`;
}

export class SafetyMonitor {
  readonly violations: Violation[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly applied = new Map<number, AppliedEntry>();
  /** Digest of the first apply result seen per log index: every member must produce the same. */
  private readonly results = new Map<number, { digest: string; node: NodeId }>();
  leadersElected = 0;
  maxAppliedIndex = 0;

  private violate(property: string, atMs: number, detail: string): void {
    // One report per property keeps output readable; the first occurrence is the interesting one.
    if (this.violations.some((v) => v.property === property)) return;
    this.violations.push({ property, atMs, detail });
  }

  /** A node reports that it became leader of `term`; `log` is its raft node at that moment. */
  onLeader(atMs: number, node: NodeId, term: number, raw: RawNode): void {
    this.leadersElected++;
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== node) {
      this.violate('election-safety', atMs, `term ${term} has two leaders: ${other} and ${node}`);
    }
    this.leaderOfTerm.set(term, node);
    const log = raw.raft.log;
    const first = log.firstIndex();
    const last = log.lastIndex();
    for (const [index, e] of this.applied) {
      if (index < first) continue;
      if (index > last) {
        this.violate(
          'leader-completeness',
          atMs,
          `leader ${node} of term ${term} lacks applied entry ${index} (its last index is ${last})`,
        );
        return;
      }
      const t = log.zeroTermOnError(index);
      if (t !== e.term) {
        this.violate(
          'leader-completeness',
          atMs,
          `leader ${node} of term ${term} has term ${t} at ${index}, but entry of term ${e.term} was applied by ${e.node}`,
        );
        return;
      }
    }
  }

  onApply(atMs: number, node: NodeId, e: Entry): void {
    const fp = fingerprint(e);
    const seen = this.applied.get(e.index);
    if (seen === undefined) {
      this.applied.set(e.index, { term: e.term, fingerprint: fp, node });
      if (e.index > this.maxAppliedIndex) this.maxAppliedIndex = e.index;
      return;
    }
    if (seen.term !== e.term || seen.fingerprint !== fp) {
      this.violate(
        'state-machine-safety',
        atMs,
        `index ${e.index}: node ${seen.node} applied term ${seen.term}, node ${node} applied term ${e.term}`,
      );
    }
  }

  /**
   * Committed entries are safe: no voter whose log lacks a committed entry can win an election,
   * judged by the election restriction alone (votes go to logs at least as up-to-date). This is
   * the inductive core of Leader Completeness, so a premature commit (Figure 8) is caught the
   * moment it happens, before any leader overwrites the entry.
   */
  checkCommittedSafe(
    atMs: number,
    index: number,
    term: number,
    voterSets: readonly (readonly NodeId[])[],
    logs: ReadonlyMap<NodeId, LogView>,
  ): void {
    const holds = (l: LogView): boolean =>
      l.snapshotIndex >= index || (l.lastIndex >= index && l.termAt(index) === term);
    const upToDate = (x: LogView, y: LogView): boolean =>
      x.lastTerm > y.lastTerm || (x.lastTerm === y.lastTerm && x.lastIndex >= y.lastIndex);
    const sets = voterSets.filter((v) => v.length > 0);
    for (const [x, xl] of logs) {
      if (holds(xl) || !sets.some((v) => v.includes(x))) continue;
      const electable = sets.every((v) => {
        let votes = 0;
        for (const y of v) {
          const yl = logs.get(y);
          if (y === x || yl === undefined || upToDate(xl, yl)) votes++;
        }
        return votes > v.length / 2;
      });
      if (electable) {
        this.violate(
          'committed-safety',
          atMs,
          `entry ${term}/${index} is committed but node ${x} (last ${xl.lastTerm}/${xl.lastIndex}) lacks it and could still win an election`,
        );
        return;
      }
    }
  }

  /** State machine agreement: applying the same entry gives the same result on every member. */
  onResult(atMs: number, node: NodeId, index: number, digest: string): void {
    const seen = this.results.get(index);
    if (seen === undefined) {
      this.results.set(index, { digest, node });
      return;
    }
    if (seen.digest !== digest) {
      this.violate(
        'state-divergence',
        atMs,
        `index ${index}: node ${seen.node} got ${seen.digest.slice(0, 200)}, node ${node} got ${digest.slice(0, 200)}`,
      );
    }
  }

  /** Log Matching: where two logs hold an entry of the same index and term, they agree before it. */
  checkLogMatching(atMs: number, nodes: ReadonlyMap<NodeId, RawNode>): void {
    const ids = [...nodes.keys()].sort((a, b) => a - b);
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = nodes.get(ids[i]!)!.raft.log;
        const b = nodes.get(ids[j]!)!.raft.log;
        const lo = Math.max(a.firstIndex(), b.firstIndex());
        const hi = Math.min(a.lastIndex(), b.lastIndex());
        let matchAt = -1;
        for (let k = hi; k >= lo; k--) {
          if (a.zeroTermOnError(k) === b.zeroTermOnError(k)) {
            matchAt = k;
            break;
          }
        }
        for (let k = lo; k < matchAt; k++) {
          if (a.zeroTermOnError(k) !== b.zeroTermOnError(k)) {
            this.violate(
              'log-matching',
              atMs,
              `nodes ${ids[i]} and ${ids[j]} agree at ${matchAt} but differ at ${k}`,
            );
            return;
          }
        }
      }
    }
  }

  /** Applied entries must stay recoverable: at the end, every live node agrees on what it applied. */
  appliedCount(): number {
    return this.applied.size;
  }
}
