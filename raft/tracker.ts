// The leader's membership and progress bookkeeping: which ids vote (in one or two majorities),
// which learn, how far each has replicated, and how an election is going.

import { invariant } from './errors.js';
import { Progress } from './progress.js';
import { jointCommitted, jointVote, type VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

export interface TrackerConfig {
  /** [incoming, outgoing]; outgoing is non-empty only in a joint config. */
  voters: [Set<NodeId>, Set<NodeId>];
  learners: Set<NodeId>;
  /** Voters being demoted: learners once the joint config is left. */
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

export function emptyTrackerConfig(): TrackerConfig {
  return { voters: [new Set(), new Set()], learners: new Set(), learnersNext: new Set(), autoLeave: false };
}

export function cloneTrackerConfig(c: TrackerConfig): TrackerConfig {
  return {
    voters: [new Set(c.voters[0]), new Set(c.voters[1])],
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

const sorted = (s: ReadonlySet<NodeId>): NodeId[] => [...s].sort((a, b) => a - b);

export function confStateOf(c: TrackerConfig): ConfState {
  return {
    voters: sorted(c.voters[0]),
    votersOutgoing: sorted(c.voters[1]),
    learners: sorted(c.learners),
    learnersNext: sorted(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function isJoint(c: TrackerConfig): boolean {
  return c.voters[1].size > 0;
}

export function describeConfig(c: TrackerConfig): string {
  const ids = (s: ReadonlySet<NodeId>) => sorted(s).join(' ');
  let out = `voters=(${ids(c.voters[0])})`;
  if (isJoint(c)) out += `&&(${ids(c.voters[1])})`;
  if (c.learners.size > 0) out += ` learners=(${ids(c.learners)})`;
  if (c.learnersNext.size > 0) out += ` learners_next=(${ids(c.learnersNext)})`;
  if (c.autoLeave) out += ' autoleave';
  return out;
}

export interface InflightLimits {
  readonly maxInflight: number;
  readonly maxInflightBytes: number;
}

export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();
  readonly limits: InflightLimits;

  constructor(limits: InflightLimits) {
    this.limits = limits;
  }

  newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(next, isLearner, this.limits.maxInflight, this.limits.maxInflightBytes);
  }

  confState(): ConfState {
    return confStateOf(this.config);
  }

  isVoter(id: NodeId): boolean {
    return this.config.voters[0].has(id) || this.config.voters[1].has(id);
  }

  isSingleton(): boolean {
    return this.config.voters[0].size === 1 && this.config.voters[1].size === 0;
  }

  voterIds(): NodeId[] {
    return sorted(new Set([...this.config.voters[0], ...this.config.voters[1]]));
  }

  learnerIds(): NodeId[] {
    return sorted(new Set([...this.config.learners, ...this.config.learnersNext]));
  }

  /** Every tracked id in ascending order (deterministic iteration for message order). */
  ids(): NodeId[] {
    return [...this.progress.keys()].sort((a, b) => a - b);
  }

  committed(): number {
    return jointCommitted(this.config.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  /** Whether the voters heard from recently form a quorum (CheckQuorum). */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) {
      if (!pr.isLearner) active.set(id, pr.recentActive);
    }
    return jointVote(this.config.voters, active) === 'won';
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: jointVote(this.config.voters, this.votes) };
  }

  checkInvariants(): void {
    const c = this.config;
    for (const id of [...c.voters[0], ...c.voters[1], ...c.learners, ...c.learnersNext]) {
      invariant(this.progress.has(id), `no progress for ${id}`);
    }
    for (const id of c.learnersNext) {
      invariant(c.voters[1].has(id), `learner_next ${id} not an outgoing voter`);
      invariant(!this.progress.get(id)!.isLearner, `learner_next ${id} marked learner`);
    }
    for (const id of c.learners) {
      invariant(!c.voters[0].has(id) && !c.voters[1].has(id), `learner ${id} is also a voter`);
      invariant(this.progress.get(id)!.isLearner, `learner ${id} not marked learner`);
    }
    if (!isJoint(c)) {
      invariant(
        c.learnersNext.size === 0 && !c.autoLeave,
        'non-joint config with learners_next or autoleave',
      );
    }
  }
}
