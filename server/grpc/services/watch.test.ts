// Proves the Watch service over real gRPC streams: created responses first, live and historical
// events, prev_kv, filters, client-chosen and duplicate ids, cancel, compaction, stream-wide
// progress, fragmentation of large revisions, and that a closed stream leaves no watcher behind.

import t from 'tap';
import { FAKE_CLUSTER_ID, FAKE_MEMBER_ID } from '../testing/fake-member.js';
import { bytes as b, eventually, field, type Plain, startHarness } from '../testing/harness.js';

const header = (revision: number) => ({
  cluster_id: String(FAKE_CLUSTER_ID),
  member_id: String(FAKE_MEMBER_ID),
  revision: String(revision),
  raft_term: '1',
});
const kv = (key: string, value: string, create: number, mod: number, version: number) => ({
  key,
  create_revision: String(create),
  mod_revision: String(mod),
  version: String(version),
  value,
  lease: '0',
});
const tombstone = (key: string, mod: number) => ({ ...kv(key, '', 0, mod, 0) });

/** A watch response with every field, defaults filled in as the decoder does. */
const response = (
  watchId: number,
  revision: number,
  extra: {
    created?: boolean;
    canceled?: boolean;
    compact?: number;
    reason?: string;
    fragment?: boolean;
  } = {},
  events: Plain[] = [],
) => ({
  events,
  header: header(revision),
  watch_id: String(watchId),
  created: extra.created ?? false,
  canceled: extra.canceled ?? false,
  compact_revision: String(extra.compact ?? 0),
  cancel_reason: extra.reason ?? '',
  fragment: extra.fragment ?? false,
});
const put = (k: Plain, prev: Plain = null) => ({ type: 'PUT', kv: k, prev_kv: prev });
const del = (k: Plain, prev: Plain = null) => ({ type: 'DELETE', kv: k, prev_kv: prev });

t.test('a watch gets created first, then each put and delete on its key with prev_kv', async (t) => {
  const h = await startHarness(t);
  await h.call('KV', 'Put', { key: b('a'), value: b('0') });
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('a'), prev_kv: true } });
  t.strictSame(await reader.next(), response(0, 2, { created: true }));
  await h.call('KV', 'Put', { key: b('b'), value: b('other') });
  await h.call('KV', 'Put', { key: b('a'), value: b('1') });
  await h.call('KV', 'DeleteRange', { key: b('a') });
  t.strictSame(await reader.next(), response(0, 4, {}, [put(kv('a', '1', 2, 4, 2), kv('a', '0', 2, 2, 1))]));
  t.strictSame(await reader.next(), response(0, 5, {}, [del(tombstone('a', 5), kv('a', '1', 2, 4, 2))]));
  // As in etcd, closing the send side leaves the watches running until the call is canceled.
  stream.end();
  await h.call('KV', 'Put', { key: b('a'), value: b('2') });
  t.equal(field(await reader.next(), 'events.0.kv.value'), '2');
  stream.cancel();
  await reader.closed();
  t.equal(reader.error?.code, 1, 'canceled by the client');
});

t.test('history from start_revision, prefix ranges, filters and several watches on one stream', async (t) => {
  const h = await startHarness(t);
  await h.call('KV', 'Put', { key: b('p/1'), value: b('a') });
  await h.call('KV', 'Put', { key: b('p/2'), value: b('b') });
  await h.call('KV', 'DeleteRange', { key: b('p/1') });
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('p/'), range_end: b('p0'), start_revision: 2 } });
  t.strictSame(await reader.next(), response(0, 4, { created: true }));
  t.strictSame(
    await reader.next(),
    response(0, 4, {}, [
      put(kv('p/1', 'a', 2, 2, 1)),
      put(kv('p/2', 'b', 3, 3, 1)),
      del(tombstone('p/1', 4)),
    ]),
  );
  stream.write({
    create_request: { key: b('p/'), range_end: b('p0'), start_revision: 2, filters: ['NOPUT'] },
  });
  t.strictSame(await reader.next(), response(1, 4, { created: true }));
  t.strictSame(await reader.next(), response(1, 4, {}, [del(tombstone('p/1', 4))]));
  stream.write({ create_request: { key: b('p/'), range_end: b('p0'), filters: ['NODELETE'], watch_id: 10 } });
  t.strictSame(await reader.next(), response(10, 4, { created: true }));
  await h.call('KV', 'DeleteRange', { key: b('p/2') });
  await h.call('KV', 'Put', { key: b('p/3'), value: b('c') });
  // Delete at 5: watch 0 and the NOPUT watch 1. Put at 6: watch 0 and the NODELETE watch 10.
  const got = [await reader.next(), await reader.next(), await reader.next(), await reader.next()];
  t.strictSame(got.map((r) => `${field(r, 'watch_id')}@${field(r, 'header.revision')}`).sort(), [
    '0@5',
    '0@6',
    '10@6',
    '1@5',
  ]);
  // Every key from "" on: key empty with range end "\0", as etcdctl --prefix "" sends.
  stream.write({ create_request: { key: b(''), range_end: b('\0') } });
  // Server-chosen ids count on from the last one it chose, skipping ids in use.
  t.strictSame(await reader.next(), response(2, 6, { created: true }));
  await h.call('KV', 'Put', { key: b('zzz'), value: b('z') });
  t.strictSame(await reader.next(), response(2, 7, {}, [put(kv('zzz', 'z', 7, 7, 1))]));
});

t.test('watch ids: duplicates and empty ranges are refused with created+canceled and id -1', async (t) => {
  const h = await startHarness(t);
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('a'), watch_id: 7 } });
  t.strictSame(await reader.next(), response(7, 1, { created: true }));
  stream.write({ create_request: { key: b('a'), watch_id: 7 } });
  t.strictSame(
    await reader.next(),
    response(-1, 1, {
      created: true,
      canceled: true,
      reason: 'mvcc: duplicate watch ID provided on the WatchStream',
    }),
  );
  stream.write({ create_request: { key: b('b'), range_end: b('a') } });
  t.strictSame(
    await reader.next(),
    response(-1, 1, { created: true, canceled: true, reason: 'mvcc: watcher range is empty' }),
  );
  // Ids are per stream: another stream may use 7 too, and server-chosen ids start at 0.
  const other = h.bidi('Watch', 'Watch');
  other.stream.write({ create_request: { key: b('a'), watch_id: 7 } });
  t.strictSame(await other.reader.next(), response(7, 1, { created: true }));
  other.stream.write({ create_request: { key: b('a') } });
  t.strictSame(await other.reader.next(), response(0, 1, { created: true }));
  t.equal(h.member.watchHub.stats().watchers, 3);
});

t.test('cancel answers with canceled; an unknown id gets no answer; progress is stream-wide', async (t) => {
  const h = await startHarness(t);
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('a') } });
  t.strictSame(await reader.next(), response(0, 1, { created: true }));
  stream.write({ cancel_request: { watch_id: 99 } });
  stream.write({ progress_request: {} });
  t.strictSame(await reader.next(), response(-1, 1), 'the progress response comes next: nothing for id 99');
  stream.write({ cancel_request: { watch_id: 0 } });
  t.strictSame(await reader.next(), response(0, 1, { canceled: true }));
  await h.call('KV', 'Put', { key: b('a'), value: b('x') });
  stream.write({ progress_request: {} });
  t.strictSame(await reader.next(), response(-1, 2), 'no event for the canceled watch');
  t.equal(h.member.watchHub.stats().watchers, 0);
});

t.test('progress_notify watchers get the hub progress notifications with their own id', async (t) => {
  const h = await startHarness(t);
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('a'), progress_notify: true } });
  t.strictSame(await reader.next(), response(0, 1, { created: true }));
  await eventually(() => h.member.watchHub.stats().watchers === 1);
  t.equal(h.member.watchHub.progressAll(), 1);
  t.strictSame(await reader.next(), response(0, 1));
});

t.test('a start revision below the compaction cancels the watch with compact_revision', async (t) => {
  const h = await startHarness(t);
  for (let i = 0; i < 4; i++) await h.call('KV', 'Put', { key: b('c'), value: b(String(i)) });
  await h.call('KV', 'Compact', { revision: 4 });
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('c'), start_revision: 2 } });
  t.strictSame(await reader.next(), response(0, 5, { created: true }));
  t.strictSame(
    await reader.next(),
    response(0, 5, {
      canceled: true,
      compact: 4,
      reason: 'etcdserver: mvcc: required revision has been compacted',
    }),
  );
  stream.write({ create_request: { key: b('c'), start_revision: 4 } });
  t.strictSame(await reader.next(), response(1, 5, { created: true }), 'a retry from the compaction works');
  t.strictSame(
    await reader.next(),
    response(1, 5, {}, [put(kv('c', '2', 2, 4, 3)), put(kv('c', '3', 2, 5, 4))]),
  );
});

t.test('large revisions: fragmented when the watcher allows it, whole revisions otherwise', async (t) => {
  const h = await startHarness(t, { member: { maxRequestBytes: 4096 } });
  const value = Buffer.alloc(1000, 'v');
  const ops = Array.from({ length: 8 }, (_, i) => ({ request_put: { key: b(`f/${i}`), value } }));
  const frag = h.bidi('Watch', 'Watch');
  frag.stream.write({ create_request: { key: b('f/'), range_end: b('f0'), fragment: true } });
  await frag.reader.next();
  const whole = h.bidi('Watch', 'Watch');
  whole.stream.write({ create_request: { key: b('f/'), range_end: b('f0') } });
  await whole.reader.next();
  // Each txn is under the request limit; together they are 8 KB of events in one revision.
  await h.call('KV', 'Txn', { success: ops.slice(0, 4) });
  await h.call('KV', 'Txn', { success: ops.slice(4) });
  const pieces: Plain[] = [];
  for (;;) {
    const r = await frag.reader.next();
    pieces.push(r);
    if (field(r, 'header.revision') === '3' && field(r, 'fragment') === false) break;
  }
  const summary = pieces.map(
    (p) => `${field(p, 'header.revision')}:${(field(p, 'events') as Plain[]).length}:${field(p, 'fragment')}`,
  );
  t.strictSame(summary, ['2:3:true', '2:1:false', '3:3:true', '3:1:false']);
  // Without fragments, each revision stays whole even though it is larger than the limit.
  const a = await whole.reader.next();
  const c = await whole.reader.next();
  t.strictSame(
    [a, c].map(
      (p) =>
        `${field(p, 'header.revision')}:${(field(p, 'events') as Plain[]).length}:${field(p, 'fragment')}`,
    ),
    ['2:4:false', '3:4:false'],
  );
  // History: a catch-up response holding both revisions is cut between them.
  const late = h.bidi('Watch', 'Watch');
  late.stream.write({ create_request: { key: b('f/'), range_end: b('f0'), start_revision: 2 } });
  await late.reader.next();
  const h1 = await late.reader.next();
  const h2 = await late.reader.next();
  t.strictSame(
    [h1, h2].map((p) => `${(field(p, 'events') as Plain[]).length}:${field(p, 'events.0.kv.mod_revision')}`),
    ['4:2', '4:3'],
  );
});

t.test('a canceled stream takes all its watches with it', async (t) => {
  const h = await startHarness(t);
  const { stream, reader } = h.bidi('Watch', 'Watch');
  for (let i = 0; i < 5; i++) stream.write({ create_request: { key: b(`k${i}`) } });
  for (let i = 0; i < 5; i++) await reader.next();
  t.equal(h.member.watchHub.stats().watchers, 5);
  stream.cancel();
  await eventually(() => h.member.watchHub.stats().watchers === 0, 5000, 'watchers gone');
  t.pass('no watcher left after the client canceled');
});

t.test('a slow reader holds events back in the hub instead of buffering them all', async (t) => {
  const h = await startHarness(t, { member: { hub: { maxBufferedEventsPerWatcher: 16 } } });
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('s'), range_end: b('t') } });
  await reader.next();
  stream.pause();
  const value = Buffer.alloc(16 * 1024, 'x');
  for (let i = 0; i < 300; i++) await h.call('KV', 'Put', { key: b(`s${i}`), value });
  await eventually(() => h.member.watchHub.stats().fellBehindTotal > 0, 10000, 'the watcher fell behind');
  stream.resume();
  let seen = 0;
  while (seen < 300) seen += (field(await reader.next(), 'events') as Plain[]).length;
  t.equal(seen, 300, 'every event arrives once the reader resumes');
});

t.test('a failure while answering a watch ends that stream with INTERNAL and nothing else', async (t) => {
  const h = await startHarness(t);
  const { stream, reader } = h.bidi('Watch', 'Watch');
  stream.write({ create_request: { key: b('a') } });
  await reader.next();
  const other = h.bidi('Watch', 'Watch');
  h.member.failHeader = new Error('header broke');
  other.stream.write({ create_request: { key: b('a') } });
  await other.reader.closed();
  t.strictSame(other.reader.error, { code: 13, details: 'header broke' });
  h.member.failHeader = null;
  await h.call('KV', 'Put', { key: b('a'), value: b('1') });
  t.equal(field(await reader.next(), 'events.0.kv.value'), '1', 'the other stream still works');
  t.equal(h.member.watchHub.stats().watchers, 1);
});
