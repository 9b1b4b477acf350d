// Subnet leases on a real netcd member: distinct subnets per node, the same subnet back after a
// restart while the old lease lives, loss when the lease runs out, peers following by watch.

import t from 'tap';
import { ProcessCluster } from '../../server/testing/process-cluster.js';
import { Netcd } from '../netcd.js';
import { parseSubnetConfig, SubnetError, SubnetManager } from './subnets.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof SubnetError ? err.code : String(err);
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('config validation', async (t) => {
  t.throws(() => parseSubnetConfig({ network: '10.244.0.1/16', subnetLen: 24 }), /network: .*host bits/);
  t.throws(() => parseSubnetConfig({ network: '10.244.0.0/16', subnetLen: 16 }), /must be longer than \/16/);
  t.throws(() => parseSubnetConfig({ network: '10.0.0.0/8', subnetLen: 30 }), /more than 2\^20 subnets/);
  t.equal(parseSubnetConfig({ network: 'fd00::/48', subnetLen: 64 }).subnetLen, 64);
});

t.test('subnet leases on a netcd member', async (t) => {
  const c = await ProcessCluster.start({ size: 1 });
  t.teardown(() => c.stop());
  const client = new Netcd({ endpoints: c.endpoints });
  t.teardown(() => client.close());
  const m = new SubnetManager(client, '/subnets-test/');
  t.equal(await codeOf(m.acquire('n1', '192.0.2.1')), 'NO_CONFIG');
  await m.setConfig({ network: '10.244.0.0/22', subnetLen: 24 });

  const watcher = m.informer();
  const running = watcher.run();
  await watcher.ready;

  const a = await m.acquire('node-a', '192.0.2.1', { ttlSeconds: 2 });
  const b = await m.acquire('node-b', '192.0.2.2', { ttlSeconds: 2 });
  t.not(a.record.subnet, b.record.subnet);
  t.match(a.record.subnet, /^10\.244\.[0-3]\.0\/24$/);
  await until('peers see both', () => watcher.cache.size === 2);

  // A restart of node-a while its lease lives: same subnet, moved onto the new lease.
  const again = await m.acquire('node-a', '192.0.2.1', { ttlSeconds: 2 });
  t.equal(again.record.subnet, a.record.subnet);
  a.lease.close();

  await new Promise((r) => setTimeout(r, 3000));
  t.equal(again.signal.aborted, false, 'kept alive past the TTL');
  t.same(
    (await m.list()).map((r) => r.node).sort(),
    ['node-a', 'node-b'],
    'the old lease expiring took nothing',
  );

  const c3 = await m.acquire('node-c', '192.0.2.3', { ttlSeconds: 2 });
  const c4 = await m.acquire('node-d', '192.0.2.4', { ttlSeconds: 2 });
  t.equal(await codeOf(m.acquire('node-e', '192.0.2.5')), 'EXHAUSTED', 'four /24s in a /22');
  t.equal(
    await codeOf(m.setConfig({ network: '10.244.0.0/23', subnetLen: 24 })),
    'CONFLICT',
    'a config that would orphan held subnets is refused',
  );

  // node-b stops renewing: its subnet goes when the lease runs out, and peers see it go.
  b.lease.close();
  await until('b expired', () => ![...watcher.cache.values()].some((r) => r.node === 'node-b'), 10_000);
  await c4.release();
  t.same((await m.list()).map((r) => r.node).sort(), ['node-a', 'node-c']);
  await again.release();
  await c3.release();
  watcher.stop();
  await running;
});
