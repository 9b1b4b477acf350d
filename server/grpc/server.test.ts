// Proves the server's assembly: every etcd service answers on one port, shutdown waits for calls
// and then cancels streams left open after the grace period, and the transport's receive limit
// is the member's request limit plus etcd's 512 KiB overhead.

import { Client, credentials, type ServiceError, status } from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import t from 'tap';
import { etcdPackageDefinition, SERVICE_NAMES, type ServiceKey } from '../proto/etcd.js';
import { bindGrpcServer, createGrpcServer, GRPC_OVERHEAD_BYTES, shutdownGrpcServer } from './server.js';
import { FAKE_MEMBER_ID, FakeMember } from './testing/fake-member.js';
import { bytes as b, field, startHarness } from './testing/harness.js';

t.test('one call per service answers on the same port', async (t) => {
  const h = await startHarness(t);
  const member = String(FAKE_MEMBER_ID);
  const answeredBy = async (service: ServiceKey, method: string, req: object) =>
    t.equal(field(await h.call(service, method, req), 'header.member_id'), member, `${service}/${method}`);
  await answeredBy('KV', 'Range', { key: b('a') });
  await answeredBy('Lease', 'LeaseLeases', {});
  await answeredBy('Cluster', 'MemberList', {});
  await answeredBy('Maintenance', 'Status', {});
  await answeredBy('Auth', 'UserList', {});
  await answeredBy('Lock', 'Unlock', { key: b('x') });
  t.equal((await h.fail('Election', 'Leader', { name: b('e') })).code, status.UNKNOWN);
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('a') } });
  t.equal(field(await reader.next(), 'header.member_id'), member, 'Watch/Watch');
  stream.cancel();
  t.strictSame(Object.keys(SERVICE_NAMES).sort(), [
    'Auth',
    'Cluster',
    'Election',
    'KV',
    'Lease',
    'Lock',
    'Maintenance',
    'Watch',
  ]);
});

t.test(
  "requests between the member limit and limit + 512 KiB get etcd's error, larger ones the transport's",
  async (t) => {
    const h = await startHarness(t, { member: { maxRequestBytes: 1024 } });
    t.equal(GRPC_OVERHEAD_BYTES, 512 * 1024);
    t.strictSame(await h.fail('KV', 'Put', { key: b('k'), value: Buffer.alloc(400 * 1024) }), {
      code: status.INVALID_ARGUMENT,
      details: 'etcdserver: request is too large',
    });
    t.equal(
      (await h.fail('KV', 'Put', { key: b('k'), value: Buffer.alloc(530 * 1024) })).code,
      status.RESOURCE_EXHAUSTED,
    );
  },
);

t.test('shutdown cancels streams still open after the grace period', async (t) => {
  const member = new FakeMember();
  t.teardown(() => member.stop());
  const server = createGrpcServer(member);
  const port = await bindGrpcServer(server, '127.0.0.1:0');
  t.ok(port > 0);
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  t.teardown(() => client.close());
  const watch = etcdPackageDefinition()['etcdserverpb.Watch'] as unknown as Record<
    string,
    MethodDefinition<object, object>
  >;
  const method = watch.Watch!;
  const stream = client.makeBidiStreamRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
  );
  const ended = new Promise<number>((resolve) =>
    stream.on('error', (err: ServiceError) => resolve(err.code)),
  );
  stream.write({ create_request: { key: b('a') } });
  await new Promise<void>((resolve) => stream.once('data', () => resolve()));
  const started = Date.now();
  await shutdownGrpcServer(server, 200);
  t.ok(Date.now() - started >= 150, 'waited for the grace period');
  t.ok([status.CANCELLED, status.UNAVAILABLE, status.INTERNAL].includes(await ended), 'the stream was cut');
  t.equal(member.watchHub.stats().watchers, 0, 'its watch is gone');
});
