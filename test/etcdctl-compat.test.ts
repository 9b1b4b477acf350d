// Stock etcdctl 3.4 against netcd and against Debian's etcd 3.4, side by side in one run: the same
// script of commands must print the same output and exit with the same code on both, once member
// ids, lease ids, timestamps, latencies, sizes and hashes (which depend on the storage engine) are
// masked. The script covers put/get/del/txn/watch/lease/member/endpoint/snapshot/compaction/
// defrag/alarm/lock/elect.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { type EtcdctlStep, etcdctl } from '../server/testing/etcdctl.js';
import { ProcessCluster } from '../server/testing/process-cluster.js';

/** Masks what legitimately differs between two servers (ids, timing, sizes, storage hashes). */
export function normalize(text: string): string {
  return text
    .replace(/\b127\.0\.0\.1:\d+/g, '<ENDPOINT>')
    .replace(/"(cluster_id|member_id|raft_term|ID|id)":\d+/g, '"$1":0')
    .replace(/took = [\d.]+(µs|ms|s)/g, 'took = <T>')
    .replace(/"(ClusterID|MemberID)" : \d+/g, '"$1" : <ID>')
    .replace(/^(<ENDPOINT>, )\d+$/gm, '$1<HASH>')
    .replace(/\b[0-9a-f]{10,16}\b/g, '<ID>')
    .replace(
      /<ENDPOINT>, <ID>, [^,]+, [^,]+, (true|false), (true|false), \d+, \d+, \d+, /g,
      '<ENDPOINT>, <ID>, <V>, <SIZE>, $1, $2, <TERM>, <INDEX>, <INDEX>, ',
    );
}

const SCRIPT: readonly EtcdctlStep[] = [
  { args: ['put', 'a', '1'] },
  { args: ['get', 'a'] },
  { args: ['get', 'a', '-w', 'json'] },
  { args: ['put', 'a', '2', '--prev-kv'] },
  { args: ['put', 'b', 'x'] },
  { args: ['put', 'c', 'y'] },
  { args: ['get', 'a', '--prefix', '--keys-only'] },
  { args: ['get', '', '--prefix'] },
  { args: ['get', 'a', 'c'] },
  { args: ['get', 'b', '--from-key'] },
  { args: ['get', '', '--prefix', '--limit=2'] },
  { args: ['get', '', '--prefix', '--count-only', '-w', 'json'] },
  { args: ['get', '', '--prefix', '--sort-by=VALUE', '--order=DESCEND'] },
  { args: ['get', '', '--prefix', '--sort-by=MODIFY', '--order=ASCEND', '-w', 'json'] },
  { args: ['get', 'a', '--rev=2'] },
  { args: ['get', 'a', '--rev=100'] },
  { args: ['get', 'a', '--consistency=s'] },
  { args: ['get', 'a', '-w', 'fields'] },
  { args: ['del', 'b', '--prev-kv'] },
  { args: ['del', 'zzz'] },
  { args: ['get', 'b'] },
  { args: ['txn'], stdin: 'value("a") = "2"\n\nput t ok\nget a\n\nput t fail\n\n' },
  { args: ['txn', '-w', 'json'], stdin: 'mod("a") > "100"\n\nput t ok\n\ndel t\n\n' },
  { args: ['txn'], stdin: 'version("nope") = "0"\ncreate("a") != "0"\n\nput u 1\n\n\n' },
  { args: ['get', 't'] },
  { args: ['put', 'w/1', 'one'] },
  { args: ['put', 'w/2', 'two'] },
  { args: ['del', 'w/1'] },
  { args: ['watch', 'w/', '--prefix', '--rev=1'], killAfterMs: 3000 },
  { args: ['watch', 'w/', '--prefix', '--rev=1', '--prev-kv', '-w', 'json'], killAfterMs: 3000 },
  { args: ['compaction', '3'] },
  { args: ['get', 'a', '--rev=2'] },
  { args: ['watch', 'w/', '--prefix', '--rev=2'], killAfterMs: 3000 },
  { args: ['compaction', '3'] },
  { args: ['lease', 'grant', '60'] },
  { args: ['lease', 'grant', '0'] },
  { args: ['lease', 'list'] },
  { args: ['lease', 'timetolive', '1234'] },
  { args: ['lease', 'revoke', '1234'] },
  { args: ['lease', 'keep-alive', '--once', '1234'] },
  { args: ['put', 'x', 'y', '--lease=1234'] },
  { args: ['put', 'x', '--ignore-value'] },
  { args: ['member', 'list'] },
  { args: ['member', 'list', '-w', 'json'] },
  { args: ['endpoint', 'status'] },
  { args: ['endpoint', 'health'] },
  { args: ['endpoint', 'hashkv'] },
  { args: ['alarm', 'list'] },
  { args: ['defrag'] },
  { args: ['lock', 'mylock', 'echo', 'held'] },
  { args: ['elect', 'myelection', 'p1'], killAfterMs: 3000 },
  { args: ['get', 'myelection', '--prefix', '--keys-only'] },
  { args: ['put', '', 'v'] },
  { args: ['get', 'a', '-w', 'table'] },
];

t.test('etcdctl prints the same against netcd as against etcd 3.4', async (t) => {
  const etcd = await ProcessCluster.start({ kind: 'etcd', size: 1 });
  t.teardown(() => etcd.stop());
  const netcd = await ProcessCluster.start({ kind: 'netcd', size: 1 });
  t.teardown(() => netcd.stop());
  const ep = (c: ProcessCluster): string => c.members[0]!.clientUrl.replace('http://', '');
  for (const step of SCRIPT) {
    const want = await etcdctl(ep(etcd), step);
    const got = await etcdctl(ep(netcd), step);
    t.same(
      { code: got.code, stdout: normalize(got.stdout), error: normalize(got.error) },
      { code: want.code, stdout: normalize(want.stdout), error: normalize(want.error) },
      `etcdctl ${step.args.join(' ')}`,
    );
  }
});

t.test('etcdctl lease flow with real ids and snapshot save', async (t) => {
  const netcd = await ProcessCluster.start({ kind: 'netcd', size: 1 });
  t.teardown(() => netcd.stop());
  const ep = netcd.members[0]!.clientUrl.replace('http://', '');
  const grant = await etcdctl(ep, { args: ['lease', 'grant', '30'] });
  const id = /lease ([0-9a-f]+) granted with TTL\(30s\)/.exec(grant.stdout)?.[1];
  t.ok(id !== undefined, grant.stdout);
  t.equal((await etcdctl(ep, { args: ['put', 'leased', 'v', `--lease=${id}`] })).stdout, 'OK\n');
  const ttl = await etcdctl(ep, { args: ['lease', 'timetolive', id!, '--keys'] });
  t.match(
    ttl.stdout,
    new RegExp(
      `lease ${id} granted with TTL\\(30s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased\\]\\)`,
    ),
  );
  const ka = await etcdctl(ep, { args: ['lease', 'keep-alive', '--once', id!] });
  t.equal(ka.stdout, `lease ${id} keepalived with TTL(30)\n`);
  t.equal((await etcdctl(ep, { args: ['lease', 'list'] })).stdout, `found 1 leases\n${id}\n`);
  t.equal((await etcdctl(ep, { args: ['lease', 'revoke', id!] })).stdout, `lease ${id} revoked\n`);
  t.equal((await etcdctl(ep, { args: ['get', 'leased'] })).stdout, '', 'the revoke deleted the attached key');
  const dir = await mkdtemp(join(tmpdir(), 'netcd-snap-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const snap = await etcdctl(ep, { args: ['snapshot', 'save', join(dir, 's.db')] });
  t.equal(snap.stdout, `Snapshot saved at ${join(dir, 's.db')}\n`);
  t.equal(snap.code, 0);
});
