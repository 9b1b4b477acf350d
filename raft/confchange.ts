// Membership changes on the tracker: simple (one voter added or removed at a time) and joint
// consensus (enter C_old,new, later leave to C_new). Each operation builds a new config and
// progress map and validates it before anything is replaced.

import { RaftError } from './errors.js';
import type { Progress } from './progress.js';
import { cloneTrackerConfig, isJoint, type ProgressTracker, type TrackerConfig } from './tracker.js';
import type { ConfChange, ConfChangeSingle, ConfState, NodeId } from './types.js';

export interface ChangeResult {
  readonly config: TrackerConfig;
  readonly progress: Map<NodeId, Progress>;
}

class Changer {
  readonly config: TrackerConfig;
  readonly progress: Map<NodeId, Progress>;
  private readonly tracker: ProgressTracker;
  private readonly lastIndex: number;

  constructor(tracker: ProgressTracker, lastIndex: number) {
    this.tracker = tracker;
    this.lastIndex = lastIndex;
    this.config = cloneTrackerConfig(tracker.config);
    // Progress objects that change flags are copied so a failed change leaves the tracker intact.
    this.progress = new Map(tracker.progress);
  }

  private copy(id: NodeId): Progress {
    const pr = this.progress.get(id)!;
    const c = Object.assign(Object.create(Object.getPrototypeOf(pr)), pr) as Progress;
    this.progress.set(id, c);
    return c;
  }

  private init(id: NodeId, isLearner: boolean): void {
    const pr = this.tracker.newProgress(this.lastIndex + 1, isLearner);
    // A new member counts as active so CheckQuorum does not depose the leader right away.
    pr.recentActive = true;
    this.progress.set(id, pr);
  }

  apply(ccs: readonly ConfChangeSingle[]): void {
    for (const cc of ccs) {
      if (cc.nodeId <= 0 || !Number.isInteger(cc.nodeId))
        throw new RaftError('CONF_CHANGE_INVALID', `bad node id ${cc.nodeId}`);
      switch (cc.type) {
        case 'addNode':
          this.makeVoter(cc.nodeId);
          break;
        case 'addLearner':
          this.makeLearner(cc.nodeId);
          break;
        case 'removeNode':
          this.remove(cc.nodeId);
          break;
      }
    }
    if (this.config.voters[0].size === 0) throw new RaftError('CONF_CHANGE_INVALID', 'removed all voters');
  }

  private makeVoter(id: NodeId): void {
    if (!this.progress.has(id)) {
      this.init(id, false);
    } else {
      this.copy(id).isLearner = false;
    }
    this.config.learners.delete(id);
    this.config.learnersNext.delete(id);
    this.config.voters[0].add(id);
  }

  private makeLearner(id: NodeId): void {
    if (!this.progress.has(id)) {
      this.init(id, true);
      this.config.learners.add(id);
      return;
    }
    if (this.progress.get(id)!.isLearner) return;
    this.config.voters[0].delete(id);
    this.config.learners.delete(id);
    this.config.learnersNext.delete(id);
    if (this.config.voters[1].has(id)) {
      // Still votes in the outgoing config: becomes a learner when the joint config is left.
      this.config.learnersNext.add(id);
    } else {
      this.copy(id).isLearner = true;
      this.config.learners.add(id);
    }
  }

  private remove(id: NodeId): void {
    if (!this.progress.has(id)) return;
    this.config.voters[0].delete(id);
    this.config.learners.delete(id);
    this.config.learnersNext.delete(id);
    if (!this.config.voters[1].has(id)) this.progress.delete(id);
  }

  result(): ChangeResult {
    return { config: this.config, progress: this.progress };
  }
}

function symmetricDifference(a: ReadonlySet<NodeId>, b: ReadonlySet<NodeId>): number {
  let n = 0;
  for (const id of a) if (!b.has(id)) n++;
  for (const id of b) if (!a.has(id)) n++;
  return n;
}

export function enterJoint(
  tracker: ProgressTracker,
  lastIndex: number,
  autoLeave: boolean,
  ccs: readonly ConfChangeSingle[],
): ChangeResult {
  if (isJoint(tracker.config)) throw new RaftError('CONF_CHANGE_INVALID', 'config is already joint');
  if (tracker.config.voters[0].size === 0)
    throw new RaftError('CONF_CHANGE_INVALID', 'cannot make a joint config from zero voters');
  const c = new Changer(tracker, lastIndex);
  for (const id of c.config.voters[0]) c.config.voters[1].add(id);
  c.apply(ccs);
  c.config.autoLeave = autoLeave;
  return c.result();
}

export function leaveJoint(tracker: ProgressTracker, lastIndex: number): ChangeResult {
  if (!isJoint(tracker.config)) throw new RaftError('CONF_CHANGE_INVALID', 'cannot leave a non-joint config');
  const c = new Changer(tracker, lastIndex);
  const cfg = c.config;
  for (const id of cfg.learnersNext) {
    cfg.learners.add(id);
    const pr = c.progress.get(id)!;
    const copy = Object.assign(Object.create(Object.getPrototypeOf(pr)), pr) as Progress;
    copy.isLearner = true;
    c.progress.set(id, copy);
  }
  cfg.learnersNext.clear();
  for (const id of cfg.voters[1]) {
    if (!cfg.voters[0].has(id) && !cfg.learners.has(id)) c.progress.delete(id);
  }
  cfg.voters[1].clear();
  cfg.autoLeave = false;
  return c.result();
}

export function simpleChange(
  tracker: ProgressTracker,
  lastIndex: number,
  ccs: readonly ConfChangeSingle[],
): ChangeResult {
  if (isJoint(tracker.config))
    throw new RaftError('CONF_CHANGE_INVALID', 'cannot apply a simple change in a joint config');
  const c = new Changer(tracker, lastIndex);
  c.apply(ccs);
  if (symmetricDifference(tracker.config.voters[0], c.config.voters[0]) > 1) {
    throw new RaftError('CONF_CHANGE_INVALID', 'more than one voter changed without joint consensus');
  }
  return c.result();
}

/** Whether a ConfChange leaves a joint config (it has no changes). */
export function leavesJoint(cc: ConfChange): boolean {
  return cc.changes.length === 0;
}

/** Whether the ConfChange must go through a joint config, and if so whether it auto-leaves. */
export function entersJoint(cc: ConfChange): { joint: boolean; autoLeave: boolean } {
  if (cc.transition === 'auto' && cc.changes.length <= 1) return { joint: false, autoLeave: false };
  return { joint: true, autoLeave: cc.transition !== 'jointExplicit' };
}

/** Applies any ConfChange to the tracker's config (without mutating it). */
export function changeConfig(tracker: ProgressTracker, lastIndex: number, cc: ConfChange): ChangeResult {
  if (leavesJoint(cc)) return leaveJoint(tracker, lastIndex);
  const { joint, autoLeave } = entersJoint(cc);
  return joint
    ? enterJoint(tracker, lastIndex, autoLeave, cc.changes)
    : simpleChange(tracker, lastIndex, cc.changes);
}

/** Builds the tracker's config and progress from a persisted ConfState. */
export function restoreConfig(tracker: ProgressTracker, lastIndex: number, cs: ConfState): ChangeResult {
  const config: TrackerConfig = {
    voters: [new Set(cs.voters), new Set(cs.votersOutgoing)],
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
  const progress = new Map<NodeId, Progress>();
  for (const id of [...cs.voters, ...cs.votersOutgoing, ...cs.learnersNext]) {
    if (!progress.has(id)) progress.set(id, tracker.newProgress(lastIndex + 1, false));
  }
  for (const id of cs.learners) progress.set(id, tracker.newProgress(lastIndex + 1, true));
  return { config, progress };
}
