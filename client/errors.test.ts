import { status } from '@grpc/grpc-js';
import t from 'tap';
import { CompactedError, fromGrpcError, isRetryable, NetcdError } from './errors.js';

const grpcErr = (code: status, details: string) => Object.assign(new Error(details), { code, details });

t.test('etcd errors are recognised by their message', async (t) => {
  const e = fromGrpcError(grpcErr(status.INVALID_ARGUMENT, 'etcdserver: key is not provided'), true);
  t.equal(e.code, 'EMPTY_KEY');
  t.equal(e.outcome, 'not-applied');
  t.equal(isRetryable(e, true), false, 'a rejected request is not retried even when idempotent');

  const c = fromGrpcError(
    grpcErr(status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
    true,
  );
  t.ok(c instanceof CompactedError);
  t.equal(isRetryable(c, true), false);
});

t.test('a write is retried only when it certainly was not applied', async (t) => {
  const noLeader = fromGrpcError(grpcErr(status.UNAVAILABLE, 'etcdserver: no leader'), true);
  t.equal(noLeader.code, 'NO_LEADER');
  t.equal(noLeader.outcome, 'not-applied', 'refused before proposing');
  t.equal(isRetryable(noLeader, false), true);

  const timedOut = fromGrpcError(grpcErr(status.UNAVAILABLE, 'etcdserver: request timed out'), true);
  t.equal(timedOut.code, 'TIMEOUT');
  t.equal(timedOut.outcome, 'unknown');
  t.equal(isRetryable(timedOut, false), false, 'a write that may have been applied is not resent');
  t.equal(isRetryable(timedOut, true), true, 'a read is');

  const broken = fromGrpcError(grpcErr(status.UNAVAILABLE, 'Connection dropped'), true);
  t.equal(broken.code, 'UNAVAILABLE');
  t.equal(broken.outcome, 'unknown');
  t.equal(isRetryable(broken, false), false);

  const neverSent = fromGrpcError(grpcErr(status.UNAVAILABLE, 'No connection established'), false);
  t.equal(neverSent.outcome, 'not-applied');
  t.equal(isRetryable(neverSent, false), true);

  const busy = fromGrpcError(grpcErr(status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'), true);
  t.equal(busy.code, 'TOO_MANY_REQUESTS');
  t.equal(isRetryable(busy, false), true);

  const noSpace = fromGrpcError(
    grpcErr(status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
    true,
  );
  t.equal(noSpace.code, 'NO_SPACE');
  t.equal(isRetryable(noSpace, true), false);
});

t.test('errors that are not gRPC statuses keep their message', async (t) => {
  const e = fromGrpcError(new Error('boom'), true);
  t.equal(e.code, 'UNKNOWN');
  t.equal(e.message, 'boom');
  t.equal(e.outcome, 'unknown');
  const same = new NetcdError('TIMEOUT', 'x', 'unknown');
  t.equal(fromGrpcError(same, true), same);
  t.equal(fromGrpcError('text', false).outcome, 'not-applied');
  t.equal(fromGrpcError(grpcErr(99 as status, 'odd'), true).code, 'UNKNOWN');
});
