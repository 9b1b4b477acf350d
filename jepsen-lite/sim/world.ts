// One deterministic simulation run: raft members, a network, disks, clients and a fault schedule
// on a virtual clock, all driven by one seeded PRNG. Safety is checked as events happen;
// liveness and client linearizability are checked once the faults have healed.

import { isRaftError, RaftError } from '../../raft/errors.js';
import { Prng } from '../../raft/prng.js';
import { contextKey } from '../../raft/readonly.js';
import { MemoryStorage } from '../../raft/storage.js';
import type { ConfChange, Message, NodeId, Ready } from '../../raft/types.js';
import { EMPTY_BYTES } from '../../raft/types.js';
import type { RegisterOp } from '../checker/history.js';
import { checkRegisterHistory } from '../checker/linearizability.js';
import { EventQueue } from './event-queue.js';
import { describeFault, type Fault, type FaultEvent } from './faults.js';
import { encodeOp, type WorkloadOp } from './kv-app.js';
import { LeaseWorkload } from './lease-workload.js';
import { SimNetwork } from './network.js';
import { type NodeTuning, SimNode } from './node.js';
import { type LogView, SafetyMonitor, type Violation } from './safety.js';
import { WatchWorkload } from './watch-workload.js';

export interface SimBugs {
  readonly commitPreviousTerm?: boolean;
  readonly doubleVote?: boolean;
  readonly readIndexWithoutHeartbeat?: boolean;
  /** The host sends a Ready's messages before its entries and vote are durable. */
  readonly skipPersistBeforeSend?: boolean;
}

export type BugName = keyof SimBugs;
export const BUG_NAMES: readonly BugName[] = [
  'commitPreviousTerm',
  'doubleVote',
  'readIndexWithoutHeartbeat',
  'skipPersistBeforeSend',
];

export interface SimOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Events processed while faults are active; the run then heals and checks liveness. */
  readonly steps: number;
  readonly schedule: readonly FaultEvent[];
  readonly horizonMs: number;
  readonly bugs?: SimBugs;
  readonly clients?: number;
  /** Virtual time allowed after healing for a leader to emerge and a write to commit. */
  readonly livenessBoundMs?: number;
}

export interface SimStats {
  readonly steps: number;
  readonly simulatedMs: number;
  readonly messages: number;
  readonly messagesDropped: number;
  readonly faults: number;
  readonly commits: number;
  readonly leadersElected: number;
  readonly clientOps: number;
  readonly clientOk: number;
  readonly watchEvents: number;
  readonly leases: { readonly granted: number; readonly keepAlives: number; readonly revoked: number };
}

export interface SimResult {
  readonly seed: number;
  readonly stats: SimStats;
  readonly violations: readonly Violation[];
  readonly faultLog: readonly string[];
}

type SimEvent =
  | { readonly type: 'tick'; readonly node: NodeId; readonly epoch: number }
  | { readonly type: 'deliver'; readonly msg: Message }
  | { readonly type: 'diskDone'; readonly node: NodeId; readonly epoch: number }
  | {
      readonly type: 'snapStatus';
      readonly node: NodeId;
      readonly epoch: number;
      readonly peer: NodeId;
      readonly ok: boolean;
    }
  | { readonly type: 'clientNext'; readonly client: number }
  | { readonly type: 'clientTimeout'; readonly client: number; readonly seq: number }
  | { readonly type: 'faultStart'; readonly index: number }
  | { readonly type: 'faultEnd'; readonly index: number }
  | { readonly type: 'restart'; readonly node: NodeId }
  | { readonly type: 'livenessProbe' }
  | { readonly type: 'watchMaintain' }
  | { readonly type: 'leaseClient'; readonly index: number };

interface ClientState {
  readonly id: number;
  seq: number;
  target: NodeId;
  /** The op in flight, with the node it was sent to. */
  current: { op: Omit<RegisterOp, 'completeTime' | 'outcome'>; seq: number; node: NodeId } | null;
}

const TICK_MS = 10;
const KEYS = ['x', 'y', 'z'];
const CLIENT_TIMEOUT_MS = 600;
/** Bound on Ready handling loops per node per event: raft must quiesce. */
const MAX_READY_ROUNDS = 64;
const LIVENESS_CLIENT = 1_000_000;
/** How often watch clients reconnect and hubs catch up lagging watchers. */
const WATCH_MAINTAIN_MS = 20;
const WATCHERS = 3;

export class World {
  readonly o: SimOptions;
  readonly prng: Prng;
  readonly queue = new EventQueue<SimEvent>();
  readonly net: SimNetwork;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly safety = new SafetyMonitor();
  readonly history: RegisterOp[] = [];
  readonly faultLog: string[] = [];
  private readonly clients: ClientState[] = [];
  private readonly watches: WatchWorkload;
  private readonly leases: LeaseWorkload;
  private readonly tuning: NodeTuning;
  private readonly active: (Fault | null)[] = [];
  nowMs = 0;
  steps = 0;
  commits = 0;
  private faultsInjected = 0;
  private healed = false;
  private livenessSeq = 0;
  private livenessDone = false;

  constructor(o: SimOptions) {
    this.o = o;
    this.prng = new Prng(o.seed);
    this.net = new SimNetwork(this.prng, 1 + this.prng.int(4));
    const bugs = o.bugs ?? {};
    this.tuning = {
      electionTicks: 10,
      heartbeatTicks: 1 + this.prng.int(2),
      preVote: !this.prng.chance(0.2),
      checkQuorum: bugs.readIndexWithoutHeartbeat === true ? this.prng.chance(0.3) : !this.prng.chance(0.2),
      // Small messages (often one entry each) exercise batching limits and Figure 8 orders.
      maxSizePerMsgBytes: this.prng.pick([1, 64, 256, 4096]),
      maxInflightMsgs: 1 + this.prng.int(8),
      snapshotEvery: 20 + this.prng.int(80),
      compactionLag: this.prng.int(10),
      bugs: {
        ...(bugs.commitPreviousTerm === true ? { commitPreviousTerm: true } : {}),
        ...(bugs.doubleVote === true ? { doubleVote: true } : {}),
        ...(bugs.readIndexWithoutHeartbeat === true ? { readIndexWithoutHeartbeat: true } : {}),
      },
    };
    const voters = Array.from({ length: o.nodes }, (_, i) => i + 1);
    // Two spare members start outside the config; membership faults add them.
    const all = Array.from({ length: o.nodes + 2 }, (_, i) => i + 1);
    for (const id of all) {
      const disk = new MemoryStorage();
      disk.applySnapshot({
        metadata: {
          index: 1,
          term: 1,
          confState: { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
        },
        data: EMPTY_BYTES,
      });
      const node = new SimNode(
        id,
        disk,
        this.tuning,
        (n) => this.prng.int(n),
        this.prng.pick([1, 1, 2, 3, 5, 10, 25]),
      );
      this.nodes.set(id, node);
      node.start();
      this.queue.push(this.prng.int(TICK_MS), { type: 'tick', node: id, epoch: node.epoch });
    }
    const clients = o.clients ?? 3 + this.prng.int(3);
    for (let c = 1; c <= clients; c++) {
      this.clients.push({ id: c, seq: 0, target: this.prng.pick(voters), current: null });
      this.queue.push(this.prng.int(50), { type: 'clientNext', client: c });
    }
    this.watches = new WatchWorkload(this.prng, this.nodes, WATCHERS);
    this.leases = new LeaseWorkload(
      {
        nowMs: () => this.nowMs,
        prng: this.prng,
        nodes: this.nodes,
        propose: (n, data) => this.proposeOn(n, data),
      },
      1 + this.prng.int(2),
      o.horizonMs,
    );
    for (let i = 0; i < this.leases.clientCount; i++)
      this.queue.push(this.prng.int(100), { type: 'leaseClient', index: i });
    this.queue.push(0, { type: 'watchMaintain' });
    o.schedule.forEach((ev, i) => {
      this.active.push(null);
      this.queue.push(ev.atMs, { type: 'faultStart', index: i });
    });
  }

  // ---- the run ----

  run(): SimResult {
    let violationSeen = false;
    while (this.steps < this.o.steps && this.nowMs < this.o.horizonMs && !violationSeen) {
      if (!this.stepOnce()) break;
      violationSeen = this.safety.violations.length > 0;
    }
    if (!violationSeen) this.healAndCheckLiveness();
    this.checkEnd();
    return {
      seed: this.o.seed,
      stats: {
        steps: this.steps,
        simulatedMs: this.nowMs,
        messages: this.net.sent,
        messagesDropped: this.net.dropped,
        faults: this.faultsInjected,
        commits: this.commits,
        leadersElected: this.safety.leadersElected,
        clientOps: this.history.length,
        clientOk: this.history.filter((h) => h.outcome === 'ok').length,
        watchEvents: this.watches.eventsDelivered(),
        leases: {
          granted: this.leases.granted,
          keepAlives: this.leases.keepAlivesAcked,
          revoked: this.leases.revoked,
        },
      },
      violations: this.safety.violations,
      faultLog: this.faultLog,
    };
  }

  private stepOnce(): boolean {
    const next = this.queue.pop();
    if (next === undefined) return false;
    this.nowMs = Math.max(this.nowMs, next.atMs);
    this.steps++;
    try {
      this.handle(next.event);
    } catch (err) {
      // Any exception escaping raft or the host is a bug: an invariant, or an input raft refused.
      const property = err instanceof RaftError && err.code === 'INVARIANT' ? 'raft-invariant' : 'exception';
      const detail = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
      this.safety.violations.push({ property, atMs: this.nowMs, detail });
      return false;
    }
    if (this.steps % 500 === 0) this.safety.checkLogMatching(this.nowMs, this.liveRawNodes());
    return true;
  }

  /** Every member's log as an election would judge it: in memory when up, on disk when down. */
  private logViews(): Map<NodeId, LogView> {
    const views = new Map<NodeId, LogView>();
    for (const [id, n] of this.nodes) {
      if (n.raw !== null) {
        const log = n.raw.raft.log;
        views.set(id, {
          lastIndex: log.lastIndex(),
          lastTerm: log.lastTerm(),
          snapshotIndex: log.firstIndex() - 1,
          termAt: (i) => log.zeroTermOnError(i),
        });
      } else {
        const d = n.disk;
        const termAt = (i: number): number => {
          try {
            return d.term(i);
          } catch {
            return 0;
          }
        };
        views.set(id, {
          lastIndex: d.lastIndex(),
          lastTerm: termAt(d.lastIndex()),
          snapshotIndex: d.firstIndex() - 1,
          termAt,
        });
      }
    }
    return views;
  }

  private liveRawNodes(): Map<NodeId, NonNullable<SimNode['raw']>> {
    const m = new Map<NodeId, NonNullable<SimNode['raw']>>();
    for (const [id, n] of this.nodes) if (n.raw !== null) m.set(id, n.raw);
    return m;
  }

  private healAndCheckLiveness(): void {
    this.healed = true;
    this.net.healAll();
    this.active.fill(null);
    for (const [id, n] of this.nodes) {
      n.diskLatencyMs = n.baseDiskLatencyMs;
      n.tickRatePercent = 100;
      if (!n.up) this.restart(id);
    }
    this.faultLog.push(`${this.nowMs}ms heal all`);
    const bound = this.o.livenessBoundMs ?? 6000;
    const deadline = this.nowMs + bound;
    this.queue.push(this.nowMs, { type: 'livenessProbe' });
    const stepBound = this.steps + 200_000;
    while (
      !this.livenessDone &&
      this.nowMs < deadline &&
      this.steps < stepBound &&
      this.safety.violations.length === 0
    ) {
      if (!this.stepOnce()) break;
    }
    if (!this.livenessDone && this.safety.violations.length === 0) {
      const leaders = [...this.nodes.values()].filter((n) => n.raw?.raft.state === 'leader').map((n) => n.id);
      this.safety.violations.push({
        property: 'liveness',
        atMs: this.nowMs,
        detail: `no write committed within ${bound}ms after healing (leaders: ${leaders.join(',') || 'none'})`,
      });
    }
    // Let in-flight client operations finish or time out so the history is complete.
    const settle = this.nowMs + CLIENT_TIMEOUT_MS + 50;
    while (this.nowMs < settle && this.steps < stepBound && this.safety.violations.length === 0) {
      if (!this.stepOnce()) break;
    }
  }

  private checkEnd(): void {
    this.safety.checkLogMatching(this.nowMs, this.liveRawNodes());
    // Members that applied the same prefix of the log hold byte-identical state.
    const byApplied = new Map<number, { id: NodeId; hash: number }>();
    for (const n of this.nodes.values()) {
      if (n.raw === null) continue;
      const applied = n.app.machine.appliedIndex;
      const hash = n.app.stateHash();
      const other = byApplied.get(applied);
      if (other === undefined) byApplied.set(applied, { id: n.id, hash });
      else if (other.hash !== hash) {
        this.safety.violations.push({
          property: 'state-divergence',
          atMs: this.nowMs,
          detail: `nodes ${other.id} and ${n.id} applied up to ${applied} but their state hashes differ`,
        });
      }
    }
    for (const c of this.clients) {
      if (c.current !== null) this.complete(c, 'unknown', {});
    }
    this.safety.violations.push(...this.leases.violations);
    if (this.safety.violations.length > 0) return;
    const up = [...this.nodes.values()].filter((n) => n.up);
    const reference = up.reduce<SimNode | null>(
      (best, n) =>
        best === null || n.app.machine.store.currentRevision > best.app.machine.store.currentRevision
          ? n
          : best,
      null,
    );
    if (reference !== null) this.safety.violations.push(...this.watches.check(this.nowMs, reference));
    const verdict = checkRegisterHistory(this.history, { timeBudgetMs: 10_000 });
    if (verdict.verdict === 'violation') {
      this.safety.violations.push({
        property: 'linearizability',
        atMs: this.nowMs,
        detail: `key ${verdict.key}: ${verdict.minimal.length}-op history not linearizable: ${verdict.explanation}`,
      });
    }
  }

  // ---- events ----

  private handle(ev: SimEvent): void {
    switch (ev.type) {
      case 'tick': {
        const n = this.nodes.get(ev.node)!;
        if (n.epoch !== ev.epoch || n.raw === null) return;
        n.raw.tick();
        this.leases.leaderTick(n);
        this.drive(n);
        const interval = Math.max(1, Math.round((TICK_MS * 100) / n.tickRatePercent));
        this.queue.push(this.nowMs + interval, { type: 'tick', node: n.id, epoch: n.epoch });
        return;
      }
      case 'deliver': {
        const n = this.nodes.get(ev.msg.to);
        if (n === undefined || n.raw === null) {
          if (ev.msg.type === 'snap') this.reportSnapshot(ev.msg.from, ev.msg.to, false);
          return;
        }
        if (ev.msg.type === 'snap') this.reportSnapshot(ev.msg.from, ev.msg.to, true);
        try {
          n.raw.step(ev.msg);
        } catch (err) {
          if (!isRaftError(err, 'PROPOSAL_DROPPED') && !isRaftError(err, 'STEP_PEER_NOT_FOUND')) throw err;
        }
        this.drive(n);
        return;
      }
      case 'diskDone': {
        const n = this.nodes.get(ev.node)!;
        if (n.epoch !== ev.epoch || n.inflightReady === null) return;
        const rd = n.inflightReady;
        n.inflightReady = null;
        n.persist(rd);
        this.finishReady(n, rd, this.o.bugs?.skipPersistBeforeSend !== true);
        this.drive(n);
        return;
      }
      case 'snapStatus': {
        const n = this.nodes.get(ev.node)!;
        if (n.epoch !== ev.epoch || n.raw === null) return;
        if (n.raw.raft.trk.progress.has(ev.peer)) n.raw.reportSnapshot(ev.peer, ev.ok);
        this.drive(n);
        return;
      }
      case 'clientNext':
        this.clientNext(this.clients[ev.client - 1]!);
        return;
      case 'clientTimeout': {
        const c = this.clients[ev.client - 1]!;
        if (c.current === null || c.current.seq !== ev.seq) return;
        const node = this.nodes.get(c.current.node);
        node?.pendingWrites.delete(`${c.id}:${c.current.seq}`);
        node?.pendingReads.delete(readCtxKey(c.id, c.current.seq));
        // A read that timed out had no effect; a write may or may not have happened.
        this.complete(c, c.current.op.kind === 'read' ? 'fail' : 'unknown', {});
        c.target = this.prng.pick([...this.nodes.keys()]);
        return;
      }
      case 'faultStart':
        if (!this.healed) this.startFault(ev.index);
        return;
      case 'faultEnd':
        if (!this.healed) this.endFault(ev.index);
        return;
      case 'restart':
        if (!this.nodes.get(ev.node)!.up) this.restart(ev.node);
        return;
      case 'livenessProbe':
        this.livenessProbe();
        return;
      case 'leaseClient':
        this.queue.push(this.nowMs + this.leases.clientTurn(ev.index), ev);
        return;
      case 'watchMaintain':
        this.watches.maintain();
        this.queue.push(this.nowMs + WATCH_MAINTAIN_MS, { type: 'watchMaintain' });
        return;
    }
  }

  private reportSnapshot(from: NodeId, to: NodeId, ok: boolean): void {
    const n = this.nodes.get(from);
    if (n === undefined) return;
    this.queue.push(this.nowMs + 1, { type: 'snapStatus', node: from, epoch: n.epoch, peer: to, ok });
  }

  private restart(id: NodeId): void {
    const n = this.nodes.get(id)!;
    n.start();
    this.queue.push(this.nowMs + this.prng.int(TICK_MS), { type: 'tick', node: id, epoch: n.epoch });
    this.drive(n);
  }

  // ---- ready handling: persist, then send, then apply ----

  private drive(n: SimNode): void {
    for (let round = 0; round < MAX_READY_ROUNDS; round++) {
      const raw = n.raw;
      if (raw === null || n.inflightReady !== null || !raw.hasReady()) return;
      const rd = raw.ready();
      if (rd.softState !== null) this.observeRole(n);
      const needsWrite = rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null;
      if (!needsWrite) {
        this.finishReady(n, rd, true);
        continue;
      }
      n.inflightReady = rd;
      if (this.o.bugs?.skipPersistBeforeSend === true) this.sendAll(n, rd.messages);
      this.queue.push(this.nowMs + n.diskLatencyMs, { type: 'diskDone', node: n.id, epoch: n.epoch });
      return;
    }
    throw new RaftError('INVARIANT', `node ${n.id} produced Ready ${MAX_READY_ROUNDS} times in one event`);
  }

  private observeRole(n: SimNode): void {
    const r = n.raw!.raft;
    if (r.state === 'leader' && (n.lastRole !== 'leader' || n.lastTerm !== r.term)) {
      for (let i = 0; i < this.active.length; i++) {
        if (this.active[i]?.kind !== 'isolateNextLeader') continue;
        const isolated: Fault = { kind: 'isolate', node: [...this.nodes.keys()].indexOf(n.id) };
        this.applyFault(isolated, true);
        this.active[i] = isolated;
        this.faultLog.push(`${this.nowMs}ms fire isolateNextLeader: ${describeFault(isolated)}`);
      }
      this.safety.onLeader(this.nowMs, n.id, r.term, n.raw!);
      this.safety.checkLogMatching(this.nowMs, this.liveRawNodes());
    }
    n.lastRole = r.state;
    n.lastTerm = r.term;
  }

  private sendAll(n: SimNode, msgs: readonly Message[]): void {
    for (const raw of msgs) {
      // Like etcd's transport, a snapshot goes out as the sender's current applied state: the
      // stored one may predate the recipient's addition and would be refused.
      const m = raw.type === 'snap' ? { ...raw, snapshot: n.currentSnapshot() } : raw;
      const fate = this.net.fate(m);
      if (!fate.delivered) {
        if (m.type === 'snap') this.reportSnapshot(m.from, m.to, false);
        continue;
      }
      for (const d of fate.delaysMs) this.queue.push(this.nowMs + d, { type: 'deliver', msg: m });
    }
  }

  private finishReady(n: SimNode, rd: Ready, send: boolean): void {
    const raw = n.raw!;
    if (send) this.sendAll(n, rd.messages);
    n.installSnapshot(rd);
    for (const e of rd.committedEntries) {
      if (e.index > this.safety.maxAppliedIndex) {
        const cs = n.confState;
        this.safety.checkCommittedSafe(
          this.nowMs,
          e.index,
          e.term,
          [cs.voters, cs.votersOutgoing],
          this.logViews(),
        );
      }
      this.safety.onApply(this.nowMs, n.id, e);
      this.commits++;
      if (e.type === 'confChange') {
        n.applyConfChange(e.data);
        continue;
      }
      if (e.data.length === 0) continue;
      const done = n.app.apply(e.index, e.data);
      if (done === null) continue;
      this.safety.onResult(this.nowMs, n.id, e.index, done.digest);
      this.leases.onApplied(n, done);
      if (n.pendingWrites.delete(`${done.client}:${done.seq}`))
        this.completeWrite(done.client, done.seq, done.swapped);
    }
    raw.advance(rd);
    for (const rs of rd.readStates) {
      const pr = n.pendingReads.get(contextKey(rs.requestCtx));
      if (pr !== undefined) pr.index = rs.index;
    }
    this.serveReads(n);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last !== undefined) n.maybeSnapshot(last.index);
  }

  private serveReads(n: SimNode): void {
    if (n.pendingReads.size === 0) return;
    const applied = n.raw!.raft.log.applied;
    for (const [k, pr] of n.pendingReads) {
      if (pr.index === null || pr.index > applied) continue;
      n.pendingReads.delete(k);
      const c = this.clients[pr.client - 1];
      if (c?.current?.seq !== pr.seq) continue;
      this.complete(c, 'ok', { result: n.app.read(pr.key) });
    }
  }

  private completeWrite(client: number, seq: number, swapped: boolean | undefined): void {
    if (client === LIVENESS_CLIENT) {
      this.livenessDone = true;
      return;
    }
    const c = this.clients[client - 1];
    if (c?.current?.seq !== seq) return;
    this.complete(c, 'ok', c.current.op.kind === 'cas' ? { casSwapped: swapped === true } : {});
  }

  // ---- clients ----

  private clientNext(c: ClientState): void {
    if (c.current !== null) return;
    // After healing, the liveness probe takes over; clients stop issuing new work.
    if (this.healed && this.livenessDone) return;
    c.seq++;
    const seq = c.seq;
    const key = this.prng.pick(KEYS);
    const roll = this.prng.int(10);
    const node = this.nodes.get(c.target)!;
    const invoke = { process: c.id, key, invokeTime: this.nowMs };
    if (roll < 4) {
      c.current = { op: { ...invoke, kind: 'read' }, seq, node: node.id };
      if (node.raw === null) {
        this.complete(c, 'fail', {});
        return;
      }
      node.pendingReads.set(readCtxKey(c.id, seq), { client: c.id, seq, key, index: null });
      node.raw.readIndex(readCtx(c.id, seq));
    } else {
      const value = `${c.id}-${seq}`;
      let cmd: WorkloadOp;
      if (roll < 8) {
        cmd = { op: 'put', client: c.id, seq, key, value };
        c.current = { op: { ...invoke, kind: 'write', value }, seq, node: node.id };
      } else {
        const expect = this.prng.chance(0.3) ? null : this.latestValueSeen(key);
        cmd = { op: 'cas', client: c.id, seq, key, expect, value };
        c.current = { op: { ...invoke, kind: 'cas', value, expect }, seq, node: node.id };
      }
      if (node.raw === null) {
        this.complete(c, 'fail', {});
        return;
      }
      try {
        node.raw.propose(encodeOp(cmd));
      } catch (err) {
        if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
        this.complete(c, 'fail', {});
        return;
      }
      node.pendingWrites.set(`${c.id}:${seq}`, { client: c.id, seq });
    }
    this.queue.push(this.nowMs + CLIENT_TIMEOUT_MS, { type: 'clientTimeout', client: c.id, seq });
    this.drive(node);
  }

  private latestValueSeen(key: string): string | null {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const h = this.history[i]!;
      if (h.key === key && h.outcome === 'ok' && h.kind === 'read') return h.result ?? null;
    }
    return null;
  }

  private complete(c: ClientState, outcome: RegisterOp['outcome'], extra: Partial<RegisterOp>): void {
    const cur = c.current!;
    const node = this.nodes.get(cur.node);
    if (outcome === 'fail' || outcome === 'ok') {
      // Follow the leader the node knows of, else try another node.
      const lead = node?.raw?.raft.lead ?? 0;
      if (lead !== 0) c.target = lead;
      else if (outcome === 'fail') c.target = this.prng.pick([...this.nodes.keys()]);
    }
    this.history.push({ ...cur.op, ...extra, outcome, completeTime: this.nowMs });
    c.current = null;
    this.queue.push(this.nowMs + this.prng.int(20), { type: 'clientNext', client: c.id });
  }

  /** Proposes on a member; false when raft dropped it (no leader known, transfer running). */
  private proposeOn(n: SimNode, data: Uint8Array): boolean {
    if (n.raw === null) return false;
    try {
      n.raw.propose(data);
    } catch (err) {
      if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
      return false;
    }
    this.drive(n);
    return true;
  }

  private livenessProbe(): void {
    if (this.livenessDone) return;
    const leader = [...this.nodes.values()].find((n) => n.raw?.raft.state === 'leader');
    if (leader !== undefined) {
      this.livenessSeq++;
      const cmd: WorkloadOp = {
        op: 'put',
        client: LIVENESS_CLIENT,
        seq: this.livenessSeq,
        key: '__liveness',
        value: String(this.livenessSeq),
      };
      try {
        leader.raw!.propose(encodeOp(cmd));
        leader.pendingWrites.set(`${LIVENESS_CLIENT}:${this.livenessSeq}`, {
          client: LIVENESS_CLIENT,
          seq: this.livenessSeq,
        });
        this.drive(leader);
      } catch (err) {
        if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
      }
    }
    this.queue.push(this.nowMs + 100, { type: 'livenessProbe' });
  }

  // ---- faults ----

  private nodeOf(index: number): NodeId {
    const ids = [...this.nodes.keys()];
    return ids[index % ids.length]!;
  }

  private leaderId(): NodeId | null {
    for (const n of this.nodes.values()) if (n.raw?.raft.state === 'leader') return n.id;
    return null;
  }

  private startFault(index: number): void {
    const ev = this.o.schedule[index]!;
    const f = ev.fault;
    const applied = this.applyFault(f, true);
    if (applied === null) return;
    this.faultsInjected++;
    this.active[index] = applied;
    this.faultLog.push(`${this.nowMs}ms start ${describeFault(applied)}`);
    this.queue.push(this.nowMs + ev.durationMs, { type: 'faultEnd', index });
  }

  private endFault(index: number): void {
    const f = this.active[index];
    if (f === null || f === undefined) return;
    this.active[index] = null;
    this.applyFault(f, false);
    this.faultLog.push(`${this.nowMs}ms end ${describeFault(f)}`);
  }

  /** Starts or ends a fault; returns the concrete fault started (or null if it does not apply now). */
  private applyFault(f: Fault, start: boolean): Fault | null {
    const ids = [...this.nodes.keys()];
    const links = (a: NodeId, b: NodeId): void => (start ? this.net.block(a, b) : this.net.unblock(a, b));
    switch (f.kind) {
      case 'drop':
        this.net.faults.dropRate = start ? f.rate : 0;
        return f;
      case 'duplicate':
        this.net.faults.duplicateRate = start ? f.rate : 0;
        return f;
      case 'delay':
        this.net.faults.maxExtraDelayMs = start ? f.maxExtraMs : 0;
        return f;
      case 'isolate':
      case 'isolateLeader': {
        const x = f.kind === 'isolate' ? this.nodeOf(f.node) : this.leaderId();
        if (x === null) return null;
        for (const y of ids) {
          if (y === x) continue;
          links(x, y);
          links(y, x);
        }
        // Ending must unblock the same node, so the concrete node is what is remembered.
        return { kind: 'isolate', node: ids.indexOf(x) };
      }
      case 'isolateNextLeader':
        // Armed now; observeRole isolates the next leader. Ending an unfired one disarms it.
        return f;
      case 'split': {
        const side = (id: NodeId) => (f.side >> (id - 1)) & 1;
        for (const a of ids) for (const b of ids) if (side(a) !== side(b)) links(a, b);
        return f;
      }
      case 'mute': {
        const x = this.nodeOf(f.node);
        for (const y of ids) if (y !== x) links(x, y);
        return f;
      }
      case 'deafen': {
        const x = this.nodeOf(f.node);
        for (const y of ids) if (y !== x) links(y, x);
        return f;
      }
      case 'bridge': {
        const a = this.nodeOf(f.a);
        const b = this.nodeOf(f.b);
        if (a === b) return null;
        links(a, b);
        links(b, a);
        return f;
      }
      case 'crash':
      case 'crashLeader': {
        const x = f.kind === 'crash' ? this.nodeOf(f.node) : this.leaderId();
        if (x === null) return null;
        const n = this.nodes.get(x)!;
        if (start) {
          if (!n.up) return null;
          n.crash();
          return { kind: 'crash', node: ids.indexOf(x) };
        }
        if (!n.up) this.restart(x);
        return f;
      }
      case 'crashMajority': {
        if (!start) {
          for (const id of ids) if (!this.nodes.get(id)!.up) this.restart(id);
          return f;
        }
        const quorum = Math.floor(this.o.nodes / 2) + 1;
        const victims = ids.filter((id) => this.nodes.get(id)!.up);
        // Rotate the list by `pick` so different runs crash different majorities.
        const chosen = victims.map((_, i) => victims[(i + f.pick) % victims.length]!).slice(0, quorum);
        for (const id of chosen) this.nodes.get(id)!.crash();
        return chosen.length > 0 ? f : null;
      }
      case 'slowDisk': {
        const n = this.nodes.get(this.nodeOf(f.node))!;
        n.diskLatencyMs = start ? f.latencyMs : n.baseDiskLatencyMs;
        return f;
      }
      case 'clockSkew': {
        const n = this.nodes.get(this.nodeOf(f.node))!;
        n.tickRatePercent = start ? f.ratePercent : 100;
        return f;
      }
      case 'member':
        return start ? this.memberChange(f) : f;
      case 'transferLeader': {
        if (!start) return f;
        const lead = this.leaderId();
        if (lead === null) return null;
        const voters = this.nodes.get(lead)!.confState.voters.filter((v) => v !== lead);
        if (voters.length === 0) return null;
        const to = voters[f.pick % voters.length]!;
        this.nodes.get(lead)!.raw!.transferLeader(to);
        this.drive(this.nodes.get(lead)!);
        return f;
      }
    }
  }

  private memberChange(f: Extract<Fault, { kind: 'member' }>): Fault | null {
    const lead = this.leaderId();
    if (lead === null) return null;
    const leader = this.nodes.get(lead)!;
    const cs = leader.confState;
    if (cs.votersOutgoing.length > 0) return null;
    const members = new Set([...cs.voters, ...cs.learners]);
    const outside = [...this.nodes.keys()].filter((id) => !members.has(id));
    let cc: ConfChange;
    const pick = <T>(xs: readonly T[]): T | undefined => xs[f.pick % Math.max(1, xs.length)];
    switch (f.action) {
      case 'addLearner': {
        const id = pick(outside);
        if (id === undefined) return null;
        cc = { transition: 'auto', changes: [{ type: 'addLearner', nodeId: id }], context: EMPTY_BYTES };
        break;
      }
      case 'promote': {
        const id = pick(cs.learners);
        if (id === undefined) return null;
        cc = { transition: 'auto', changes: [{ type: 'addNode', nodeId: id }], context: EMPTY_BYTES };
        break;
      }
      case 'removeVoter': {
        // Keep at least as many voters as the cluster started with minus one, and never fewer than 3.
        if (cs.voters.length <= 3) return null;
        const id = pick(cs.voters.filter((v) => v !== lead));
        if (id === undefined) return null;
        cc = { transition: 'auto', changes: [{ type: 'removeNode', nodeId: id }], context: EMPTY_BYTES };
        break;
      }
      case 'replaceJoint': {
        const add = pick(outside);
        const remove = pick(cs.voters.filter((v) => v !== lead));
        if (add === undefined || remove === undefined) return null;
        cc = {
          transition: 'jointImplicit',
          changes: [
            { type: 'addNode', nodeId: add },
            { type: 'removeNode', nodeId: remove },
          ],
          context: EMPTY_BYTES,
        };
        break;
      }
    }
    try {
      leader.raw!.proposeConfChange(cc);
    } catch (err) {
      if (!isRaftError(err, 'PROPOSAL_DROPPED')) throw err;
      return null;
    }
    this.drive(leader);
    return f;
  }
}

function readCtx(client: number, seq: number): Uint8Array {
  return new TextEncoder().encode(`r${client}:${seq}`);
}

function readCtxKey(client: number, seq: number): string {
  return contextKey(readCtx(client, seq));
}
