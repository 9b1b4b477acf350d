// Proves the transport between real loopback members: per-peer order with every field intact,
// batched writes, reconnection after a restart on the same port, a byte bound on what a dead or
// stalled peer can make us hold, clean refusal of a busy port and of bad options, and a stop()
// that leaves no socket, server or timer behind.

import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import { type Message, message } from '../../raft/index.js';
import { TransportError } from './errors.js';
import { clusterIdentity } from './handshake.js';
import { resolveOptions } from './options.js';
import {
  activeResources,
  bytesOf,
  captureLogs,
  deadUrl,
  peerStats,
  rawListen,
  startCluster,
  startMember,
  TEST_TIMINGS,
  until,
} from './testing/harness.js';
import { PeerTransport } from './transport.js';

function app(from: number, to: number, index: number, entries: number, entryBytes: number): Message {
  return message({
    type: 'app',
    from,
    to,
    term: 3,
    logTerm: 2,
    index,
    commit: index - 1,
    entries: Array.from({ length: entries }, (_, k) => ({
      term: 3,
      index: index + k + 1,
      type: k % 5 === 4 ? ('confChange' as const) : ('normal' as const),
      data: bytesOf(entryBytes, index * 100 + k),
    })),
    context: bytesOf(index % 7, index),
  });
}

t.test('two members exchange messages in order, every field and byte intact', async (t) => {
  const [a, b] = await startCluster(t, 2);
  const toB = Array.from({ length: 300 }, (_, i) => app(1, 2, i + 1, i % 4, 1 + (i % 200)));
  const toA = Array.from({ length: 300 }, (_, i) =>
    message({ type: 'appResp', from: 2, to: 1, term: 3, index: i, reject: i % 2 === 0, rejectHint: i }),
  );
  for (let i = 0; i < 300; i += 30) {
    a!.transport.send(toB.slice(i, i + 30));
    b!.transport.send(toA.slice(i, i + 30));
  }
  await until(() => b!.received.length === 300 && a!.received.length === 300, 'all messages');
  t.ok(isDeepStrictEqual(b!.received, toB), 'b got exactly what a sent, in order');
  t.ok(isDeepStrictEqual(a!.received, toA), 'a got exactly what b sent, in order');
  const data = b!.received[5]!.entries[0]!.data;
  t.equal(Object.getPrototypeOf(data), Uint8Array.prototype, 'entry data is a plain Uint8Array');
  t.equal(peerStats(a!, 2).messagesSent, 300);
  t.equal(peerStats(b!, 1).messagesReceived, 300);
  t.equal(peerStats(b!, 1).bytesReceived, peerStats(a!, 2).bytesSent, 'bytes counted alike on both ends');
  t.equal(peerStats(a!, 2).dropped, 0);
});

t.test('three members: each pair keeps its own order', async (t) => {
  const members = await startCluster(t, 3);
  const perPair = 200;
  for (let i = 1; i <= perPair; i++)
    for (const from of members)
      from.transport.send(
        members
          .filter((m) => m !== from)
          .map((to) => message({ type: 'heartbeat', from: from.id, to: to.id, commit: i })),
      );
  await until(() => members.every((m) => m.received.length === 2 * perPair), 'every heartbeat');
  for (const m of members)
    for (const from of members.filter((x) => x !== m)) {
      const commits = m.received.filter((x) => x.from === from.id).map((x) => x.commit);
      t.same(
        commits,
        Array.from({ length: perPair }, (_, i) => i + 1),
        `${from.id} → ${m.id} in order`,
      );
    }
});

t.test('messages queued in one tick leave in a few socket writes', async (t) => {
  const [a, b] = await startCluster(t, 2);
  await until(() => peerStats(a!, 2).connected, 'a connected to b');
  const before = peerStats(a!, 2);
  // One send call with 1000 messages, then 1000 send calls of one message, all in this tick.
  a!.transport.send(
    Array.from({ length: 1000 }, (_, i) => message({ type: 'heartbeat', from: 1, to: 2, commit: i })),
  );
  for (let i = 0; i < 1000; i++)
    a!.transport.send([message({ type: 'heartbeat', from: 1, to: 2, commit: 1000 + i })]);
  t.equal(peerStats(a!, 2).queueBytes > 0, true, 'queued, not written synchronously');
  await until(() => b!.received.length === 2000, '2000 heartbeats');
  const after = peerStats(a!, 2);
  t.equal(after.messagesSent - before.messagesSent, 2000, '2000 frames');
  t.ok(after.writes - before.writes <= 2, `2000 frames in ${after.writes - before.writes} socket write(s)`);
  t.same(
    b!.received.map((m) => m.commit),
    Array.from({ length: 2000 }, (_, i) => i),
  );
});

t.test('large messages are split across writes of at most maxWriteBytes', async (t) => {
  const [a, b] = await startCluster(t, 2, { maxWriteBytes: 256 * 1024 });
  await until(() => peerStats(a!, 2).connected, 'connected');
  const before = peerStats(a!, 2).writes;
  a!.transport.send(Array.from({ length: 16 }, (_, i) => app(1, 2, i + 1, 1, 64 * 1024)));
  await until(() => b!.received.length === 16, '16 large messages');
  const writes = peerStats(a!, 2).writes - before;
  t.ok(writes >= 4 && writes <= 16, `1 MiB in ${writes} writes of ≤ 256 KiB`);
  t.ok(isDeepStrictEqual(b!.received[15]!.entries, app(1, 2, 16, 1, 64 * 1024).entries));
});

t.test('the sender reconnects after the receiver restarts on the same port', async (t) => {
  const [a, b] = await startCluster(t, 2);
  a!.transport.send([message({ type: 'heartbeat', from: 1, to: 2, commit: 1 })]);
  await until(() => b!.received.length === 1, 'first heartbeat');
  await b!.transport.stop();
  await until(() => !peerStats(a!, 2).connected, 'a notices the loss');
  await until(() => a!.unreachable.includes(2), 'b reported unreachable');
  t.match(peerStats(a!, 2).lastError, /./, 'the loss is recorded');

  const b2 = await startMember(t, 2, { listenUrls: [b!.url] });
  b2.transport.setPeer(1, [a!.url]);
  await until(() => peerStats(a!, 2).connected, 'a reconnects');
  t.ok(peerStats(a!, 2).connects >= 2, 'a second connection');
  a!.transport.send([message({ type: 'heartbeat', from: 1, to: 2, commit: 2 })]);
  await until(() => b2.received.length === 1, 'heartbeat after restart');
  t.equal(b2.received[0]!.commit, 2);
  t.equal(peerStats(a!, 2).lastError, null, 'error cleared once connected');
});

t.test('an unreachable peer never makes us hold more than maxQueueBytes', async (t) => {
  const maxQueueBytes = 64 * 1024;
  const a = await startMember(t, 1, { maxQueueBytes });
  a.transport.setPeer(9, [await deadUrl()]);
  const big = (i: number) => app(1, 9, i, 1, 1000);
  a.transport.send(Array.from({ length: 200 }, (_, i) => big(i + 1)));
  const s = peerStats(a, 9);
  t.ok(s.queueBytes <= maxQueueBytes, `queue ${s.queueBytes} ≤ ${maxQueueBytes}`);
  t.ok(s.dropped >= 200 - Math.floor(maxQueueBytes / 1000), `${s.dropped} dropped at the bound`);
  await until(() => a.unreachable.includes(9), 'unreachable reported');
  await until(() => peerStats(a, 9).queueBytes === 0, 'the failed dial drops the queue');
  t.equal(peerStats(a, 9).dropped, 200, 'every message dropped, none delivered');
  t.match(peerStats(a, 9).lastError, /ECONNREFUSED/);
  t.ok(
    a.unreachable.filter((p) => p === 9).length < 10,
    'reports are coalesced, not one per dropped message',
  );
});

t.test('a peer that stops reading cannot exhaust the sender: queue bounded, drops reported', async (t) => {
  const maxQueueBytes = 1024 * 1024;
  const maxWriteBytes = 256 * 1024;
  const url = await rawListen(t, (peer) => {
    // Accept the handshake, then never read again.
    peer.socket.once('data', () => {
      peer.send({ ok: true });
      peer.socket.pause();
    });
  });
  const a = await startMember(t, 1, { maxQueueBytes, maxWriteBytes });
  a.transport.setPeer(2, [url]);
  await until(() => peerStats(a, 2).connected, 'connected to the stalled peer');
  let maxHeld = 0;
  for (let round = 0; round < 40; round++) {
    a.transport.send(Array.from({ length: 16 }, (_, i) => app(1, 2, round * 16 + i + 1, 1, 64 * 1024)));
    await new Promise((resolve) => setImmediate(resolve));
    const s = peerStats(a, 2);
    t.ok(s.queueBytes <= maxQueueBytes, `round ${round}: queue ${s.queueBytes}`);
    maxHeld = Math.max(maxHeld, s.queueBytes + s.socketBufferedBytes);
  }
  t.ok(
    maxHeld <= maxQueueBytes + 2 * maxWriteBytes,
    `at most ${maxHeld} bytes held in user space for 40 MiB offered`,
  );
  const s = peerStats(a, 2);
  t.ok(s.dropped > 0, `${s.dropped} messages dropped`);
  await until(() => a.unreachable.includes(2), 'unreachable reported');
});

t.test('a busy listen port rejects start() with EADDRINUSE and leaves nothing open', async (t) => {
  const a = await startMember(t, 1);
  const b = new PeerTransport({
    memberId: 2,
    clusterId: 1,
    listenUrls: [a.url],
    logger: captureLogs().logger,
    onMessage: () => {},
  });
  t.teardown(() => b.stop());
  const err = await b.start().then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof TransportError, 'a TransportError');
  t.equal((err as TransportError).code, 'EADDRINUSE');
  t.match((err as Error).message, new RegExp(`in use: 127.0.0.1:${new URL(a.url).port}`));
  t.equal(b.stats().listening, false);
  t.equal(b.stats().openSockets, 0);
});

t.test(
  'sends to unknown members, to ourselves, and local messages are dropped without throwing',
  async (t) => {
    const a = await startMember(t, 1);
    a.transport.send([
      message({ type: 'heartbeat', from: 1, to: 7 }),
      message({ type: 'heartbeat', from: 1, to: 1 }),
      message({ type: 'hup', from: 1, to: 0 }),
    ]);
    t.equal(a.transport.stats().droppedUnknownPeer, 1);
    await until(() => a.unreachable.includes(7), 'the unknown peer reported unreachable');
    a.transport.setPeer(1, ['http://127.0.0.1:1']);
    t.equal(a.transport.stats().peers.length, 0, 'our own id is not a peer');
    t.throws(() => a.transport.setPeer(0, []), { code: 'BAD_OPTION' });
    t.throws(() => a.transport.setPeer(3, ['https://127.0.0.1:1']), { code: 'BAD_URL' });
  },
);

t.test('a message larger than a frame is dropped and reported, the stream keeps working', async (t) => {
  const [a, b] = await startCluster(t, 2, {
    maxFrameBytes: 2 * 1024 * 1024,
    snapshotChunkBytes: 1024 * 1024,
  });
  a!.transport.send([app(1, 2, 1, 1, 3 * 1024 * 1024), app(1, 2, 2, 1, 10)]);
  await until(() => b!.received.length === 1, 'the small message');
  t.equal(b!.received[0]!.index, 2);
  await until(() => a!.unreachable.includes(2), 'reported');
  t.ok(a!.logs.find('message larger than a frame; dropped').length === 1, 'logged');
});

t.test('setPeer with new URLs moves the stream; removePeer stops it', async (t) => {
  const [a, b] = await startCluster(t, 2);
  await until(() => peerStats(a!, 2).connected, 'connected');
  a!.transport.setPeer(2, [await deadUrl()]);
  await until(() => !peerStats(a!, 2).connected, 'the old connection is dropped');
  a!.transport.setPeer(2, [b!.url]);
  await until(() => peerStats(a!, 2).connected, 'connected again at the listed URL');
  a!.transport.removePeer(2);
  t.equal(a!.transport.stats().peers.length, 0);
  await until(() => peerStats(b!, 1).inboundConnections === 0, 'b sees the stream close');
  a!.transport.send([message({ type: 'heartbeat', from: 1, to: 2 })]);
  t.equal(a!.transport.stats().droppedUnknownPeer, 1);
  a!.transport.removePeer(2);
});

t.test('stop() closes every socket, server and timer it made, and is idempotent', async (t) => {
  const before = activeResources();
  const logs = captureLogs();
  const make = (id: number) =>
    new PeerTransport({
      memberId: id,
      clusterId: 5,
      listenUrls: ['http://127.0.0.1:0'],
      logger: logs.logger,
      onMessage: () => {},
      onRequest: () => new Promise(() => {}),
      onUnreachable: () => {},
      ...TEST_TIMINGS,
    });
  const a = make(1);
  const b = make(2);
  await a.start();
  await b.start();
  a.setPeer(2, b.urls);
  b.setPeer(1, a.urls);
  a.setPeer(3, [await deadUrl()]); // redialling in the background
  a.send([message({ type: 'heartbeat', from: 1, to: 2 }), message({ type: 'heartbeat', from: 1, to: 3 })]);
  const pending = a.request(2, 'never answered', 60_000).then(
    () => null,
    (err: unknown) => err,
  );
  await until(() => a.stats().pendingRequests === 1 && b.stats().peers[0]!.inboundConnections === 2, 'busy');
  t.ok(a.stats().openSockets > 0);
  await Promise.all([a.stop(), b.stop(), a.stop()]);
  t.match(await pending, { code: 'STOPPED' }, 'the pending request fails with STOPPED');
  for (const x of [a, b]) {
    const s = x.stats();
    t.equal(s.listening, false, 'not listening');
    t.equal(s.openSockets, 0, 'no sockets');
    t.equal(s.pendingRequests, 0, 'no pending requests');
    t.equal(s.peers.length, 0);
  }
  const after = activeResources();
  for (const kind of ['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'Immediate'])
    t.ok((after.get(kind) ?? 0) <= (before.get(kind) ?? 0), `no ${kind} left (${after.get(kind) ?? 0})`);
  a.send([message({ type: 'heartbeat', from: 1, to: 2 })]);
  a.setPeer(2, b.urls);
  t.equal(a.stats().peers.length, 0, 'a stopped transport ignores new peers');
  await t.rejects(a.request(2, 'x', 10), { code: 'STOPPED' });
});

t.test('options: every bound is checked and the cluster identity is required', async (t) => {
  const base = {
    memberId: 1,
    clusterId: 1,
    listenUrls: ['http://127.0.0.1:0'],
    logger: captureLogs().logger,
    onMessage: () => {},
  };
  t.throws(() => resolveOptions({ ...base, memberId: 0 }), { code: 'BAD_OPTION' });
  t.throws(() => resolveOptions({ ...base, maxQueueBytes: -1 }), { code: 'BAD_OPTION' });
  t.throws(() => resolveOptions({ ...base, backoffMinMs: 10, backoffMaxMs: 5 }), { code: 'BAD_OPTION' });
  t.throws(
    () => resolveOptions({ ...base, maxFrameBytes: 1024 }),
    { code: 'BAD_OPTION' },
    'chunks must fit a frame',
  );
  t.throws(() => resolveOptions({ ...base, listenUrls: [] }), { code: 'BAD_OPTION' });
  t.throws(() => resolveOptions({ ...base, listenUrls: ['tcp://x'] }), { code: 'BAD_URL' });
  t.throws(() => resolveOptions({ ...base, clusterToken: '' }), { code: 'BAD_OPTION' });
  const { clusterId: _, ...noCluster } = base;
  t.throws(() => resolveOptions(noCluster), { code: 'BAD_OPTION' });
  t.equal(resolveOptions({ ...noCluster, clusterToken: 'tok' }).local.cluster, 'token:tok');
  t.equal(clusterIdentity(255, 'tok'), 'id:ff/token:tok');
  t.equal(resolveOptions(base).maxQueueBytes, 64 * 1024 * 1024, 'documented default');
});
