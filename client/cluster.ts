// Membership (etcd's Cluster service) and per-member maintenance (status, hashes, alarms,
// defragmentation, leader transfer, snapshot download). Membership changes are not idempotent
// and are never resent once they may have reached the cluster.

import type { ClientReadableStream } from '@grpc/grpc-js';
import type { CallOptions, Connections } from './connections.js';
import { fromGrpcError, NetcdError } from './errors.js';
import { header, idOut, type ResponseHeader, toId, toNumber, type WireHeader, type WireInt } from './wire.js';

export interface Member {
  readonly id: bigint;
  /** Empty until the member has started. */
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

interface WireMember {
  readonly ID: WireInt;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

interface WireMembersResponse {
  readonly header: WireHeader;
  readonly member?: WireMember | null;
  readonly members: readonly WireMember[];
}

export interface MembersResult {
  readonly header: ResponseHeader;
  readonly members: readonly Member[];
  /** The member a MemberAdd created. */
  readonly member?: Member;
}

function member(m: WireMember): Member {
  return {
    id: toId(m.ID),
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    isLearner: m.isLearner,
  };
}

function members(r: WireMembersResponse): MembersResult {
  const out = { header: header(r.header), members: r.members.map(member) };
  return r.member ? { ...out, member: member(r.member) } : out;
}

export interface Status {
  readonly header: ResponseHeader;
  readonly version: string;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly leader: bigint;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly errors: readonly string[];
  readonly isLearner: boolean;
}

export interface HashKV {
  readonly header: ResponseHeader;
  readonly hash: number;
  readonly compactRevision: number;
}

export type AlarmType = 'NONE' | 'NOSPACE' | 'CORRUPT';

export interface AlarmMember {
  readonly memberId: bigint;
  readonly alarm: AlarmType;
}

export class ClusterApi {
  constructor(private readonly conns: Connections) {}

  async memberList(o: CallOptions & { readonly linearizable?: boolean } = {}): Promise<MembersResult> {
    return members(
      await this.conns.unary<WireMembersResponse>(
        'Cluster',
        'MemberList',
        { linearizable: o.linearizable ?? false },
        { ...o, idempotent: true },
      ),
    );
  }

  async memberAdd(peerURLs: readonly string[], o: CallOptions & { readonly learner?: boolean } = {}) {
    return members(
      await this.conns.unary<WireMembersResponse>(
        'Cluster',
        'MemberAdd',
        { peerURLs, isLearner: o.learner ?? false },
        { ...o, idempotent: false },
      ),
    );
  }

  async memberRemove(id: bigint, o: CallOptions = {}): Promise<MembersResult> {
    return members(
      await this.conns.unary<WireMembersResponse>(
        'Cluster',
        'MemberRemove',
        { ID: idOut(id) },
        {
          ...o,
          idempotent: false,
        },
      ),
    );
  }

  async memberUpdate(id: bigint, peerURLs: readonly string[], o: CallOptions = {}): Promise<MembersResult> {
    return members(
      await this.conns.unary<WireMembersResponse>(
        'Cluster',
        'MemberUpdate',
        { ID: idOut(id), peerURLs },
        {
          ...o,
          idempotent: true,
        },
      ),
    );
  }

  async memberPromote(id: bigint, o: CallOptions = {}): Promise<MembersResult> {
    return members(
      await this.conns.unary<WireMembersResponse>(
        'Cluster',
        'MemberPromote',
        { ID: idOut(id) },
        {
          ...o,
          idempotent: true,
        },
      ),
    );
  }

  /** Status of the member behind `endpoint` (as given to the client). */
  async status(endpoint: string, o: CallOptions = {}): Promise<Status> {
    const r = await this.conns.unary<Record<string, unknown> & { header: WireHeader }>(
      'Maintenance',
      'Status',
      {},
      { ...o, idempotent: true, endpoint },
    );
    return {
      header: header(r.header),
      version: String(r.version),
      dbSize: toNumber(r.dbSize as WireInt),
      dbSizeInUse: toNumber(r.dbSizeInUse as WireInt),
      leader: toId(r.leader as WireInt),
      raftIndex: toNumber(r.raftIndex as WireInt),
      raftTerm: toNumber(r.raftTerm as WireInt),
      raftAppliedIndex: toNumber(r.raftAppliedIndex as WireInt),
      errors: (r.errors as string[] | undefined) ?? [],
      isLearner: r.isLearner === true,
    };
  }

  async hashKV(endpoint: string, revision = 0, o: CallOptions = {}): Promise<HashKV> {
    const r = await this.conns.unary<{ header: WireHeader; hash: WireInt; compact_revision: WireInt }>(
      'Maintenance',
      'HashKV',
      { revision },
      { ...o, idempotent: true, endpoint },
    );
    return {
      header: header(r.header),
      hash: toNumber(r.hash),
      compactRevision: toNumber(r.compact_revision),
    };
  }

  async defragment(endpoint: string, o: CallOptions = {}): Promise<ResponseHeader> {
    const r = await this.conns.unary<{ header: WireHeader }>(
      'Maintenance',
      'Defragment',
      {},
      {
        ...o,
        idempotent: true,
        endpoint,
      },
    );
    return header(r.header);
  }

  async moveLeader(endpoint: string, targetId: bigint, o: CallOptions = {}): Promise<ResponseHeader> {
    const r = await this.conns.unary<{ header: WireHeader }>(
      'Maintenance',
      'MoveLeader',
      { targetID: idOut(targetId) },
      { ...o, idempotent: false, endpoint },
    );
    return header(r.header);
  }

  async alarms(
    action: 'GET' | 'ACTIVATE' | 'DEACTIVATE' = 'GET',
    alarm: { readonly memberId?: bigint; readonly alarm?: AlarmType } = {},
    o: CallOptions = {},
  ): Promise<readonly AlarmMember[]> {
    const r = await this.conns.unary<{ alarms: { memberID: WireInt; alarm: AlarmType }[] }>(
      'Maintenance',
      'Alarm',
      { action, memberID: idOut(alarm.memberId ?? 0n), alarm: alarm.alarm ?? 'NONE' },
      { ...o, idempotent: action === 'GET' },
    );
    return r.alarms.map((a) => ({ memberId: toId(a.memberID), alarm: a.alarm }));
  }

  /**
   * The snapshot stream of one member, chunk by chunk, as etcdctl writes it to a file: the
   * database image followed by its 32-byte SHA-256.
   */
  async *snapshot(o: CallOptions & { readonly endpoint?: string } = {}): AsyncGenerator<Buffer> {
    let call: ClientReadableStream<{ remaining_bytes: WireInt; blob: Buffer }>;
    try {
      ({ call } = await this.conns.serverStream<{ remaining_bytes: WireInt; blob: Buffer }>(
        'Maintenance',
        'Snapshot',
        {},
        o,
      ));
    } catch (err) {
      throw err instanceof NetcdError ? err : fromGrpcError(err, false);
    }
    const onAbort = (): void => call.cancel();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const part of call as AsyncIterable<{ blob: Buffer }>) yield part.blob;
    } catch (err) {
      throw fromGrpcError(err, true);
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }
}
