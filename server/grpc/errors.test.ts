// Proves the error mapping: every kv and server error code has a status, etcd's catalogue entries
// carry the "etcdserver: " prefix except the canceled context, details never leak into etcd's
// messages, and anything unrecognised becomes INTERNAL with its message.

import { status } from '@grpc/grpc-js';
import t from 'tap';
import { KvError, type KvErrorCode } from '../../kv/errors.js';
import { ServerError, type ServerErrorCode } from '../api.js';
import { ETCD_ERRORS } from '../proto/errors.js';
import { etcdError, RpcError, statusName, toRpcError } from './errors.js';

const KV_CODES: KvErrorCode[] = [
  'COMPACTED',
  'FUTURE_REV',
  'TOO_MANY_OPS',
  'DUPLICATE_KEY',
  'KEY_NOT_FOUND',
  'LEASE_NOT_FOUND',
  'LEASE_EXISTS',
  'LEASE_TTL_TOO_LARGE',
  'LEASE_NOT_PRIMARY',
  'NO_SPACE',
  'REQUEST_TOO_LARGE',
  'RESPONSE_TOO_LARGE',
  'EMPTY_KEY',
  'BAD_REQUEST',
  'VALUE_PROVIDED',
  'LEASE_PROVIDED',
  'CORRUPT',
  'WATCH_EMPTY_RANGE',
  'WATCH_DUPLICATE_ID',
  'WATCH_INVARIANT',
];

const SERVER_CODES: ServerErrorCode[] = [
  'NO_LEADER',
  'TIMEOUT',
  'STOPPING',
  'NOT_LEADER',
  'LEADER_CHANGED',
  'MEMBER_NOT_FOUND',
  'MEMBER_EXISTS',
  'PEER_URL_EXISTS',
  'MEMBER_NOT_LEARNER',
  'LEARNER_NOT_READY',
  'TOO_MANY_LEARNERS',
  'UNHEALTHY',
  'NOT_CAPABLE',
  'BAD_LEADER_TRANSFEREE',
  'REQUEST_TOO_LARGE',
  'CANCELED',
  'INVALID_ARGUMENT',
];

t.test('kv errors: etcd codes and exact messages, details dropped', async (t) => {
  const got = Object.fromEntries(
    KV_CODES.map((code) => {
      const e = toRpcError(new KvError(code, 'some detail'));
      return [code, `${statusName(e.code)} ${e.details}`];
    }),
  );
  t.strictSame(got, {
    COMPACTED: 'OutOfRange etcdserver: mvcc: required revision has been compacted',
    FUTURE_REV: 'OutOfRange etcdserver: mvcc: required revision is a future revision',
    TOO_MANY_OPS: 'InvalidArgument etcdserver: too many operations in txn request',
    DUPLICATE_KEY: 'InvalidArgument etcdserver: duplicate key given in txn request',
    KEY_NOT_FOUND: 'InvalidArgument etcdserver: key not found',
    LEASE_NOT_FOUND: 'NotFound etcdserver: requested lease not found',
    LEASE_EXISTS: 'FailedPrecondition etcdserver: lease already exists',
    LEASE_TTL_TOO_LARGE: 'OutOfRange etcdserver: too large lease TTL',
    LEASE_NOT_PRIMARY: 'Unavailable etcdserver: not a primary lessor: some detail',
    NO_SPACE: 'ResourceExhausted etcdserver: mvcc: database space exceeded',
    REQUEST_TOO_LARGE: 'InvalidArgument etcdserver: request is too large',
    RESPONSE_TOO_LARGE: 'ResourceExhausted grpc: trying to send message larger than max: some detail',
    EMPTY_KEY: 'InvalidArgument etcdserver: key is not provided',
    BAD_REQUEST: 'InvalidArgument etcdserver: invalid request: some detail',
    VALUE_PROVIDED: 'InvalidArgument etcdserver: value is provided',
    LEASE_PROVIDED: 'InvalidArgument etcdserver: lease is provided',
    CORRUPT: 'DataLoss etcdserver: corrupt cluster',
    WATCH_EMPTY_RANGE: 'InvalidArgument etcdserver: mvcc: watcher range is empty: some detail',
    WATCH_DUPLICATE_ID:
      'InvalidArgument etcdserver: mvcc: duplicate watch ID provided on the WatchStream: some detail',
    WATCH_INVARIANT: 'Internal etcdserver: mvcc: watch invariant violated: some detail',
  });
});

t.test('server errors: etcd codes and exact messages', async (t) => {
  const got = Object.fromEntries(
    SERVER_CODES.map((code) => {
      const e = toRpcError(new ServerError(code, 'own text'));
      return [code, `${statusName(e.code)} ${e.details}`];
    }),
  );
  t.strictSame(got, {
    NO_LEADER: 'Unavailable etcdserver: no leader',
    TIMEOUT: 'Unavailable etcdserver: request timed out',
    STOPPING: 'Unavailable etcdserver: server stopped',
    NOT_LEADER: 'FailedPrecondition etcdserver: not leader',
    LEADER_CHANGED: 'Unavailable etcdserver: leader changed',
    MEMBER_NOT_FOUND: 'NotFound etcdserver: member not found',
    MEMBER_EXISTS: 'FailedPrecondition etcdserver: member ID already exist',
    PEER_URL_EXISTS: 'FailedPrecondition etcdserver: Peer URLs already exists',
    MEMBER_NOT_LEARNER: 'FailedPrecondition etcdserver: can only promote a learner member',
    LEARNER_NOT_READY:
      'FailedPrecondition etcdserver: can only promote a learner member which is in sync with leader',
    TOO_MANY_LEARNERS: 'FailedPrecondition etcdserver: too many learner members in cluster',
    UNHEALTHY: 'Unavailable etcdserver: unhealthy cluster',
    NOT_CAPABLE: 'Unavailable etcdserver: not capable',
    BAD_LEADER_TRANSFEREE: 'FailedPrecondition etcdserver: bad leader transferee',
    REQUEST_TOO_LARGE: 'InvalidArgument etcdserver: request is too large',
    CANCELED: 'Canceled context canceled',
    INVALID_ARGUMENT: 'InvalidArgument own text',
  });
});

t.test('the catalogue: every message but a canceled context carries the etcdserver prefix', async (t) => {
  for (const [name, [code, details]] of Object.entries(ETCD_ERRORS)) {
    if (name === 'CANCELED') continue;
    t.match(details, /^etcdserver: /, name);
    t.not(code, status.OK, name);
  }
  const e = etcdError('AUTH_NOT_ENABLED');
  t.ok(e instanceof RpcError);
  t.strictSame(
    [e.code, e.details, e.message],
    [
      status.FAILED_PRECONDITION,
      'etcdserver: authentication is not enabled',
      'etcdserver: authentication is not enabled',
    ],
  );
});

t.test('anything else: INTERNAL with its message; aborts are cancellations; RpcError passes', async (t) => {
  t.strictSame(
    [toRpcError(new TypeError('x is undefined')).code, toRpcError(new TypeError('x is undefined')).details],
    [status.INTERNAL, 'x is undefined'],
  );
  t.strictSame([toRpcError('a string').code, toRpcError('a string').details], [status.INTERNAL, 'a string']);
  t.equal(toRpcError(new Error('')).details, 'internal error');
  t.equal(toRpcError(new DOMException('stop', 'AbortError')).code, status.CANCELLED);
  const own = new RpcError(status.UNKNOWN, 'election: no leader');
  t.equal(toRpcError(own), own);
});

t.test("statusName gives Go's code names", async (t) => {
  t.strictSame([0, 1, 3, 4, 5, 8, 9, 11, 12, 13, 14, 15, 16, 99].map(statusName), [
    'OK',
    'Canceled',
    'InvalidArgument',
    'DeadlineExceeded',
    'NotFound',
    'ResourceExhausted',
    'FailedPrecondition',
    'OutOfRange',
    'Unimplemented',
    'Internal',
    'Unavailable',
    'DataLoss',
    'Unauthenticated',
    'Code(99)',
  ]);
});
