// Proves majority/joint commit and vote results equal brute-force counting, and the tracker's quorum questions.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { jointCommitted, jointVote, majorityCommitted, majorityVote, type VoteResult } from './quorum.js';
import { ProgressTracker } from './tracker.js';
import type { NodeId } from './types.js';

const FILE = 'raft/quorum.test.ts';
const checkProperty = propertyChecker(FILE);
const MAX = Number.MAX_SAFE_INTEGER;

const set = (...ids: NodeId[]): ReadonlySet<NodeId> => new Set(ids);
const matches =
  (m: Record<number, number>) =>
  (id: NodeId): number =>
    m[id] ?? 0;

t.test('majorityCommitted picks the highest index held by a majority', async (t) => {
  t.equal(majorityCommitted(set(), matches({})), MAX, 'an empty config agrees to everything');
  t.equal(majorityCommitted(set(1), matches({ 1: 7 })), 7);
  t.equal(majorityCommitted(set(1, 2), matches({ 1: 7, 2: 5 })), 5, 'two voters need both');
  t.equal(majorityCommitted(set(1, 2, 3), matches({ 1: 7, 2: 5, 3: 1 })), 5);
  t.equal(majorityCommitted(set(1, 2, 3), matches({ 1: 7 })), 0, 'unknown voters count as 0');
  t.equal(
    majorityCommitted(set(1, 2, 3, 4), matches({ 1: 9, 2: 8, 3: 2, 4: 1 })),
    2,
    'four voters need three',
  );
  t.equal(majorityCommitted(set(1, 2, 3, 4, 5), matches({ 1: 9, 2: 8, 3: 7, 4: 1, 5: 1 })), 7);
});

t.test('majorityVote: won with a majority of yes, lost when it can no longer be reached', async (t) => {
  const votes = (v: Record<number, boolean>) => new Map(Object.entries(v).map(([k, b]) => [Number(k), b]));
  t.equal(majorityVote(set(), votes({})), 'won');
  t.equal(majorityVote(set(1, 2, 3), votes({})), 'pending');
  t.equal(majorityVote(set(1, 2, 3), votes({ 1: true })), 'pending');
  t.equal(majorityVote(set(1, 2, 3), votes({ 1: true, 2: true })), 'won');
  t.equal(majorityVote(set(1, 2, 3), votes({ 1: true, 2: false })), 'pending');
  t.equal(majorityVote(set(1, 2, 3), votes({ 2: false, 3: false })), 'lost');
  t.equal(majorityVote(set(1, 2, 3, 4), votes({ 1: true, 2: true })), 'pending', 'four voters need three');
  t.equal(majorityVote(set(1, 2, 3, 4), votes({ 1: true, 2: false, 3: false })), 'lost');
  t.equal(
    majorityVote(set(1, 2), votes({ 1: true, 9: true })),
    'pending',
    'votes of non-voters do not count',
  );
});

t.test('jointCommitted is the lower of the two halves; an empty outgoing half is neutral', async (t) => {
  const m = matches({ 1: 10, 2: 9, 3: 8, 4: 2, 5: 1 });
  t.equal(jointCommitted([set(1, 2, 3), set()], m), 9);
  t.equal(jointCommitted([set(3, 4, 5), set(1, 2, 3)], m), 2);
  t.equal(jointCommitted([set(1, 2, 3), set(3, 4, 5)], m), 2);
});

t.test('jointVote needs both halves; a loss in either half loses', async (t) => {
  const votes = (v: Record<number, boolean>) => new Map(Object.entries(v).map(([k, b]) => [Number(k), b]));
  const cfg = [set(1, 2, 3), set(3, 4, 5)] as const;
  t.equal(jointVote(cfg, votes({ 1: true, 2: true })), 'pending', 'incoming won, outgoing pending');
  t.equal(jointVote(cfg, votes({ 1: true, 2: true, 3: true })), 'pending');
  t.equal(jointVote(cfg, votes({ 1: true, 2: true, 3: true, 4: true })), 'won');
  t.equal(jointVote(cfg, votes({ 1: true, 2: true, 4: false, 5: false })), 'lost');
  t.equal(jointVote([set(1, 2, 3), set()], votes({ 1: true, 2: true })), 'won');
});

// ---- properties against brute force ----

const configArb = fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { maxLength: 7 });
const matchArb = fc.dictionary(fc.integer({ min: 1, max: 9 }).map(String), fc.nat(20));

/** The largest i such that more than half of the voters have match >= i (brute force over all i). */
function bruteCommitted(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return MAX;
  let best = 0;
  for (let i = 0; i <= 20; i++) {
    const have = voters.filter((id) => matchOf(id) >= i).length;
    if (have * 2 > voters.length) best = i;
  }
  return best;
}

/** Won if some yes-majority exists; lost if even all missing voting yes could not make one. */
function bruteVote(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  const yes = voters.filter((id) => votes.get(id) === true).length;
  const maybe = voters.filter((id) => votes.get(id) !== false).length;
  if (yes * 2 > voters.length) return 'won';
  if (maybe * 2 > voters.length) return 'pending';
  return 'lost';
}

t.test('property: majorityCommitted equals the brute-force median rule', async (t) => {
  checkProperty(
    t,
    fc.property(configArb, matchArb, (voters, m) => {
      const matchOf = (id: NodeId) => m[String(id)] ?? 0;
      return majorityCommitted(new Set(voters), matchOf) === bruteCommitted(voters, matchOf);
    }),
    2000,
  );
});

t.test('property: jointCommitted equals min of the brute-force halves', async (t) => {
  checkProperty(
    t,
    fc.property(configArb, configArb, matchArb, (a, b, m) => {
      const matchOf = (id: NodeId) => m[String(id)] ?? 0;
      const want = Math.min(bruteCommitted(a, matchOf), bruteCommitted(b, matchOf));
      return jointCommitted([new Set(a), new Set(b)], matchOf) === want;
    }),
    2000,
  );
});

const votesArb = fc
  .dictionary(fc.integer({ min: 1, max: 9 }).map(String), fc.boolean())
  .map((d) => new Map(Object.entries(d).map(([k, v]) => [Number(k), v])));

t.test('property: majorityVote and jointVote equal brute-force counting', async (t) => {
  checkProperty(
    t,
    fc.property(configArb, configArb, votesArb, (a, b, votes) => {
      if (majorityVote(new Set(a), votes) !== bruteVote(a, votes)) return false;
      const ra = bruteVote(a, votes);
      const rb = bruteVote(b, votes);
      const want: VoteResult =
        ra === 'won' && rb === 'won' ? 'won' : ra === 'lost' || rb === 'lost' ? 'lost' : 'pending';
      return jointVote([new Set(a), new Set(b)], votes) === want;
    }),
    2000,
  );
});

// ---- the tracker's quorum questions ----

function tracker(voters: NodeId[], outgoing: NodeId[] = [], learners: NodeId[] = []): ProgressTracker {
  const trk = new ProgressTracker({ maxInflight: 4, maxInflightBytes: 0 });
  trk.config.voters = [new Set(voters), new Set(outgoing)];
  trk.config.learners = new Set(learners);
  for (const id of new Set([...voters, ...outgoing])) trk.progress.set(id, trk.newProgress(1, false));
  for (const id of learners) trk.progress.set(id, trk.newProgress(1, true));
  trk.checkInvariants();
  return trk;
}

t.test('tracker.committed ignores learners and uses both halves of a joint config', async (t) => {
  const trk = tracker([1, 2, 3], [], [4]);
  trk.progress.get(1)!.match = 5;
  trk.progress.get(4)!.match = 5;
  t.equal(trk.committed(), 0, 'a learner does not make a quorum');
  trk.progress.get(2)!.match = 3;
  t.equal(trk.committed(), 3);

  const joint = tracker([1, 2, 3], [1, 4, 5]);
  for (const [id, m] of [
    [1, 9],
    [2, 9],
    [3, 9],
    [4, 1],
    [5, 0],
  ] as const)
    joint.progress.get(id)!.match = m;
  t.equal(joint.committed(), 1, 'the outgoing half holds the commit back');
});

t.test('tracker.quorumActive counts recently active voters, never learners', async (t) => {
  const trk = tracker([1, 2, 3], [], [4, 5]);
  trk.progress.get(1)!.recentActive = true;
  trk.progress.get(4)!.recentActive = true;
  trk.progress.get(5)!.recentActive = true;
  t.notOk(trk.quorumActive(), 'one voter and two learners');
  trk.progress.get(3)!.recentActive = true;
  t.ok(trk.quorumActive());
});

t.test('tracker.tallyVotes counts voter answers once and reports the result', async (t) => {
  const trk = tracker([1, 2, 3, 4, 5], [], [6]);
  trk.recordVote(1, true);
  trk.recordVote(2, false);
  trk.recordVote(2, true);
  trk.recordVote(6, true);
  t.same(
    trk.tallyVotes(),
    { granted: 1, rejected: 1, result: 'pending' },
    'the first answer counts, learners do not',
  );
  trk.recordVote(3, false);
  trk.recordVote(4, false);
  t.same(trk.tallyVotes(), { granted: 1, rejected: 3, result: 'lost' });
  trk.resetVotes();
  t.same(trk.tallyVotes(), { granted: 0, rejected: 0, result: 'pending' });
});
