// Proves the Cluster, Maintenance and Auth services over real gRPC: membership changes answered
// with the whole membership, URL checks, alarms, status, hashes, the snapshot stream with its
// SHA-256 trailer, leader transfer errors, Auth as etcd answers it with authentication disabled,
// and the request-counting hook.

import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import t from 'tap';
import { FAKE_CLUSTER_ID, FAKE_MEMBER_ID } from '../testing/fake-member.js';
import { bytes as b, eventually, field, numberField, startHarness } from '../testing/harness.js';

const header = (revision: number) => ({
  cluster_id: String(FAKE_CLUSTER_ID),
  member_id: String(FAKE_MEMBER_ID),
  revision: String(revision),
  raft_term: '1',
});
const self = {
  peerURLs: ['http://127.0.0.1:2380'],
  clientURLs: ['http://127.0.0.1:2379'],
  ID: String(FAKE_MEMBER_ID),
  name: 'fake',
  isLearner: false,
};

t.test(
  'cluster: list, add a learner, promote, update, remove, with the membership after each (headers without a revision, like etcd)',
  async (t) => {
    const h = await startHarness(t);
    t.strictSame(await h.call('Cluster', 'MemberList', {}), { members: [self], header: header(0) });
    const added = await h.call('Cluster', 'MemberAdd', {
      peerURLs: ['http://127.0.0.1:2480'],
      isLearner: true,
    });
    const learner = {
      peerURLs: ['http://127.0.0.1:2480'],
      clientURLs: [],
      ID: String(FAKE_MEMBER_ID + 1),
      name: '',
      isLearner: true,
    };
    t.strictSame(added, { members: [self, learner], header: header(0), member: learner });
    const id = numberField(added, 'member.ID');
    t.strictSame(field(await h.call('Cluster', 'MemberPromote', { ID: id }), 'members'), [
      self,
      { ...learner, isLearner: false },
    ]);
    t.strictSame(
      field(await h.call('Cluster', 'MemberUpdate', { ID: id, peerURLs: ['https://[::1]:2481'] }), 'members'),
      [self, { ...learner, isLearner: false, peerURLs: ['https://[::1]:2481'] }],
    );
    t.strictSame(await h.call('Cluster', 'MemberRemove', { ID: id }), { members: [self], header: header(0) });
  },
);

t.test("cluster: etcd's errors for bad URLs, unknown members, taken URLs and non-learners", async (t) => {
  const h = await startHarness(t);
  for (const bad of ['garbage', 'http://127.0.0.1', 'http://127.0.0.1:2380/path', 'ftp://h:1']) {
    t.strictSame(
      await h.fail('Cluster', 'MemberAdd', { peerURLs: [bad] }),
      {
        code: status.INVALID_ARGUMENT,
        details: 'etcdserver: given member URLs are invalid',
      },
      bad,
    );
  }
  t.strictSame(await h.fail('Cluster', 'MemberRemove', { ID: 1234 }), {
    code: status.NOT_FOUND,
    details: 'etcdserver: member not found',
  });
  t.strictSame(await h.fail('Cluster', 'MemberAdd', { peerURLs: ['http://127.0.0.1:2380'] }), {
    code: status.FAILED_PRECONDITION,
    details: 'etcdserver: Peer URLs already exists',
  });
  t.strictSame(await h.fail('Cluster', 'MemberPromote', { ID: FAKE_MEMBER_ID }), {
    code: status.FAILED_PRECONDITION,
    details: 'etcdserver: can only promote a learner member',
  });
  t.strictSame(await h.fail('Maintenance', 'MoveLeader', { targetID: 1234 }), {
    code: status.FAILED_PRECONDITION,
    details: 'etcdserver: bad leader transferee',
  });
});

t.test('maintenance: status, hash, hashKV, defragment and alarms', async (t) => {
  const h = await startHarness(t);
  await h.call('KV', 'Put', { key: b('a'), value: b('1') });
  const st = await h.call('Maintenance', 'Status', {});
  t.strictSame(
    { ...(st as object), dbSize: null, dbSizeInUse: null },
    {
      errors: [],
      header: header(2),
      version: '3.4.0',
      dbSize: null,
      leader: String(FAKE_MEMBER_ID),
      raftIndex: '1',
      raftTerm: '1',
      raftAppliedIndex: '1',
      dbSizeInUse: null,
      isLearner: false,
    },
  );
  t.equal(field(await h.call('Maintenance', 'Hash', {}), 'hash'), h.member.machine.hash());
  const hkv = await h.call('Maintenance', 'HashKV', { revision: 0 });
  t.strictSame(hkv, {
    header: header(2),
    hash: h.member.machine.store.hashKV().hash,
    compact_revision: '-1',
  });
  await h.call('KV', 'Put', { key: b('a'), value: b('2') });
  await h.call('KV', 'Compact', { revision: 2 });
  t.equal(field(await h.call('Maintenance', 'HashKV', { revision: 3 }), 'compact_revision'), '2');
  t.strictSame(await h.call('Maintenance', 'Defragment', {}), { header: header(3) });

  t.strictSame(await h.call('Maintenance', 'Alarm', { action: 'GET' }), { alarms: [], header: header(3) });
  t.strictSame(await h.call('Maintenance', 'Alarm', { action: 'ACTIVATE', memberID: 7, alarm: 'CORRUPT' }), {
    alarms: [{ memberID: '7', alarm: 'CORRUPT' }],
    header: header(3),
  });
  t.strictSame(await h.call('Maintenance', 'Alarm', { action: 'GET', alarm: 'NOSPACE' }), {
    alarms: [],
    header: header(3),
  });
  t.strictSame(await h.call('Maintenance', 'Alarm', { action: 'ACTIVATE', alarm: 'NONE' }), {
    alarms: [],
    header: header(3),
  });
  t.strictSame(
    await h.call('Maintenance', 'Alarm', { action: 'DEACTIVATE', memberID: 7, alarm: 'CORRUPT' }),
    {
      alarms: [{ memberID: '7', alarm: 'CORRUPT' }],
      header: header(3),
    },
  );
  t.strictSame(field(await h.call('Maintenance', 'Alarm', { action: 'GET' }), 'alarms'), []);
});

t.test('snapshot: chunks with the bytes still to come, then the SHA-256 of the whole', async (t) => {
  const h = await startHarness(t);
  for (let i = 0; i < 20; i++) await h.call('KV', 'Put', { key: b(`s${i}`), value: Buffer.alloc(4096, i) });
  const expected = Buffer.from(h.member.machine.snapshot());
  const { stream, reader } = h.serverStream('Maintenance', 'Snapshot', {});
  const blobs: Buffer[] = [];
  const remaining: number[] = [];
  stream.removeAllListeners('data');
  stream.on('data', (m: { blob: Buffer; remaining_bytes: string }) => {
    blobs.push(m.blob);
    remaining.push(Number(m.remaining_bytes));
  });
  await reader.closed();
  t.equal(reader.error, null);
  const data = Buffer.concat(blobs.slice(0, -1));
  t.equal(data.length % 512, 0, 'whole 512-byte blocks');
  t.ok(data.subarray(0, expected.length).equals(expected), 'the chunks are the member snapshot');
  t.ok(
    data.subarray(expected.length).every((x) => x === 0),
    'then zero padding',
  );
  t.ok(data.length - expected.length < 512, 'less than one block of it');
  t.ok(blobs.at(-1)?.equals(createHash('sha256').update(data).digest()), 'the last chunk is its SHA-256');
  t.ok(blobs.length > 2, 'more than one chunk');
  let left = data.length;
  const expectedRemaining = blobs.slice(0, -1).map((blob) => {
    left -= blob.length;
    return left;
  });
  t.strictSame(remaining, [...expectedRemaining, 0]);
});

t.test('auth with authentication disabled answers as etcd does', async (t) => {
  const h = await startHarness(t);
  const fails = async (method: string, req: object, code: number, details: string) =>
    t.strictSame(await h.fail('Auth', method, req), { code, details }, method);
  await fails(
    'Authenticate',
    { name: 'root', password: 'x' },
    status.FAILED_PRECONDITION,
    'etcdserver: authentication is not enabled',
  );
  await fails('AuthEnable', {}, status.FAILED_PRECONDITION, 'etcdserver: root user does not exist');
  t.strictSame(await h.call('Auth', 'AuthDisable', {}), { header: header(1) });
  t.strictSame(await h.call('Auth', 'UserList', {}), { users: [], header: header(1) });
  t.strictSame(await h.call('Auth', 'RoleList', {}), { roles: [], header: header(1) });
  for (const m of ['UserGet', 'UserDelete', 'UserChangePassword', 'UserGrantRole', 'UserRevokeRole'])
    await fails(
      m,
      { name: 'bob', user: 'bob', role: 'r' },
      status.FAILED_PRECONDITION,
      'etcdserver: user name not found',
    );
  for (const m of ['RoleGet', 'RoleDelete', 'RoleGrantPermission', 'RoleRevokePermission'])
    await fails(m, { name: 'r', role: 'r' }, status.FAILED_PRECONDITION, 'etcdserver: role name not found');
  await fails('UserAdd', { name: '' }, status.INVALID_ARGUMENT, 'etcdserver: user name is empty');
  await fails('RoleAdd', { name: '' }, status.INVALID_ARGUMENT, 'etcdserver: role name is empty');
  await fails(
    'UserAdd',
    { name: 'bob' },
    status.UNIMPLEMENTED,
    'netcd: users and roles are not supported yet',
  );
  await fails('RoleAdd', { name: 'r' }, status.UNIMPLEMENTED, 'netcd: users and roles are not supported yet');
});

t.test('onRequest sees each call once with its method and final status', async (t) => {
  const seen: string[] = [];
  const h = await startHarness(t, {
    server: { onRequest: (method, code) => seen.push(`${method} ${code}`) },
  });
  await h.call('KV', 'Put', { key: b('a'), value: b('1') });
  await h.fail('KV', 'Range', { key: b('') });
  await h.fail('Auth', 'Authenticate', {});
  const keepAlive = h.bidi('Lease', 'LeaseKeepAlive');
  keepAlive.stream.write({ ID: 1 });
  await keepAlive.reader.next();
  keepAlive.stream.end();
  await keepAlive.reader.closed();
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('a') } });
  await reader.next();
  stream.cancel();
  await eventually(() => seen.length === 5);
  t.ok(String(field(await h.call('Lock', 'Lock', { name: b('L') }), 'key')).startsWith('L/'));
  const waiting = h.pending('Lock', 'Lock', { name: b('L') });
  await new Promise((resolve) => setTimeout(resolve, 100));
  waiting.cancel();
  await waiting.done;
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.strictSame(seen, [
    'etcdserverpb.KV/Put OK',
    'etcdserverpb.KV/Range InvalidArgument',
    'etcdserverpb.Auth/Authenticate FailedPrecondition',
    'etcdserverpb.Lease/LeaseKeepAlive OK',
    'etcdserverpb.Watch/Watch Canceled',
    'v3lockpb.Lock/Lock OK',
    'v3lockpb.Lock/Lock Canceled',
  ]);
});
