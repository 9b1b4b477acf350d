// Proves raft end to end through RawNode on an in-test network, with election and log safety checked every Ready.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { changeConfig } from './confchange.js';
import { decodeConfChange, parseConfChanges } from './confchange-codec.js';
import { isRaftError } from './errors.js';
import { Prng } from './prng.js';
import type { RaftConfig } from './raft.js';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import {
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeTransition,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  message,
  NONE,
  type NodeId,
  type ReadState,
  type Ready,
  type StateRole,
} from './types.js';

const FILE = 'raft/raft.test.ts';
const checkProperty = propertyChecker(FILE);
const ELECTION_TICKS = 10;
/** Bound on delivery rounds in one stabilize(): a network that never settles is a bug. */
const MAX_DELIVERY_ROUNDS = 10_000;
/** Bound on a client's retries of a proposal in the liveness check. */
const MAX_CLIENT_ATTEMPTS = 10;
const enc = new TextEncoder();
const dec = new TextDecoder();

type Options = Partial<Omit<RaftConfig, 'id' | 'storage'>>;

/** Storage of a member of a fresh cluster: a snapshot at 1/1 naming the initial members. */
function bootstrap(voters: readonly NodeId[], learners: readonly NodeId[] = []): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({
    metadata: {
      index: 1,
      term: 1,
      confState: { voters, votersOutgoing: [], learners, learnersNext: [], autoLeave: false },
    },
    data: enc.encode('[]'),
  });
  return s;
}

/** Bootstrap storage followed by entries with the given terms (from index 2) and a hard state. */
function storageWithLog(voters: readonly NodeId[], terms: readonly number[], hs: HardState): MemoryStorage {
  const s = bootstrap(voters);
  s.append(
    terms.map((term, i) => ({ term, index: 2 + i, type: 'normal', data: enc.encode(`t${term}i${2 + i}`) })),
  );
  s.setHardState(hs);
  return s;
}

interface Member {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  readonly node: RawNode;
  confState: ConfState;
  /** The state machine: data of applied normal entries, in order. */
  applied: string[];
  /** ConfState after each applied conf change, in order. */
  readonly confChanges: ConfState[];
  readonly readStates: ReadState[];
  lastTerm: number;
}

/**
 * Delivers messages between RawNodes. Each member persists its Ready into MemoryStorage before
 * its messages go out, applies committed entries (conf changes included), then advances. Safety
 * is checked on every Ready: terms never decrease, one leader per term, and every member applies
 * the same entry at each index.
 */
class Network {
  readonly members = new Map<NodeId, Member>();
  /** Every message any Ready handed out, in order. */
  readonly sent: Message[] = [];
  readonly dropped: Message[] = [];
  private queue: Message[] = [];
  private readonly isolated = new Set<NodeId>();
  /** Extra drop rule, on top of isolation. */
  dropIf: (m: Message) => boolean = () => false;
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly appliedAt = new Map<number, string>();
  private readonly options: Options;

  constructor(ids: readonly NodeId[], options: Options = {}, storages = new Map<NodeId, MemoryStorage>()) {
    this.options = options;
    for (const id of ids) this.add(id, storages.get(id) ?? bootstrap(ids));
  }

  add(id: NodeId, storage: MemoryStorage, options: Options = this.options): Member {
    const prng = new Prng(id * 7919);
    const node = new RawNode({
      id,
      storage,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: 1,
      randomInt: (n) => prng.int(n),
      ...options,
    });
    const m: Member = {
      id,
      storage,
      node,
      confState: storage.initialState().confState,
      applied: JSON.parse(dec.decode(storage.snapshot().data)) as string[],
      confChanges: [],
      readStates: [],
      lastTerm: storage.initialState().hardState.term,
    };
    this.members.set(id, m);
    return m;
  }

  member(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: NodeId): RawNode {
    return this.member(id).node;
  }

  role(id: NodeId): StateRole {
    return this.node(id).raft.state;
  }

  term(id: NodeId): number {
    return this.node(id).raft.term;
  }

  committed(id: NodeId): number {
    return this.node(id).raft.log.committed;
  }

  /** The member's log as "term/index" strings. */
  log(id: NodeId): string[] {
    return this.node(id)
      .raft.log.allEntries()
      .map((e) => `${e.term}/${e.index}`);
  }

  progress(leader: NodeId, follower: NodeId): string | undefined {
    return this.node(leader).status().progress.get(follower);
  }

  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  heal(): void {
    this.isolated.clear();
    this.dropIf = () => false;
  }

  propose(id: NodeId, text: string): void {
    this.node(id).propose(enc.encode(text));
  }

  proposeConfChange(id: NodeId, spec: string, transition: ConfChangeTransition = 'auto'): void {
    const cc: ConfChange = { transition, changes: parseConfChanges(spec), context: new Uint8Array() };
    this.node(id).proposeConfChange(cc);
  }

  /** Takes a snapshot of the member's state machine at its applied index and compacts the log there. */
  compact(id: NodeId): number {
    const m = this.member(id);
    const index = m.node.raft.log.applied;
    m.storage.createSnapshot(index, m.confState, enc.encode(JSON.stringify(m.applied)));
    m.storage.compact(index);
    return index;
  }

  /** Collects every member's Readies; their messages join the queue. */
  flush(): void {
    for (const m of this.members.values()) {
      while (m.node.hasReady()) this.handleReady(m, m.node.ready());
    }
    for (const m of this.members.values()) {
      const r = m.node.raft;
      if (r.state !== 'leader') continue;
      const other = this.leaderOfTerm.get(r.term);
      if (other !== undefined && other !== m.id)
        throw new Error(`two leaders in term ${r.term}: ${other} and ${m.id}`);
      this.leaderOfTerm.set(r.term, m.id);
    }
  }

  private handleReady(m: Member, rd: Ready): void {
    if (rd.hardState !== null) {
      if (rd.hardState.term < m.lastTerm)
        throw new Error(`${m.id}: term went back ${m.lastTerm} -> ${rd.hardState.term}`);
      m.lastTerm = rd.hardState.term;
      m.storage.setHardState(rd.hardState);
    }
    if (rd.snapshot !== null) {
      m.storage.applySnapshot(rd.snapshot);
      m.confState = rd.snapshot.metadata.confState;
      m.applied = JSON.parse(dec.decode(rd.snapshot.data)) as string[];
    }
    m.storage.append(rd.entries);
    this.queue.push(...rd.messages);
    this.sent.push(...rd.messages);
    m.readStates.push(...rd.readStates);
    for (const e of rd.committedEntries) this.apply(m, e);
    m.node.advance(rd);
  }

  private apply(m: Member, e: Entry): void {
    const key = `${e.term}/${e.type}/${dec.decode(e.data)}`;
    const seen = this.appliedAt.get(e.index);
    if (seen !== undefined && seen !== key)
      throw new Error(`${m.id} applied ${key} at ${e.index}, another ${seen}`);
    this.appliedAt.set(e.index, key);
    if (e.type === 'confChange') {
      m.confState = m.node.applyConfChange(decodeConfChange(e.data));
      m.confChanges.push(m.confState);
    } else if (e.data.length > 0) {
      m.applied.push(dec.decode(e.data));
    }
  }

  private isDropped(msg: Message): boolean {
    return (
      this.isolated.has(msg.from) ||
      this.isolated.has(msg.to) ||
      !this.members.has(msg.to) ||
      this.dropIf(msg)
    );
  }

  /** Messages waiting for delivery (after collecting all Readies). */
  queued(): Message[] {
    this.flush();
    return this.queue.slice();
  }

  /**
   * Delivers queued messages that pass `filter` until none is left (others stay queued, in order);
   * dropped messages are discarded.
   */
  stabilize(filter: (m: Message) => boolean = () => true): void {
    for (let round = 0; ; round++) {
      if (round > MAX_DELIVERY_ROUNDS) throw new Error('network did not settle');
      this.flush();
      const pending = this.queue;
      this.queue = [];
      let progressed = false;
      for (const msg of pending) {
        if (this.isDropped(msg)) {
          this.dropped.push(msg);
          progressed = true;
        } else if (filter(msg)) {
          this.stepInto(msg);
          progressed = true;
        } else {
          this.queue.push(msg);
        }
      }
      if (!progressed) return;
    }
  }

  /** Discards every queued message. */
  dropQueued(): void {
    this.flush();
    this.dropped.push(...this.queue);
    this.queue = [];
  }

  private stepInto(msg: Message): void {
    try {
      this.member(msg.to).node.step(msg);
    } catch (err) {
      // A forwarded proposal that finds no leader is dropped, as a real transport would.
      if (isRaftError(err, 'PROPOSAL_DROPPED') || isRaftError(err, 'STEP_PEER_NOT_FOUND')) return;
      throw err;
    }
  }

  /** Ticks the members (all by default) `n` times, delivering everything after each tick. */
  tick(n: number, ids: readonly NodeId[] = [...this.members.keys()]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) this.node(id).tick();
      this.stabilize();
    }
  }

  elect(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
    if (this.role(id) !== 'leader') throw new Error(`${id} did not win: ${this.role(id)}`);
  }

  leaders(): NodeId[] {
    return [...this.members.values()].filter((m) => m.node.raft.state === 'leader').map((m) => m.id);
  }

  /** Messages sent since `mark` (an index into `sent`) that match. */
  sentSince(mark: number, pred: (m: Message) => boolean): Message[] {
    return this.sent.slice(mark).filter(pred);
  }
}

const data76 = (i: number): string => `e${i}`.padEnd(76, '.'); // an entry of 76 + 24 = 100 bytes
const ctx = (s: string): Uint8Array => enc.encode(s);
const readStatesOf = (net: Network, id: NodeId): [number, string][] =>
  net.member(id).readStates.map((rs) => [rs.index, dec.decode(rs.requestCtx)]);
const DROPPED = { name: 'RaftError', code: 'PROPOSAL_DROPPED' };

// ---------------------------------------------------------------- elections

t.test(
  'election: a campaign wins every vote; all agree on leader, term 1 and the committed empty entry',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.elect(1);
    for (const id of [1, 2, 3]) {
      t.equal(net.term(id), 1, `term of ${id}`);
      t.equal(net.node(id).raft.lead, 1, `leader known by ${id}`);
      t.equal(net.committed(id), 2, `${id} committed the leader's empty entry`);
      t.same(net.log(id), ['1/2']);
    }
    t.same([net.role(2), net.role(3)], ['follower', 'follower']);
    t.same(net.node(2).raft.vote, 1);
    t.same(
      net.sentSince(0, (m) => m.type === 'voteResp').map((m) => [m.from, m.reject]),
      [
        [2, false],
        [3, false],
      ],
    );
  },
);

t.test('election: the follower whose randomized timeout passes first campaigns and wins', async (t) => {
  const draws: Record<number, number> = { 1: 7, 2: 2, 3: 9 };
  const net = new Network([]);
  for (const id of [1, 2, 3]) net.add(id, bootstrap([1, 2, 3]), { randomInt: () => draws[id]! });
  net.tick(ELECTION_TICKS + 1);
  t.same(net.leaders(), []);
  net.tick(1);
  t.same(net.leaders(), [2], 'node 2 (timeout 12) campaigns at tick 12 and wins');
  t.equal(net.term(2), 1);
});

t.test(
  'election: the randomized timeout is electionTicks + randomInt(electionTicks), in [e, 2e)',
  async (t) => {
    for (const draw of [0, 4, ELECTION_TICKS - 1]) {
      const asked: number[] = [];
      const node = new RawNode({
        id: 1,
        storage: bootstrap([1, 2, 3]),
        electionTicks: ELECTION_TICKS,
        heartbeatTicks: 1,
        randomInt: (n) => {
          asked.push(n);
          return draw;
        },
      });
      let ticks = 0;
      while (node.raft.state === 'follower' && ticks < 100) {
        node.tick();
        ticks++;
      }
      t.equal(ticks, ELECTION_TICKS + draw, `draw ${draw}: campaigned after ${ticks} ticks`);
      t.equal(node.raft.state, 'candidate');
      t.ok(
        asked.every((n) => n === ELECTION_TICKS),
        'randomInt is always asked for [0, electionTicks)',
      );
    }
    const seen = new Set<number>();
    for (let seed = 1; seed <= 200; seed++) {
      const prng = new Prng(seed);
      const node = new RawNode({
        id: 1,
        storage: bootstrap([1, 2, 3]),
        electionTicks: ELECTION_TICKS,
        heartbeatTicks: 1,
        randomInt: (n) => prng.int(n),
      });
      let ticks = 0;
      while (node.raft.state === 'follower') {
        node.tick();
        ticks++;
      }
      seen.add(ticks);
    }
    t.ok(
      [...seen].every((n) => n >= ELECTION_TICKS && n < 2 * ELECTION_TICKS),
      `timeouts ${[...seen].sort((a, b) => a - b)} within [10, 20)`,
    );
    t.ok(seen.size >= 8, `timeouts are spread (${seen.size} distinct values)`);
  },
);

t.test('election: a candidate with a stale log is refused by up-to-date voters and gives up', async (t) => {
  const storages = new Map([
    [1, storageWithLog([1, 2, 3], [], { term: 1, vote: 0, commit: 1 })],
    [2, storageWithLog([1, 2, 3], [1], { term: 1, vote: 0, commit: 1 })],
    [3, storageWithLog([1, 2, 3], [1], { term: 1, vote: 0, commit: 1 })],
  ]);
  const net = new Network([1, 2, 3], {}, storages);
  net.node(1).campaign();
  net.stabilize();
  t.equal(net.role(1), 'follower', 'lost');
  t.equal(net.term(1), 2);
  t.same(
    net.sentSince(0, (m) => m.type === 'voteResp').map((m) => [m.from, m.reject]),
    [
      [2, true],
      [3, true],
    ],
  );
});

t.test(
  'election: a split vote elects nobody; a later election at a higher term elects one leader',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.isolate(3);
    net.node(1).campaign();
    net.node(2).campaign();
    net.stabilize();
    t.same([net.role(1), net.role(2)], ['candidate', 'candidate'], 'each refused the other');
    t.same([net.term(1), net.term(2)], [1, 1]);
    t.same(net.leaders(), []);
    net.heal();
    let ticks = 0;
    while (net.leaders().length === 0 && ticks < 4 * ELECTION_TICKS) {
      net.tick(1);
      ticks++;
    }
    const leaders = net.leaders();
    t.equal(leaders.length, 1, `one leader after ${ticks} ticks`);
    const leader = leaders[0]!;
    t.ok(net.term(leader) >= 2, 'at a higher term');
    for (const id of [1, 2, 3]) t.equal(net.node(id).raft.lead, leader, `${id} follows ${leader}`);
  },
);

t.test('election: a node votes once per term', async (t) => {
  const net = new Network([1, 2, 3]);
  net.isolate(1);
  net.node(2).campaign();
  net.stabilize();
  t.equal(net.role(2), 'leader');
  t.equal(net.node(3).raft.vote, 2);
  // Another candidate of the same term, even with a longer log, is refused.
  net.heal();
  net.node(3).step(message({ type: 'vote', from: 1, to: 3, term: 1, logTerm: 1, index: 99 }));
  t.same(
    net.queued().map((m) => [m.type, m.from, m.to, m.reject]),
    [['voteResp', 3, 1, true]],
  );
  t.equal(net.node(3).raft.vote, 2);
});

// ---------------------------------------------------------------- PreVote

t.test('PreVote: an isolated node keeps its term, and rejoining does not disrupt the leader', async (t) => {
  const net = new Network([1, 2, 3], { preVote: true });
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `p${i}`);
  net.tick(10 * ELECTION_TICKS);
  t.equal(net.term(3), 1, 'no term inflation while partitioned');
  t.equal(net.role(3), 'preCandidate');
  t.ok(
    net.dropped.some((m) => m.from === 3 && m.type === 'preVote' && m.term === 2),
    'it kept asking for pre-votes at term 2',
  );
  t.notOk(
    net.sent.some((m) => m.from === 3 && m.type === 'vote'),
    'it never started a real election',
  );
  net.heal();
  net.tick(2 * ELECTION_TICKS);
  t.equal(net.role(1), 'leader');
  t.equal(net.term(1), 1);
  t.equal(net.role(3), 'follower');
  t.equal(net.node(3).raft.lead, 1);
  t.same(net.member(3).applied, ['p0', 'p1', 'p2', 'p3', 'p4']);
});

t.test('PreVote: a pre-candidate keeps term and vote until it wins the pre-election', async (t) => {
  const net = new Network([1, 2, 3], { preVote: true });
  net.node(1).campaign();
  t.equal(net.role(1), 'preCandidate');
  t.equal(net.term(1), 0);
  t.equal(net.node(1).raft.vote, NONE);
  t.same(
    net.queued().map((m) => [m.type, m.to, m.term]),
    [
      ['preVote', 2, 1],
      ['preVote', 3, 1],
    ],
  );
  net.stabilize();
  t.equal(net.role(1), 'leader');
  t.equal(net.term(1), 1);
});

t.test(
  'PreVote + CheckQuorum: an up-to-date partitioned node cannot disrupt the leader either',
  async (t) => {
    const net = new Network([1, 2, 3], { preVote: true, checkQuorum: true });
    net.elect(1);
    net.isolate(3);
    net.tick(5 * ELECTION_TICKS, [3]);
    t.equal(net.term(3), 1);
    t.same(net.log(3), net.log(1), "its log is as long as the leader's");
    net.heal();
    const mark = net.sent.length;
    while (net.sentSince(mark, (m) => m.type === 'preVote').length === 0) net.tick(1, [3]);
    t.same(
      net.sentSince(mark, (m) => m.type === 'preVoteResp'),
      [],
      'followers inside the lease do not answer',
    );
    net.tick(2 * ELECTION_TICKS);
    t.equal(net.role(1), 'leader');
    t.same([net.term(1), net.term(2), net.term(3)], [1, 1, 1]);
    t.equal(net.node(3).raft.lead, 1);
  },
);

t.test(
  'without PreVote (control): the isolated node inflates its term and deposes the leader on return',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    net.propose(1, 'x');
    net.tick(5 * ELECTION_TICKS, [3]);
    t.ok(net.term(3) >= 3, `term inflated to ${net.term(3)} (two or more timeouts of < 20 ticks)`);
    net.heal();
    net.tick(2 * ELECTION_TICKS, [3]); // it times out again and its vote request reaches the leader
    t.not(net.term(1), 1, 'the leader was pushed to a higher term');
  },
);

// ---------------------------------------------------------------- CheckQuorum

t.test('CheckQuorum: an isolated leader steps down at the second check without a quorum', async (t) => {
  const net = new Network([1, 2, 3], { checkQuorum: true });
  net.elect(1);
  net.isolate(1);
  net.tick(2 * ELECTION_TICKS - 1, [1]);
  t.equal(net.role(1), 'leader', 'followers were active in the first interval');
  net.tick(1, [1]);
  t.equal(net.role(1), 'follower');
  t.equal(net.node(1).raft.lead, NONE);
  t.equal(net.term(1), 1, 'stepping down does not change the term');
});

t.test('CheckQuorum: a leader hearing from a quorum stays leader with one follower down', async (t) => {
  const net = new Network([1, 2, 3], { checkQuorum: true });
  net.elect(1);
  net.isolate(3);
  net.tick(10 * ELECTION_TICKS, [1, 2]);
  t.equal(net.role(1), 'leader');
  t.equal(net.term(1), 1);
});

t.test('CheckQuorum: a single-node leader stays leader', async (t) => {
  const net = new Network([1], { checkQuorum: true });
  net.elect(1);
  net.tick(10 * ELECTION_TICKS);
  t.equal(net.role(1), 'leader');
  t.equal(net.term(1), 1);
});

t.test(
  'CheckQuorum lease: followers that heard from the leader ignore a higher-term vote request',
  async (t) => {
    const net = new Network([1, 2, 3], { checkQuorum: true });
    net.elect(1);
    net.tick(1, [1, 2, 3]); // a heartbeat round: everyone heard from the leader recently
    net.isolate(3);
    net.tick(3 * ELECTION_TICKS, [3]);
    const term3 = net.term(3);
    t.ok(term3 >= 2, `node 3 campaigned up to term ${term3}`);
    net.heal();
    const mark = net.sent.length;
    // Tick node 3 until it asks for votes again, delivering them to 1 and 2 (whose lease is fresh).
    while (net.sentSince(mark, (m) => m.type === 'vote').length === 0) net.tick(1, [3]);
    t.same(
      net.sentSince(mark, (m) => m.type === 'voteResp'),
      [],
      'no answer at all',
    );
    t.same([net.term(1), net.term(2)], [1, 1], 'terms unchanged');
    t.equal(net.role(1), 'leader');
    t.equal(net.node(2).raft.lead, 1);
  },
);

// ---------------------------------------------------------------- replication

t.test('replication: a lagging follower catches up in appends of at most maxSizePerMsgBytes', async (t) => {
  const net = new Network([1, 2, 3], { maxSizePerMsgBytes: 300 });
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 10; i++) net.propose(1, data76(i));
  net.stabilize();
  t.equal(net.committed(1), 12);
  net.heal();
  const mark = net.sent.length;
  net.tick(1, [1]);
  const batches = net
    .sentSince(mark, (m) => m.type === 'app' && m.to === 3 && m.entries.length > 0)
    .map((m) => m.entries.map((e) => e.index));
  t.same(batches, [[3, 4, 5], [6, 7, 8], [9, 10, 11], [12]]);
  t.same(net.log(3), net.log(1));
  t.equal(net.committed(3), 12);
  t.same(net.member(3).applied, net.member(1).applied);
});

t.test(
  'replication: replicate state pipelines up to maxInflightMsgs appends, then pauses until acks',
  async (t) => {
    const net = new Network([1, 2, 3], { maxInflightMsgs: 3 });
    net.elect(1);
    t.equal(net.progress(1, 2), 'replicate match=2 next=3');
    const toTwo = (m: Message) => m.to === 2 && m.type === 'app';
    const mark = net.sent.length;
    for (let i = 0; i < 5; i++) {
      net.propose(1, `p${i}`);
      net.stabilize((m) => !toTwo(m));
    }
    const sentToTwo = net
      .sentSince(mark, (m) => toTwo(m) && m.entries.length > 0)
      .map((m) => m.entries.map((e) => e.index));
    t.same(sentToTwo, [[3], [4], [5]], 'three appends in flight without any ack');
    t.equal(net.progress(1, 2), 'replicate match=2 next=6 paused');
    t.equal(net.committed(1), 7, 'node 3 keeps the cluster committing');
    const mark2 = net.sent.length;
    net.stabilize();
    t.same(
      net.sentSince(mark2, (m) => toTwo(m) && m.entries.length > 0).map((m) => m.entries.map((e) => e.index)),
      [[6, 7]],
      'the first ack frees the window and the rest goes in one append',
    );
    t.equal(net.progress(1, 2), 'replicate match=7 next=8');
    t.same(net.log(2), net.log(1));
  },
);

t.test('replication: a heartbeat ack frees one slot of a full window whose appends were lost', async (t) => {
  const net = new Network([1, 2, 3], { maxInflightMsgs: 2 });
  net.elect(1);
  net.dropIf = (m) => m.to === 2 && m.type === 'app';
  for (let i = 0; i < 4; i++) net.propose(1, `p${i}`);
  net.stabilize();
  t.equal(net.progress(1, 2), 'replicate match=2 next=5 paused');
  net.heal();
  net.tick(1, [1]);
  t.equal(net.progress(1, 2), 'replicate match=6 next=7');
  t.same(net.log(2), net.log(1));
});

/**
 * Nodes 1 and 3 hold 10 common term-1 entries then `leaderTail` of term 3; node 2 the same common
 * entries then `followerTail` of term 2. Node 1 is elected; returns the net and node 2's rejections.
 */
function divergentFollower(
  leaderTail: number,
  followerTail: number,
): { net: Network; rejections: Message[] } {
  const common = Array<number>(10).fill(1); // indexes 2..11
  const leaderLog = [...common, ...Array<number>(leaderTail).fill(3)];
  const followerLog = [...common, ...Array<number>(followerTail).fill(2)];
  const hs = { term: 3, vote: 0, commit: 11 };
  const storages = new Map([
    [1, storageWithLog([1, 2, 3], leaderLog, hs)],
    [2, storageWithLog([1, 2, 3], followerLog, hs)],
    [3, storageWithLog([1, 2, 3], leaderLog, hs)],
  ]);
  const net = new Network([1, 2, 3], {}, storages);
  net.elect(1);
  return { net, rejections: net.sent.filter((m) => m.type === 'appResp' && m.from === 2 && m.reject) };
}

t.test(
  'fast backtracking: a follower with a 100-entry divergent tail is fixed after one rejection',
  async (t) => {
    // Leader: indexes 12..61 of term 3; follower: 12..111 of term 2.
    const { net, rejections } = divergentFollower(50, 100);
    t.equal(rejections.length, 1, 'one rejection instead of ~50');
    t.same(
      rejections.map((m) => [m.index, m.rejectHint, m.logTerm]),
      [[61, 61, 2]],
      'the follower hints its last index with a term <= 3',
    );
    t.same(net.log(2), net.log(1));
    t.equal(net.node(2).raft.log.lastIndex(), 62);
    t.equal(net.committed(2), 62);
  },
);

t.test(
  'fast backtracking: a leader with a long divergent tail finds the match after one rejection',
  async (t) => {
    // Leader: indexes 12..111 of term 3; follower: 12..21 of term 2.
    const { net, rejections } = divergentFollower(100, 10);
    t.same(
      rejections.map((m) => [m.index, m.rejectHint, m.logTerm]),
      [[111, 21, 2]],
    );
    const fix = net.sent.find((m) => m.type === 'app' && m.to === 2 && m.index === 11);
    t.ok(fix !== undefined, 'the next append starts right after the last common entry (11)');
    t.same(net.log(2), net.log(1));
  },
);

t.test('progress: probe until the first ack, then replicate; unreachable falls back to probe', async (t) => {
  const net = new Network([1, 2, 3]);
  net.node(1).campaign();
  net.stabilize((m) => m.type !== 'app');
  t.equal(net.role(1), 'leader');
  t.equal(net.progress(1, 2), 'probe match=0 next=2 paused', 'one probe in flight');
  net.stabilize();
  t.equal(net.progress(1, 2), 'replicate match=2 next=3');
  net.node(1).reportUnreachable(2);
  t.equal(net.progress(1, 2), 'probe match=2 next=3');
  net.propose(1, 'x');
  net.stabilize();
  t.equal(net.progress(1, 2), 'replicate match=3 next=4');
});

// ---------------------------------------------------------------- Figure 8

function figure8(bugs: RaftConfig['bugs']): Network {
  // Node 1 holds an entry of term 1 (index 2) that nobody else has; it becomes leader in term 2.
  const storages = new Map([
    [1, storageWithLog([1, 2, 3], [1], { term: 1, vote: 0, commit: 1 })],
    [2, storageWithLog([1, 2, 3], [], { term: 1, vote: 0, commit: 1 })],
    [3, storageWithLog([1, 2, 3], [], { term: 1, vote: 0, commit: 1 })],
  ]);
  const net = new Network(
    [1, 2, 3],
    { maxSizePerMsgBytes: 1, ...(bugs === undefined ? {} : { bugs }) },
    storages,
  );
  // Followers may receive index 2 but never the term-2 entry at index 3.
  net.dropIf = (m) =>
    m.type === 'app' && m.entries.some((e) => e.index === 3) && net.node(m.to).raft.log.lastIndex() >= 2;
  net.node(1).campaign();
  net.stabilize();
  return net;
}

t.test(
  'Figure 8: a previous-term entry on every node is not committed until a current-term entry is',
  async (t) => {
    const net = figure8(undefined);
    t.equal(net.role(1), 'leader');
    t.equal(net.term(1), 2);
    for (const id of [2, 3]) t.same(net.log(id), ['1/2'], `${id} holds the term-1 entry`);
    t.equal(net.progress(1, 2)?.startsWith('replicate match=2'), true);
    t.equal(net.committed(1), 1, 'index 2 is on all three nodes but not committed by counting');
    net.heal();
    net.tick(1, [1]);
    t.equal(net.committed(1), 3, 'committing the term-2 entry commits index 2 with it');
    for (const id of [1, 2, 3]) t.same(net.member(id).applied, ['t1i2'], `${id} applied the old entry`);
  },
);

t.test(
  'Figure 8 (control): with the commitPreviousTerm bug the same schedule commits by counting',
  async (t) => {
    const net = figure8({ commitPreviousTerm: true });
    t.equal(net.committed(1), 2, 'the rule above is what prevents this');
  },
);

// ---------------------------------------------------------------- snapshots

t.test('snapshot: a follower behind the compacted log gets a snap, installs it and catches up', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `p${i}`);
  net.stabilize();
  t.equal(net.compact(1), 7);
  t.equal(net.node(1).raft.log.firstIndex(), 8);
  net.heal();
  const mark = net.sent.length;
  net.node(1).tick();
  net.stabilize((m) => m.type !== 'snap');
  t.equal(net.progress(1, 3), 'snapshot match=2 next=3 pendingSnap=7 paused');
  net.stabilize();
  const snaps = net.sentSince(mark, (m) => m.type === 'snap');
  t.same(
    snaps.map((m) => [m.to, m.snapshot?.metadata.index, m.snapshot?.metadata.term]),
    [[3, 7, 1]],
  );
  t.equal(net.member(3).storage.snapshot().metadata.index, 7, 'installed in storage');
  t.same(net.member(3).applied, ['p0', 'p1', 'p2', 'p3', 'p4'], 'state machine restored from the snapshot');
  t.equal(net.progress(1, 3), 'replicate match=7 next=8');
  net.propose(1, 'after');
  net.stabilize();
  t.same(net.log(3), ['1/8']);
  t.same(net.member(3).applied, ['p0', 'p1', 'p2', 'p3', 'p4', 'after']);
  t.equal(net.committed(3), 8);
});

t.test('snapshot: a failed snapshot sends the follower back to probing from match + 1, paused', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `p${i}`);
  net.stabilize();
  net.compact(1);
  net.heal();
  net.node(1).tick();
  net.stabilize((m) => m.type !== 'snap');
  t.equal(net.progress(1, 3), 'snapshot match=2 next=3 pendingSnap=7 paused');
  net.node(1).reportSnapshot(3, false);
  t.equal(
    net.progress(1, 3),
    'probe match=2 next=3 paused',
    'not from the snapshot index that never arrived',
  );
  net.dropQueued();
  net.tick(2, [1]);
  t.equal(net.member(3).storage.snapshot().metadata.index, 7, 'a retry succeeds');
  t.equal(net.progress(1, 3), 'replicate match=7 next=8');
});

t.test('snapshot: a reported success moves the follower to probe after the snapshot', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.propose(1, 'x');
  net.stabilize();
  net.compact(1);
  net.heal();
  net.node(1).tick();
  net.stabilize((m) => m.type !== 'snap');
  net.node(1).reportSnapshot(3, true);
  t.match(net.progress(1, 3), /^probe match=2 next=4/);
});

// ---------------------------------------------------------------- ReadIndex

t.test(
  'ReadIndex (safe): the leader answers only after a quorum acks a heartbeat with the context',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.elect(1);
    net.propose(1, 'x');
    net.stabilize();
    net.node(1).readIndex(ctx('r1'));
    t.same(
      net.queued().map((m) => [m.type, m.to, dec.decode(m.context)]),
      [
        ['heartbeat', 2, 'r1'],
        ['heartbeat', 3, 'r1'],
      ],
    );
    net.stabilize((m) => m.type !== 'heartbeatResp');
    t.same(readStatesOf(net, 1), [], 'no answer before any ack');
    net.stabilize((m) => m.type === 'heartbeatResp' && m.from === 2);
    t.same(
      readStatesOf(net, 1),
      [[3, 'r1']],
      'self + node 2 is a quorum; the read index is the commit index',
    );
    net.stabilize();
    t.same(readStatesOf(net, 1), [[3, 'r1']], 'the late ack does not answer twice');
  },
);

t.test('ReadIndex: a new leader defers reads until an entry of its term is committed', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.propose(1, 'x');
  net.stabilize();
  net.node(2).campaign();
  net.stabilize((m) => m.type !== 'app');
  t.equal(net.role(2), 'leader');
  t.equal(net.term(2), 2);
  t.equal(net.committed(2), 3, 'only term-1 entries are committed; the term-2 entry (4) is not');
  net.node(2).readIndex(ctx('early'));
  t.same(
    net.queued().filter((m) => m.type === 'heartbeat'),
    [],
    'no heartbeat round for the read yet',
  );
  t.same(readStatesOf(net, 2), []);
  net.stabilize();
  t.same(readStatesOf(net, 2), [[4, 'early']], 'answered at the new commit index once it moved');
});

t.test('ReadIndex: a follower forwards the request and receives the answer', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const mark = net.sent.length;
  net.node(2).readIndex(ctx('f'));
  net.stabilize();
  t.same(readStatesOf(net, 2), [[2, 'f']]);
  t.same(readStatesOf(net, 1), [], 'the leader keeps no read state for a forwarded request');
  t.same(
    net
      .sentSince(mark, (m) => m.type === 'readIndex' || m.type === 'readIndexResp')
      .map((m) => [m.type, m.from, m.to]),
    [
      ['readIndex', 2, 1],
      ['readIndexResp', 1, 2],
    ],
  );
});

t.test('ReadIndex: a follower without a leader drops the request', async (t) => {
  const net = new Network([1, 2, 3]);
  net.node(2).readIndex(ctx('lost'));
  t.same(net.queued(), []);
  t.same(readStatesOf(net, 2), []);
});

t.test('ReadIndex (leaseBased): needs CheckQuorum, then answers without a heartbeat round', async (t) => {
  t.throws(() => new Network([1], { readOnlyOption: 'leaseBased' }), {
    name: 'RangeError',
    message: 'raft: leaseBased reads need checkQuorum',
  });
  const net = new Network([1, 2, 3], { readOnlyOption: 'leaseBased', checkQuorum: true });
  net.elect(1);
  net.node(1).readIndex(ctx('lease'));
  t.same(net.queued(), [], 'no heartbeat needed');
  t.same(readStatesOf(net, 1), [[2, 'lease']]);
});

t.test('ReadIndex: a single-node leader answers at once', async (t) => {
  const net = new Network([1]);
  net.elect(1);
  net.node(1).readIndex(ctx('solo'));
  net.flush();
  t.same(readStatesOf(net, 1), [[2, 'solo']]);
});

// ---------------------------------------------------------------- leadership transfer

t.test(
  'transfer: a caught-up transferee gets timeoutNow and wins at once, even inside the lease',
  async (t) => {
    const net = new Network([1, 2, 3], { checkQuorum: true, preVote: true });
    net.elect(1);
    net.node(1).transferLeader(2);
    t.same(
      net.queued().map((m) => [m.type, m.to]),
      [['timeoutNow', 2]],
    );
    net.stabilize();
    t.equal(net.role(2), 'leader');
    t.equal(net.term(2), 2);
    t.equal(net.role(1), 'follower');
    t.equal(net.node(1).raft.lead, 2);
    t.ok(
      net.sent.some((m) => m.type === 'vote' && m.from === 2),
      'a real vote, no pre-vote',
    );
  },
);

t.test('transfer: a lagging transferee is brought up to date first, then gets timeoutNow', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(2);
  for (let i = 0; i < 3; i++) net.propose(1, `p${i}`);
  net.stabilize();
  net.heal();
  const mark = net.sent.length;
  net.node(1).transferLeader(2);
  net.stabilize();
  const toTwo = net.sentSince(mark, (m) => m.from === 1 && m.to === 2).map((m) => m.type);
  t.equal(toTwo[0], 'app', 'append first');
  t.equal(toTwo.filter((x) => x === 'timeoutNow').length, 1);
  const caughtUp = net.sent.findIndex(
    (m, i) => i >= mark && m.type === 'appResp' && m.from === 2 && m.index === 5,
  );
  const timeoutNow = net.sent.findIndex((m, i) => i >= mark && m.type === 'timeoutNow');
  t.ok(caughtUp >= 0 && caughtUp < timeoutNow, 'timeoutNow only after the transferee acked the last index');
  t.equal(net.role(2), 'leader');
  t.same(net.member(2).applied, ['p0', 'p1', 'p2']);
});

t.test(
  'transfer: proposals are dropped while a transfer is pending; it is abandoned after an election timeout',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.elect(1);
    net.isolate(2);
    net.propose(1, 'behind');
    net.stabilize();
    net.node(1).transferLeader(2);
    net.stabilize();
    t.equal(net.node(1).status().leadTransferee, 2);
    t.throws(() => net.propose(1, 'during'), DROPPED);
    net.tick(ELECTION_TICKS - 1, [1, 3]);
    t.equal(net.node(1).status().leadTransferee, 2, 'still pending one tick before the timeout');
    net.tick(1, [1, 3]);
    t.equal(net.node(1).status().leadTransferee, NONE, 'abandoned');
    t.equal(net.role(1), 'leader');
    net.propose(1, 'after');
    net.stabilize();
    t.same(net.member(1).applied, ['behind', 'after']);
  },
);

t.test('transfer: a request made on a follower is forwarded and names the transferee', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(3).transferLeader(2);
  const fwd = net.queued();
  t.same(
    fwd.map((m) => [m.type, m.from, m.to]),
    [['transferLeader', 2, 1]],
  );
  net.stabilize();
  t.equal(net.role(2), 'leader');
  t.equal(net.role(3), 'follower');
});

t.test('transfer: to itself, to a learner or to a stranger is ignored', async (t) => {
  const net = new Network([]);
  for (const id of [1, 2, 3, 4]) net.add(id, bootstrap([1, 2, 3], [4]));
  net.elect(1);
  for (const target of [1, 4, 9]) {
    net.node(1).transferLeader(target);
    t.equal(net.node(1).status().leadTransferee, NONE, `transfer to ${target}`);
  }
  t.same(net.queued(), []);
});

// ---------------------------------------------------------------- membership

t.test('membership: adding a voter grows the quorum; the new node catches up from the log', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.proposeConfChange(1, 'v4');
  net.stabilize();
  for (const id of [1, 2, 3])
    t.same(net.member(id).confState.voters, [1, 2, 3, 4], `${id} applied the change`);
  net.add(4, bootstrap([1, 2, 3]));
  net.tick(1, [1]);
  t.same(net.log(4), net.log(1), 'caught up');
  t.same(net.member(4).confState.voters, [1, 2, 3, 4], 'the new node learned its membership from the log');
  net.isolate(2);
  net.isolate(3);
  const before = net.committed(1);
  net.propose(1, 'needs3of4');
  net.stabilize();
  t.equal(net.committed(1), before, 'leader + node 4 are 2 of 4: not a quorum');
  net.heal();
  net.tick(1, [1]);
  t.equal(net.committed(1), before + 1);
});

t.test('membership: a removed voter stops campaigning and the rest commit without it', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.proposeConfChange(1, 'r3');
  net.stabilize();
  for (const id of [1, 2, 3]) t.same(net.member(id).confState.voters, [1, 2], `${id} applied the removal`);
  const mark = net.sent.length;
  net.tick(5 * ELECTION_TICKS, [3]);
  t.same(
    net.sentSince(mark, (m) => m.from === 3),
    [],
    'node 3 sends nothing',
  );
  t.equal(net.role(3), 'follower');
  net.isolate(3);
  net.propose(1, 'two');
  net.stabilize();
  t.same(net.member(2).applied, ['two']);
  t.equal(net.progress(1, 3), undefined, 'the leader no longer tracks 3');
});

t.test('membership: a leader that removes itself steps down and the others elect a new leader', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.proposeConfChange(1, 'r1');
  net.stabilize();
  const mark = net.sent.length;
  t.equal(net.role(1), 'follower');
  t.throws(() => net.propose(1, 'x'), DROPPED);
  net.tick(3 * ELECTION_TICKS);
  const leaders = net.leaders();
  t.equal(leaders.length, 1);
  t.not(leaders[0], 1);
  t.notOk(
    net.sentSince(mark, (m) => m.from === 1 && (m.type === 'vote' || m.type === 'preVote')).length > 0,
    'node 1 never campaigns again',
  );
});

t.test('membership: a learner catches up, does not vote or count for quorum, then is promoted', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.proposeConfChange(1, 'l4');
  net.stabilize();
  t.same(net.member(1).confState.learners, [4]);
  net.add(4, bootstrap([1, 2, 3]));
  net.propose(1, 'a');
  net.stabilize();
  net.tick(1, [1]);
  t.same(net.log(4), net.log(1), 'the learner caught up');
  t.same(net.member(4).applied, ['a']);
  net.isolate(2);
  net.isolate(3);
  const before = net.committed(1);
  net.propose(1, 'b');
  net.stabilize();
  t.equal(net.committed(1), before, 'leader + learner do not commit');
  net.heal();
  net.tick(1, [1]);
  t.equal(net.committed(1), before + 1);
  const mark = net.sent.length;
  net.isolate(1);
  net.tick(5 * ELECTION_TICKS, [4]);
  t.same(
    net.sentSince(mark, (m) => m.from === 4 && (m.type === 'vote' || m.type === 'preVote')),
    [],
    'a learner never campaigns',
  );
  net.heal();
  net.proposeConfChange(1, 'v4');
  net.stabilize();
  for (const id of [1, 2, 3, 4]) {
    t.same(net.member(id).confState.voters, [1, 2, 3, 4], `${id}: 4 is a voter`);
    t.same(net.member(id).confState.learners, [], `${id}: no learners`);
  }
  t.ok(net.node(4).raft.promotable());
});

t.test(
  'membership: a multi-change enters a joint config and leaves it automatically once applied',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.elect(1);
    net.add(4, bootstrap([1, 2, 3]));
    net.add(5, bootstrap([1, 2, 3]));
    const mark = net.sent.length;
    net.proposeConfChange(1, 'v4 v5');
    net.stabilize();
    net.tick(1, [1]);
    for (const id of [1, 2, 3, 4, 5]) {
      t.same(
        net.member(id).confChanges.map((cs) => [cs.voters, cs.votersOutgoing, cs.autoLeave]),
        [
          [[1, 2, 3, 4, 5], [1, 2, 3], true],
          [[1, 2, 3, 4, 5], [], false],
        ],
        `${id} went through the joint config and out of it`,
      );
    }
    const confEntries = net
      .sentSince(mark, (m) => m.type === 'app' && m.to === 2)
      .flatMap((m) => m.entries.filter((e) => e.type === 'confChange'))
      .map((e) => decodeConfChange(e.data).changes.length);
    t.same(confEntries, [2, 0], 'the leave entry (no changes) was proposed by raft itself');
  },
);

t.test('membership: a new leader of a joint auto-leave config proposes the leave itself', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.add(4, bootstrap([1, 2, 3]));
  net.add(5, bootstrap([1, 2, 3]));
  const isLeave = (m: Message) =>
    m.entries.some((e) => e.type === 'confChange' && decodeConfChange(e.data).changes.length === 0);
  net.proposeConfChange(1, 'v4 v5');
  net.stabilize((m) => !isLeave(m));
  t.same(net.member(2).confState.votersOutgoing, [1, 2, 3], '2 applied the joint config');
  t.ok(net.queued().some(isLeave), 'leader 1 proposed the leave, but it never went out');
  net.isolate(1);
  net.dropQueued();
  net.elect(2);
  net.stabilize();
  for (const id of [2, 3, 4, 5]) {
    t.same(
      net.member(id).confChanges.map((cs) => [cs.voters, cs.votersOutgoing]),
      [
        [
          [1, 2, 3, 4, 5],
          [1, 2, 3],
        ],
        [[1, 2, 3, 4, 5], []],
      ],
      `${id} left the joint config under leader 2`,
    );
  }
});

t.test(
  'membership: a joint change removing the leader keeps it leading until the config is left',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.elect(1);
    net.add(4, bootstrap([1, 2, 3]));
    net.proposeConfChange(1, 'r1 v4');
    net.stabilize();
    t.same(
      net.member(1).confChanges.map((cs) => [cs.voters, cs.votersOutgoing]),
      [
        [
          [2, 3, 4],
          [1, 2, 3],
        ],
        [[2, 3, 4], []],
      ],
    );
    t.equal(net.role(1), 'follower', 'stepped down once it was no longer a member');
    net.tick(3 * ELECTION_TICKS);
    const leaders = net.leaders();
    t.equal(leaders.length, 1);
    t.not(leaders[0], 1);
    net.propose(leaders[0]!, 'after');
    net.stabilize();
    for (const id of [2, 3, 4])
      t.same(net.member(id).applied, ['after'], `${id} applied under the new leader`);
  },
);

t.test(
  'membership: jointExplicit stays joint, needs both majorities, and leaves on an explicit proposal',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.elect(1);
    net.add(4, bootstrap([1, 2, 3]));
    net.add(5, bootstrap([1, 2, 3]));
    net.proposeConfChange(1, 'v4 v5', 'jointExplicit');
    net.stabilize();
    net.tick(3, [1]);
    for (const id of [1, 2, 3, 4, 5]) {
      t.same(net.member(id).confState.votersOutgoing, [1, 2, 3], `${id} is still joint`);
      t.same(net.member(id).confState.voters, [1, 2, 3, 4, 5]);
    }
    net.isolate(2);
    net.isolate(3);
    const before = net.committed(1);
    net.propose(1, 'x');
    net.stabilize();
    t.equal(net.committed(1), before, '1, 4, 5 are a majority of the incoming half only');
    net.node(1).readIndex(ctx('joint-read'));
    net.stabilize();
    t.same(readStatesOf(net, 1), [], 'a read needs heartbeat acks from both halves too');
    net.heal();
    net.tick(1, [1]);
    t.equal(net.committed(1), before + 1);
    t.same(readStatesOf(net, 1), [[before, 'joint-read']], 'answered at the commit index it arrived at');
    net.proposeConfChange(1, 'r5');
    net.stabilize();
    t.same(net.member(1).confState.votersOutgoing, [1, 2, 3], 'another change while joint is refused');
    net.proposeConfChange(1, '');
    net.stabilize();
    for (const id of [1, 2, 3, 4, 5]) {
      t.same(net.member(id).confState.votersOutgoing, [], `${id} left the joint config`);
      t.same(net.member(id).confState.voters, [1, 2, 3, 4, 5]);
    }
  },
);

t.test(
  'membership: a second conf change is refused while one is pending (becomes an empty entry)',
  async (t) => {
    const net = new Network([1, 2, 3]);
    net.elect(1);
    net.proposeConfChange(1, 'l4');
    net.proposeConfChange(1, 'l5');
    const raft = net.node(1).raft;
    const last = raft.log.allEntries().slice(-2);
    t.same(
      last.map((e) => [e.type, e.data.length]),
      [
        ['confChange', last[0]!.data.length],
        ['normal', 0],
      ],
    );
    net.stabilize();
    t.same(net.member(1).confState.learners, [4]);
    t.equal(net.member(1).confChanges.length, 1);
    net.proposeConfChange(1, 'l5');
    net.stabilize();
    t.same(net.member(1).confState.learners, [4, 5], 'accepted once the first is applied');
    net.proposeConfChange(1, '');
    net.stabilize();
    t.equal(net.member(1).confChanges.length, 2, 'leaving a joint config when not joint is refused too');
  },
);

// ---------------------------------------------------------------- invariants and errors

t.test('invariant: the term never goes backwards (INVARIANT when forced)', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).campaign(); // a leader ignores campaign
  t.equal(net.term(1), 1);
  const r = net.node(2).raft;
  t.throws(() => r.becomeFollower(0, NONE), { name: 'RaftError', code: 'INVARIANT' });
});

t.test('invariant: one vote per term (INVARIANT when forced to vote twice)', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const r = net.node(2).raft;
  t.equal(r.vote, 1);
  const voteAgain = (r as unknown as { setVote(id: NodeId): void }).setVote.bind(r);
  voteAgain(1);
  t.equal(r.vote, 1, 'repeating the same vote is fine');
  t.throws(() => voteAgain(3), { name: 'RaftError', code: 'INVARIANT' });
  t.equal(r.vote, 1);
});

t.test('invariant: a message of an older term is ignored, never an error', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(2).campaign();
  net.stabilize();
  t.equal(net.role(2), 'leader');
  t.equal(net.term(2), 2);
  const stale = net.sent.find((m) => m.type === 'app' && m.from === 1 && m.term === 1)!;
  net.node(2).step(stale);
  t.equal(net.term(2), 2);
  t.equal(net.role(2), 'leader');
});

t.test('invariant: RawNode refuses a Ready whose commit index went backwards', async (t) => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).raft.log.committed = 1;
  t.throws(() => net.node(1).ready(), { name: 'RaftError', code: 'INVARIANT' });
});

t.test('errors: proposals fail with PROPOSAL_DROPPED without a leader', async (t) => {
  const net = new Network([1, 2, 3]);
  t.throws(() => net.propose(2, 'x'), DROPPED, 'a follower that knows no leader');
  net.isolate(1);
  net.node(1).campaign();
  t.throws(() => net.propose(1, 'x'), DROPPED, 'a candidate');
});

// ---------------------------------------------------------------- property

type Action =
  | { kind: 'tick'; id: number }
  | { kind: 'tickAll' }
  | { kind: 'isolate'; id: number }
  | { kind: 'heal' }
  | { kind: 'propose'; id: number }
  | { kind: 'conf'; changes: ConfChangeSingle[] }
  | { kind: 'deliver'; count: number }
  | { kind: 'lose' };

const ALL_IDS: readonly NodeId[] = [1, 2, 3, 4, 5];

/** The highest-term leader and its config, or null. */
function currentLeader(net: Network): NodeId | null {
  let best: NodeId | null = null;
  for (const id of net.leaders()) if (best === null || net.term(id) > net.term(best)) best = id;
  return best;
}

/** Members of `leader`'s config: voters of both halves and learners. */
function membersOf(net: Network, leader: NodeId): NodeId[] {
  const cs = net.node(leader).raft.trk.confState();
  return [...new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext])];
}

t.test(
  'property: random ticks, partitions, losses, proposals and membership changes keep safety; a healed cluster commits',
  async (t) => {
    const id = fc.integer({ min: 1, max: 5 });
    const changeArb: fc.Arbitrary<ConfChangeSingle> = fc.record({
      type: fc.constantFrom('addNode' as const, 'addLearner' as const, 'removeNode' as const),
      nodeId: id,
    });
    const actionArb: fc.Arbitrary<Action> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('tick' as const), id }) },
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('tickAll' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('isolate' as const), id }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('heal' as const) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('propose' as const), id }) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('conf' as const),
          changes: fc.array(changeArb, { minLength: 1, maxLength: 2 }),
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('deliver' as const),
          count: fc.integer({ min: 1, max: 20 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('lose' as const) }) },
    );
    checkProperty(
      t,
      fc.property(
        fc.constantFrom(3, 5),
        fc.boolean(),
        fc.boolean(),
        fc.array(actionArb, { minLength: 100, maxLength: 400 }),
        (voterCount, preVote, checkQuorum, actions) => {
          // Five nodes; those beyond the initial voters wait to be added.
          const voters = ALL_IDS.slice(0, voterCount);
          const net = new Network([], {});
          for (const n of ALL_IDS)
            net.add(n, bootstrap(voters), {
              preVote,
              checkQuorum,
              maxSizePerMsgBytes: 200,
              maxInflightMsgs: 4,
            });
          let proposed = 0;
          const ignoreDropped = (fn: () => void) => {
            try {
              fn();
            } catch (err) {
              if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
            }
          };
          for (const a of actions) {
            switch (a.kind) {
              case 'tick':
                net.node(a.id).tick();
                break;
              case 'tickAll':
                for (const n of ALL_IDS) net.node(n).tick();
                break;
              case 'isolate':
                net.isolate(a.id);
                break;
              case 'heal':
                net.heal();
                break;
              case 'propose':
                ignoreDropped(() => net.propose(a.id, `v${proposed++}`));
                break;
              case 'conf': {
                // Only changes valid for the leader's config are proposed (an application must not
                // commit an invalid change); raft refuses a second pending one by itself. Like etcd's
                // server, the application never demotes or removes the leader itself (it would hand
                // leadership over first): apply-time config changes can otherwise leave no electable
                // node (etcd-io/etcd#12359).
                const leader = currentLeader(net);
                if (leader === null || a.changes.some((c) => c.nodeId === leader && c.type !== 'addNode'))
                  break;
                const raft = net.node(leader).raft;
                const cc: ConfChange = { transition: 'auto', changes: a.changes, context: new Uint8Array() };
                try {
                  changeConfig(raft.trk, raft.log.lastIndex(), cc);
                } catch (err) {
                  if (isRaftError(err, 'CONF_CHANGE_INVALID')) break;
                  throw err;
                }
                ignoreDropped(() => net.node(leader).proposeConfChange(cc));
                break;
              }
              case 'deliver': {
                let budget = a.count;
                net.stabilize(() => budget-- > 0);
                break;
              }
              case 'lose':
                net.dropQueued();
                break;
            }
            net.flush(); // safety is checked on every Ready
          }
          // Liveness after healing: a leader emerges and a proposal reaches every member. A
          // proposal may still be lost to a follower whose timer ran out during the faults (it
          // was not committed), so the client retries, with a bound on attempts.
          net.heal();
          net.dropQueued();
          const agreed = (): NodeId | null => {
            const l = currentLeader(net);
            if (l === null) return null;
            return membersOf(net, l).every((n) => net.node(n).raft.lead === l) ? l : null;
          };
          let committedEverywhere = false;
          for (let attempt = 0; attempt < MAX_CLIENT_ATTEMPTS && !committedEverywhere; attempt++) {
            let rounds = 0;
            while (agreed() === null && rounds++ < 20 * ELECTION_TICKS) net.tick(1);
            const leader = agreed();
            if (leader === null) throw new Error(`no stable leader after healing (leaders ${net.leaders()})`);
            const value = `final${attempt}`;
            ignoreDropped(() => net.propose(leader, value));
            net.tick(3);
            committedEverywhere = membersOf(net, leader).every((n) => net.member(n).applied.includes(value));
          }
          if (!committedEverywhere)
            throw new Error(`no proposal applied everywhere in ${MAX_CLIENT_ATTEMPTS} attempts`);
        },
      ),
      150,
    );
  },
);

t.test('quorumActiveWithin: a leader knows whether a quorum answered recently', async (t) => {
  const s = [1, 2, 3].map(() => {
    const st = new MemoryStorage();
    st.applySnapshot({
      metadata: {
        index: 1,
        term: 1,
        confState: {
          voters: [1, 2, 3],
          votersOutgoing: [],
          learners: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
      data: new Uint8Array(0),
    });
    return st;
  });
  const nodes = s.map(
    (storage, i) =>
      new RawNode({
        id: i + 1,
        storage,
        electionTicks: 10,
        heartbeatTicks: 1,
        randomInt: () => 0,
        checkQuorum: true,
      }),
  );
  const deliver = (drop: (to: number) => boolean): void => {
    for (let round = 0; round < 20; round++) {
      let moved = false;
      for (const n of nodes) {
        if (!n.hasReady()) continue;
        const rd = n.ready();
        s[n.id - 1]!.append(rd.entries);
        if (rd.hardState !== null) s[n.id - 1]!.setHardState(rd.hardState);
        for (const m of rd.messages) {
          moved = true;
          if (!drop(m.to) && !drop(m.from)) nodes[m.to - 1]!.step(m);
        }
        n.advance(rd);
      }
      if (!moved) return;
    }
  };
  const leader = nodes[0]!;
  t.notOk(leader.raft.quorumActiveWithin(10), 'a follower never claims a quorum');
  leader.campaign();
  deliver(() => false);
  t.equal(leader.raft.state, 'leader');
  leader.tick();
  deliver(() => false);
  t.ok(leader.raft.quorumActiveWithin(3), 'heartbeat acks from both followers');
  // Cut both followers off: after the window passes without acks, the leader no longer claims a quorum.
  for (let i = 0; i < 4; i++) {
    leader.tick();
    deliver((id) => id !== 1);
  }
  t.notOk(leader.raft.quorumActiveWithin(3));
  t.ok(leader.raft.quorumActiveWithin(10), 'still within a wider window');
});
