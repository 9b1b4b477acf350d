// The etcd v3 data model as plain TypeScript values: keys and values are bytes, revisions are
// numbers (exact up to 2^53). Field meanings follow etcd's mvccpb / etcdserverpb messages so the
// server can map them one to one onto the wire.

export type Bytes = Uint8Array;

/** A store revision: `main` is bumped once per write transaction, `sub` counts changes within it. */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

export interface KeyValue {
  readonly key: Bytes;
  /** Revision of the last creation of this key (0 when absent). */
  readonly createRevision: number;
  /** Revision of the last modification. */
  readonly modRevision: number;
  /** Number of modifications since creation; a delete resets it to 0. */
  readonly version: number;
  readonly value: Bytes;
  /** Lease id attached (0 = none). */
  readonly lease: number;
}

export type EventType = 'put' | 'delete';

export interface Event {
  readonly type: EventType;
  /** For delete: key and modRevision (the deletion's revision) only, like etcd. */
  readonly kv: KeyValue;
  readonly prevKv?: KeyValue;
}

export type SortOrder = 'none' | 'ascend' | 'descend';
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';

export interface RangeRequest {
  readonly key: Bytes;
  /** Empty: the single key. "\0": every key >= key. Otherwise [key, rangeEnd). */
  readonly rangeEnd?: Bytes;
  /** 0 = no limit. */
  readonly limit?: number;
  /** 0 = current; otherwise a historical read at that revision. */
  readonly revision?: number;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

export interface RangeResponse {
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
  readonly count: number;
}

export interface PutRequest {
  readonly key: Bytes;
  readonly value: Bytes;
  readonly lease?: number;
  readonly prevKv?: boolean;
  readonly ignoreValue?: boolean;
  readonly ignoreLease?: boolean;
}

export interface PutResponse {
  readonly revision: number;
  readonly prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  readonly key: Bytes;
  readonly rangeEnd?: Bytes;
  readonly prevKv?: boolean;
}

export interface DeleteRangeResponse {
  readonly revision: number;
  readonly deleted: number;
  readonly prevKvs: readonly KeyValue[];
}

export type CompareResult = 'equal' | 'greater' | 'less' | 'notEqual';
export type CompareTarget = 'version' | 'create' | 'mod' | 'value' | 'lease';

export interface Compare {
  readonly result: CompareResult;
  readonly target: CompareTarget;
  readonly key: Bytes;
  readonly rangeEnd?: Bytes;
  /** The operand for `target` (number for version/create/mod/lease, bytes for value). */
  readonly version?: number;
  readonly createRevision?: number;
  readonly modRevision?: number;
  readonly value?: Bytes;
  readonly lease?: number;
}

export type RequestOp =
  | { readonly range: RangeRequest }
  | { readonly put: PutRequest }
  | { readonly deleteRange: DeleteRangeRequest }
  | { readonly txn: TxnRequest };

export type ResponseOp =
  | { readonly range: RangeResponse }
  | { readonly put: PutResponse }
  | { readonly deleteRange: DeleteRangeResponse }
  | { readonly txn: TxnResponse };

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

export interface TxnResponse {
  readonly revision: number;
  readonly succeeded: boolean;
  readonly responses: readonly ResponseOp[];
}

export interface CompactionRequest {
  readonly revision: number;
  readonly physical?: boolean;
}

/** The end of a key range: "\0" means every key from `key` on, absent means `key` alone. */
export const ALL_KEYS_FROM = new Uint8Array([0]);
