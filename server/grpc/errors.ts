// The one place where errors become gRPC statuses: etcd's codes and exact messages (its rpctypes
// catalogue) for KvError codes, ServerError codes and the errors this layer raises itself, so
// clients that classify errors by message keep working. Anything unrecognised becomes INTERNAL.

import { status } from '@grpc/grpc-js';
import { isKvError, type KvErrorCode } from '../../kv/errors.js';
import { isServerError, type ServerErrorCode } from '../api.js';

/** etcd's gRPC errors: status code and the message clients match on. */
export const ETCD_ERRORS = {
  EMPTY_KEY: [status.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  KEY_NOT_FOUND: [status.INVALID_ARGUMENT, 'etcdserver: key not found'],
  VALUE_PROVIDED: [status.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  LEASE_PROVIDED: [status.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  TOO_MANY_OPS: [status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  DUPLICATE_KEY: [status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  COMPACTED: [status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  FUTURE_REV: [status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  NO_SPACE: [status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],

  LEASE_NOT_FOUND: [status.NOT_FOUND, 'etcdserver: requested lease not found'],
  LEASE_EXIST: [status.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  LEASE_TTL_TOO_LARGE: [status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],

  MEMBER_EXIST: [status.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  PEER_URL_EXIST: [status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  MEMBER_NOT_ENOUGH_STARTED: [
    status.FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ],
  MEMBER_BAD_URLS: [status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  MEMBER_NOT_FOUND: [status.NOT_FOUND, 'etcdserver: member not found'],
  MEMBER_NOT_LEARNER: [status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  LEARNER_NOT_READY: [
    status.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ],
  TOO_MANY_LEARNERS: [status.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],

  REQUEST_TOO_LARGE: [status.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  TOO_MANY_REQUESTS: [status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],

  ROOT_USER_NOT_EXIST: [status.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  USER_EMPTY: [status.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  USER_NOT_FOUND: [status.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  ROLE_EMPTY: [status.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  ROLE_NOT_FOUND: [status.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  AUTH_NOT_ENABLED: [status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],

  NO_LEADER: [status.UNAVAILABLE, 'etcdserver: no leader'],
  NOT_LEADER: [status.FAILED_PRECONDITION, 'etcdserver: not leader'],
  LEADER_CHANGED: [status.UNAVAILABLE, 'etcdserver: leader changed'],
  NOT_CAPABLE: [status.UNAVAILABLE, 'etcdserver: not capable'],
  STOPPED: [status.UNAVAILABLE, 'etcdserver: server stopped'],
  TIMEOUT: [status.UNAVAILABLE, 'etcdserver: request timed out'],
  UNHEALTHY: [status.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  CORRUPT: [status.DATA_LOSS, 'etcdserver: corrupt cluster'],
  BAD_LEADER_TRANSFEREE: [status.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],

  /** What Go's gRPC server answers for a canceled context. */
  CANCELED: [status.CANCELLED, 'context canceled'],
} as const satisfies Record<string, readonly [status, string]>;

export type EtcdErrorName = keyof typeof ETCD_ERRORS;

/** An error carrying its final gRPC status; grpc-js sends `code` and `details` as they are. */
export class RpcError extends Error {
  readonly code: status;
  readonly details: string;
  constructor(code: status, details: string) {
    super(details);
    this.code = code;
    this.details = details;
    this.name = 'RpcError';
  }
}

export function etcdError(name: EtcdErrorName): RpcError {
  const [code, details] = ETCD_ERRORS[name];
  return new RpcError(code, details);
}

/** The member answered a proposal with a result of another kind: a bug, reported as INTERNAL. */
export function unexpectedResult(kind: string, result: object): RpcError {
  return new RpcError(status.INTERNAL, `expected a ${kind} result, got ${Object.keys(result).join(',')}`);
}

/** null: no etcd equivalent; the error's own message is sent. */
const KV_ERRORS: Record<KvErrorCode, EtcdErrorName | null> = {
  COMPACTED: 'COMPACTED',
  FUTURE_REV: 'FUTURE_REV',
  TOO_MANY_OPS: 'TOO_MANY_OPS',
  DUPLICATE_KEY: 'DUPLICATE_KEY',
  KEY_NOT_FOUND: 'KEY_NOT_FOUND',
  LEASE_NOT_FOUND: 'LEASE_NOT_FOUND',
  LEASE_EXISTS: 'LEASE_EXIST',
  LEASE_TTL_TOO_LARGE: 'LEASE_TTL_TOO_LARGE',
  LEASE_NOT_PRIMARY: null,
  NO_SPACE: 'NO_SPACE',
  REQUEST_TOO_LARGE: 'REQUEST_TOO_LARGE',
  RESPONSE_TOO_LARGE: null,
  EMPTY_KEY: 'EMPTY_KEY',
  BAD_REQUEST: null,
  VALUE_PROVIDED: 'VALUE_PROVIDED',
  LEASE_PROVIDED: 'LEASE_PROVIDED',
  CORRUPT: 'CORRUPT',
  WATCH_EMPTY_RANGE: null,
  WATCH_DUPLICATE_ID: null,
  WATCH_INVARIANT: null,
};

/** KvErrors whose message is gRPC's own in etcd: sent as they are, without the "etcdserver: " prefix. */
const KV_TRANSPORT: Partial<Record<KvErrorCode, status>> = {
  RESPONSE_TOO_LARGE: status.RESOURCE_EXHAUSTED,
};

/** Status codes of the KvErrors that have no etcd counterpart. */
const KV_FALLBACK: Partial<Record<KvErrorCode, status>> = {
  // A renewal reached a member that stopped leading: retryable, like etcd's leader errors.
  LEASE_NOT_PRIMARY: status.UNAVAILABLE,
  BAD_REQUEST: status.INVALID_ARGUMENT,
  WATCH_EMPTY_RANGE: status.INVALID_ARGUMENT,
  WATCH_DUPLICATE_ID: status.INVALID_ARGUMENT,
};

const SERVER_ERRORS: Record<ServerErrorCode, EtcdErrorName | null> = {
  NO_LEADER: 'NO_LEADER',
  TIMEOUT: 'TIMEOUT',
  STOPPING: 'STOPPED',
  NOT_LEADER: 'NOT_LEADER',
  LEADER_CHANGED: 'LEADER_CHANGED',
  MEMBER_NOT_FOUND: 'MEMBER_NOT_FOUND',
  MEMBER_EXISTS: 'MEMBER_EXIST',
  PEER_URL_EXISTS: 'PEER_URL_EXIST',
  MEMBER_NOT_LEARNER: 'MEMBER_NOT_LEARNER',
  LEARNER_NOT_READY: 'LEARNER_NOT_READY',
  TOO_MANY_LEARNERS: 'TOO_MANY_LEARNERS',
  UNHEALTHY: 'UNHEALTHY',
  NOT_CAPABLE: 'NOT_CAPABLE',
  BAD_LEADER_TRANSFEREE: 'BAD_LEADER_TRANSFEREE',
  REQUEST_TOO_LARGE: 'REQUEST_TOO_LARGE',
  CANCELED: 'CANCELED',
  INVALID_ARGUMENT: null,
};

/** The gRPC status for any error a service or the member throws. Never throws itself. */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (isKvError(err)) {
    const name = KV_ERRORS[err.code];
    if (name !== null) return etcdError(name);
    const transport = KV_TRANSPORT[err.code];
    if (transport !== undefined) return new RpcError(transport, err.message);
    return new RpcError(KV_FALLBACK[err.code] ?? status.INTERNAL, `etcdserver: ${err.message}`);
  }
  if (isServerError(err)) {
    const name = SERVER_ERRORS[err.code];
    return name === null ? new RpcError(status.INVALID_ARGUMENT, err.message) : etcdError(name);
  }
  if (isAbort(err)) return etcdError('CANCELED');
  const message = err instanceof Error ? err.message : String(err);
  return new RpcError(status.INTERNAL, message === '' ? 'internal error' : message);
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Go's names for status codes, the label values etcd's gRPC metrics use. */
const STATUS_NAMES: Record<status, string> = {
  [status.OK]: 'OK',
  [status.CANCELLED]: 'Canceled',
  [status.UNKNOWN]: 'Unknown',
  [status.INVALID_ARGUMENT]: 'InvalidArgument',
  [status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [status.NOT_FOUND]: 'NotFound',
  [status.ALREADY_EXISTS]: 'AlreadyExists',
  [status.PERMISSION_DENIED]: 'PermissionDenied',
  [status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [status.ABORTED]: 'Aborted',
  [status.OUT_OF_RANGE]: 'OutOfRange',
  [status.UNIMPLEMENTED]: 'Unimplemented',
  [status.INTERNAL]: 'Internal',
  [status.UNAVAILABLE]: 'Unavailable',
  [status.DATA_LOSS]: 'DataLoss',
  [status.UNAUTHENTICATED]: 'Unauthenticated',
};

export function statusName(code: number): string {
  return STATUS_NAMES[code as status] ?? `Code(${code})`;
}
