// Transactions: compares built fluently (`compare.modRevision('k').equal(5)`), operations
// (`op.put('k', 'v')`), and a builder that commits `if (all compares hold) onSuccess … onFailure …`
// atomically at one revision. A txn that writes is never retried once sent unless the server
// refused it before proposing (see client/errors.ts); one that only reads is.

import {
  type DeleteOptions,
  type DeleteResult,
  deleteRequest,
  deleteResult,
  type GetOptions,
  type GetResult,
  getResult,
  type KeySelector,
  keyRange,
  type PutOptions,
  type PutResult,
  putRequest,
  putResult,
  rangeRequest,
  type WireDeleteResponse,
  type WirePutResponse,
  type WireRangeResponse,
} from './kv.js';
import { type Bytes, header, idOut, type ResponseHeader, toBuffer, type WireHeader } from './wire.js';

type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';
type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';

export interface Compare {
  readonly wire: object;
}

class CompareBuilder<V> {
  constructor(
    private readonly key: Bytes,
    private readonly target: CompareTarget,
    private readonly selector: KeySelector,
  ) {}

  private make(result: CompareResult, value: V): Compare {
    const field =
      this.target === 'VERSION'
        ? { version: value }
        : this.target === 'CREATE'
          ? { create_revision: value }
          : this.target === 'MOD'
            ? { mod_revision: value }
            : this.target === 'LEASE'
              ? { lease: idOut(value as bigint) }
              : { value: toBuffer(value as Bytes) };
    return { wire: { ...keyRange(this.key, this.selector), result, target: this.target, ...field } };
  }

  equal(value: V): Compare {
    return this.make('EQUAL', value);
  }
  notEqual(value: V): Compare {
    return this.make('NOT_EQUAL', value);
  }
  greater(value: V): Compare {
    return this.make('GREATER', value);
  }
  less(value: V): Compare {
    return this.make('LESS', value);
  }
}

/** Compares on a key (or, with a selector, on every key of a range). */
export const compare = {
  value: (key: Bytes, s: KeySelector = {}) => new CompareBuilder<Bytes>(key, 'VALUE', s),
  version: (key: Bytes, s: KeySelector = {}) => new CompareBuilder<number>(key, 'VERSION', s),
  createRevision: (key: Bytes, s: KeySelector = {}) => new CompareBuilder<number>(key, 'CREATE', s),
  modRevision: (key: Bytes, s: KeySelector = {}) => new CompareBuilder<number>(key, 'MOD', s),
  lease: (key: Bytes, s: KeySelector = {}) => new CompareBuilder<bigint>(key, 'LEASE', s),
};

export type Op =
  | { readonly kind: 'get'; readonly wire: object }
  | { readonly kind: 'put'; readonly wire: object }
  | { readonly kind: 'delete'; readonly wire: object }
  | { readonly kind: 'txn'; readonly wire: object };

export const op = {
  get: (key: Bytes, o?: GetOptions): Op => ({ kind: 'get', wire: { request_range: rangeRequest(key, o) } }),
  put: (key: Bytes, value: Bytes, o?: PutOptions): Op => ({
    kind: 'put',
    wire: { request_put: putRequest(key, value, o) },
  }),
  delete: (key: Bytes, o?: DeleteOptions): Op => ({
    kind: 'delete',
    wire: { request_delete_range: deleteRequest(key, o) },
  }),
  txn: (t: TxnSpec): Op => ({ kind: 'txn', wire: { request_txn: txnRequest(t) } }),
};

export interface TxnSpec {
  readonly compares: readonly Compare[];
  readonly success: readonly Op[];
  readonly failure: readonly Op[];
}

export function txnRequest(t: TxnSpec): object {
  return {
    compare: t.compares.map((c) => c.wire),
    success: t.success.map((o) => o.wire),
    failure: t.failure.map((o) => o.wire),
  };
}

/** Whether any operation, nested ones included, writes. */
export function txnWrites(t: TxnSpec): boolean {
  const writes = (ops: readonly Op[]): boolean =>
    ops.some((o) => o.kind === 'put' || o.kind === 'delete' || (o.kind === 'txn' && nestedWrites(o.wire)));
  return writes(t.success) || writes(t.failure);
}

function nestedWrites(wire: object): boolean {
  const t = (wire as { request_txn: { success: object[]; failure: object[] } }).request_txn;
  const writes = (ops: object[]): boolean =>
    ops.some(
      (o) =>
        'request_put' in o ||
        'request_delete_range' in o ||
        ('request_txn' in o && nestedWrites(o as { request_txn: object })),
    );
  return writes(t.success) || writes(t.failure);
}

export type OpResult =
  | { readonly kind: 'get'; readonly get: GetResult }
  | { readonly kind: 'put'; readonly put: PutResult }
  | { readonly kind: 'delete'; readonly delete: DeleteResult }
  | { readonly kind: 'txn'; readonly txn: TxnResult };

export interface TxnResult {
  readonly header: ResponseHeader;
  readonly succeeded: boolean;
  readonly responses: readonly OpResult[];
}

export interface WireTxnResponse {
  readonly header: WireHeader;
  readonly succeeded: boolean;
  readonly responses: readonly WireResponseOp[];
}

interface WireResponseOp {
  readonly response_range?: WireRangeResponse | null;
  readonly response_put?: WirePutResponse | null;
  readonly response_delete_range?: WireDeleteResponse | null;
  readonly response_txn?: WireTxnResponse | null;
}

export function txnResult(r: WireTxnResponse, outer?: WireHeader): TxnResult {
  // Nested responses carry no header of their own in etcd: give them the outer one.
  const h = r.header ?? outer;
  const responses = r.responses.map((x): OpResult => {
    if (x.response_range) return { kind: 'get', get: getResult({ ...x.response_range, header: h }) };
    if (x.response_put) return { kind: 'put', put: putResult({ ...x.response_put, header: h }) };
    if (x.response_delete_range)
      return { kind: 'delete', delete: deleteResult({ ...x.response_delete_range, header: h }) };
    if (x.response_txn) return { kind: 'txn', txn: txnResult(x.response_txn, h) };
    throw new Error('txn response holds an unknown operation');
  });
  return { header: header(h), succeeded: r.succeeded, responses };
}

/** `client.txn().if(...).onSuccess(...).onFailure(...).commit()`. */
export class TxnBuilder {
  private readonly compares: Compare[] = [];
  private readonly success: Op[] = [];
  private readonly failure: Op[] = [];

  constructor(private readonly run: (spec: TxnSpec) => Promise<TxnResult>) {}

  if(...compares: Compare[]): this {
    this.compares.push(...compares);
    return this;
  }

  /** Operations run when every compare holds. (Not named `then`: that would make the builder a thenable.) */
  onSuccess(...ops: Op[]): this {
    this.success.push(...ops);
    return this;
  }

  /** Operations run when any compare fails. */
  onFailure(...ops: Op[]): this {
    this.failure.push(...ops);
    return this;
  }

  spec(): TxnSpec {
    return { compares: [...this.compares], success: [...this.success], failure: [...this.failure] };
  }

  commit(): Promise<TxnResult> {
    return this.run(this.spec());
  }
}
