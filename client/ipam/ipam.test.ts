// IPAM against a real netcd member: pools, block affinity per node, borrowing, exhaustion,
// requested addresses, idempotent allocate and release, cool-down, GC, and check/repair.

import t from 'tap';
import { ProcessCluster } from '../../server/testing/process-cluster.js';
import { Netcd } from '../netcd.js';
import { checkIpam, repairIpam } from './check.js';
import { Ipam, IpamError } from './ipam.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof IpamError ? err.code : String(err);
  }
}

t.test('IPAM on a netcd member', async (t) => {
  const c = await ProcessCluster.start({ size: 1 });
  t.teardown(() => c.stop());
  const client = new Netcd({ endpoints: c.endpoints });
  t.teardown(() => client.close());
  let roots = 0;
  const fresh = (node: string, cooldownMs = 0) => new Ipam(client, { node, cooldownMs, root: `/t${roots}/` });

  await t.test('pools: add, list, overlap refused, ensure', async (t) => {
    roots += 1;
    const a = fresh('n1');
    await a.addPool({ name: 'v4', cidr: '10.22.0.0/16' });
    await a.addPool({ name: 'v6', cidr: 'fd00::/64' });
    t.equal(await codeOf(a.addPool({ name: 'v4', cidr: '10.99.0.0/16' })), 'POOL_EXISTS');
    t.equal(await codeOf(a.addPool({ name: 'other', cidr: '10.22.128.0/17' })), 'POOL_EXISTS', 'overlap');
    t.same(
      (await a.listPools()).map((p) => p.name),
      ['v4', 'v6'],
    );
    const same = await a.ensurePool({ name: 'v4', cidr: '10.22.0.0/16' });
    t.equal(same.name, 'v4');
    t.equal(
      await codeOf(a.ensurePool({ name: 'v4', cidr: '10.22.0.0/16', rangeStart: '10.22.0.50' })),
      'POOL_EXISTS',
      'a different definition under the same name is refused',
    );
    t.equal(await codeOf(fresh('n1').getPool('nope')), 'POOL_NOT_FOUND');
  });

  await t.test('nodes allocate from their own blocks; allocate and release are idempotent', async (t) => {
    roots += 1;
    const n1 = fresh('node-1');
    const n2 = fresh('node-2');
    await n1.addPool({ name: 'p', cidr: '10.30.0.0/24', blockSize: 28 });
    const h = (id: string) => ({ network: 'net', containerId: id, ifname: 'eth0' });
    const a1 = await n1.allocate(h('a1'), ['p']);
    const a2 = await n1.allocate(h('a2'), ['p']);
    const b1 = await n2.allocate(h('b1'), ['p']);
    t.equal(a1.block, a2.block, 'one node fills its block');
    t.not(a1.block, b1.block, 'another node claims another block');
    t.equal(a1.prefixLength, 24);
    t.equal(a1.gateway, '10.30.0.1');
    t.same(await n1.allocate(h('a1'), ['p']), a1, 'a repeated ADD returns the same address');
    t.equal(await n1.release(h('a1')), 1);
    t.equal(await n1.release(h('a1')), 0, 'a repeated DEL finds nothing and succeeds');
    t.equal(await n1.getHandle(h('a1')), undefined);
    const again = await n1.allocate(h('a3'), ['p']);
    t.equal(again.address, a1.address, 'without cool-down the lowest free address is reused');
    const report = await checkIpam(client, n1);
    t.same(report.findings, []);
    t.same(report.nodes, { 'node-1': 2, 'node-2': 1 });
    t.equal(report.pools[0]?.allocated, 3);
    t.equal(report.pools[0]?.capacity, 253);
  });

  await t.test('cool-down, borrowing, exhaustion and requested addresses', async (t) => {
    roots += 1;
    const cool = fresh('n1', 60_000);
    // 10.40.0.0/29: .0 network, .1 gateway, .7 broadcast → 5 usable, in two /30 blocks... of 4.
    await cool.addPool({ name: 'tiny', cidr: '10.40.0.0/29', blockSize: 30 });
    const h = (id: string) => ({ network: 'net', containerId: id, ifname: 'eth0' });
    const first = await cool.allocate(h('c1'), ['tiny']);
    t.equal(first.address, '10.40.0.2');
    await cool.release(h('c1'));
    const second = await cool.allocate(h('c2'), ['tiny']);
    t.equal(second.address, '10.40.0.3', 'the released address cools down');
    t.equal(
      await codeOf(cool.allocate(h('c3'), ['tiny'], { requested: '10.40.0.2' })),
      'ADDRESS_UNAVAILABLE',
      'even when asked for by name',
    );
    const other = fresh('n2', 60_000);
    // n2 finds the remaining block (.4-.7) unclaimed... or borrows: either way no duplicates.
    const got = new Set<string>([second.address]);
    for (const id of ['d1', 'd2', 'd3']) got.add((await other.allocate(h(id), ['tiny'])).address);
    t.same([...got].sort(), ['10.40.0.3', '10.40.0.4', '10.40.0.5', '10.40.0.6']);
    t.equal(await codeOf(other.allocate(h('d4'), ['tiny'])), 'POOL_EXHAUSTED');
    const blocks = (await checkIpam(client, cool)).blocks.map(
      (b) => `${b.cidr}:${b.affinity}:${b.allocated}`,
    );
    t.same(blocks.sort(), ['10.40.0.0/30:n1:1', '10.40.0.4/30:n2:3']);

    await cool.addPool({ name: 'wide', cidr: '10.41.0.0/24' });
    const req = await cool.allocate(h('r1'), ['tiny', 'wide'], { requested: '10.41.0.77' });
    t.equal(req.address, '10.41.0.77');
    t.equal(req.pool, 'wide');
    t.equal(
      await codeOf(cool.allocate(h('r2'), ['wide'], { requested: '10.41.0.77' })),
      'ADDRESS_UNAVAILABLE',
    );
    t.equal(
      await codeOf(cool.allocate(h('r3'), ['wide'], { requested: '10.99.0.1' })),
      'ADDRESS_UNAVAILABLE',
    );
    t.equal(
      (await cool.allocate(h('r4'), ['tiny', 'wide'])).pool,
      'wide',
      'the next pool is used when the first is full',
    );
  });

  await t.test('IPv6 pools', async (t) => {
    roots += 1;
    const n = fresh('n1');
    await n.addPool({ name: 'v6', cidr: 'fd10::/64' });
    const a = await n.allocate({ network: 'net', containerId: 'x', ifname: 'eth0' }, ['v6']);
    // A node's first block is chosen by a hash of its name, spreading nodes over the pool.
    t.equal(a.block, 'fd10::1:d77:0-122');
    t.equal(a.address, 'fd10::1:d77:0', 'the first address of a block that is not the first of the pool');
    t.equal(a.family, 6);
    t.equal(a.prefixLength, 64);
  });

  await t.test('GC releases attachments the runtime no longer has, after the grace period', async (t) => {
    roots += 1;
    const n = fresh('n1');
    await n.addPool({ name: 'p', cidr: '10.50.0.0/24' });
    const h = (id: string, network = 'net') => ({ network, containerId: id, ifname: 'eth0' });
    for (const id of ['keep', 'gone1', 'gone2']) await n.allocate(h(id), ['p']);
    await n.allocate(h('x', 'other-net'), ['p']);
    t.equal(await n.gc('net', [h('keep')], 60_000), 0, 'nothing older than the grace period');
    t.equal(await n.gc('net', [h('keep')], 0), 2);
    t.same(
      (await n.handles()).map((x) => `${x.network}/${x.containerId}`).sort(),
      ['net/keep', 'other-net/x'],
      'other networks are left alone',
    );
  });

  await t.test(
    'check finds leaks, orphans, duplicates and dangling affinities; repair fixes them',
    async (t) => {
      roots += 1;
      const n = fresh('n1');
      await n.addPool({ name: 'p', cidr: '10.60.0.0/24' });
      const h = (id: string) => ({ network: 'net', containerId: id, ifname: 'eth0' });
      const a = await n.allocate(h('a'), ['p']);
      const b = await n.allocate(h('b'), ['p']);
      // Break the state by hand: a handle deleted behind IPAM's back (its address leaks), a handle
      // claiming b's address (orphan + duplicate), an affinity for a block that does not exist.
      await client.delete(n.keys.handle(h('a')));
      const bDoc = await n.getHandle(h('b'));
      await client.put(n.keys.handle(h('fake')), JSON.stringify({ ...bDoc, containerId: 'fake' }));
      await client.put(n.keys.affinity('n1', 'p', '10.60.0.192-26'), n.keys.block('p', '10.60.0.192-26'));
      const report = await checkIpam(client, n);
      t.same(report.findings.map((f) => `${f.kind} ${'address' in f ? f.address : f.affinityKey}`).sort(), [
        `dangling ${n.keys.affinity('n1', 'p', '10.60.0.192-26')}`,
        `duplicate ${b.address}`,
        `leak ${a.address}`,
        `orphan ${b.address}`,
      ]);
      const fixed = await repairIpam(client, report);
      t.same(fixed, { repaired: 3, skipped: 0 });
      const after = await checkIpam(client, n);
      t.same(after.findings, []);
      t.equal(after.pools[0]?.allocated, 1);
      t.same(
        (await n.getHandle(h('b')))?.addresses[0]?.address,
        b.address,
        'the real owner keeps its address',
      );
    },
  );

  await t.test('a pool is deleted only when empty', async (t) => {
    roots += 1;
    const n = fresh('n1');
    await n.addPool({ name: 'p', cidr: '10.70.0.0/24' });
    const h = { network: 'net', containerId: 'a', ifname: 'eth0' };
    await n.allocate(h, ['p']);
    t.equal(await codeOf(n.deletePool('p')), 'POOL_IN_USE');
    await n.release(h);
    await n.deletePool('p');
    t.same(await n.listPools(), []);
    t.same((await checkIpam(client, n)).findings, [], 'no affinity left behind');
  });
});
