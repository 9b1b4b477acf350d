// Proves the KV service over real gRPC against a fake member on the real kv state machine: exact
// responses for put/range/delete/txn/compact, and etcd's status codes and messages for every
// error a client can provoke (empty key, txn limits, compaction, oversized requests, bad numbers).

import { status } from '@grpc/grpc-js';
import t from 'tap';
import { FAKE_CLUSTER_ID, FAKE_MEMBER_ID } from '../testing/fake-member.js';
import { bytes as b, numberField, startHarness } from '../testing/harness.js';

const header = (revision: number) => ({
  cluster_id: String(FAKE_CLUSTER_ID),
  member_id: String(FAKE_MEMBER_ID),
  revision: String(revision),
  raft_term: '1',
});
const kv = (key: string, value: string, create: number, mod: number, version: number, lease = 0) => ({
  key,
  create_revision: String(create),
  mod_revision: String(mod),
  version: String(version),
  value,
  lease: String(lease),
});

t.test('put then range returns the exact key-value and headers with the write revision', async (t) => {
  const h = await startHarness(t);
  // Like etcd, the store starts at revision 1: the first write is revision 2.
  t.strictSame(await h.call('KV', 'Put', { key: b('a'), value: b('1') }), {
    header: header(2),
    prev_kv: null,
  });
  t.strictSame(await h.call('KV', 'Put', { key: b('a'), value: b('2'), prev_kv: true }), {
    header: header(3),
    prev_kv: kv('a', '1', 2, 2, 1),
  });
  t.strictSame(await h.call('KV', 'Range', { key: b('a') }), {
    kvs: [kv('a', '2', 2, 3, 2)],
    header: header(3),
    more: false,
    count: '1',
  });
  t.strictSame(await h.call('KV', 'Range', { key: b('missing') }), {
    kvs: [],
    header: header(3),
    more: false,
    count: '0',
  });
});

t.test('range: prefix, from-key, limit, sort, keys_only, count_only and historical revision', async (t) => {
  const h = await startHarness(t);
  for (const [k, v] of [
    ['p/a', '3'],
    ['p/b', '1'],
    ['p/c', '2'],
    ['q', 'x'],
  ] as const) {
    await h.call('KV', 'Put', { key: b(k), value: b(v) });
  }
  const keys = (res: unknown) => (res as { kvs: { key: string }[] }).kvs.map((x) => x.key);
  t.strictSame(keys(await h.call('KV', 'Range', { key: b('p/'), range_end: b('p0') })), [
    'p/a',
    'p/b',
    'p/c',
  ]);
  t.strictSame(keys(await h.call('KV', 'Range', { key: b('p/b'), range_end: b('\0') })), ['p/b', 'p/c', 'q']);
  const limited = await h.call('KV', 'Range', { key: b('p/'), range_end: b('p0'), limit: 2 });
  t.strictSame(
    [keys(limited), numberField(limited, 'count'), (limited as { more: boolean }).more],
    [['p/a', 'p/b'], 3, true],
  );
  t.strictSame(
    keys(
      await h.call('KV', 'Range', {
        key: b('p/'),
        range_end: b('p0'),
        sort_order: 'DESCEND',
        sort_target: 'VALUE',
      }),
    ),
    ['p/a', 'p/c', 'p/b'],
  );
  t.strictSame(await h.call('KV', 'Range', { key: b('p/'), range_end: b('p0'), keys_only: true, limit: 1 }), {
    kvs: [kv('p/a', '', 2, 2, 1)],
    header: header(5),
    more: true,
    count: '3',
  });
  t.strictSame(await h.call('KV', 'Range', { key: b('p/'), range_end: b('p0'), count_only: true }), {
    kvs: [],
    header: header(5),
    more: false,
    count: '3',
  });
  await h.call('KV', 'Put', { key: b('p/a'), value: b('new') });
  // A read at revision 3 sees the old state; the header carries the current revision, like etcd.
  t.strictSame(await h.call('KV', 'Range', { key: b('p/a'), revision: 3 }), {
    kvs: [kv('p/a', '3', 2, 2, 1)],
    header: header(6),
    more: false,
    count: '1',
  });
});

t.test('delete range: single key, prefix with prev_kv, and deleted counts', async (t) => {
  const h = await startHarness(t);
  await h.call('KV', 'Put', { key: b('d/1'), value: b('x') });
  await h.call('KV', 'Put', { key: b('d/2'), value: b('y') });
  await h.call('KV', 'Put', { key: b('e'), value: b('z') });
  t.strictSame(await h.call('KV', 'DeleteRange', { key: b('e') }), {
    prev_kvs: [],
    header: header(5),
    deleted: '1',
  });
  t.strictSame(await h.call('KV', 'DeleteRange', { key: b('d/'), range_end: b('d0'), prev_kv: true }), {
    prev_kvs: [kv('d/1', 'x', 2, 2, 1), kv('d/2', 'y', 3, 3, 1)],
    header: header(6),
    deleted: '2',
  });
  t.strictSame(await h.call('KV', 'DeleteRange', { key: b('nothing') }), {
    prev_kvs: [],
    header: header(6),
    deleted: '0',
  });
});

t.test(
  'txn: compares on value, version, create, mod and lease choose the branch; nested txn runs',
  async (t) => {
    const h = await startHarness(t);
    await h.call('KV', 'Put', { key: b('k'), value: b('v1') });
    const txn = (compare: object[]) =>
      h.call('KV', 'Txn', {
        compare,
        success: [{ request_range: { key: b('k') } }],
        failure: [{ request_put: { key: b('f'), value: b('no') } }],
      });
    const succeeded = async (compare: object[]) => ((await txn(compare)) as { succeeded: boolean }).succeeded;
    t.equal(await succeeded([{ key: b('k'), target: 'VALUE', result: 'EQUAL', value: b('v1') }]), true);
    t.equal(await succeeded([{ key: b('k'), target: 'VALUE', result: 'NOT_EQUAL', value: b('v1') }]), false);
    t.equal(await succeeded([{ key: b('k'), target: 'VERSION', result: 'GREATER', version: 0 }]), true);
    t.equal(await succeeded([{ key: b('k'), target: 'CREATE', result: 'EQUAL', create_revision: 2 }]), true);
    t.equal(await succeeded([{ key: b('k'), target: 'MOD', result: 'LESS', mod_revision: 1 }]), false);
    t.equal(await succeeded([{ key: b('k'), target: 'LEASE', result: 'EQUAL', lease: 0 }]), true);
    t.equal(
      await succeeded([{ key: b('a'), range_end: b('z'), target: 'VERSION', result: 'GREATER', version: 0 }]),
      true,
    );

    const nested = await h.call('KV', 'Txn', {
      compare: [{ key: b('k'), target: 'VALUE', result: 'EQUAL', value: b('v1') }],
      success: [
        { request_put: { key: b('x'), value: b('1') } },
        { request_range: { key: b('k') } },
        { request_delete_range: { key: b('zz') } },
        { request_txn: { success: [{ request_put: { key: b('y'), value: b('2') } }] } },
      ],
    });
    // Failed compares wrote 'f' at revisions 3 and 4.
    const rev = 5;
    const nestedHeader = (revision: number) => ({
      cluster_id: '0',
      member_id: '0',
      revision: String(revision),
      raft_term: '0',
    });
    t.strictSame(nested, {
      responses: [
        { response_put: { header: nestedHeader(rev), prev_kv: null }, response: 'response_put' },
        {
          response_range: {
            kvs: [kv('k', 'v1', 2, 2, 1)],
            header: nestedHeader(rev),
            more: false,
            count: '1',
          },
          response: 'response_range',
        },
        {
          response_delete_range: { prev_kvs: [], header: nestedHeader(rev), deleted: '0' },
          response: 'response_delete_range',
        },
        {
          response_txn: {
            responses: [
              { response_put: { header: nestedHeader(rev), prev_kv: null }, response: 'response_put' },
            ],
            header: nestedHeader(0),
            succeeded: true,
          },
          response: 'response_txn',
        },
      ],
      header: header(rev),
      succeeded: true,
    });
    t.strictSame(await h.call('KV', 'Range', { key: b('y') }), {
      kvs: [kv('y', '2', rev, rev, 1)],
      header: header(rev),
      more: false,
      count: '1',
    });
  },
);

t.test('compaction: errors for future and compacted revisions, then historical reads fail', async (t) => {
  const h = await startHarness(t);
  for (let i = 0; i < 4; i++) await h.call('KV', 'Put', { key: b('c'), value: b(String(i)) });
  t.strictSame(await h.fail('KV', 'Compact', { revision: 100 }), {
    code: status.OUT_OF_RANGE,
    details: 'etcdserver: mvcc: required revision is a future revision',
  });
  t.strictSame(await h.call('KV', 'Compact', { revision: 3, physical: true }), { header: header(5) });
  t.strictSame(await h.fail('KV', 'Compact', { revision: 3 }), {
    code: status.OUT_OF_RANGE,
    details: 'etcdserver: mvcc: required revision has been compacted',
  });
  t.strictSame(await h.fail('KV', 'Range', { key: b('c'), revision: 2 }), {
    code: status.OUT_OF_RANGE,
    details: 'etcdserver: mvcc: required revision has been compacted',
  });
  t.strictSame(await h.fail('KV', 'Range', { key: b('c'), revision: 9 }), {
    code: status.OUT_OF_RANGE,
    details: 'etcdserver: mvcc: required revision is a future revision',
  });
});

t.test("client errors get etcd's codes and messages", async (t) => {
  const h = await startHarness(t, { member: { maxRequestBytes: 4096 } });
  const invalid = (details: string) => ({ code: status.INVALID_ARGUMENT, details });
  t.strictSame(
    await h.fail('KV', 'Put', { key: b(''), value: b('x') }),
    invalid('etcdserver: key is not provided'),
  );
  t.strictSame(await h.fail('KV', 'Range', { key: b('') }), invalid('etcdserver: key is not provided'));
  t.strictSame(await h.fail('KV', 'DeleteRange', { key: b('') }), invalid('etcdserver: key is not provided'));
  t.strictSame(
    await h.fail('KV', 'Put', { key: b('k'), value: b('x'), ignore_value: true }),
    invalid('etcdserver: value is provided'),
  );
  t.strictSame(
    await h.fail('KV', 'Put', { key: b('k'), lease: 5, ignore_lease: true }),
    invalid('etcdserver: lease is provided'),
  );
  t.strictSame(
    await h.fail('KV', 'Put', { key: b('nokey'), ignore_value: true }),
    invalid('etcdserver: key not found'),
  );
  t.strictSame(await h.fail('KV', 'Put', { key: b('k'), value: b('x'), lease: 777 }), {
    code: status.NOT_FOUND,
    details: 'etcdserver: requested lease not found',
  });
  const ops = Array.from({ length: 129 }, (_, i) => ({ request_put: { key: b(`k${i}`), value: b('') } }));
  t.strictSame(
    await h.fail('KV', 'Txn', { success: ops }),
    invalid('etcdserver: too many operations in txn request'),
  );
  t.strictSame(
    await h.fail('KV', 'Txn', {
      success: [
        { request_put: { key: b('d'), value: b('1') } },
        { request_put: { key: b('d'), value: b('2') } },
      ],
    }),
    invalid('etcdserver: duplicate key given in txn request'),
  );
  t.strictSame(await h.fail('KV', 'Txn', { success: [{}] }), invalid('etcdserver: key not found'));
  t.strictSame(
    await h.fail('KV', 'Put', { key: b('big'), value: Buffer.alloc(5000) }),
    invalid('etcdserver: request is too large'),
  );
  t.strictSame(
    await h.fail('KV', 'Txn', { success: [{ request_put: { key: b('big'), value: Buffer.alloc(5000) } }] }),
    invalid('etcdserver: request is too large'),
  );
  // Above the transport's limit (request limit + 512 KiB) grpc-js itself refuses the message.
  t.equal(
    (await h.fail('KV', 'Put', { key: b('huge'), value: Buffer.alloc(600 * 1024) })).code,
    status.RESOURCE_EXHAUSTED,
  );
  // Nothing was written by any of them.
  t.equal(h.member.machine.store.currentRevision, 1);
});

t.test('64-bit fields beyond 2^53 are refused, never rounded', async (t) => {
  const h = await startHarness(t);
  const refused = await h.fail('KV', 'Range', { key: b('a'), revision: '9007199254740993' });
  t.equal(refused.code, status.INVALID_ARGUMENT);
  t.match(refused.details, /^revision: 9007199254740993 is outside/);
  t.equal(
    (await h.fail('KV', 'Put', { key: b('a'), lease: '9223372036854775807' })).code,
    status.INVALID_ARGUMENT,
  );
  t.equal(
    (
      await h.fail('KV', 'Txn', {
        compare: [{ key: b('a'), target: 'MOD', mod_revision: '-9007199254740993' }],
      })
    ).code,
    status.INVALID_ARGUMENT,
  );
  t.equal(h.member.machine.store.currentRevision, 1);
});

t.test('NOSPACE: writes are refused with RESOURCE_EXHAUSTED once the quota is exceeded', async (t) => {
  const h = await startHarness(t, { member: { quotaBytes: 2048 } });
  await h.call('KV', 'Put', { key: b('fill'), value: Buffer.alloc(3000) });
  t.strictSame(await h.fail('KV', 'Put', { key: b('more'), value: b('x') }), {
    code: status.RESOURCE_EXHAUSTED,
    details: 'etcdserver: mvcc: database space exceeded',
  });
  t.strictSame(await h.call('Maintenance', 'Alarm', { action: 'GET' }), {
    alarms: [{ memberID: '0', alarm: 'NOSPACE' }],
    header: header(2),
  });
});

t.test('member errors map to etcd statuses; unknown exceptions become INTERNAL', async (t) => {
  const h = await startHarness(t);
  const { ServerError } = await import('../../api.js');
  h.member.failWith = new ServerError('NO_LEADER', 'no leader');
  t.strictSame(await h.fail('KV', 'Range', { key: b('a') }), {
    code: status.UNAVAILABLE,
    details: 'etcdserver: no leader',
  });
  h.member.failWith = new ServerError('TIMEOUT', 'slow');
  t.strictSame(await h.fail('KV', 'Put', { key: b('a') }), {
    code: status.UNAVAILABLE,
    details: 'etcdserver: request timed out',
  });
  h.member.failWith = new TypeError('boom');
  t.strictSame(await h.fail('KV', 'Txn', {}), { code: status.INTERNAL, details: 'boom' });
  h.member.failWith = null;
  t.ok(await h.call('KV', 'Range', { key: b('a') }), 'the server still serves');
});

t.test('unknown enum values are refused', async (t) => {
  const h = await startHarness(t);
  t.equal((await h.fail('KV', 'Range', { key: b('a'), sort_order: 7 })).code, status.INVALID_ARGUMENT);
  t.equal(
    (await h.fail('KV', 'Txn', { compare: [{ key: b('a'), target: 9, result: 'EQUAL' }] })).code,
    status.INVALID_ARGUMENT,
  );
  t.equal((await h.fail('Maintenance', 'Alarm', { action: 5 })).code, status.INVALID_ARGUMENT);
});
