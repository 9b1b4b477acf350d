// A client for etcd's HTTP/JSON gRPC gateway (/v3/kv/*) speaking the kv layer's own types, so a
// test can send the same request to etcd and to MvccStore. The gateway's JSON is protobuf's:
// snake_case fields, bytes in base64, int64 as strings, enums by name, zero values omitted.
// An error reply becomes an EtcdGatewayError carrying the KvErrorCode with etcd's message.

import { type KvErrorCode, kvErrorMessage } from '../errors.js';
import type {
  Bytes,
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../types.js';

export interface EtcdGatewayOptions {
  /** Per-request timeout (default 10 s). */
  readonly requestTimeoutMs?: number;
}

/** The codes whose messages etcd's kv API can return; others map to null. */
const KV_API_CODES: readonly KvErrorCode[] = [
  'COMPACTED',
  'FUTURE_REV',
  'TOO_MANY_OPS',
  'DUPLICATE_KEY',
  'KEY_NOT_FOUND',
  'LEASE_NOT_FOUND',
  'NO_SPACE',
  'REQUEST_TOO_LARGE',
  'EMPTY_KEY',
  'VALUE_PROVIDED',
  'LEASE_PROVIDED',
];
const CODE_BY_MESSAGE = new Map(KV_API_CODES.map((code) => [kvErrorMessage(code), code]));
const SERVER_PREFIX = 'etcdserver: ';

export class EtcdGatewayError extends Error {
  /** The KvErrorCode whose message etcd sent (prefix removed), or null for any other error. */
  readonly code: KvErrorCode | null;
  readonly grpcCode: number;
  readonly httpStatus: number;
  constructor(message: string, grpcCode: number, httpStatus: number) {
    const bare = message.startsWith(SERVER_PREFIX) ? message.slice(SERVER_PREFIX.length) : message;
    super(bare);
    this.name = 'EtcdGatewayError';
    this.code = CODE_BY_MESSAGE.get(bare) ?? null;
    this.grpcCode = grpcCode;
    this.httpStatus = httpStatus;
  }
}

type Json = Record<string, unknown>;

const b64 = (u: Bytes): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
const int64 = (n: number): string => String(n);

function fromB64(v: unknown): Bytes {
  if (v === undefined) return new Uint8Array(0);
  if (typeof v !== 'string') throw new Error(`gateway: expected base64, got ${JSON.stringify(v)}`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

function fromInt64(v: unknown): number {
  if (v === undefined) return 0;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new Error(`gateway: expected an int64 within 2^53, got ${JSON.stringify(v)}`);
  }
  return n;
}

function obj(v: unknown, what: string): Json {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`gateway: ${what} is not an object`);
  return v as Json;
}

function arr(v: unknown, what: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Error(`gateway: ${what} is not an array`);
  return v;
}

/** Copies the set fields, leaving out the ones etcd would treat as zero anyway. */
function withSet(o: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== false) out[k] = v;
  return out;
}

const SORT_ORDER = { none: 'NONE', ascend: 'ASCEND', descend: 'DESCEND' } as const;
const SORT_TARGET = { key: 'KEY', version: 'VERSION', create: 'CREATE', mod: 'MOD', value: 'VALUE' } as const;
const COMPARE_RESULT = { equal: 'EQUAL', greater: 'GREATER', less: 'LESS', notEqual: 'NOT_EQUAL' } as const;
const COMPARE_TARGET = {
  version: 'VERSION',
  create: 'CREATE',
  mod: 'MOD',
  value: 'VALUE',
  lease: 'LEASE',
} as const;

const optInt = (n: number | undefined): string | undefined => (n === undefined ? undefined : int64(n));
const optBytes = (u: Bytes | undefined): string | undefined => (u === undefined ? undefined : b64(u));

export function rangeJson(r: RangeRequest): Json {
  return withSet({
    key: b64(r.key),
    range_end: optBytes(r.rangeEnd),
    limit: optInt(r.limit),
    revision: optInt(r.revision),
    sort_order: r.sortOrder === undefined ? undefined : SORT_ORDER[r.sortOrder],
    sort_target: r.sortTarget === undefined ? undefined : SORT_TARGET[r.sortTarget],
    serializable: r.serializable,
    keys_only: r.keysOnly,
    count_only: r.countOnly,
    min_mod_revision: optInt(r.minModRevision),
    max_mod_revision: optInt(r.maxModRevision),
    min_create_revision: optInt(r.minCreateRevision),
    max_create_revision: optInt(r.maxCreateRevision),
  });
}

export function putJson(p: PutRequest): Json {
  return withSet({
    key: b64(p.key),
    value: b64(p.value),
    lease: optInt(p.lease),
    prev_kv: p.prevKv,
    ignore_value: p.ignoreValue,
    ignore_lease: p.ignoreLease,
  });
}

export function deleteRangeJson(d: DeleteRangeRequest): Json {
  return withSet({ key: b64(d.key), range_end: optBytes(d.rangeEnd), prev_kv: d.prevKv });
}

function compareJson(c: Compare): Json {
  // The operand goes in the oneof field of the target, as clientv3 sends it.
  const operand: Json =
    c.target === 'value'
      ? { value: b64(c.value ?? new Uint8Array(0)) }
      : c.target === 'version'
        ? { version: int64(c.version ?? 0) }
        : c.target === 'create'
          ? { create_revision: int64(c.createRevision ?? 0) }
          : c.target === 'mod'
            ? { mod_revision: int64(c.modRevision ?? 0) }
            : { lease: int64(c.lease ?? 0) };
  return withSet({
    result: COMPARE_RESULT[c.result],
    target: COMPARE_TARGET[c.target],
    key: b64(c.key),
    range_end: optBytes(c.rangeEnd),
    ...operand,
  });
}

function requestOpJson(op: RequestOp): Json {
  if ('range' in op) return { request_range: rangeJson(op.range) };
  if ('put' in op) return { request_put: putJson(op.put) };
  if ('deleteRange' in op) return { request_delete_range: deleteRangeJson(op.deleteRange) };
  return { request_txn: txnJson(op.txn) };
}

export function txnJson(t: TxnRequest): Json {
  return {
    compare: t.compare.map(compareJson),
    success: t.success.map(requestOpJson),
    failure: t.failure.map(requestOpJson),
  };
}

// ---- responses ----

const headerRevision = (r: Json): number => fromInt64(obj(r.header, 'header').revision);

function keyValue(v: unknown): KeyValue {
  const o = obj(v, 'kv');
  return {
    key: fromB64(o.key),
    createRevision: fromInt64(o.create_revision),
    modRevision: fromInt64(o.mod_revision),
    version: fromInt64(o.version),
    value: fromB64(o.value),
    lease: fromInt64(o.lease),
  };
}

export function rangeResponse(r: Json): RangeResponse {
  return {
    revision: headerRevision(r),
    kvs: arr(r.kvs, 'kvs').map(keyValue),
    more: r.more === true,
    count: fromInt64(r.count),
  };
}

export function putResponse(r: Json): PutResponse {
  const revision = headerRevision(r);
  return r.prev_kv === undefined ? { revision } : { revision, prevKv: keyValue(r.prev_kv) };
}

export function deleteRangeResponse(r: Json): DeleteRangeResponse {
  return {
    revision: headerRevision(r),
    deleted: fromInt64(r.deleted),
    prevKvs: arr(r.prev_kvs, 'prev_kvs').map(keyValue),
  };
}

function responseOp(v: unknown): ResponseOp {
  const o = obj(v, 'response op');
  if (o.response_range !== undefined) return { range: rangeResponse(obj(o.response_range, 'range')) };
  if (o.response_put !== undefined) return { put: putResponse(obj(o.response_put, 'put')) };
  if (o.response_delete_range !== undefined) {
    return { deleteRange: deleteRangeResponse(obj(o.response_delete_range, 'delete_range')) };
  }
  if (o.response_txn !== undefined) return { txn: txnResponse(obj(o.response_txn, 'txn')) };
  throw new Error(`gateway: unknown response op ${JSON.stringify(o)}`);
}

export function txnResponse(r: Json): TxnResponse {
  return {
    revision: headerRevision(r),
    succeeded: r.succeeded === true,
    responses: arr(r.responses, 'responses').map(responseOp),
  };
}

export class EtcdGateway {
  private readonly baseUrl: string;
  private readonly requestTimeoutMs: number;

  constructor(clientUrl: string, o: EtcdGatewayOptions = {}) {
    this.baseUrl = clientUrl.replace(/\/$/, '');
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
  }

  private async call(path: string, body: Json): Promise<Json> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (err) {
      // fetch's own message is only "fetch failed": the reason is in `cause`.
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new Error(`gateway: POST ${path} failed${cause}`, { cause: err });
    }
    const text = await res.text();
    let json: Json;
    try {
      json = obj(JSON.parse(text), 'reply');
    } catch {
      throw new Error(`gateway: ${path} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok || json.error !== undefined) {
      const message = typeof json.message === 'string' ? json.message : String(json.error);
      throw new EtcdGatewayError(message, fromInt64(json.code), res.status);
    }
    return json;
  }

  async range(r: RangeRequest): Promise<RangeResponse> {
    return rangeResponse(await this.call('/v3/kv/range', rangeJson(r)));
  }

  async put(p: PutRequest): Promise<PutResponse> {
    return putResponse(await this.call('/v3/kv/put', putJson(p)));
  }

  async deleteRange(d: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return deleteRangeResponse(await this.call('/v3/kv/deleterange', deleteRangeJson(d)));
  }

  async txn(t: TxnRequest): Promise<TxnResponse> {
    return txnResponse(await this.call('/v3/kv/txn', txnJson(t)));
  }

  /** Compacts at `revision`; returns the header revision (the store's current one). */
  async compact(revision: number, physical = false): Promise<number> {
    return headerRevision(
      await this.call('/v3/kv/compaction', withSet({ revision: int64(revision), physical })),
    );
  }
}
