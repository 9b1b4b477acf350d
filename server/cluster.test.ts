// Real clusters of bin/netcd processes on loopback, driven with stock etcdctl: election at start,
// kill -9 of the leader, restart and catch-up (by log, and by snapshot when far behind), a learner
// added, promoted and a member removed, a partitioned member, and a 5-member cluster losing two.

import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import t from 'tap';
import { etcdctl, leaderOf } from './testing/etcdctl.js';
import { ProcessCluster } from './testing/process-cluster.js';

const FAST = ['--heartbeat-interval=50', '--election-timeout=500'];

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function put(endpoints: string, key: string, value: string): Promise<boolean> {
  return (await etcdctl(endpoints, { args: ['put', key, value] })).stdout === 'OK\n';
}

async function get(endpoint: string, key: string, ...flags: string[]): Promise<string> {
  return (await etcdctl(endpoint, { args: ['get', key, '--print-value-only', ...flags] })).stdout;
}

function ep(url: string): string {
  return url.replace('http://', '');
}

/** The member name of the current leader. */
async function leaderName(c: ProcessCluster): Promise<string> {
  const running = c.running();
  let name = '';
  await until('a leader', async () => {
    const leader = await leaderOf(ep(running[0]!.clientUrl));
    if (leader === '') return false;
    const list = await etcdctl(ep(running[0]!.clientUrl), { args: ['member', 'list'] });
    const line = list.stdout.split('\n').find((l) => l.startsWith(`${leader},`));
    name = line?.split(', ')[2] ?? '';
    return name !== '';
  });
  return name;
}

t.test(
  '3 members: election, kill -9 of the leader, restart and catch-up by log and by snapshot',
  async (t) => {
    const c = await ProcessCluster.start({
      size: 3,
      args: [...FAST, '--snapshot-count=200', '--experimental-snapshot-catchup-entries=50'],
      logLevel: 'info',
    });
    t.teardown(() => c.stop());
    const first = await leaderName(c);
    t.ok(['m1', 'm2', 'm3'].includes(first), `leader ${first}`);
    t.ok(await put(c.endpoints, 'a', '1'));
    await c.kill(first);
    const survivors = c.running();
    t.equal(survivors.length, 2);
    await until('writes to go on without the old leader', () => put(c.endpoints, 'a', '2'));
    const second = await leaderName(c);
    t.not(second, first, 'a new leader took over');
    // While the old leader is down, enough writes (one raft entry each) for the log to be compacted past it.
    const client = new Etcd3({ hosts: c.running().map((m) => m.clientUrl) });
    t.teardown(() => client.close());
    for (let i = 0; i < 600; i += 50)
      await Promise.all(Array.from({ length: 50 }, (_, j) => client.put(`k${i + j}`).value(`v${i + j}`)));
    await c.restart(first);
    const back = c.member(first);
    await until(
      'the restarted member to catch up',
      async () => (await get(ep(back.clientUrl), 'k599', '--consistency=s')) === 'v599\n',
    );
    t.equal(await get(ep(back.clientUrl), 'a'), '2\n', 'the write made while it was down is there');
    t.match(back.logTail, /installing snapshot/, 'it caught up by snapshot: the log it needed was compacted');
    const hashes = await etcdctl(c.endpoints, { args: ['endpoint', 'hashkv', '-w', 'json'] });
    const values = (JSON.parse(hashes.stdout || '[]') as { HashKV: { hash: number } }[]).map(
      (h) => h.HashKV.hash,
    );
    t.equal(values.length, 3);
    t.equal(new Set(values).size, 1, 'every member has the same HashKV');
  },
);

t.test('3 members: add a learner, promote it, remove a member', async (t) => {
  const c = await ProcessCluster.start({ size: 3, args: FAST });
  t.teardown(() => c.stop());
  t.ok(await put(c.endpoints, 'x', '1'));
  const slot = await c.addMemberSlot();
  const add = await etcdctl(c.endpoints, {
    args: ['member', 'add', slot.name, `--peer-urls=${slot.peerUrl}`, '--learner'],
  });
  t.equal(add.code, 0, add.stderr);
  t.match(add.stdout, /Member\s+[0-9a-f]+ added to cluster\s+[0-9a-f]+/);
  t.match(add.stdout, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
  const id = /Member\s+([0-9a-f]+) added/.exec(add.stdout)?.[1] ?? '';
  await c.restart(slot.name, false);
  await until(
    'the learner to catch up',
    async () => (await get(ep(slot.clientUrl), 'x', '--consistency=s')) === '1\n',
  );
  const listed = await etcdctl(c.endpoints, { args: ['member', 'list'] });
  t.match(
    listed.stdout,
    new RegExp(`${id}, started, ${slot.name}, ${slot.peerUrl}, ${slot.clientUrl}, true`),
  );
  await until('the promotion to be accepted', async () => {
    const r = await etcdctl(c.endpoints, { args: ['member', 'promote', id] });
    return r.code === 0 && new RegExp(`Member\\s+${id} promoted in cluster`).test(r.stdout);
  });
  t.match(
    (await etcdctl(c.endpoints, { args: ['member', 'list'] })).stdout,
    new RegExp(`${id}, started, ${slot.name}, .*, false`),
  );
  const victim = c.members[0]!;
  const vid = (await etcdctl(c.endpoints, { args: ['member', 'list'] })).stdout
    .split('\n')
    .find((l) => l.includes(`, ${victim.name}, `))
    ?.split(',')[0];
  const removed = await etcdctl(ep(c.members[1]!.clientUrl), { args: ['member', 'remove', vid!] });
  t.match(removed.stdout, new RegExp(`Member\\s+${vid} removed from cluster`));
  await until('the removed member to stop', async () => !c.running().includes(victim));
  t.equal(
    (await etcdctl(ep(c.members[1]!.clientUrl), { args: ['member', 'list'] })).stdout.trim().split('\n')
      .length,
    3,
  );
  t.ok(await put(ep(slot.clientUrl), 'y', '2'), 'the cluster of three writes on');
});

t.test(
  '3 members: a partitioned member falls behind, the rest go on, it catches up after healing',
  async (t) => {
    const c = await ProcessCluster.start({ size: 3, args: FAST, proxiedPeers: true });
    t.teardown(() => c.stop());
    const leader = await leaderName(c);
    const cut = c.members.find((m) => m.name !== leader)!;
    cut.proxy!.block();
    const others = c.members
      .filter((m) => m !== cut)
      .map((m) => ep(m.clientUrl))
      .join(',');
    for (let i = 0; i < 20; i++) t.ok(await put(others, `p${i}`, `${i}`));
    const stale = await etcdctl(ep(cut.clientUrl), { args: ['get', 'p19', '--command-timeout=2s'] });
    t.not(
      stale.stdout,
      'p19\n19\n',
      'the partitioned member does not serve a linearizable read it cannot vouch for',
    );
    cut.proxy!.unblock();
    await until(
      'the healed member to catch up',
      async () => (await get(ep(cut.clientUrl), 'p19')) === '19\n',
    );
    t.equal(await leaderName(c), leader, 'the partition did not disturb the leader (PreVote + CheckQuorum)');
  },
);

t.test('5 members survive losing two', async (t) => {
  const c = await ProcessCluster.start({ size: 5, args: FAST });
  t.teardown(() => c.stop());
  t.ok(await put(c.endpoints, 'five', '1'));
  const leader = await leaderName(c);
  await c.kill(leader);
  await c.kill(c.members.find((m) => m.name !== leader)!.name);
  await until('writes with three of five', () => put(c.endpoints, 'five', '2'));
  for (const m of c.running()) t.equal(await get(ep(m.clientUrl), 'five'), '2\n');
});
