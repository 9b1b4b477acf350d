// Offline snapshot restore: a file saved by stock `etcdctl snapshot save` from a running member is
// restored into three data dirs that start a new 3-member cluster holding the same keys and leases
// above a bumped, compacted revision; byte-identical founding state on every member; and each way
// a restore refuses (missing or damaged file, not netcd's, a non-empty data dir, an unknown name).

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { LevelBackend } from '../kv/backend.js';
import { encodeEnvelope, type KvRequest } from '../kv/request.js';
import type { KvStateMachine } from '../kv/state-machine.js';
import { openRaftLog } from '../kv/wal/index.js';
import { emptyStateMachine, foundingMembers, memberDirOf, openDataDir } from './bootstrap.js';
import { readIdentity } from './identity.js';
import { DEFAULT_BUMP_REVISION, type RestoreOptions, restoreSnapshot } from './restore.js';
import { encodeSnapshotFile, SNAPSHOT_ALIGN_BYTES } from './snapshot-file.js';
import { etcdctl } from './testing/etcdctl.js';
import { ProcessCluster } from './testing/process-cluster.js';

const FAST = ['--heartbeat-interval=50', '--election-timeout=500'];
const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (u: Uint8Array): string => new TextDecoder().decode(u);

const CLUSTER = [
  { name: 'r1', peerURLs: ['http://127.0.0.1:11380'] },
  { name: 'r2', peerURLs: ['http://127.0.0.1:12380'] },
  { name: 'r3', peerURLs: ['http://127.0.0.1:13380'] },
];

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'netcd-restore-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Restore options for member `name` of CLUSTER. */
function optionsFor(snapshotPath: string, dataDir: string, name: string): RestoreOptions {
  return {
    snapshotPath,
    dataDir,
    name,
    initialCluster: CLUSTER,
    initialClusterToken: 'restored',
    initialAdvertisePeerURLs: CLUSTER.find((m) => m.name === name)?.peerURLs ?? [],
  };
}

/**
 * A state machine with history at revision 6 compacted at 3, a lease with a checkpointed remaining
 * time and a key on it, an alarm, and a removed member whose id makes the snapshot end with 0x00.
 */
function sourceMachine(): KvStateMachine {
  const m = emptyStateMachine();
  m.bootstrapMembers(5, [
    { id: 1, name: 'old', peerURLs: ['http://127.0.0.1:9'], clientURLs: [], isLearner: false },
  ]);
  const requests: KvRequest[] = [
    { put: { key: b('a'), value: b('1') } }, // 2
    { put: { key: b('a'), value: b('2') } }, // 3
    { put: { key: b('gone'), value: b('x') } }, // 4
    { deleteRange: { key: b('gone') } }, // 5
    { compaction: { revision: 3 } },
    { leaseGrant: { id: 7, ttlSeconds: 60 } },
    { put: { key: b('held'), value: b('h'), lease: 7 } }, // 6
    { leaseCheckpoint: { checkpoints: [{ id: 7, remainingMs: 1500 }] } },
    { alarm: { action: 'activate', memberId: 1, alarm: 'CORRUPT' } },
  ];
  requests.forEach((request, i) => {
    const r = m.apply(i + 1, encodeEnvelope({ requestId: `s${i}`, request }));
    if (r === null || !r.ok) throw new Error(`source entry ${i} failed`);
  });
  m.applyMembership(requests.length + 1, { kind: 'remove', id: 256 });
  return m;
}

async function writeSnapshotFile(dir: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, 'backup.db');
  await writeFile(path, bytes);
  return path;
}

/** What a restored data dir holds: its backend state loaded into a machine, identity and raft log. */
async function inspect(dataDir: string) {
  const memberDir = memberDirOf(dataDir);
  const backend = await LevelBackend.open(join(memberDir, 'db'));
  const machine = emptyStateMachine();
  try {
    machine.load(await backend.load());
  } finally {
    await backend.close();
  }
  const log = await openRaftLog(join(memberDir, 'wal'));
  try {
    return {
      machine,
      identity: await readIdentity(memberDir),
      snapshot: log.snapshot().metadata,
      hardState: log.initialState().hardState,
      lastIndex: log.lastIndex(),
    };
  } finally {
    await log.close();
  }
}

t.test(
  'restore writes a founding data dir: new identity, old keys, bumped and compacted revision',
  async (t) => {
    const dir = await tempDir(t);
    const source = sourceMachine();
    const snap = source.snapshot();
    t.equal(
      snap[snap.length - 1],
      0,
      'the snapshot ends with a zero byte: padding must not be stripped blindly',
    );
    t.not(snap.length % SNAPSHOT_ALIGN_BYTES, 0, 'the file carries zero padding');
    const file = await writeSnapshotFile(dir, encodeSnapshotFile(snap));
    const { clusterId, members } = foundingMembers({
      initialCluster: CLUSTER,
      initialClusterToken: 'restored',
    });

    const report = await restoreSnapshot(optionsFor(file, join(dir, 'r1'), 'r1'));
    const self = members.find((m) => m.name === 'r1')!;
    t.same(report, {
      name: 'r1',
      memberId: self.id,
      clusterId,
      dataDir: join(dir, 'r1'),
      walDir: join(dir, 'r1', 'member', 'wal'),
      revisionBefore: 6,
      revisionAfter: 6 + DEFAULT_BUMP_REVISION,
      compactRevision: 6 + DEFAULT_BUMP_REVISION,
      keys: 2,
      leases: 1,
      hashChecked: true,
    });

    const r = await inspect(join(dir, 'r1'));
    t.same(r.identity, { memberId: self.id, clusterId, name: 'r1' });
    t.same(r.snapshot, {
      index: 1,
      term: 1,
      confState: {
        voters: members.map((m) => m.id).sort((x, y) => x - y),
        votersOutgoing: [],
        learners: [],
        learnersNext: [],
        autoLeave: false,
      },
    });
    t.same(r.hardState, { term: 1, vote: 0, commit: 1 });
    t.equal(r.lastIndex, 1);
    const m = r.machine;
    t.equal(m.appliedIndex, 1);
    t.equal(m.members.clusterId, clusterId);
    t.same(
      m.members.list(),
      [...members].sort((x, y) => x.id - y.id),
      'the membership is the new cluster, not the old one',
    );
    t.same(m.activeAlarms(), [], "the old cluster's alarms are not carried over");
    t.same(
      m.store
        .range({ key: b('a'), rangeEnd: new Uint8Array([0]) })
        .kvs.map((kv) => [str(kv.key), str(kv.value)]),
      [
        ['a', '2'],
        ['held', 'h'],
      ],
    );
    t.equal(m.store.currentRevision, 1_000_006);
    t.throws(() => m.store.range({ key: b('a'), revision: 6 }), { code: 'COMPACTED' });
    t.same(
      m.store.range({ key: b('held') }).kvs.map((kv) => kv.lease),
      [7],
    );
    t.same(
      m.leases.snapshot(),
      (() => {
        const fresh = emptyStateMachine();
        fresh.leases.grant(7, 60);
        fresh.leases.attach(7, b('held'));
        return fresh.leases.snapshot();
      })(),
      'the lease restarts at its full TTL (the checkpointed 1.5 s is dropped)',
    );
  },
);

t.test('bumpRevision 0 and markCompacted false keep the revisions and history as they were', async (t) => {
  const dir = await tempDir(t);
  const source = sourceMachine();
  const file = await writeSnapshotFile(dir, encodeSnapshotFile(source.snapshot()));
  const report = await restoreSnapshot({
    ...optionsFor(file, join(dir, 'r1'), 'r1'),
    bumpRevision: 0,
    markCompacted: false,
  });
  t.same([report.revisionBefore, report.revisionAfter, report.compactRevision], [6, 6, 3]);
  const m = (await inspect(join(dir, 'r1'))).machine;
  t.same([m.store.currentRevision, m.store.compactRevision], [6, 3]);
  t.same(m.store.hashKV(), source.store.hashKV(), 'the same history');
  t.equal(str(m.store.range({ key: b('a'), revision: 3 }).kvs[0]!.value), '2', 'old revisions still read');

  const bumpedOnly = await restoreSnapshot({
    ...optionsFor(file, join(dir, 'r2'), 'r2'),
    bumpRevision: 10,
    markCompacted: false,
  });
  t.same([bumpedOnly.revisionAfter, bumpedOnly.compactRevision], [16, 3], 'bumped, history kept');
});

t.test('members restored from one file with the same flags hold byte-identical founding state', async (t) => {
  const dir = await tempDir(t);
  const file = await writeSnapshotFile(dir, encodeSnapshotFile(sourceMachine().snapshot()));
  const reports = [];
  for (const { name } of CLUSTER)
    reports.push(await restoreSnapshot(optionsFor(file, join(dir, name), name)));
  const states = await Promise.all(CLUSTER.map(({ name }) => inspect(join(dir, name))));
  const first = Buffer.from(states[0]!.machine.snapshot());
  for (const s of states)
    t.ok(Buffer.from(s.machine.snapshot()).equals(first), `${s.identity?.name} identical`);
  t.equal(new Set(reports.map((r) => r.clusterId)).size, 1, 'one cluster id');
  t.equal(new Set(reports.map((r) => r.memberId)).size, 3, 'three member ids');
  t.same(
    states.map((s) => s.identity?.memberId),
    reports.map((r) => r.memberId),
  );
});

t.test('a restored data dir starts as itself: later --initial-* flags are ignored', async (t) => {
  const dir = await tempDir(t);
  const file = await writeSnapshotFile(dir, encodeSnapshotFile(sourceMachine().snapshot()));
  const report = await restoreSnapshot(optionsFor(file, join(dir, 'r1'), 'r1'));
  const opened = await openDataDir({
    name: 'other',
    dataDir: join(dir, 'r1'),
    initialCluster: [{ name: 'other', peerURLs: ['http://127.0.0.1:1'] }],
    initialClusterState: 'new',
    initialClusterToken: 'another',
    initialAdvertisePeerURLs: ['http://127.0.0.1:1'],
  });
  t.teardown(async () => {
    await opened.log.close();
    await opened.backend.close();
  });
  t.equal(opened.fresh, false);
  t.same(opened.identity, { memberId: report.memberId, clusterId: report.clusterId, name: 'r1' });
  t.equal(opened.state.currentRevision, report.revisionAfter);
});

t.test('refusals: each with its code, and nothing written', async (t) => {
  const dir = await tempDir(t);
  const good = encodeSnapshotFile(sourceMachine().snapshot());
  const file = await writeSnapshotFile(dir, good);
  const target = join(dir, 'target');
  const refused = async (o: RestoreOptions, code: string, message: RegExp, why: string): Promise<void> => {
    await t.rejects(restoreSnapshot(o), { name: 'RestoreError', code, message }, why);
    t.same(await readdir(o.dataDir).catch(() => []), [], `${why}: the data dir stays empty`);
  };
  const at = async (name: string, bytes: Uint8Array): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  };

  await refused(
    optionsFor(join(dir, 'missing.db'), target, 'r1'),
    'SNAPSHOT_NOT_FOUND',
    /missing\.db not found/,
    'a missing file',
  );
  await refused(
    optionsFor(await at('short.db', good.subarray(0, good.length - 1)), target, 'r1'),
    'BAD_SIZE',
    /is not n \* 512 \+ 32 bytes/,
    'a truncated file',
  );
  await refused(
    optionsFor(await at('tiny.db', good.subarray(0, 32)), target, 'r1'),
    'BAD_SIZE',
    /snapshot file size 32 /,
    'a file with a checksum and nothing else',
  );
  const flipped = Buffer.from(good);
  flipped[10] = flipped[10]! ^ 0xff;
  const flippedPath = await at('flipped.db', flipped);
  await refused(optionsFor(flippedPath, target, 'r1'), 'HASH_MISMATCH', /SHA-256 mismatch/, 'a flipped byte');
  const badHash = Buffer.from(good);
  badHash[badHash.length - 1] = badHash[badHash.length - 1]! ^ 0xff;
  const badHashPath = await at('bad-hash.db', badHash);
  await refused(
    optionsFor(badHashPath, target, 'r1'),
    'HASH_MISMATCH',
    /SHA-256 mismatch/,
    'a damaged checksum',
  );
  const skipped = await restoreSnapshot({
    ...optionsFor(badHashPath, join(dir, 'skipped'), 'r1'),
    skipHashCheck: true,
  });
  t.same([skipped.hashChecked, skipped.keys, skipped.leases], [false, 2, 1], 'skipHashCheck takes it anyway');
  const badPadding = Buffer.from(good);
  badPadding[badPadding.length - 40] = 1;
  await refused(
    { ...optionsFor(await at('padding.db', badPadding), target, 'r1'), skipHashCheck: true },
    'NOT_A_SNAPSHOT',
    /non-zero byte/,
    'a non-zero byte in the padding',
  );
  await refused(
    optionsFor(
      await at('foreign.db', encodeSnapshotFile(Buffer.from('bbolt page, not msgpack \u00c1'))),
      target,
      'r1',
    ),
    'NOT_A_SNAPSHOT',
    /is not a netcd snapshot/,
    'a well-framed file that is not netcd state',
  );
  await refused(
    { ...optionsFor(file, target, 'r9'), initialAdvertisePeerURLs: ['http://127.0.0.1:19380'] },
    'UNKNOWN_MEMBER',
    /--initial-cluster has no member named r9/,
    'a name not in the initial cluster',
  );
  await refused(
    { ...optionsFor(file, target, 'r1'), initialAdvertisePeerURLs: ['http://127.0.0.1:1'] },
    'BAD_OPTION',
    /--initial-cluster has r1=http:\/\/127\.0\.0\.1:11380 but --initial-advertise-peer-urls is http:\/\/127\.0\.0\.1:1/,
    'advertised peer URLs that differ from the initial cluster entry',
  );
  await refused(
    { ...optionsFor(file, target, 'r1'), bumpRevision: -5 },
    'BAD_OPTION',
    /--bump-revision -5/,
    'a negative bump',
  );

  const busy = join(dir, 'busy');
  await mkdir(busy);
  await writeFile(join(busy, 'precious'), 'keep me');
  await t.rejects(
    restoreSnapshot(optionsFor(file, busy, 'r1')),
    { name: 'RestoreError', code: 'DATA_DIR_NOT_EMPTY', message: /is not empty; a restore never overwrites/ },
    'a data dir with something in it',
  );
  t.same(await readdir(busy), ['precious'], 'left as it was');
  t.equal(await readFile(join(busy, 'precious'), 'utf8'), 'keep me');
  const walBusy = join(dir, 'wal-busy');
  await mkdir(walBusy);
  await writeFile(join(walBusy, 'x'), '');
  await refused(
    { ...optionsFor(file, target, 'r1'), walDir: walBusy },
    'DATA_DIR_NOT_EMPTY',
    /--wal-dir .* is not empty/,
    'a non-empty wal dir',
  );

  const ok = await restoreSnapshot(optionsFor(file, target, 'r1'));
  t.equal(ok.name, 'r1', 'the same target takes a good restore');
  await t.rejects(
    restoreSnapshot(optionsFor(file, target, 'r1')),
    { code: 'DATA_DIR_NOT_EMPTY' },
    'and refuses a second one over it',
  );
});

// ---- real processes ----

interface GetJson {
  header: { cluster_id: number; member_id: number; revision: number };
  kvs?: { key: string; value: string; mod_revision: number; lease?: number }[];
}

const ep = (url: string): string => url.replace('http://', '');

async function getJson(endpoint: string, key: string, ...flags: string[]): Promise<GetJson> {
  const r = await etcdctl(endpoint, { args: ['get', key, '-w', 'json', ...flags] });
  if (r.code !== 0) throw new Error(`etcdctl get ${key}: ${r.stderr}`);
  return JSON.parse(r.stdout) as GetJson;
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

t.test(
  'etcdctl snapshot save from a member, restore into 3 data dirs, a new cluster serves the data',
  async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'backup.db');

    const source = await ProcessCluster.start({ size: 1, args: FAST });
    t.teardown(() => source.stop());
    const src = ep(source.endpoints);
    for (const [k, v] of [
      ['a', '1'],
      ['a', '2'],
      ['b', 'x'],
      ['c', 'y'],
    ] as const)
      t.equal((await etcdctl(src, { args: ['put', k, v] })).stdout, 'OK\n');
    t.equal((await etcdctl(src, { args: ['del', 'c'] })).stdout, '1\n');
    const grant = await etcdctl(src, { args: ['lease', 'grant', '600'] });
    const leaseHex = /^lease ([0-9a-f]+) granted with TTL\(600s\)/.exec(grant.stdout)?.[1] ?? '';
    t.not(leaseHex, '', grant.stdout + grant.stderr);
    t.equal((await etcdctl(src, { args: ['put', 'held', 'h', `--lease=${leaseHex}`] })).stdout, 'OK\n');
    const before = (await getJson(src, 'a')).header.revision;
    t.equal(before, 7, 'six writes after the empty store');
    const saved = await etcdctl(src, { args: ['snapshot', 'save', file] });
    t.equal(saved.code, 0, saved.stderr);
    t.match(saved.stdout, /Snapshot saved at/);
    await source.stop();

    const reports: Awaited<ReturnType<typeof restoreSnapshot>>[] = [];
    const restored = await ProcessCluster.start({
      size: 3,
      args: FAST,
      token: 'restored-token',
      beforeStart: async (c) => {
        const initialCluster = c.members.map((m) => ({ name: m.name, peerURLs: [m.peerUrl] }));
        for (const m of c.members)
          reports.push(
            await restoreSnapshot({
              snapshotPath: file,
              dataDir: m.dataDir,
              name: m.name,
              initialCluster,
              initialClusterToken: 'restored-token',
              initialAdvertisePeerURLs: [m.peerUrl],
            }),
          );
        const states = await Promise.all(c.members.map((m) => inspect(m.dataDir)));
        const first = Buffer.from(states[0]!.machine.snapshot());
        if (!states.every((s) => Buffer.from(s.machine.snapshot()).equals(first)))
          throw new Error('founding states differ between members');
      },
    });
    t.teardown(() => restored.stop());
    t.equal(reports.length, 3);
    for (const r of reports)
      t.same([r.revisionBefore, r.revisionAfter, r.keys, r.leases], [before, before + 1_000_000, 3, 1]);
    const after = before + 1_000_000;

    for (const m of restored.members) {
      const e = ep(m.clientUrl);
      const got = await getJson(e, '', '--prefix', '--consistency=s');
      t.same(
        got.kvs?.map((kv) => [
          Buffer.from(kv.key, 'base64').toString(),
          Buffer.from(kv.value, 'base64').toString(),
        ]),
        [
          ['a', '2'],
          ['b', 'x'],
          ['held', 'h'],
        ],
        `${m.name} holds the keys`,
      );
      t.equal(got.header.revision, after, `${m.name} is at the bumped revision`);
      t.equal(got.header.cluster_id, reports[0]!.clusterId, `${m.name} is in the new cluster`);
      const old = await etcdctl(e, { args: ['get', 'a', `--rev=${before}`] });
      t.not(old.code, 0);
      t.match(old.error, /etcdserver: mvcc: required revision has been compacted/, `${m.name}: old revision`);
    }
    const watch = await etcdctl(ep(restored.members[0]!.clientUrl), {
      args: ['watch', 'a', `--rev=${before}`],
      killAfterMs: 3000,
    });
    t.match(watch.stderr, /required revision has been compacted/, 'a watch from an old revision: compacted');

    // Names appear once each member's published attributes are applied.
    let listed: { ID: number; name: string }[] = [];
    await until('every member to publish its name', async () => {
      const list = await etcdctl(restored.endpoints, { args: ['member', 'list', '-w', 'json'] });
      listed = (JSON.parse(list.stdout) as { members: { ID: number; name?: string }[] }).members.map((m) => ({
        ID: m.ID,
        name: m.name ?? '',
      }));
      return listed.every((m) => m.name !== '');
    });
    t.same(
      listed.map((m) => [m.ID, m.name]).sort(),
      reports.map((r) => [r.memberId, r.name]).sort(),
      'the new members, with the ids the restore reported',
    );

    const ttl = await etcdctl(restored.endpoints, { args: ['lease', 'timetolive', leaseHex, '--keys'] });
    const ttlMatch = /granted with TTL\(600s\), remaining\((\d+)s\), attached keys\(\[held\]\)/.exec(
      ttl.stdout,
    );
    t.ok(ttlMatch !== null, ttl.stdout + ttl.stderr);
    t.ok(
      Number(ttlMatch?.[1]) > 500,
      `the lease runs from its full TTL on the new cluster (${ttlMatch?.[1]}s)`,
    );

    t.equal((await etcdctl(restored.endpoints, { args: ['put', 'new', 'z'] })).stdout, 'OK\n');
    for (const m of restored.members)
      await until(`${m.name} to apply the new write`, async () => {
        const r = await getJson(ep(m.clientUrl), 'new', '--consistency=s');
        return r.kvs?.[0]?.mod_revision === after + 1;
      });
    const hashes = await etcdctl(restored.endpoints, { args: ['endpoint', 'hashkv', '-w', 'json'] });
    const values = (JSON.parse(hashes.stdout || '[]') as { HashKV: { hash: number } }[]).map(
      (h) => h.HashKV.hash,
    );
    t.equal(values.length, 3);
    t.equal(new Set(values).size, 1, 'every member has the same HashKV');
  },
);
