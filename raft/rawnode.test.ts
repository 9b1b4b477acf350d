// Proves RawNode's Ready/advance contract, fsync needs, restart from storage, config checks and coded errors.

import t from 'tap';
import { encodeConfChange } from './confchange-codec.js';
import { RaftError } from './errors.js';
import type { RaftConfig } from './raft.js';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import { type Entry, type HardState, type Message, message, type Ready } from './types.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const DROPPED = { name: 'RaftError', code: 'PROPOSAL_DROPPED' };

function bootstrap(voters: number[]): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({
    metadata: {
      index: 1,
      term: 1,
      confState: { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
    },
    data: new Uint8Array(),
  });
  return s;
}

function newNode(storage: MemoryStorage, extra: Partial<RaftConfig> = {}): RawNode {
  return new RawNode({
    id: 1,
    storage,
    electionTicks: 10,
    heartbeatTicks: 1,
    randomInt: () => 0,
    ...extra,
  });
}

/** Persists a Ready into storage the way an application must, then advances. */
function persistAndAdvance(node: RawNode, storage: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== null) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState !== null) storage.setHardState(rd.hardState);
  node.advance(rd);
}

/** Entries as "term/index:data" strings. */
const show = (es: readonly Entry[]): string[] => es.map((e) => `${e.term}/${e.index}:${dec.decode(e.data)}`);

/** A single-voter node that has won its election and processed that Ready. */
function soloLeader(extra: Partial<RaftConfig> = {}): { node: RawNode; storage: MemoryStorage } {
  const storage = bootstrap([1]);
  const node = newNode(storage, extra);
  node.campaign();
  persistAndAdvance(node, storage, node.ready());
  return { node, storage };
}

t.test('config: ids, tick counts and lease reads are validated', async (t) => {
  const s = bootstrap([1]);
  t.throws(() => newNode(s, { id: 0 }), {
    name: 'RangeError',
    message: 'raft: id must be a positive integer',
  });
  t.throws(() => newNode(s, { id: 1.5 }), RangeError);
  t.throws(() => newNode(s, { heartbeatTicks: 0 }), { message: 'raft: heartbeatTicks must be > 0' });
  t.throws(() => newNode(s, { electionTicks: 1 }), {
    message: 'raft: electionTicks must be > heartbeatTicks',
  });
  t.throws(() => newNode(s, { readOnlyOption: 'leaseBased' }), {
    message: 'raft: leaseBased reads need checkQuorum',
  });
  t.doesNotThrow(() => newNode(s, { readOnlyOption: 'leaseBased', checkQuorum: true }));
});

t.test('a fresh node has no Ready; a single voter wins at once and commits its empty entry', async (t) => {
  const storage = bootstrap([1]);
  const node = newNode(storage);
  t.notOk(node.hasReady());
  node.campaign();
  t.ok(node.hasReady());
  const rd = node.ready();
  t.same(rd.softState, { lead: 1, role: 'leader' });
  t.same(rd.hardState, { term: 1, vote: 1, commit: 2 });
  t.same(show(rd.entries), ['1/2:']);
  t.same(show(rd.committedEntries), ['1/2:'], 'a single voter commits what it persists in this Ready');
  t.same(rd.messages, []);
  t.same(rd.readStates, []);
  t.equal(rd.snapshot, null);
  t.ok(rd.mustSync);
  persistAndAdvance(node, storage, rd);
  t.notOk(node.hasReady());
  t.equal(node.status().applied, 2);
  t.same(node.raft.log.unstableEntries(), [], 'advance marked the entries stable');
});

t.test('propose: the entry is persisted and, on a single voter, committed in the same Ready', async (t) => {
  const { node, storage } = soloLeader();
  node.propose(enc.encode('a'));
  const rd = node.ready();
  t.equal(rd.softState, null, 'soft state unchanged');
  t.same(rd.hardState, { term: 1, vote: 1, commit: 3 });
  t.same(show(rd.entries), ['1/3:a']);
  t.same(show(rd.committedEntries), ['1/3:a']);
  t.ok(rd.mustSync);
  persistAndAdvance(node, storage, rd);
  t.equal(storage.lastIndex(), 3);
  t.notOk(node.hasReady());
});

t.test('ready() hands out messages and state changes once, even before advance()', async (t) => {
  const storage = bootstrap([1, 2, 3]);
  const node = newNode(storage);
  node.campaign();
  const first = node.ready();
  t.same(
    first.messages.map((m) => [m.type, m.to, m.term]),
    [
      ['vote', 2, 1],
      ['vote', 3, 1],
    ],
  );
  t.same(first.hardState, { term: 1, vote: 1, commit: 1 });
  t.same(first.softState, { lead: 0, role: 'candidate' });
  t.notOk(node.hasReady(), 'nothing new');
  const second = node.ready();
  t.same(second.messages, []);
  t.equal(second.hardState, null);
  t.equal(second.softState, null);
  persistAndAdvance(node, storage, first);
  t.same(storage.initialState().hardState, { term: 1, vote: 1, commit: 1 });
});

t.test('mustSync is false when only the commit index moved', async (t) => {
  const storage = bootstrap([1, 2]);
  const node = new RawNode({ id: 2, storage, electionTicks: 10, heartbeatTicks: 1, randomInt: () => 0 });
  const entry: Entry = { term: 1, index: 2, type: 'normal', data: enc.encode('x') };
  node.step(
    message({ type: 'app', from: 1, to: 2, term: 1, logTerm: 1, index: 1, entries: [entry], commit: 1 }),
  );
  const rd1 = node.ready();
  t.same(rd1.hardState, { term: 1, vote: 0, commit: 1 });
  t.same(show(rd1.entries), ['1/2:x']);
  t.ok(rd1.mustSync, 'new entries and a new term');
  t.same(
    rd1.messages.map((m) => [m.type, m.to, m.index, m.reject]),
    [['appResp', 1, 2, false]],
  );
  persistAndAdvance(node, storage, rd1);
  node.step(message({ type: 'heartbeat', from: 1, to: 2, term: 1, commit: 2 }));
  const rd2 = node.ready();
  t.same(rd2.hardState, { term: 1, vote: 0, commit: 2 });
  t.same(rd2.entries, []);
  t.same(show(rd2.committedEntries), ['1/2:x']);
  t.notOk(rd2.mustSync, 'a commit index can be written lazily');
  persistAndAdvance(node, storage, rd2);
  t.equal(node.status().applied, 2);
});

t.test('maxCommittedSizePerReadyBytes spreads committed entries over several Readies', async (t) => {
  const { node, storage } = soloLeader({ maxCommittedSizePerReadyBytes: 150 });
  for (const c of ['a', 'b', 'c']) node.propose(enc.encode(c.repeat(76))); // 100 bytes each
  const batches: number[][] = [];
  while (node.hasReady()) {
    const rd = node.ready();
    batches.push(rd.committedEntries.map((e) => e.index));
    persistAndAdvance(node, storage, rd);
  }
  t.same(batches, [[3], [4], [5]]);
  t.equal(node.status().applied, 5);
});

t.test('step() refuses local message types with STEP_LOCAL_MSG', async (t) => {
  const node = newNode(bootstrap([1, 2, 3]));
  for (const type of ['hup', 'beat', 'unreachable', 'snapStatus', 'checkQuorum'] as const) {
    t.throws(
      () => node.step(message({ type, from: 2, to: 1 })),
      { name: 'RaftError', code: 'STEP_LOCAL_MSG' },
      type,
    );
  }
  t.equal(node.raft.state, 'follower', 'nothing happened');
});

t.test('step() refuses a response from an unknown peer with STEP_PEER_NOT_FOUND', async (t) => {
  const node = newNode(bootstrap([1, 2, 3]));
  t.throws(() => node.step(message({ type: 'appResp', from: 9, to: 1, term: 1 })), {
    name: 'RaftError',
    code: 'STEP_PEER_NOT_FOUND',
  });
  t.doesNotThrow(
    () => node.step(message({ type: 'heartbeatResp', from: 2, to: 1, term: 0 })),
    'a known peer is fine',
  );
});

t.test(
  'propose: PROPOSAL_DROPPED without a leader, with forwarding disabled, or over the uncommitted bound',
  async (t) => {
    const follower = newNode(bootstrap([1, 2, 3]));
    t.throws(() => follower.propose(enc.encode('x')), DROPPED);
    const err = (() => {
      try {
        follower.propose(enc.encode('x'));
      } catch (e) {
        return e;
      }
      return null;
    })();
    t.ok(err instanceof RaftError);
    t.equal((err as RaftError).message, 'raft proposal dropped: no leader');

    const noFwd = new RawNode({
      id: 2,
      storage: bootstrap([1, 2, 3]),
      electionTicks: 10,
      heartbeatTicks: 1,
      randomInt: () => 0,
      disableProposalForwarding: true,
    });
    noFwd.step(message({ type: 'heartbeat', from: 1, to: 2, term: 1 }));
    t.equal(noFwd.raft.lead, 1);
    t.throws(() => noFwd.propose(enc.encode('x')), DROPPED);

    const { node, storage } = soloLeader({ maxUncommittedEntriesBytes: 10 });
    node.propose(enc.encode('12345678'));
    t.throws(() => node.propose(enc.encode('12345678')), DROPPED, '16 uncommitted bytes > 10');
    persistAndAdvance(node, storage, node.ready());
    t.doesNotThrow(() => node.propose(enc.encode('12345678')), 'applying the first freed its bytes');
  },
);

t.test('a follower forwards proposals to its leader', async (t) => {
  const node = new RawNode({
    id: 2,
    storage: bootstrap([1, 2, 3]),
    electionTicks: 10,
    heartbeatTicks: 1,
    randomInt: () => 0,
  });
  node.step(message({ type: 'heartbeat', from: 1, to: 2, term: 1 }));
  node.ready();
  node.propose(enc.encode('fwd'));
  const msgs: Message[] = [...node.ready().messages];
  t.same(
    msgs.map((m) => [m.type, m.from, m.to, m.term, show(m.entries)]),
    [['prop', 2, 1, 0, ['0/0:fwd']]],
  );
});

t.test(
  'restart: hard state and log come back from storage; applied entries are not handed out again',
  async (t) => {
    const make = () => {
      const s = bootstrap([1, 2, 3]);
      s.append(
        [2, 3, 4].map((index) => ({
          term: 2,
          index,
          type: 'normal' as const,
          data: enc.encode(`e${index}`),
        })),
      );
      const hs: HardState = { term: 3, vote: 2, commit: 3 };
      s.setHardState(hs);
      return s;
    };
    const fromScratch = newNode(make());
    t.same(fromScratch.status().hardState, { term: 3, vote: 2, commit: 3 });
    t.equal(fromScratch.status().lastIndex, 4);
    t.same(show(fromScratch.ready().committedEntries), ['2/2:e2', '2/3:e3']);
    const resumed = newNode(make(), { applied: 2 });
    t.equal(resumed.status().applied, 2);
    const rd = resumed.ready();
    t.same(show(rd.committedEntries), ['2/3:e3']);
    t.equal(rd.hardState, null, 'the restored hard state is not reported again');
    t.throws(
      () => newNode(make(), { applied: 4 }),
      { name: 'RaftError', code: 'INVARIANT' },
      'applied beyond commit',
    );
  },
);

t.test('restart: a hard state commit beyond the log is refused with INVARIANT', async (t) => {
  const s = bootstrap([1]);
  s.setHardState({ term: 1, vote: 1, commit: 5 });
  t.throws(() => newNode(s), { name: 'RaftError', code: 'INVARIANT' });
});

t.test('readIndex on a single voter yields a ReadState in the next Ready', async (t) => {
  const { node } = soloLeader();
  node.readIndex(enc.encode('ctx'));
  const rd = node.ready();
  t.same(
    rd.readStates.map((rs) => [rs.index, dec.decode(rs.requestCtx)]),
    [[2, 'ctx']],
  );
  t.same(node.ready().readStates, [], 'read states are handed out once');
});

t.test('a snapshot from the leader comes out in a Ready; advance makes it the applied index', async (t) => {
  const storage = bootstrap([1, 2, 3]);
  const node = new RawNode({ id: 2, storage, electionTicks: 10, heartbeatTicks: 1, randomInt: () => 0 });
  const snapshot = {
    metadata: {
      index: 20,
      term: 3,
      confState: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
    },
    data: enc.encode('state'),
  };
  node.step(message({ type: 'snap', from: 1, to: 2, term: 3, snapshot }));
  const rd = node.ready();
  t.equal(rd.snapshot, snapshot);
  t.same(rd.hardState, { term: 3, vote: 0, commit: 20 });
  t.same(rd.committedEntries, []);
  t.same(
    rd.messages.map((m) => [m.type, m.to, m.index]),
    [['appResp', 1, 20]],
  );
  persistAndAdvance(node, storage, rd);
  t.equal(node.status().applied, 20);
  t.equal(storage.firstIndex(), 21);
  t.notOk(node.hasReady());
});

t.test('status reports identity, state, config and (on a leader) progress', async (t) => {
  const follower = newNode(bootstrap([1, 2, 3]));
  const fs = follower.status();
  t.equal(fs.id, 1);
  t.same(fs.softState, { lead: 0, role: 'follower' });
  t.equal(fs.config, 'voters=(1 2 3)');
  t.equal(fs.progress.size, 0, 'followers track no progress');
  const { node } = soloLeader();
  t.same([...node.status().progress], [[1, 'replicate match=2 next=3']]);
  t.equal(node.status().leadTransferee, 0);
});

t.test('applyConfChange returns the new ConfState', async (t) => {
  const { node } = soloLeader();
  const cs = node.applyConfChange({
    transition: 'auto',
    changes: [{ type: 'addLearner', nodeId: 2 }],
    context: new Uint8Array(),
  });
  t.same(cs, { voters: [1], votersOutgoing: [], learners: [2], learnersNext: [], autoLeave: false });
  t.equal(node.status().config, 'voters=(1) learners=(2)');
  t.throws(
    () =>
      node.applyConfChange({
        transition: 'auto',
        changes: [{ type: 'removeNode', nodeId: 1 }],
        context: new Uint8Array(),
      }),
    { name: 'RaftError', code: 'CONF_CHANGE_INVALID' },
  );
});

t.test('campaign is refused while a committed conf change is not yet applied', async (t) => {
  const storage = bootstrap([1, 2, 3]);
  const node = new RawNode({ id: 2, storage, electionTicks: 10, heartbeatTicks: 1, randomInt: () => 0 });
  const cc: Entry = {
    term: 1,
    index: 2,
    type: 'confChange',
    data: encodeConfChange({
      transition: 'auto',
      changes: [{ type: 'removeNode', nodeId: 2 }],
      context: new Uint8Array(),
    }),
  };
  node.step(
    message({ type: 'app', from: 1, to: 2, term: 1, logTerm: 1, index: 1, entries: [cc], commit: 2 }),
  );
  const rd = node.ready();
  t.same(show(rd.committedEntries).length, 1);
  node.campaign();
  t.equal(node.raft.state, 'follower', 'the entry might remove this node');
  persistAndAdvance(node, storage, rd);
  node.applyConfChange({
    transition: 'auto',
    changes: [{ type: 'removeNode', nodeId: 2 }],
    context: new Uint8Array(),
  });
  node.campaign();
  t.equal(node.raft.state, 'follower', 'removed: never campaigns');
  t.notOk(node.raft.promotable());
});
