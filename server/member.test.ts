// The member's node loop on real storage with an in-memory network: elections, writes and
// linearizable reads through any member, leases timed by the leader and reached from followers,
// membership changes, restarts from disk and catching up by snapshot.

import pino from 'pino';
import t from 'tap';
import { isKvError } from '../kv/errors.js';
import { isServerError } from './api.js';
import { Compactor } from './compactor.js';
import { CorruptionCheck } from './corruption-check.js';
import type { NetcdMember } from './member.js';
import { LocalCluster } from './testing/local-cluster.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string): Uint8Array => enc.encode(s);

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The error code a call fails with ('none' when it succeeds). */
async function failureCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'none',
    (e: unknown) => (isKvError(e) || isServerError(e) ? e.code : String(e)),
  );
}

async function get(m: NetcdMember, key: string): Promise<string | null> {
  const r = await m.range({ key: b(key) });
  return r.kvs[0] === undefined ? null : dec.decode(r.kvs[0].value);
}

t.test('a single member elects itself, writes, reads and survives a restart', async (t) => {
  const c = await LocalCluster.create(1);
  t.teardown(() => c.close());
  const m = await c.leader();
  t.equal(m.header().revision, 1, 'a fresh store is at revision 1');
  const put = await m.propose({ put: { key: b('a'), value: b('1') } });
  t.same(put, { put: { revision: 2 } });
  t.equal(await get(m, 'a'), '1');
  await c.stop('m1');
  const again = await c.start('m1');
  await c.leader();
  t.equal(await get(again, 'a'), '1', 'the write is there after a restart');
  t.equal(again.header().revision, 2);
  t.equal((await again.members()).length, 1);
  t.equal((await again.members())[0]?.name, 'm1', 'the member published its name');
});

t.test('three members: writes through a follower, linearizable reads everywhere', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const followers = [...c.byName.values()].filter((m) => m.id !== leader.id);
  t.equal(followers.length, 2);
  const f = followers[0]!;
  for (let i = 0; i < 20; i++) await f.propose({ put: { key: b(`k${i}`), value: b(`v${i}`) } });
  for (const m of c.byName.values()) {
    const r = await m.range({ key: b('k'), rangeEnd: b('l') });
    t.equal(r.count, 20, `member ${m.name} sees every write at once (ReadIndex)`);
    t.equal(r.revision, 21);
  }
  const hashes = await Promise.all([...c.byName.values()].map((m) => m.hashKV(0)));
  t.equal(new Set(hashes.map((h) => h.hash)).size, 1, 'HashKV agrees');
  const members = await f.members();
  t.same(members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
});

t.test('leases: granted anywhere, kept alive through a follower, expired by the leader only', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const f = [...c.byName.values()].find((m) => m.id !== leader.id)!;
  const { id, ttlSeconds } = await f.leaseGrant(0, 3);
  t.ok(id > 0);
  t.equal(ttlSeconds, 3);
  await f.propose({ put: { key: b('owned'), value: b('x'), lease: id } });
  const ttl = await f.leaseKeepAlive(id);
  t.equal(ttl, 3, 'keep-alive through a follower answers the TTL');
  const live = await f.leaseTimeToLive(id, true);
  t.equal(live.grantedTtlSeconds, 3);
  t.ok(live.ttlSeconds >= 1 && live.ttlSeconds <= 3, `remaining ${live.ttlSeconds}`);
  t.same(
    live.keys.map((k) => dec.decode(k)),
    ['owned'],
  );
  t.same(await f.leaseList(), [id]);
  await until('the lease to expire', async () => (await f.range({ key: b('owned') })).count === 0, 8000);
  t.equal(await failureCode(f.leaseKeepAlive(id)), 'LEASE_NOT_FOUND');
  await f.leaseRevoke(id).then(
    () => t.fail('revoking an expired lease fails'),
    (e: unknown) => t.ok(isKvError(e) && e.code === 'LEASE_NOT_FOUND'),
  );
});

t.test('membership: add a learner, it catches up by snapshot, promote it, remove a member', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  for (let i = 0; i < 50; i++) await leader.propose({ put: { key: b(`k${i}`), value: b('v') } });
  const added = await leader.memberAdd(['http://127.0.0.1:20004'], true);
  t.equal(added.isLearner, true);
  c.names.push('m4');
  const m4 = await c.start('m4', 'existing');
  t.equal(m4.id, added.id, 'the joining member takes the id the cluster gave it');
  await until('the learner to catch up', () => m4.appliedIndex >= leader.appliedIndex);
  t.equal((await m4.range({ key: b('k'), rangeEnd: b('l'), serializable: true })).count, 50);
  // The leader promotes a learner only once its log is close to the leader's: retry until then.
  await until(
    'the promotion to be accepted',
    async () => (await failureCode(leader.memberPromote(m4.id))) === 'none',
  );
  await until('the promotion to apply', async () => (await m4.status()).isLearner === false);
  t.equal((await leader.members()).find((m) => m.id === m4.id)?.isLearner, false);
  t.equal(await failureCode(leader.memberPromote(m4.id)), 'MEMBER_NOT_LEARNER');
  const victim = [...c.byName.values()].find((m) => m.id !== leader.id && m.id !== m4.id)!;
  await leader.memberRemove(victim.id);
  await until('the removal to reach everyone', async () => (await m4.members()).length === 3);
  await c.stop(victim.name);
  await leader.propose({ put: { key: b('after'), value: b('removal') } });
  t.equal(await get(m4, 'after'), 'removal');
  t.equal(await failureCode(leader.memberRemove(victim.id)), 'MEMBER_NOT_FOUND');
});

t.test('a member learns its removal from its own conf change, or from a majority refusing it', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const [a, b] = [...c.byName.values()].filter((m) => m.id !== leader.id);
  a!.reportRejected(leader.id, 'UNKNOWN_PEER');
  t.same([...c.removed], [], 'one refusal of two peers is not a majority');
  a!.reportRejected(b!.id, 'WRONG_MEMBER');
  t.same([...c.removed], [], 'other refusals say nothing about membership');
  a!.reportRejected(b!.id, 'UNKNOWN_PEER');
  t.same([...c.removed], [a!.name], 'refused by both peers: removed');
  await leader.memberRemove(b!.id);
  await until('the removed member to apply its removal', () => c.removed.has(b!.name));
});

t.test('leader stop hands over leadership; writes go on; the old leader catches up on restart', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  const name = leader.name;
  await leader.propose({ put: { key: b('x'), value: b('1') } });
  await c.stop(name);
  const next = await c.leader();
  t.not(next.name, name, 'another member leads');
  await next.propose({ put: { key: b('x'), value: b('2') } });
  const back = await c.start(name);
  await until('the restarted member to catch up', () => back.appliedIndex >= next.appliedIndex);
  t.equal(await get(back, 'x'), '2');
});

t.test('a member far behind catches up by snapshot after the log was compacted', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  // Restart every member with a tiny snapshot count so the log is compacted quickly.
  for (const n of [...c.names]) {
    await c.stop(n);
    await c.start(n, 'new', 20);
  }
  const leader = await c.leader();
  const lagging = [...c.byName.values()].find((m) => m.id !== leader.id)!;
  c.network.isolated.add(lagging.id);
  for (let i = 0; i < 6000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) => leader.propose({ put: { key: b(`k${i + j}`), value: b('v') } })),
    );
  }
  c.network.isolated.delete(lagging.id);
  await until('the lagging member to catch up', () => lagging.appliedIndex >= leader.appliedIndex, 15000);
  const count = (await lagging.range({ key: b('k'), rangeEnd: b('l'), serializable: true })).count;
  t.equal(count, 6000);
  t.equal((await lagging.hashKV(0)).hash, (await leader.hashKV(0)).hash);
});

t.test('corruption check: a member whose store differs gets a CORRUPT alarm on every member', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  await leader.propose({ put: { key: b('a'), value: b('1') } });
  const victim = [...c.byName.values()].find((m) => m.id !== leader.id)!;
  await until(
    'the victim to apply the write',
    async () => (await victim.range({ key: b('a'), serializable: true })).count === 1,
  );
  const check = new CorruptionCheck({
    target: leader.corruptionTarget(),
    intervalMs: 0,
    logger: pino({ level: 'silent' }),
  });
  const clean = await check.runOnce();
  t.same(clean.corrupt, [], 'identical stores agree');
  t.equal(clean.agreed.length, 2);
  // Damage one member's store behind raft's back: same revision count, different contents.
  victim.machine.store.restore(
    [...victim.machine.store.records()].map((r) => ({ ...r, value: b('tampered') })),
    victim.machine.store.currentRevision,
    victim.machine.store.compactRevision,
  );
  const report = await check.runOnce();
  t.same(report.corrupt, [victim.id]);
  for (const m of c.byName.values())
    await until(`member ${m.name} to report the alarm`, () =>
      m.alarms().some((a) => a.alarm === 'CORRUPT' && a.memberId === victim.id),
    );
  t.match((await leader.status()).errors, [/alarm:CORRUPT/]);
});

t.test('auto-compaction through raft compacts every member at the same revision', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  for (let i = 0; i < 10; i++) await leader.propose({ put: { key: b('k'), value: b(`${i}`) } });
  const compactor = new Compactor({
    mode: { kind: 'revision', revisions: 3 },
    target: leader.compactionTarget(),
    logger: pino({ level: 'silent' }),
  });
  t.equal(await compactor.runOnce(), 8);
  for (const m of c.byName.values())
    await until(`member ${m.name} to compact`, () => m.machine.store.compactRevision === 8);
  const follower = [...c.byName.values()].find((m) => m.id !== leader.id)!;
  t.equal(
    await new Compactor({
      mode: { kind: 'revision', revisions: 3 },
      target: follower.compactionTarget(),
      logger: pino({ level: 'silent' }),
    }).runOnce(),
    0,
    'followers leave it to the leader',
  );
});

t.test(
  'the leader finishes a compaction in bounded steps through raft; members stay identical',
  async (t) => {
    const c = await LocalCluster.create(3);
    t.teardown(() => c.close());
    for (const m of c.byName.values()) m.machine.store.compactionBatchKeys = 2;
    const leader = await c.leader();
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 20; i++) await leader.propose({ put: { key: b(`k${i}`), value: b(`${round}`) } });
    const res = await leader.propose({ compaction: { revision: 30 } });
    t.ok('compaction' in res);
    for (const m of c.byName.values())
      await until(`member ${m.name} to finish the cleanup`, () => m.machine.store.compaction === null);
    const members = [...c.byName.values()];
    const usage = members.map((m) => m.machine.store.usageBytes);
    t.same(new Set(usage).size, 1, `equal usage ${usage}`);
    t.same(
      new Set(members.map((m) => Buffer.from(m.machine.snapshot()).toString('base64'))).size,
      1,
      'equal state',
    );
    t.equal(
      [...leader.machine.store.records()].length,
      31,
      'revision 30 is the second put of k8: keys 0-8 lose their first version, keys 9-19 keep both',
    );
  },
);

t.test('errors: too large, no leader', async (t) => {
  const c = await LocalCluster.create(3);
  t.teardown(() => c.close());
  const leader = await c.leader();
  t.equal(
    await failureCode(leader.propose({ put: { key: b('big'), value: new Uint8Array(2 * 1024 * 1024) } })),
    'REQUEST_TOO_LARGE',
  );
  const f = [...c.byName.values()].find((m) => m.id !== leader.id)!;
  for (const m of c.byName.values()) c.network.isolated.add(m.id);
  const code = await failureCode(f.propose({ put: { key: b('a'), value: b('b') } }));
  t.ok(code === 'NO_LEADER' || code === 'TIMEOUT', `an isolated member fails the write (${code})`);
});
