// The one place where errors become gRPC statuses: etcd's codes and exact messages (its rpctypes
// catalogue) for KvError codes, ServerError codes and the errors this layer raises itself, so
// clients that classify errors by message keep working. Anything unrecognised becomes INTERNAL.

import { status } from '@grpc/grpc-js';
import { isKvError, type KvErrorCode } from '../../kv/errors.js';
import { isServerError, type ServerErrorCode } from '../api.js';
import { ETCD_ERRORS, type EtcdErrorName } from '../proto/errors.js';

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
