// The stock `etcd3` npm client against a real 3-member cluster of bin/netcd processes: KV and txn
// through every member, a watch that sees every event, a lease kept alive across a leader kill,
// its Lock (mutual exclusion) and Election.

import { Etcd3, EtcdLockFailedError } from 'etcd3';
import t from 'tap';
import { ProcessCluster } from '../server/testing/process-cluster.js';

const FAST = ['--heartbeat-interval=50', '--election-timeout=500'];

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

t.test('etcd3 client: KV, txn, watch, lease, lock and election on a 3-member netcd cluster', async (t) => {
  const c = await ProcessCluster.start({ size: 3, args: FAST });
  t.teardown(() => c.stop());
  const client = new Etcd3({ hosts: c.members.map((m) => m.clientUrl) });
  t.teardown(() => client.close());

  const events: string[] = [];
  const watcher = await client.watch().prefix('w/').create();
  watcher.on('put', (kv) => events.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
  watcher.on('delete', (kv) => events.push(`del ${kv.key.toString()}`));
  t.teardown(() => watcher.cancel());

  for (let i = 0; i < 30; i++) await client.put(`w/${i % 3}`).value(`${i}`);
  await client.delete().key('w/0');
  t.equal(await client.get('w/1').string(), '28');
  const txn = await client
    .if('w/1', 'Value', '==', '28')
    .then(client.put('w/txn').value('yes'))
    .else(client.put('w/txn').value('no'))
    .commit();
  t.equal(txn.succeeded, true);
  await until('the watch to see every event', async () => events.length === 32);
  t.same(events.slice(0, 3), ['put w/0=0', 'put w/1=1', 'put w/2=2']);
  t.same(events.slice(-2), ['del w/0', 'put w/txn=yes'], 'events arrive in revision order');

  const lease = client.lease(2);
  const leaseId = await lease.grant();
  await lease.put('leased').value('alive');
  const lost: unknown[] = [];
  lease.on('lost', (e) => lost.push(e));
  await new Promise((r) => setTimeout(r, 4000));
  t.equal(await client.get('leased').string(), 'alive', 'keep-alive holds a 2 s lease for 4 s');
  t.same(lost, [], 'the lease was never lost');
  t.ok(leaseId.length > 0);
  await lease.revoke();
  t.equal(await client.get('leased').string(), null, 'revoking deletes the attached key');

  const holds: [number, number][] = [];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      // etcd3's Lock fails at once when held; contenders retry.
      const lock = client.lock('the-lock').ttl(5);
      for (;;) {
        try {
          await lock.acquire();
          break;
        } catch (e) {
          if (!(e instanceof EtcdLockFailedError)) throw e;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      const start = Date.now();
      await new Promise((r) => setTimeout(r, 100));
      holds.push([start, Date.now()]);
      await lock.release();
    }),
  );
  holds.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < holds.length; i++)
    t.ok(holds[i]![0] >= holds[i - 1]![1], `lock holds ${i - 1} and ${i} do not overlap`);

  const election = client.election('the-election');
  const campaign = election.campaign('candidate-1');
  await campaign.wait();
  t.equal(await election.leader(), 'candidate-1');
  await campaign.resign();
});

t.test('etcd3 client: a watch resumes after its member restarts, no event missed or repeated', async (t) => {
  const c = await ProcessCluster.start({ size: 3, args: FAST });
  t.teardown(() => c.stop());
  const watched = c.members[0]!;
  const watching = new Etcd3({ hosts: [watched.clientUrl] });
  t.teardown(() => watching.close());
  const writer = new Etcd3({ hosts: c.members.slice(1).map((m) => m.clientUrl) });
  t.teardown(() => writer.close());

  const seen: string[] = [];
  const watcher = await watching.watch().prefix('r/').create();
  watcher.on('put', (kv) => seen.push(kv.value.toString()));
  t.teardown(() => watcher.cancel());

  for (let i = 0; i < 10; i++) await writer.put(`r/${i}`).value(`${i}`);
  await until('the first events', async () => seen.length === 10);
  await c.kill(watched.name);
  for (let i = 10; i < 20; i++) await writer.put(`r/${i}`).value(`${i}`);
  await c.restart(watched.name);
  for (let i = 20; i < 30; i++) await writer.put(`r/${i}`).value(`${i}`);
  await until('every event after the restart', async () => seen.length >= 30, 30_000);
  t.same(
    seen,
    Array.from({ length: 30 }, (_, i) => `${i}`),
    'events written while the member was down arrive once, in order',
  );
});
