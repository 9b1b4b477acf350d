// Key-value requests: get (one key, a prefix, a range, from a key on), put, delete, compact, as
// wire requests and typed results. Txn (client/txn.ts) reuses the same request builders for the
// operations inside a transaction.

import {
  type Bytes,
  header,
  idOut,
  type KeyValue,
  keyValue,
  prefixEnd,
  type ResponseHeader,
  toBuffer,
  toNumber,
  type WireHeader,
  type WireInt,
  type WireKeyValue,
} from './wire.js';

/** Which keys a request covers: one key (default), a prefix, [key, rangeEnd), or every key ≥ key. */
export interface KeySelector {
  readonly prefix?: boolean;
  readonly rangeEnd?: Bytes;
  readonly fromKey?: boolean;
}

export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';
export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';

export interface GetOptions extends KeySelector {
  /** Read at this revision (0: the latest). */
  readonly revision?: number;
  readonly limit?: number;
  /** Answer from the member asked without a quorum round: faster, possibly stale. */
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly sort?: { readonly target?: SortTarget; readonly order?: SortOrder };
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

export interface PutOptions {
  readonly lease?: bigint;
  readonly prevKv?: boolean;
  readonly ignoreValue?: boolean;
  readonly ignoreLease?: boolean;
}

export interface DeleteOptions extends KeySelector {
  readonly prevKv?: boolean;
}

export interface GetResult {
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
  readonly count: number;
}

export interface PutResult {
  readonly header: ResponseHeader;
  readonly prevKv: KeyValue | undefined;
}

export interface DeleteResult {
  readonly header: ResponseHeader;
  readonly deleted: number;
  readonly prevKvs: readonly KeyValue[];
}

export interface WireRangeResponse {
  readonly header: WireHeader;
  readonly kvs: readonly WireKeyValue[];
  readonly more: boolean;
  readonly count: WireInt;
}

export interface WirePutResponse {
  readonly header: WireHeader;
  readonly prev_kv: WireKeyValue | null;
}

export interface WireDeleteResponse {
  readonly header: WireHeader;
  readonly deleted: WireInt;
  readonly prev_kvs: readonly WireKeyValue[];
}

/** The wire key and range_end of a selector. */
export function keyRange(key: Bytes, s: KeySelector): { key: Buffer; range_end: Buffer } {
  const k = toBuffer(key);
  if (s.prefix === true) return { key: k, range_end: prefixEnd(k) };
  if (s.fromKey === true) return { key: k, range_end: Buffer.from([0]) };
  if (s.rangeEnd !== undefined) return { key: k, range_end: toBuffer(s.rangeEnd) };
  return { key: k, range_end: Buffer.alloc(0) };
}

export function rangeRequest(key: Bytes, o: GetOptions = {}): object {
  return {
    ...keyRange(key, o),
    limit: o.limit ?? 0,
    revision: o.revision ?? 0,
    sort_order: o.sort?.order ?? (o.sort?.target !== undefined ? 'ASCEND' : 'NONE'),
    sort_target: o.sort?.target ?? 'KEY',
    serializable: o.serializable ?? false,
    keys_only: o.keysOnly ?? false,
    count_only: o.countOnly ?? false,
    min_mod_revision: o.minModRevision ?? 0,
    max_mod_revision: o.maxModRevision ?? 0,
    min_create_revision: o.minCreateRevision ?? 0,
    max_create_revision: o.maxCreateRevision ?? 0,
  };
}

export function putRequest(key: Bytes, value: Bytes, o: PutOptions = {}): object {
  return {
    key: toBuffer(key),
    value: toBuffer(value),
    lease: idOut(o.lease ?? 0n),
    prev_kv: o.prevKv ?? false,
    ignore_value: o.ignoreValue ?? false,
    ignore_lease: o.ignoreLease ?? false,
  };
}

export function deleteRequest(key: Bytes, o: DeleteOptions = {}): object {
  return { ...keyRange(key, o), prev_kv: o.prevKv ?? false };
}

export function getResult(r: WireRangeResponse): GetResult {
  return { header: header(r.header), kvs: r.kvs.map(keyValue), more: r.more, count: toNumber(r.count) };
}

export function putResult(r: WirePutResponse): PutResult {
  return { header: header(r.header), prevKv: r.prev_kv ? keyValue(r.prev_kv) : undefined };
}

export function deleteResult(r: WireDeleteResponse): DeleteResult {
  return { header: header(r.header), deleted: toNumber(r.deleted), prevKvs: r.prev_kvs.map(keyValue) };
}
