// The safety monitor flags each property it checks when given a violating observation.
import t from 'tap';
import { RawNode } from '../../raft/rawnode.js';
import { MemoryStorage } from '../../raft/storage.js';
import type { Entry } from '../../raft/types.js';
import { type LogView, SafetyMonitor } from './safety.js';

const entry = (term: number, index: number, data = 'x'): Entry => ({
  term,
  index,
  type: 'normal',
  data: new TextEncoder().encode(data),
});
const view = (terms: number[]): LogView => ({
  lastIndex: terms.length,
  lastTerm: terms[terms.length - 1] ?? 0,
  snapshotIndex: 0,
  termAt: (i) => terms[i - 1] ?? 0,
});

function node(id: number, terms: number[]): RawNode {
  const s = new MemoryStorage();
  s.applySnapshot({
    metadata: {
      index: 1,
      term: 1,
      confState: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
    },
    data: new Uint8Array(0),
  });
  s.append(terms.map((term, i) => entry(term, i + 2)));
  s.setHardState({ term: Math.max(1, ...terms), vote: 0, commit: 1 });
  return new RawNode({ id, storage: s, electionTicks: 10, heartbeatTicks: 1, randomInt: () => 0 });
}

t.test('two leaders in one term violate election safety', async (t) => {
  const m = new SafetyMonitor();
  m.onLeader(1, 1, 3, node(1, [2]));
  t.same(m.violations, []);
  m.onLeader(2, 2, 3, node(2, [2]));
  t.equal(m.violations[0]?.property, 'election-safety');
});

t.test('different entries applied at one index violate state machine safety', async (t) => {
  const m = new SafetyMonitor();
  m.onApply(1, 1, entry(2, 5, 'a'));
  m.onApply(2, 2, entry(2, 5, 'a'));
  t.same(m.violations, []);
  m.onApply(3, 3, entry(2, 5, 'b'));
  t.equal(m.violations[0]?.property, 'state-machine-safety');
});

t.test('a leader lacking an applied entry violates leader completeness', async (t) => {
  const m = new SafetyMonitor();
  m.onApply(1, 1, entry(2, 3));
  m.onLeader(2, 2, 3, node(2, [2, 2]));
  t.same(m.violations, [], 'holds entry 2/3');
  m.onLeader(3, 3, 4, node(3, [3]));
  t.equal(m.violations[0]?.property, 'leader-completeness');
});

t.test('a committed entry that an electable node lacks is flagged (Figure 8)', async (t) => {
  const m = new SafetyMonitor();
  // Entry 2/2 on nodes 1 and 2; node 3 holds 3/2 and could win votes from 2 (last term 2).
  const logs = new Map([
    [1, view([1, 2])],
    [2, view([1, 2])],
    [3, view([1, 3])],
  ]);
  m.checkCommittedSafe(1, 2, 2, [[1, 2, 3], []], logs);
  t.equal(m.violations[0]?.property, 'committed-safety');
  // With the leader's term-4 entry on a majority, node 3 can no longer win: safe.
  const safe = new SafetyMonitor();
  safe.checkCommittedSafe(
    1,
    2,
    2,
    [[1, 2, 3], []],
    new Map([
      [1, view([1, 2, 4])],
      [2, view([1, 2, 4])],
      [3, view([1, 3])],
    ]),
  );
  t.same(safe.violations, []);
});

t.test('logs that agree at an index but differ before it violate log matching', async (t) => {
  const m = new SafetyMonitor();
  m.checkLogMatching(
    1,
    new Map([
      [1, node(1, [1, 2, 3])],
      [2, node(2, [1, 2, 3])],
    ]),
  );
  t.same(m.violations, []);
  m.checkLogMatching(
    2,
    new Map([
      [1, node(1, [1, 2, 3])],
      [2, node(2, [1, 1, 3])],
    ]),
  );
  t.equal(m.violations[0]?.property, 'log-matching');
});
