// Proves the Lease service over real gRPC: grant (chosen and server-picked ids, minimum TTL,
// errors), keep-alive streams (in order, TTL 0 for unknown leases), time-to-live with keys (-1
// for a lease that is gone), listing, revoke deleting attached keys, and expiry doing the same.

import { status } from '@grpc/grpc-js';
import t from 'tap';
import { FAKE_CLUSTER_ID, FAKE_MEMBER_ID } from '../testing/fake-member.js';
import { bytes as b, eventually, field, numberField, startHarness } from '../testing/harness.js';

const header = (revision: number) => ({
  cluster_id: String(FAKE_CLUSTER_ID),
  member_id: String(FAKE_MEMBER_ID),
  revision: String(revision),
  raft_term: '1',
});

t.test('grant with a chosen id, time-to-live with keys, list, revoke deletes the keys', async (t) => {
  const h = await startHarness(t);
  t.strictSame(await h.call('Lease', 'LeaseGrant', { ID: 777, TTL: 30 }), {
    header: header(1),
    ID: '777',
    TTL: '30',
    error: '',
  });
  await h.call('KV', 'Put', { key: b('lk1'), value: b('x'), lease: 777 });
  await h.call('KV', 'Put', { key: b('lk2'), value: b('y'), lease: 777 });
  const ttl = await h.call('Lease', 'LeaseTimeToLive', { ID: 777, keys: true });
  t.strictSame(
    { ...(ttl as object), TTL: null },
    { keys: ['lk1', 'lk2'], header: header(3), ID: '777', TTL: null, grantedTTL: '30' },
  );
  t.ok(numberField(ttl, 'TTL') >= 29 && numberField(ttl, 'TTL') <= 30, 'remaining TTL in whole seconds');
  const without = await h.call('Lease', 'LeaseTimeToLive', { ID: 777 });
  t.strictSame(field(without, 'keys'), []);
  t.strictSame(await h.call('Lease', 'LeaseLeases', {}), { leases: [{ ID: '777' }], header: header(3) });
  t.strictSame(await h.call('Lease', 'LeaseRevoke', { ID: 777 }), { header: header(4) });
  t.strictSame(await h.call('KV', 'Range', { key: b('lk'), range_end: b('ll'), count_only: true }), {
    kvs: [],
    header: header(4),
    more: false,
    count: '0',
  });
  t.strictSame(await h.call('Lease', 'LeaseTimeToLive', { ID: 777 }), {
    keys: [],
    header: header(4),
    ID: '777',
    TTL: '-1',
    grantedTTL: '0',
  });
});

t.test('grant: the server picks ids, raises short TTLs to the minimum and reports errors', async (t) => {
  const h = await startHarness(t);
  const picked = await h.call('Lease', 'LeaseGrant', { TTL: 1 });
  t.ok(numberField(picked, 'ID') > 0, 'a server-chosen id');
  t.equal(field(picked, 'TTL'), '2', 'raised to the minimum TTL');
  await h.call('Lease', 'LeaseGrant', { ID: 5, TTL: 10 });
  t.strictSame(await h.fail('Lease', 'LeaseGrant', { ID: 5, TTL: 10 }), {
    code: status.FAILED_PRECONDITION,
    details: 'etcdserver: lease already exists',
  });
  t.strictSame(await h.fail('Lease', 'LeaseGrant', { ID: 6, TTL: 9_000_000_001 }), {
    code: status.OUT_OF_RANGE,
    details: 'etcdserver: too large lease TTL',
  });
  t.strictSame(await h.fail('Lease', 'LeaseRevoke', { ID: 12345 }), {
    code: status.NOT_FOUND,
    details: 'etcdserver: requested lease not found',
  });
});

t.test('keep-alive stream: answers in order with the TTL, 0 for an unknown lease, OK on close', async (t) => {
  const h = await startHarness(t);
  await h.call('Lease', 'LeaseGrant', { ID: 10, TTL: 20 });
  await h.call('Lease', 'LeaseGrant', { ID: 11, TTL: 40 });
  const { stream, reader } = h.bidi('Lease', 'LeaseKeepAlive');
  stream.write({ ID: 10 });
  stream.write({ ID: 424242 });
  stream.write({ ID: 11 });
  t.strictSame(await reader.next(), { header: header(1), ID: '10', TTL: '20' });
  t.strictSame(await reader.next(), { header: header(1), ID: '424242', TTL: '0' });
  t.strictSame(await reader.next(), { header: header(1), ID: '11', TTL: '40' });
  // A burst larger than the stream's queue is still answered, one by one.
  for (let i = 0; i < 200; i++) stream.write({ ID: 10 });
  for (let i = 0; i < 200; i++) t.equal(field(await reader.next(), 'TTL'), '20');
  stream.end();
  await reader.closed();
  t.equal(reader.error, null);
});

t.test('keep-alive stream: a request id beyond 2^53 ends the stream with INVALID_ARGUMENT', async (t) => {
  const h = await startHarness(t);
  const { stream, reader } = h.bidi('Lease', 'LeaseKeepAlive');
  stream.write({ ID: '9007199254740993' });
  await reader.closed();
  t.equal(reader.error?.code, status.INVALID_ARGUMENT);
});

t.test('an expired lease deletes its keys and is gone from the list', async (t) => {
  const h = await startHarness(t, { member: { minLeaseTtlSeconds: 1 } });
  await h.call('Lease', 'LeaseGrant', { ID: 99, TTL: 1 });
  await h.call('KV', 'Put', { key: b('eph'), value: b('x'), lease: 99 });
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('eph') } });
  await reader.next();
  const ev = await reader.next(3000);
  t.equal(field(ev, 'events.0.type'), 'DELETE');
  await eventually(() => h.member.machine.store.range({ key: b('eph') }).count === 0);
  t.strictSame(field(await h.call('Lease', 'LeaseLeases', {}), 'leases'), []);
});
