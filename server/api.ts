// The contract between the gRPC services (server/grpc) and the member that serves them
// (server/member.ts). The services translate wire messages to these calls and back; everything
// about consensus, forwarding, read linearizability and leases lives behind this interface.

import type { LeaseTimeToLive } from '../kv/lease/lessor.js';
import type { MemberRecord } from '../kv/members.js';
import type { KvRequest } from '../kv/request.js';
import type { Alarm, ApplyResponse } from '../kv/state-machine.js';
import type { RangeRequest, RangeResponse } from '../kv/types.js';
import type { WatchHub } from '../kv/watch/hub.js';

/** etcd's ResponseHeader, numbers exact up to 2^53 (ids are chosen below that). */
export interface Header {
  readonly clusterId: number;
  readonly memberId: number;
  readonly revision: number;
  readonly raftTerm: number;
}

/** A member as MemberList reports it (name empty until the member has started and published it). */
export type MemberInfo = MemberRecord;

export interface MemberStatus {
  readonly version: string;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly leader: number;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly errors: readonly string[];
  readonly isLearner: boolean;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

/**
 * Errors thrown by a Member carry a code the gRPC layer maps to a status (server/grpc/errors.ts).
 * Kv errors (kv/errors.ts KvError) pass through unchanged and are mapped the same way.
 */
export type ServerErrorCode =
  | 'NO_LEADER'
  | 'TIMEOUT'
  | 'STOPPING'
  | 'NOT_LEADER'
  | 'LEADER_CHANGED'
  | 'MEMBER_NOT_FOUND'
  | 'MEMBER_EXISTS'
  | 'PEER_URL_EXISTS'
  | 'MEMBER_NOT_LEARNER'
  | 'LEARNER_NOT_READY'
  | 'TOO_MANY_LEARNERS'
  | 'UNHEALTHY'
  | 'NOT_CAPABLE'
  | 'BAD_LEADER_TRANSFEREE'
  | 'REQUEST_TOO_LARGE'
  | 'CANCELED'
  | 'INVALID_ARGUMENT';

export class ServerError extends Error {
  readonly code: ServerErrorCode;
  constructor(code: ServerErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ServerError';
  }
}

export function isServerError(e: unknown): e is ServerError {
  return e instanceof ServerError;
}

/** One member as the API sees it. */
export interface Member {
  readonly id: number;
  readonly clusterId: number;
  readonly name: string;
  /** --max-request-bytes: the services refuse larger requests before doing anything. */
  readonly maxRequestBytes: number;
  header(): Header;

  /** Range: linearizable (ReadIndex, on any member) unless `req.serializable`. */
  range(req: RangeRequest, opts?: CallOptions): Promise<RangeResponse>;
  /** Replicates a write and resolves with its applied result (or throws its KvError). */
  propose(req: KvRequest, opts?: CallOptions): Promise<ApplyResponse>;
  /** Waits until every write acknowledged before the call is applied locally (for reads that need it). */
  linearizableBarrier(opts?: CallOptions): Promise<void>;

  /** This member's watch hub (events of locally applied entries). */
  readonly watchHub: WatchHub;

  /** Grant with id 0 = the server chooses. */
  leaseGrant(id: number, ttlSeconds: number, opts?: CallOptions): Promise<{ id: number; ttlSeconds: number }>;
  leaseRevoke(id: number, opts?: CallOptions): Promise<void>;
  /** Renews on the leader (forwarded when this member is not); resolves with the TTL in seconds. */
  leaseKeepAlive(id: number, opts?: CallOptions): Promise<number>;
  /** Remaining TTL as the leader knows it (-1 when expired), plus keys when asked. */
  leaseTimeToLive(
    id: number,
    keys: boolean,
    opts?: CallOptions,
  ): Promise<LeaseTimeToLive & { readonly ttlSeconds: number }>;
  leaseList(opts?: CallOptions): Promise<number[]>;

  members(opts?: CallOptions): Promise<MemberInfo[]>;
  memberAdd(peerURLs: readonly string[], isLearner: boolean, opts?: CallOptions): Promise<MemberInfo>;
  memberRemove(id: number, opts?: CallOptions): Promise<void>;
  memberUpdate(id: number, peerURLs: readonly string[], opts?: CallOptions): Promise<void>;
  memberPromote(id: number, opts?: CallOptions): Promise<void>;

  status(): Promise<MemberStatus>;
  /** Hash of the whole local store (etcd's Hash). */
  hash(): Promise<number>;
  /** HashKV at `revision` (0 = current). */
  hashKV(revision: number): Promise<{ hash: number; compactRevision: number; revision: number }>;
  /** Snapshot of the local store as a stream of chunks (the file `snapshot restore` reads). */
  snapshotStream(): AsyncIterable<Uint8Array>;
  alarms(): readonly Alarm[];
  /** Activates or deactivates an alarm through raft; returns the alarms afterwards. */
  alarm(
    action: 'activate' | 'deactivate',
    memberId: number,
    alarm: Alarm['alarm'],
  ): Promise<readonly Alarm[]>;
  defragment(): Promise<void>;
  moveLeader(targetId: number, opts?: CallOptions): Promise<void>;
}
