// The client library against a real 3-member cluster of bin/netcd processes: KV and txn, typed
// errors, failover when a member dies, a watch that survives its member's death with no event
// missed or repeated, compaction surfaced, leases renewed and lost by deadline, locks with fencing
// tokens, elections, and an informer that re-lists after a compaction.

import t from 'tap';
import { ProcessCluster } from '../server/testing/process-cluster.js';
import { TcpProxy } from '../server/testing/tcp-proxy.js';
import { CompactedError, LeaseLostError, NetcdError } from './errors.js';
import { Netcd } from './netcd.js';
import { compare, op } from './txn.js';
import type { WatchBatch } from './watch.js';

const FAST = ['--heartbeat-interval=50', '--election-timeout=500'];

async function until(
  what: string,
  cond: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await Promise.resolve(cond()).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof NetcdError ? err.code : String(err);
  }
}

t.test('client library on a 3-member netcd cluster', async (t) => {
  const c = await ProcessCluster.start({ size: 3, args: FAST });
  t.teardown(() => c.stop());
  const urls = c.members.map((m) => m.clientUrl);
  const client = new Netcd({ endpoints: urls, requestTimeoutMs: 8000 });
  t.teardown(() => client.close());

  await t.test('KV, txn and typed errors', async (t) => {
    const put = await client.put('kv/a', '1');
    t.ok(put.header.revision > 1);
    const prev = await client.put('kv/a', '2', { prevKv: true });
    t.equal(prev.prevKv?.value.toString(), '1');
    await client.put('kv/b', '3');
    const all = await client.get('kv/', { prefix: true });
    t.same(
      all.kvs.map((kv) => `${kv.key}=${kv.value}@v${kv.version}`),
      ['kv/a=2@v2', 'kv/b=3@v1'],
    );
    t.equal(all.count, 2);
    const page = await client.get('kv/', { prefix: true, limit: 1, serializable: true });
    t.equal(page.more, true);
    t.equal(page.kvs.length, 1);
    const atOld = await client.get('kv/a', { revision: put.header.revision });
    t.equal(atOld.kvs[0]?.value.toString(), '1', 'a historical read');

    const a = all.kvs[0];
    const won = await client
      .txn()
      .if(compare.modRevision('kv/a').equal(a?.modRevision ?? -1))
      .onSuccess(op.put('kv/a', 'cas'), op.get('kv/b'))
      .onFailure(op.get('kv/a'))
      .commit();
    t.equal(won.succeeded, true);
    t.equal(won.responses[1]?.kind, 'get');
    const again = await client
      .txn()
      .if(compare.modRevision('kv/a').equal(a?.modRevision ?? -1))
      .onSuccess(op.put('kv/a', 'lost'))
      .onFailure(op.get('kv/a'))
      .commit();
    t.equal(again.succeeded, false, 'the second compare-and-swap on the same revision fails');
    const r = again.responses[0];
    t.equal(r?.kind === 'get' ? r.get.kvs[0]?.value.toString() : undefined, 'cas');

    const del = await client.delete('kv/', { prefix: true, prevKv: true });
    t.equal(del.deleted, 2);
    t.equal(del.prevKvs.length, 2);
    t.equal(await client.getValue('kv/a'), undefined);

    t.equal(await codeOf(client.put('', 'x')), 'EMPTY_KEY');
    t.equal(
      await codeOf(client.leaseTimeToLive(12345n).then((x) => (x.ttl === -1 ? 'gone' : 'alive'))),
      'ok',
    );
    t.equal(await codeOf(client.revokeLease(987654321n)), 'LEASE_NOT_FOUND');
    t.equal(
      await codeOf(client.txn().onSuccess(op.put('dup', '1'), op.put('dup', '2')).commit()),
      'DUPLICATE_KEY',
    );
  });

  await t.test('compaction is surfaced as CompactedError', async (t) => {
    const first = await client.put('cmp/k', '1');
    await client.put('cmp/k', '2');
    const last = await client.put('cmp/k', '3');
    await client.compact(last.header.revision);
    const err = await client.get('cmp/k', { revision: first.header.revision }).catch((e: unknown) => e);
    t.ok(err instanceof CompactedError, 'a read below the compaction');
    const w = client.watch('cmp/k', { startRevision: first.header.revision });
    const werr = await (async () => {
      for await (const _ of w) return 'event';
      return 'ended';
    })().catch((e: unknown) => e);
    t.ok(werr instanceof CompactedError, 'a watch from a compacted revision');
    t.equal((werr as CompactedError).compactRevision, last.header.revision);
  });

  await t.test('a client with a dead endpoint first fails over', async (t) => {
    const dead = new Netcd({ endpoints: ['http://127.0.0.1:1', ...urls], dialTimeoutMs: 1000 });
    t.teardown(() => dead.close());
    for (let i = 0; i < 5; i++) await dead.put(`fo/${i}`, `${i}`);
    t.equal((await dead.get('fo/', { prefix: true })).count, 5);
    const none = new Netcd({ endpoints: ['http://127.0.0.1:1'], dialTimeoutMs: 200, requestTimeoutMs: 800 });
    t.teardown(() => none.close());
    const err = await none.put('x', 'y').catch((e: unknown) => e);
    t.ok(err instanceof NetcdError);
    t.equal((err as NetcdError).code, 'UNAVAILABLE');
    t.equal((err as NetcdError).outcome, 'not-applied', 'nothing was ever sent');
  });

  await t.test('leases: kept alive, revoked, lost by deadline', async (t) => {
    const lease = await client.grantLease(2);
    await client.put('lease/k', 'v', { lease: lease.id });
    await new Promise((r) => setTimeout(r, 3500));
    t.equal(lease.isLost, false, 'kept alive past its TTL');
    t.ok(lease.renewals >= 2, `renewed (${lease.renewals} times)`);
    const ttl = await lease.timeToLive({ keys: true });
    t.ok(ttl.ttl > 0);
    t.same(
      ttl.keys.map((k) => k.toString()),
      ['lease/k'],
    );
    t.ok((await client.leases()).includes(lease.id));
    await lease.revoke();
    const lost = await lease.lost;
    t.equal(lost.reason, 'revoked');
    t.equal(await client.getValue('lease/k'), undefined, 'its key went with it');

    // A member that stops answering: the lease is reported lost by its deadline.
    const m = c.members[2];
    if (m === undefined) throw new Error('no member');
    const lone = new Netcd({ endpoints: [m.clientUrl], requestTimeoutMs: 3000 });
    t.teardown(() => lone.close());
    const held = await lone.grantLease(2);
    const grantedBy = held.expiresAt;
    c.signal(m.name, 'SIGSTOP');
    try {
      const reason = await Promise.race([
        held.lost,
        new Promise((r) => setTimeout(() => r('still held'), 6000)),
      ]);
      t.ok(reason instanceof LeaseLostError);
      t.equal((reason as LeaseLostError).reason, 'deadline');
      t.ok(Date.now() >= held.expiresAt && held.expiresAt >= grantedBy, 'not before its deadline');
      t.equal(held.signal.aborted, true);
    } finally {
      c.signal(m.name, 'SIGCONT');
    }
  });

  await t.test('locks are exclusive and hand out growing fencing tokens', async (t) => {
    const first = await client.lock('locks/l', { ttl: 5 });
    let secondAt = 0;
    const second = client.lock('locks/l', { ttl: 5 }).then((l) => {
      secondAt = Date.now();
      return l;
    });
    await new Promise((r) => setTimeout(r, 500));
    t.equal(secondAt, 0, 'the second waits');
    const releasedAt = Date.now();
    await first.unlock();
    const l2 = await second;
    t.ok(secondAt >= releasedAt);
    t.ok(l2.fencingToken > first.fencingToken, `${l2.fencingToken} > ${first.fencingToken}`);
    await l2.unlock();
  });

  await t.test('elections: campaign, leader, observe, resign', async (t) => {
    const abort = new AbortController();
    const seen: string[] = [];
    const observing = (async () => {
      for await (const kv of client.observe('elect/e', { signal: abort.signal }))
        seen.push(kv.value.toString());
    })();
    const a = await client.campaign('elect/e', 'a', { ttl: 5 });
    t.equal((await client.leader('elect/e'))?.value.toString(), 'a');
    let bLeads = false;
    const b = client.campaign('elect/e', 'b', { ttl: 5 }).then((l) => {
      bLeads = true;
      return l;
    });
    await a.proclaim('a2');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(bLeads, false);
    await a.resign();
    const lb = await b;
    t.ok(lb.fencingToken > a.fencingToken);
    await until('observer sees b', () => seen.includes('b'));
    t.same(seen, ['a', 'a2', 'b']);
    await lb.resign();
    abort.abort();
    await observing;
  });

  await t.test('an informer keeps a cache and re-lists after a compaction', async (t) => {
    for (let i = 0; i < 5; i++) await client.put(`inf/${i}`, `v${i}`);
    const m = c.members[1];
    if (m === undefined) throw new Error('no member');
    // The informer reaches its member through a proxy the test can cut.
    const proxy = await TcpProxy.start(0, Number(new URL(m.clientUrl).port));
    t.teardown(() => proxy.close());
    const one = new Netcd({ endpoints: [`http://127.0.0.1:${proxy.port}`] });
    t.teardown(() => one.close());
    const direct = new Netcd({ endpoints: [m.clientUrl] });
    t.teardown(() => direct.close());
    const inf = one.informer({ prefix: 'inf/', pageSize: 2 });
    const events: string[] = [];
    inf.subscribe((e) =>
      events.push(e.type === 'synced' ? `synced${e.relisted ? '*' : ''}` : `${e.type} ${e.key}`),
    );
    const running = inf.run();
    await inf.ready;
    t.equal(inf.cache.size, 5, 'listed in pages');
    await client.put('inf/5', 'v5');
    await client.delete('inf/0');
    await until('watch events', () => inf.cache.has('inf/5') && !inf.cache.has('inf/0'));

    // While the informer cannot reach its member, keys change and history is compacted away.
    proxy.block();
    await client.put('inf/1', 'changed');
    await client.delete('inf/2');
    const last = await client.put('inf/6', 'v6');
    await client.compact(last.header.revision);
    const compacted = async (): Promise<boolean> =>
      (await direct.cluster.hashKV(direct.endpoints[0] as string)).compactRevision === last.header.revision;
    await until('the member applied the compaction', compacted);
    proxy.unblock();
    await until('relisted', () => inf.relists > 0 && inf.cache.get('inf/1') === 'changed', 30_000);
    t.same([...inf.cache.keys()].sort(), ['inf/1', 'inf/3', 'inf/4', 'inf/5', 'inf/6']);
    t.ok(events.includes('delete inf/2'), 'the deletion it missed is reported');
    t.ok(events.includes('put inf/6'));
    t.equal(events.at(-1), 'synced*');
    inf.stop();
    await running;
  });

  await t.test('a watch survives the death of its member: nothing missed, nothing repeated', async (t) => {
    const victim = c.members[0];
    if (victim === undefined) throw new Error('no member');
    // The watch opens on the first endpoint: the member about to die.
    const watcher = new Netcd({ endpoints: urls });
    t.teardown(() => watcher.close());
    const writer = new Netcd({ endpoints: urls.slice(1) });
    t.teardown(() => writer.close());
    const N = 60;
    const w = watcher.watch('wf/', { prefix: true });
    const got: number[] = [];
    const batches: WatchBatch[] = [];
    const reading = (async () => {
      for await (const b of w) {
        batches.push(b);
        for (const e of b.events) got.push(Number(e.kv.value.toString()));
        if (got.length >= N) return;
      }
    })();
    reading.catch(() => {});
    await until('watch started', () => w.resumeRevision > 0);
    for (let i = 0; i < N; i++) {
      if (i === N / 3) {
        await c.kill(victim.name);
        // A write in flight when a leader dies has an unknown outcome; this test wants exactly N
        // acknowledged writes, so it waits for the survivors to agree on a leader first.
        await until('a leader among the survivors', async () => {
          const ep = writer.endpoints[0] as string;
          const s = await writer.cluster.status(ep, { timeoutMs: 1000 });
          const members = await writer.cluster.memberList({ timeoutMs: 1000 });
          const leader = members.members.find((x) => x.id === s.leader);
          return leader !== undefined && leader.name !== victim.name;
        });
      }
      await writer.put(`wf/${i % 7}`, String(i));
    }
    await Promise.race([
      reading,
      new Promise((_, rej) => setTimeout(() => rej(new Error(`watch got ${got.length}/${N}`)), 30_000)),
    ]);
    t.same(
      got,
      Array.from({ length: N }, (_, i) => i),
      'every write exactly once, in order',
    );
    t.ok(w.reconnects >= 1, 'the watch moved to another member');
    w.cancel();
    await c.restart(victim.name);
  });
});
