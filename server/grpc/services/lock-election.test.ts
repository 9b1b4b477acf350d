// Proves the Lock and Election services over real gRPC: ownership keys named after the lease in
// hex, FIFO hand-over on unlock, resign and lease expiry, re-entry with the same lease, cleanup of
// a canceled waiter, and etcd's election errors; Observe streams every leader's proclamations.

import { status } from '@grpc/grpc-js';
import t from 'tap';
import {
  bytes as b,
  eventually,
  field,
  numberField,
  type Outcome,
  type Plain,
  startHarness,
} from '../testing/harness.js';

/** The value of a settled call, or a failure description the assertion shows. */
const value = (o: Outcome): Plain => (o.ok ? o.value : `failed ${o.failure.code} ${o.failure.details}`);

const settledWithin = async (p: Promise<Outcome>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

t.test('lock: the first caller owns at once; the next gets it when the owner unlocks', async (t) => {
  const h = await startHarness(t);
  await h.call('Lease', 'LeaseGrant', { ID: 0xa1, TTL: 60 });
  await h.call('Lease', 'LeaseGrant', { ID: 0xb2, TTL: 60 });
  const first = await h.call('Lock', 'Lock', { name: b('L'), lease: 0xa1 });
  t.equal(field(first, 'key'), 'L/a1');
  t.equal(field(first, 'header.revision'), '2', 'the revision of the put that queued it');
  const second = h.pending('Lock', 'Lock', { name: b('L'), lease: 0xb2 });
  t.equal(await settledWithin(second.done, 200), false, 'the second waits');
  // The same lease locking again is the same acquisition.
  t.equal(field(await h.call('Lock', 'Lock', { name: b('L'), lease: 0xa1 }), 'key'), 'L/a1');
  const unlocked = await h.call('Lock', 'Unlock', { key: b('L/a1') });
  t.equal(field(unlocked, 'header.revision'), '4');
  const got = value(await second.done);
  t.equal(field(got, 'key'), 'L/b2');
  t.equal(field(got, 'header.revision'), '4', 'the revision at which it saw the way clear');
});

t.test('lock: waiters are served in arrival order, each watching its own predecessor', async (t) => {
  const h = await startHarness(t);
  const leases = [0x10, 0x11, 0x12, 0x13];
  for (const id of leases) await h.call('Lease', 'LeaseGrant', { ID: id, TTL: 60 });
  await h.call('Lock', 'Lock', { name: b('Q'), lease: leases[0] });
  const waiting = [];
  for (const id of leases.slice(1)) {
    waiting.push(h.pending('Lock', 'Lock', { name: b('Q'), lease: id }));
    await eventually(() => h.member.watchHub.stats().watchers === waiting.length);
  }
  const order: string[] = [];
  let holder = 'Q/10';
  for (const w of waiting) {
    await h.call('Lock', 'Unlock', { key: b(holder) });
    holder = String(field(value(await w.done), 'key'));
    order.push(holder);
  }
  t.strictSame(order, ['Q/11', 'Q/12', 'Q/13']);
});

t.test('lock: a waiter that cancels leaves the queue; an expired owner releases the lock', async (t) => {
  const h = await startHarness(t, { member: { minLeaseTtlSeconds: 1 } });
  await h.call('Lease', 'LeaseGrant', { ID: 0x1, TTL: 1 });
  await h.call('Lease', 'LeaseGrant', { ID: 0x2, TTL: 60 });
  await h.call('Lease', 'LeaseGrant', { ID: 0x3, TTL: 60 });
  await h.call('Lock', 'Lock', { name: b('X'), lease: 0x1 });
  const canceled = h.pending('Lock', 'Lock', { name: b('X'), lease: 0x2 });
  await eventually(() => h.member.machine.store.range({ key: b('X/2') }).count === 1);
  canceled.cancel();
  t.equal(value(await canceled.done), 'failed 1 Cancelled on client');
  await eventually(() => h.member.machine.store.range({ key: b('X/2') }).count === 0, 5000, 'X/2 deleted');
  // Lease 1 is not kept alive: it expires and the next waiter gets the lock.
  const next = await h.call('Lock', 'Lock', { name: b('X'), lease: 0x3 });
  t.equal(field(next, 'key'), 'X/3');
  t.equal(h.member.machine.store.range({ key: b('X/1') }).count, 0);
});

t.test('lock: lease 0 gets a fresh session lease; an unknown lease is an error', async (t) => {
  const h = await startHarness(t);
  const res = await h.call('Lock', 'Lock', { name: b('S') });
  const key = String(field(res, 'key'));
  const lease = Number.parseInt(key.slice(2), 16);
  t.ok(key.startsWith('S/') && lease > 0, `key ${key} names a lease`);
  const ttl = await h.call('Lease', 'LeaseTimeToLive', { ID: lease });
  t.equal(field(ttl, 'grantedTTL'), '60');
  t.strictSame(await h.fail('Lock', 'Lock', { name: b('S'), lease: 4242 }), {
    code: status.NOT_FOUND,
    details: 'etcdserver: requested lease not found',
  });
  t.strictSame(await h.fail('Lock', 'Unlock', { key: b('') }), {
    code: status.INVALID_ARGUMENT,
    details: 'etcdserver: key is not provided',
  });
});

t.test('election: campaign, leader, proclaim, observe, resign hand leadership on', async (t) => {
  const h = await startHarness(t);
  await h.call('Lease', 'LeaseGrant', { ID: 0xa, TTL: 60 });
  await h.call('Lease', 'LeaseGrant', { ID: 0xb, TTL: 60 });
  const won = await h.call('Election', 'Campaign', { name: b('E'), lease: 0xa, value: b('alpha') });
  t.strictSame(won, {
    header: field(won, 'header'),
    leader: { name: 'E', key: 'E/a', rev: '2', lease: '10' },
  });
  t.equal(field(won, 'header.revision'), '2');
  const leader = await h.call('Election', 'Leader', { name: b('E') });
  t.strictSame(field(leader, 'kv'), {
    key: 'E/a',
    create_revision: '2',
    mod_revision: '2',
    version: '1',
    value: 'alpha',
    lease: '10',
  });
  const { reader } = h.serverStream('Election', 'Observe', { name: b('E') });
  t.equal(field(await reader.next(), 'kv.value'), 'alpha');
  const challenger = h.pending('Election', 'Campaign', { name: b('E'), lease: 0xb, value: b('beta') });
  t.equal(await settledWithin(challenger.done, 200), false, 'the challenger waits');
  const proclaimed = await h.call('Election', 'Proclaim', {
    leader: { name: b('E'), key: b('E/a'), rev: 2, lease: 0xa },
    value: b('alpha2'),
  });
  t.equal(field(proclaimed, 'header.revision'), '4');
  const update = await reader.next();
  t.strictSame([field(update, 'kv.value'), field(update, 'header.revision')], ['alpha2', '4']);
  await h.call('Election', 'Resign', { leader: { name: b('E'), key: b('E/a'), rev: 2, lease: 0xa } });
  const beta = value(await challenger.done);
  t.strictSame(field(beta, 'leader'), { name: 'E', key: 'E/b', rev: '3', lease: '11' });
  t.equal(field(await reader.next(), 'kv.value'), 'beta', 'observers see the new leader');
  // The old leadership is gone: proclaiming with it fails as in etcd.
  t.strictSame(
    await h.fail('Election', 'Proclaim', {
      leader: { name: b('E'), key: b('E/a'), rev: 2, lease: 0xa },
      value: b('x'),
    }),
    { code: status.UNKNOWN, details: 'election: not leader' },
  );
});

t.test("election: etcd's errors for no leader and a missing leader key", async (t) => {
  const h = await startHarness(t);
  t.strictSame(await h.fail('Election', 'Leader', { name: b('none') }), {
    code: status.UNKNOWN,
    details: 'election: no leader',
  });
  t.strictSame(await h.fail('Election', 'Proclaim', { value: b('v') }), {
    code: status.UNKNOWN,
    details: '"leader" field must be provided',
  });
  t.strictSame(await h.fail('Election', 'Resign', {}), {
    code: status.UNKNOWN,
    details: '"leader" field must be provided',
  });
  // Resigning a leadership that is not held changes nothing and succeeds, as in etcd.
  const r = await h.call('Election', 'Resign', { leader: { name: b('E'), key: b('E/1'), rev: 3, lease: 1 } });
  t.equal(field(r, 'header.revision'), '1');
});

t.test(
  'election: campaigning again with the same lease updates the value; a canceled campaign resigns',
  async (t) => {
    const h = await startHarness(t);
    await h.call('Lease', 'LeaseGrant', { ID: 0xc, TTL: 60 });
    await h.call('Lease', 'LeaseGrant', { ID: 0xd, TTL: 60 });
    await h.call('Election', 'Campaign', { name: b('F'), lease: 0xc, value: b('one') });
    const again = await h.call('Election', 'Campaign', { name: b('F'), lease: 0xc, value: b('two') });
    t.equal(numberField(again, 'leader.rev'), 2, 'same key, same create revision');
    t.equal(field(await h.call('Election', 'Leader', { name: b('F') }), 'kv.value'), 'two');
    const waiting = h.pending('Election', 'Campaign', { name: b('F'), lease: 0xd, value: b('d') });
    await eventually(() => h.member.machine.store.range({ key: b('F/d') }).count === 1);
    waiting.cancel();
    await waiting.done;
    await eventually(() => h.member.machine.store.range({ key: b('F/d') }).count === 0, 5000, 'F/d deleted');
    t.pass('the canceled candidate left the queue');
  },
);

t.test(
  'observe: waits for a first leader when there is none, and ends when the call is canceled',
  async (t) => {
    const h = await startHarness(t);
    const { stream, reader } = h.serverStream('Election', 'Observe', { name: b('G') });
    await eventually(() => h.member.watchHub.stats().watchers === 1);
    await h.call('Lease', 'LeaseGrant', { ID: 0xe, TTL: 60 });
    await h.call('Election', 'Campaign', { name: b('G'), lease: 0xe, value: b('first') });
    const seen = await reader.next();
    t.strictSame([field(seen, 'kv.value'), field(seen, 'header.revision')], ['first', '2']);
    stream.cancel();
    await eventually(() => h.member.watchHub.stats().watchers === 0, 5000, 'the observer watch is gone');
    t.pass('no watcher left');
  },
);
