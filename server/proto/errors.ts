// etcd's gRPC error catalogue, part of the wire API: the status code and the exact message of each
// error etcd's servers send. The server answers with these, and clients (netcd's own and etcd's)
// classify errors by matching the message.

import { status } from '@grpc/grpc-js';

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
