// Wire messages (wire-types.ts) to the kv layer's requests and back. Requests are checked as they
// are converted: 64-bit fields must be exact (int64.ts), enums must be known; key and value bytes
// are copied out of the received message so the store never pins a whole gRPC frame.

import type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  DeleteRangeResponse,
  Event,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
} from '../../kv/types.js';
import type { WatchRequest } from '../../kv/watch/watcher.js';
import type { Header } from '../api.js';
import { ServerError } from '../api.js';
import { etcdError } from './errors.js';
import { int64 } from './int64.js';
import type {
  WireCompare,
  WireDeleteRangeRequest,
  WireDeleteRangeResponse,
  WireEvent,
  WireHeader,
  WireKeyValue,
  WirePutRequest,
  WirePutResponse,
  WireRangeRequest,
  WireRangeResponse,
  WireRequestOp,
  WireResponseOp,
  WireTxnRequest,
  WireTxnResponse,
  WireWatchCreateRequest,
} from './wire-types.js';

// ---- common ----

/** A fresh copy: decoded bytes are views into the received frame. */
export function ownBytes(bytes: Uint8Array | null | undefined): Uint8Array {
  return bytes === null || bytes === undefined ? new Uint8Array(0) : new Uint8Array(bytes);
}

/** Range-end fields: empty on the wire means "absent". */
function rangeEnd(bytes: Uint8Array | null | undefined): { rangeEnd?: Uint8Array } {
  return bytes === null || bytes === undefined || bytes.length === 0 ? {} : { rangeEnd: ownBytes(bytes) };
}

function enumValue<T extends string>(table: Record<string, T>, value: string, field: string): T {
  const v = Object.hasOwn(table, value) ? table[value] : undefined;
  if (v === undefined) throw new ServerError('INVALID_ARGUMENT', `${field}: unknown value ${value}`);
  return v;
}

/** The member's header, with the revision of the result where etcd reports that one. */
export function headerOut(h: Header, revision: number = h.revision): WireHeader {
  return { cluster_id: h.clusterId, member_id: h.memberId, revision, raft_term: h.raftTerm };
}

/** The header etcd puts on responses nested in a txn: the revision only (and 0 for a nested txn). */
function nestedHeader(revision: number): WireHeader {
  return { cluster_id: 0, member_id: 0, revision, raft_term: 0 };
}

export function keyValueOut(kv: KeyValue): WireKeyValue {
  return {
    key: kv.key,
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: kv.value,
    lease: kv.lease,
  };
}

export function eventOut(ev: Event): WireEvent {
  return {
    type: ev.type === 'put' ? 'PUT' : 'DELETE',
    kv: keyValueOut(ev.kv),
    ...(ev.prevKv === undefined ? {} : { prev_kv: keyValueOut(ev.prevKv) }),
  };
}

// ---- requests ----

const SORT_ORDERS: Record<string, SortOrder> = { NONE: 'none', ASCEND: 'ascend', DESCEND: 'descend' };
const SORT_TARGETS: Record<string, SortTarget> = {
  KEY: 'key',
  VERSION: 'version',
  CREATE: 'create',
  MOD: 'mod',
  VALUE: 'value',
};

export function rangeRequestIn(w: WireRangeRequest): RangeRequest {
  return {
    key: ownBytes(w.key),
    ...rangeEnd(w.range_end),
    limit: int64(w.limit, 'limit'),
    revision: int64(w.revision, 'revision'),
    sortOrder: enumValue(SORT_ORDERS, String(w.sort_order), 'sort_order'),
    sortTarget: enumValue(SORT_TARGETS, String(w.sort_target), 'sort_target'),
    serializable: w.serializable,
    keysOnly: w.keys_only,
    countOnly: w.count_only,
    minModRevision: int64(w.min_mod_revision, 'min_mod_revision'),
    maxModRevision: int64(w.max_mod_revision, 'max_mod_revision'),
    minCreateRevision: int64(w.min_create_revision, 'min_create_revision'),
    maxCreateRevision: int64(w.max_create_revision, 'max_create_revision'),
  };
}

export function putRequestIn(w: WirePutRequest): PutRequest {
  return {
    key: ownBytes(w.key),
    value: ownBytes(w.value),
    lease: int64(w.lease, 'lease'),
    prevKv: w.prev_kv,
    ignoreValue: w.ignore_value,
    ignoreLease: w.ignore_lease,
  };
}

export function deleteRangeRequestIn(w: WireDeleteRangeRequest): DeleteRangeRequest {
  return { key: ownBytes(w.key), ...rangeEnd(w.range_end), prevKv: w.prev_kv };
}

const COMPARE_RESULTS: Record<string, CompareResult> = {
  EQUAL: 'equal',
  GREATER: 'greater',
  LESS: 'less',
  NOT_EQUAL: 'notEqual',
};
const COMPARE_TARGETS: Record<string, CompareTarget> = {
  VERSION: 'version',
  CREATE: 'create',
  MOD: 'mod',
  VALUE: 'value',
  LEASE: 'lease',
};

/** The operand is read from the member that matches the target; any other member is ignored, as in etcd. */
export function compareIn(w: WireCompare): Compare {
  const target = enumValue(COMPARE_TARGETS, String(w.target), 'compare target');
  const base = {
    result: enumValue(COMPARE_RESULTS, String(w.result), 'compare result'),
    target,
    key: ownBytes(w.key),
    ...rangeEnd(w.range_end),
  };
  switch (target) {
    case 'version':
      return { ...base, version: int64(w.version, 'compare version') };
    case 'create':
      return { ...base, createRevision: int64(w.create_revision, 'compare create_revision') };
    case 'mod':
      return { ...base, modRevision: int64(w.mod_revision, 'compare mod_revision') };
    case 'value':
      return { ...base, value: ownBytes(w.value) };
    case 'lease':
      return { ...base, lease: int64(w.lease, 'compare lease') };
  }
}

export function requestOpIn(w: WireRequestOp): RequestOp {
  if (w.request_range) return { range: rangeRequestIn(w.request_range) };
  if (w.request_put) return { put: putRequestIn(w.request_put) };
  if (w.request_delete_range) return { deleteRange: deleteRangeRequestIn(w.request_delete_range) };
  if (w.request_txn) return { txn: txnRequestIn(w.request_txn) };
  // etcd answers an operation with nothing in it this way too.
  throw etcdError('KEY_NOT_FOUND');
}

export function txnRequestIn(w: WireTxnRequest): TxnRequest {
  return {
    compare: w.compare.map(compareIn),
    success: w.success.map(requestOpIn),
    failure: w.failure.map(requestOpIn),
  };
}

/** etcd watches the key "\0" when none is given (so key "" with range end "\0" is every key). */
const NUL_KEY = new Uint8Array([0]);

export function watchCreateIn(w: WireWatchCreateRequest): WatchRequest {
  return {
    key: w.key.length === 0 ? NUL_KEY : ownBytes(w.key),
    ...rangeEnd(w.range_end),
    startRevision: int64(w.start_revision, 'start_revision'),
    prevKv: w.prev_kv,
    noPut: w.filters.includes('NOPUT'),
    noDelete: w.filters.includes('NODELETE'),
    progressNotify: w.progress_notify,
  };
}

// ---- responses ----

export function rangeResponseOut(r: RangeResponse, header: WireHeader): WireRangeResponse {
  return { header, kvs: r.kvs.map(keyValueOut), more: r.more, count: r.count };
}

export function putResponseOut(r: PutResponse, header: WireHeader): WirePutResponse {
  return { header, ...(r.prevKv === undefined ? {} : { prev_kv: keyValueOut(r.prevKv) }) };
}

export function deleteRangeResponseOut(r: DeleteRangeResponse, header: WireHeader): WireDeleteRangeResponse {
  return { header, deleted: r.deleted, prev_kvs: r.prevKvs.map(keyValueOut) };
}

function responseOpOut(op: ResponseOp): WireResponseOp {
  if ('range' in op) return { response_range: rangeResponseOut(op.range, nestedHeader(op.range.revision)) };
  if ('put' in op) return { response_put: putResponseOut(op.put, nestedHeader(op.put.revision)) };
  if ('deleteRange' in op)
    return {
      response_delete_range: deleteRangeResponseOut(op.deleteRange, nestedHeader(op.deleteRange.revision)),
    };
  return { response_txn: txnResponseOut(op.txn, nestedHeader(0)) };
}

export function txnResponseOut(r: TxnResponse, header: WireHeader): WireTxnResponse {
  return { header, succeeded: r.succeeded, responses: r.responses.map(responseOpOut) };
}
