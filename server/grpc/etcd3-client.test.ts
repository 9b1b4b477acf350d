// Proves the stock `etcd3` npm client works unchanged against netcd's gRPC layer: KV and
// transactions, typed errors, watches (including compaction), leases with keep-alive, its
// KV-based Lock and Election, the software transactional memory, and maintenance calls.

import { Etcd3, EtcdLeaseInvalidError, EtcdLockFailedError, GRPCOutOfRangeError } from 'etcd3';
import t from 'tap';
import { eventually, startHarness, type Teardown } from './testing/harness.js';

async function connect(t: Teardown) {
  const h = await startHarness(t, { member: { minLeaseTtlSeconds: 1 } });
  const client = new Etcd3({ hosts: `http://${h.address}` });
  t.teardown(() => client.close());
  return { h, client };
}

t.test('etcd3: put, get, prefix get, delete, txn', async (t) => {
  const { client } = await connect(t);
  await client.put('app/a').value('1');
  await client.put('app/b').value('2');
  await client.put('other').value('3');
  t.equal(await client.get('app/a').string(), '1');
  t.equal(await client.get('missing').string(), null);
  t.strictSame(await client.getAll().prefix('app/').strings(), { 'app/a': '1', 'app/b': '2' });
  t.equal(await client.getAll().prefix('app/').count(), 2);
  t.strictSame(await client.getAll().prefix('app/').sort('Key', 'Descend').limit(1).keys(), ['app/b']);
  const res = await client
    .if('app/a', 'Value', '==', '1')
    .then(client.put('app/c').value('3'))
    .else(client.get('app/a'))
    .commit();
  t.equal(res.succeeded, true);
  const miss = await client
    .if('app/a', 'Version', '>', 5)
    .then(client.put('x').value('y'))
    .else(client.get('app/a'))
    .commit();
  t.equal(miss.succeeded, false);
  t.equal(miss.responses[0]?.response_range?.kvs[0]?.value.toString(), '1');
  t.equal((await client.delete().prefix('app/').exec()).deleted, '3');
  t.strictSame(await client.getAll().strings(), { other: '3' });
});

t.test('etcd3: errors are classified like with etcd', async (t) => {
  const { client } = await connect(t);
  await client.put('k').value('v');
  await client.put('k').value('w');
  await client.put('k').value('x');
  const { header } = await client.get('k').exec();
  await client.kv.compact({ revision: header.revision });
  const compacted = await client
    .get('k')
    .revision(2)
    .exec()
    .catch((e: unknown) => e);
  t.ok(compacted instanceof GRPCOutOfRangeError, 'compacted read: GRPCOutOfRangeError');
  t.match(String(compacted), /required revision has been compacted/);
  const noLease = await client
    .put('k')
    .value('v')
    .lease('12345')
    .exec()
    .catch((e: unknown) => e);
  t.ok(noLease instanceof EtcdLeaseInvalidError, 'unknown lease: EtcdLeaseInvalidError');
});

t.test('etcd3: watch delivers puts and deletes, and reports a compacted start', async (t) => {
  const { client } = await connect(t);
  const watcher = await client.watch().prefix('w/').withPreviousKV().create();
  t.teardown(() => watcher.cancel());
  const seen: string[] = [];
  watcher.on('put', (kv, prev) =>
    seen.push(`put ${kv.key} ${kv.value} prev=${prev?.value.toString() ?? '-'}`),
  );
  watcher.on('delete', (kv) => seen.push(`delete ${kv.key}`));
  await client.put('w/1').value('a');
  await client.put('w/1').value('b');
  await client.delete().key('w/1');
  await eventually(() => seen.length === 3);
  t.strictSame(seen, ['put w/1 a prev=-', 'put w/1 b prev=a', 'delete w/1']);

  const { header } = await client.put('w/2').value('c');
  await client.put('w/2').value('d');
  await client.kv.compact({ revision: Number(header.revision) + 1 });
  const old = client.watch().key('w/2').startRevision(header.revision);
  const errors: string[] = [];
  const compacted = await old.create();
  compacted.on('error', (err) => errors.push(err.message));
  await eventually(() => errors.length === 1);
  t.match(errors[0], /required revision has been compacted/);
});

t.test('etcd3: leases grant, attach keys, keep alive, report TTL and revoke', async (t) => {
  const { client } = await connect(t);
  const lease = client.lease(10, { autoKeepAlive: false });
  const id = await lease.grant();
  await lease.put('leased').value('v');
  t.equal((await lease.keepaliveOnce()).TTL, '10');
  const ttl = Number((await client.leaseClient.leaseTimeToLive({ ID: id, keys: true })).TTL);
  t.ok(ttl >= 9 && ttl <= 10, `ttl ${ttl}`);
  const leases = await client.leaseClient.leaseLeases();
  t.strictSame(
    leases.leases.map((l) => l.ID),
    [id],
  );
  await lease.revoke();
  t.equal(await client.get('leased').string(), null);

  const short = client.lease(1);
  await short.put('kept').value('v');
  // The client's keep-alive stream holds the 1 s lease well past its TTL.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  t.equal(await client.get('kept').string(), 'v');
  await short.revoke();
});

t.test('etcd3: lock excludes, election elects and hands over', async (t) => {
  const { client } = await connect(t);
  const first = await client.lock('res').ttl(5).acquire();
  const busy = await client
    .lock('res')
    .ttl(5)
    .acquire()
    .catch((e: unknown) => e);
  t.ok(busy instanceof EtcdLockFailedError, 'a held lock: EtcdLockFailedError');
  await first.release();
  const second = await client.lock('res').ttl(5).acquire();
  await second.release();

  const election = client.election('el', 5);
  const a = election.campaign('alpha');
  await new Promise<void>((resolve) => a.once('elected', () => resolve()));
  t.equal(await election.leader(), 'alpha');
  const b = election.campaign('beta');
  await a.resign();
  await new Promise<void>((resolve) => b.once('elected', () => resolve()));
  t.equal(await election.leader(), 'beta');
  await b.resign();
});

t.test('etcd3: software transactional memory retries on conflict', async (t) => {
  const { client } = await connect(t);
  await client.put('counter').value('0');
  await Promise.all(
    Array.from({ length: 5 }, () =>
      client.stm({ retries: 20 }).transact(async (tx) => {
        const n = Number(await tx.get('counter').string());
        await tx.put('counter').value(String(n + 1));
      }),
    ),
  );
  t.equal(await client.get('counter').string(), '5');
});

t.test('etcd3: maintenance and cluster calls', async (t) => {
  const { h, client } = await connect(t);
  const status = await client.maintenance.status();
  t.equal(status.leader, String(h.member.id));
  const members = await client.cluster.memberList({});
  t.strictSame(
    members.members.map((m) => m.name),
    ['fake'],
  );
});
