// A single-process Member for the gRPC tests: proposals apply straight to a real KvStateMachine,
// reads hit its store, and a real WatchHub is fed by its commits. Leases expire on this process's
// clock; membership is an in-memory list. No raft, no disk: what the services do with a member is
// under test, not how a member replicates.

import { KvError } from '../../../kv/errors.js';
import { LeaseIdGenerator } from '../../../kv/lease/ids.js';
import { LeaseTable, type LeaseTimeToLive } from '../../../kv/lease/lessor.js';
import { encodeEnvelope, type KvRequest } from '../../../kv/request.js';
import { type Alarm, type ApplyResponse, KvStateMachine } from '../../../kv/state-machine.js';
import type { RangeRequest, RangeResponse } from '../../../kv/types.js';
import {
  connectWatchHub,
  storeWatchSource,
  WatchHub,
  type WatchHubOptions,
} from '../../../kv/watch/index.js';
import type { CallOptions, Header, Member, MemberInfo, MemberStatus } from '../../api.js';
import { ServerError } from '../../api.js';

export interface FakeMemberOptions {
  readonly maxRequestBytes?: number;
  readonly quotaBytes?: number;
  /** How often unsynced watchers are caught up and expired leases revoked. Default 10 ms. */
  readonly tickMs?: number;
  readonly minLeaseTtlSeconds?: number;
  readonly hub?: WatchHubOptions;
}

export const FAKE_MEMBER_ID = 0x1a2b3c4d5e6f;
export const FAKE_CLUSTER_ID = 0x0f1e2d3c4b5a;
const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
const SNAPSHOT_PART_BYTES = 64 * 1024;

export class FakeMember implements Member {
  readonly id = FAKE_MEMBER_ID;
  readonly clusterId = FAKE_CLUSTER_ID;
  readonly name = 'fake';
  readonly maxRequestBytes: number;
  readonly machine: KvStateMachine;
  readonly watchHub: WatchHub;
  /** Lease deadlines on this process's clock (ms). */
  private readonly deadlines = new Map<number, number>();
  private readonly leaseIds = new LeaseIdGenerator(FAKE_MEMBER_ID, Date.now());
  private readonly timer: NodeJS.Timeout;
  private table: LeaseTable;
  private index = 0;
  private memberList: MemberInfo[];
  private nextMemberId = FAKE_MEMBER_ID + 1;
  /** Calls made, by method name, for tests that check what the services asked for. */
  readonly calls: string[] = [];
  /** When set, every call fails with it (for error mapping tests). */
  failWith: Error | null = null;
  /** When set, header() throws it (a broken member seen from inside a watch sink). */
  failHeader: Error | null = null;

  constructor(options: FakeMemberOptions = {}) {
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    const minTtlSeconds = options.minLeaseTtlSeconds ?? 2;
    this.table = new LeaseTable({ minTtlSeconds });
    this.machine = new KvStateMachine(
      (snapshot) => {
        this.table =
          snapshot === null
            ? new LeaseTable({ minTtlSeconds })
            : LeaseTable.restore(snapshot, { minTtlSeconds });
        return this.table;
      },
      options.quotaBytes === undefined ? {} : { quotaBytes: options.quotaBytes },
    );
    this.watchHub = new WatchHub(storeWatchSource(this.machine.store), options.hub);
    connectWatchHub(this.machine.store, this.watchHub);
    this.memberList = [
      {
        id: FAKE_MEMBER_ID,
        name: this.name,
        peerURLs: ['http://127.0.0.1:2380'],
        clientURLs: ['http://127.0.0.1:2379'],
        isLearner: false,
      },
    ];
    this.timer = setInterval(() => this.tick(), options.tickMs ?? 10);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    this.watchHub.syncUnsynced();
    const now = Date.now();
    const expired = [...this.deadlines].filter(([, at]) => at <= now).map(([id]) => id);
    if (expired.length > 0) {
      for (const id of expired) this.deadlines.delete(id);
      void this.propose({ leaseExpire: { ids: expired } }).catch(() => undefined);
    }
  }

  private enter(method: string, opts?: CallOptions): void {
    this.calls.push(method);
    if (this.failWith !== null) throw this.failWith;
    if (opts?.signal?.aborted === true) throw new ServerError('CANCELED', 'canceled');
  }

  header(): Header {
    if (this.failHeader !== null) throw this.failHeader;
    return {
      clusterId: this.clusterId,
      memberId: this.id,
      revision: this.machine.store.currentRevision,
      raftTerm: 1,
    };
  }

  async range(req: RangeRequest, opts?: CallOptions): Promise<RangeResponse> {
    this.enter('range', opts);
    return this.machine.store.range(req);
  }

  async propose(request: KvRequest, opts?: CallOptions): Promise<ApplyResponse> {
    this.enter('propose', opts);
    // Never apply inside the caller's synchronous code: it may be a watch sink.
    await Promise.resolve();
    this.index++;
    const result = this.machine.apply(
      this.index,
      encodeEnvelope({ requestId: `fake-${this.index}`, request }),
    );
    if (result === null) throw new KvError('CORRUPT', 'entry skipped');
    if (!result.ok) throw new KvError(result.code);
    return result.response;
  }

  async linearizableBarrier(opts?: CallOptions): Promise<void> {
    this.enter('linearizableBarrier', opts);
  }

  async leaseGrant(
    id: number,
    ttlSeconds: number,
    opts?: CallOptions,
  ): Promise<{ id: number; ttlSeconds: number }> {
    this.enter('leaseGrant', opts);
    const chosen = id === 0 ? this.leaseIds.next((x) => this.table.has(x)) : id;
    await this.propose({ leaseGrant: { id: chosen, ttlSeconds } });
    const granted = this.table.get(chosen)?.ttlSeconds ?? ttlSeconds;
    this.deadlines.set(chosen, Date.now() + granted * 1000);
    return { id: chosen, ttlSeconds: granted };
  }

  async leaseRevoke(id: number, opts?: CallOptions): Promise<void> {
    this.enter('leaseRevoke', opts);
    await this.propose({ leaseRevoke: { id } });
    this.deadlines.delete(id);
  }

  async leaseKeepAlive(id: number, opts?: CallOptions): Promise<number> {
    this.enter('leaseKeepAlive', opts);
    const lease = this.table.get(id);
    if (lease === undefined) throw new KvError('LEASE_NOT_FOUND');
    this.deadlines.set(id, Date.now() + lease.ttlSeconds * 1000);
    return lease.ttlSeconds;
  }

  async leaseTimeToLive(
    id: number,
    keys: boolean,
    opts?: CallOptions,
  ): Promise<LeaseTimeToLive & { readonly ttlSeconds: number }> {
    this.enter('leaseTimeToLive', opts);
    const ttl = this.table.timeToLive(id, { keys });
    const deadline = this.deadlines.get(id) ?? Date.now();
    const remainingMs = Math.max(deadline - Date.now(), 0);
    return { ...ttl, remainingMs, ttlSeconds: Math.floor(remainingMs / 1000) };
  }

  async leaseList(opts?: CallOptions): Promise<number[]> {
    this.enter('leaseList', opts);
    return this.table.list();
  }

  async members(opts?: CallOptions): Promise<MemberInfo[]> {
    this.enter('members', opts);
    return [...this.memberList];
  }

  async memberAdd(peerURLs: readonly string[], isLearner: boolean, opts?: CallOptions): Promise<MemberInfo> {
    this.enter('memberAdd', opts);
    if (this.memberList.some((m) => m.peerURLs.some((u) => peerURLs.includes(u))))
      throw new ServerError('PEER_URL_EXISTS', 'peer URL exists');
    const added: MemberInfo = { id: this.nextMemberId++, name: '', peerURLs, clientURLs: [], isLearner };
    this.memberList.push(added);
    return added;
  }

  async memberRemove(id: number, opts?: CallOptions): Promise<void> {
    this.enter('memberRemove', opts);
    this.requireMember(id);
    this.memberList = this.memberList.filter((m) => m.id !== id);
  }

  async memberUpdate(id: number, peerURLs: readonly string[], opts?: CallOptions): Promise<void> {
    this.enter('memberUpdate', opts);
    const m = this.requireMember(id);
    this.memberList = this.memberList.map((x) => (x.id === id ? { ...m, peerURLs } : x));
  }

  async memberPromote(id: number, opts?: CallOptions): Promise<void> {
    this.enter('memberPromote', opts);
    const m = this.requireMember(id);
    if (!m.isLearner) throw new ServerError('MEMBER_NOT_LEARNER', 'not a learner');
    this.memberList = this.memberList.map((x) => (x.id === id ? { ...m, isLearner: false } : x));
  }

  private requireMember(id: number): MemberInfo {
    const m = this.memberList.find((x) => x.id === id);
    if (m === undefined) throw new ServerError('MEMBER_NOT_FOUND', `member ${id}`);
    return m;
  }

  async status(): Promise<MemberStatus> {
    this.enter('status');
    return {
      version: '3.4.0',
      dbSize: this.machine.store.usageBytes,
      dbSizeInUse: this.machine.store.usageBytes,
      leader: this.id,
      raftIndex: this.index,
      raftTerm: 1,
      raftAppliedIndex: this.index,
      errors: [],
      isLearner: false,
    };
  }

  async hash(): Promise<number> {
    this.enter('hash');
    return this.machine.hash();
  }

  async hashKV(revision: number): Promise<{ hash: number; compactRevision: number; revision: number }> {
    this.enter('hashKV');
    return this.machine.store.hashKV(revision);
  }

  async *snapshotStream(): AsyncIterable<Uint8Array> {
    this.enter('snapshot');
    const bytes = this.machine.snapshot();
    for (let at = 0; at < bytes.length; at += SNAPSHOT_PART_BYTES) {
      yield bytes.subarray(at, at + SNAPSHOT_PART_BYTES);
    }
  }

  alarms(): readonly Alarm[] {
    this.enter('alarms');
    return this.machine.activeAlarms();
  }

  async alarm(
    action: 'activate' | 'deactivate',
    memberId: number,
    alarm: Alarm['alarm'],
  ): Promise<readonly Alarm[]> {
    this.enter('alarm');
    const res = await this.propose({ alarm: { action, memberId, alarm } });
    if (!('alarm' in res)) throw new Error('not an alarm response');
    return res.alarm.alarms;
  }

  async defragment(): Promise<void> {
    this.enter('defragment');
  }

  async moveLeader(targetId: number, opts?: CallOptions): Promise<void> {
    this.enter('moveLeader', opts);
    if (targetId !== this.id) throw new ServerError('BAD_LEADER_TRANSFEREE', 'not a member');
  }
}
