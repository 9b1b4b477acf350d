// TypeScript shapes of the etcd wire messages the services read and write. Requests are typed as
// the loader decodes them (proto.ts: int64 as strings, enums by name, bytes as Buffer); responses
// as the serializer accepts them (numbers for 64-bit fields, Uint8Array for bytes). Only the
// fields netcd uses are listed.

import type { WireInt64 } from './int64.js';

type Int64In = WireInt64;
/** A decoded message field: null or absent when the sender left it unset. */
type Sub<T> = T | null | undefined;

// ---- requests (decoded) ----

export type WireSortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type WireSortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface WireRangeRequest {
  readonly key: Buffer;
  readonly range_end: Buffer;
  readonly limit: Int64In;
  readonly revision: Int64In;
  readonly sort_order: WireSortOrder | string;
  readonly sort_target: WireSortTarget | string;
  readonly serializable: boolean;
  readonly keys_only: boolean;
  readonly count_only: boolean;
  readonly min_mod_revision: Int64In;
  readonly max_mod_revision: Int64In;
  readonly min_create_revision: Int64In;
  readonly max_create_revision: Int64In;
}

export interface WirePutRequest {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly lease: Int64In;
  readonly prev_kv: boolean;
  readonly ignore_value: boolean;
  readonly ignore_lease: boolean;
}

export interface WireDeleteRangeRequest {
  readonly key: Buffer;
  readonly range_end: Buffer;
  readonly prev_kv: boolean;
}

export interface WireCompare {
  readonly result: 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL' | string;
  readonly target: 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE' | string;
  readonly key: Buffer;
  readonly range_end: Buffer;
  readonly version?: Int64In;
  readonly create_revision?: Int64In;
  readonly mod_revision?: Int64In;
  readonly value?: Buffer;
  readonly lease?: Int64In;
  readonly target_union?: string;
}

export interface WireRequestOp {
  readonly request_range?: Sub<WireRangeRequest>;
  readonly request_put?: Sub<WirePutRequest>;
  readonly request_delete_range?: Sub<WireDeleteRangeRequest>;
  readonly request_txn?: Sub<WireTxnRequest>;
  readonly request?: string;
}

export interface WireTxnRequest {
  readonly compare: readonly WireCompare[];
  readonly success: readonly WireRequestOp[];
  readonly failure: readonly WireRequestOp[];
}

export interface WireCompactionRequest {
  readonly revision: Int64In;
  readonly physical: boolean;
}

export type WireFilterType = 'NOPUT' | 'NODELETE';

export interface WireWatchCreateRequest {
  readonly key: Buffer;
  readonly range_end: Buffer;
  readonly start_revision: Int64In;
  readonly progress_notify: boolean;
  readonly filters: readonly (WireFilterType | string)[];
  readonly prev_kv: boolean;
  readonly watch_id: Int64In;
  readonly fragment: boolean;
}

export interface WireWatchRequest {
  readonly create_request?: Sub<WireWatchCreateRequest>;
  readonly cancel_request?: Sub<{ readonly watch_id: Int64In }>;
  readonly progress_request?: Sub<Record<string, never>>;
  readonly request_union?: string;
}

export interface WireLeaseGrantRequest {
  readonly TTL: Int64In;
  readonly ID: Int64In;
}

export interface WireLeaseIdRequest {
  readonly ID: Int64In;
}

export interface WireLeaseTimeToLiveRequest {
  readonly ID: Int64In;
  readonly keys: boolean;
}

export interface WireMemberAddRequest {
  readonly peerURLs: readonly string[];
  readonly isLearner: boolean;
}

export interface WireMemberIdRequest {
  readonly ID: Int64In;
}

export interface WireMemberUpdateRequest {
  readonly ID: Int64In;
  readonly peerURLs: readonly string[];
}

export type WireAlarmType = 'NONE' | 'NOSPACE' | 'CORRUPT';

export interface WireAlarmRequest {
  readonly action: 'GET' | 'ACTIVATE' | 'DEACTIVATE' | string;
  readonly memberID: Int64In;
  readonly alarm: WireAlarmType | string;
}

export interface WireHashKVRequest {
  readonly revision: Int64In;
}

export interface WireMoveLeaderRequest {
  readonly targetID: Int64In;
}

export interface WireLockRequest {
  readonly name: Buffer;
  readonly lease: Int64In;
}

export interface WireUnlockRequest {
  readonly key: Buffer;
}

export interface WireLeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  readonly rev: Int64In;
  readonly lease: Int64In;
}

export interface WireCampaignRequest {
  readonly name: Buffer;
  readonly lease: Int64In;
  readonly value: Buffer;
}

export interface WireProclaimRequest {
  readonly leader?: Sub<WireLeaderKey>;
  readonly value: Buffer;
}

export interface WireLeaderRequest {
  readonly name: Buffer;
}

export interface WireResignRequest {
  readonly leader?: Sub<WireLeaderKey>;
}

/** Auth requests carry names only: netcd reads no other field of them. */
export interface WireNamedRequest {
  readonly name?: string;
  readonly user?: string;
  readonly role?: string;
}

// ---- responses (to encode) ----

export interface WireHeader {
  readonly cluster_id: number;
  readonly member_id: number;
  readonly revision: number;
  readonly raft_term: number;
}

export interface WireKeyValue {
  readonly key: Uint8Array;
  readonly create_revision: number;
  readonly mod_revision: number;
  readonly version: number;
  readonly value: Uint8Array;
  readonly lease: number;
}

export interface WireEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: WireKeyValue;
  readonly prev_kv?: WireKeyValue;
}

export interface WireRangeResponse {
  readonly header: WireHeader;
  readonly kvs: readonly WireKeyValue[];
  readonly more: boolean;
  readonly count: number;
}

export interface WirePutResponse {
  readonly header: WireHeader;
  readonly prev_kv?: WireKeyValue;
}

export interface WireDeleteRangeResponse {
  readonly header: WireHeader;
  readonly deleted: number;
  readonly prev_kvs: readonly WireKeyValue[];
}

export type WireResponseOp =
  | { readonly response_range: WireRangeResponse }
  | { readonly response_put: WirePutResponse }
  | { readonly response_delete_range: WireDeleteRangeResponse }
  | { readonly response_txn: WireTxnResponse };

export interface WireTxnResponse {
  readonly header: WireHeader;
  readonly succeeded: boolean;
  readonly responses: readonly WireResponseOp[];
}

export interface WireHeaderOnly {
  readonly header: WireHeader;
}

export interface WireWatchResponse {
  readonly header: WireHeader;
  readonly watch_id: number;
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compact_revision?: number;
  readonly cancel_reason?: string;
  readonly fragment?: boolean;
  readonly events: readonly WireEvent[];
}

export interface WireMember {
  readonly ID: number;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

export interface WireAlarmMember {
  readonly memberID: number;
  readonly alarm: WireAlarmType;
}
