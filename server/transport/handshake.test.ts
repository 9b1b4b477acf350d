// Proves who gets in: a member of another cluster, a member we do not know (or no longer know)
// and a dialer addressing another member id are refused with a reason both ends log, and none of
// their messages is delivered; garbled, oversized or silent connections are closed with a logged
// error while the process and every other connection carry on.

import t from 'tap';
import { message } from '../../raft/index.js';
import { encodeBody, FRAME_HEADER_BYTES } from './frame.js';
import { judgeHandshake, parseHandshake } from './handshake.js';
import {
  handshakeFrame,
  peerStats,
  type RawPeer,
  rawConnect,
  rawListen,
  startCluster,
  startMember,
  until,
} from './testing/harness.js';
import { encodeMessage } from './wire.js';

const heartbeat = (from: number, to: number, commit = 0) => message({ type: 'heartbeat', from, to, commit });

t.test('a member of another cluster is refused, and both ends say why', async (t) => {
  const a = await startMember(t, 1);
  const b = await startMember(t, 2, { clusterToken: 'other-cluster' });
  a.transport.setPeer(2, [b.url]);
  b.transport.setPeer(1, [a.url]);
  a.transport.send([heartbeat(1, 2)]);
  await until(() => /CLUSTER_MISMATCH/.test(peerStats(a, 2).lastError ?? ''), 'a records the rejection');
  t.match(
    peerStats(a, 2).lastError,
    /rejected.*CLUSTER_MISMATCH: cluster id:c1, expected id:c1\/token:other-cluster/,
  );
  t.ok(
    a.logs.find('raft stream dial failed', { rejectCode: 'CLUSTER_MISMATCH' }).length >= 1,
    'dialer logs it',
  );
  const rejected = b.logs.find('peer handshake rejected', { code: 'CLUSTER_MISMATCH', from: '1' });
  t.ok(rejected.length >= 1, 'acceptor logs it');
  t.same(b.received, [], 'nothing delivered');
  t.equal(peerStats(a, 2).connected, false);
  await until(() => a.unreachable.includes(2), 'the queued heartbeat is reported lost');
});

t.test('an unknown member is refused', async (t) => {
  const a = await startMember(t, 1);
  const b = await startMember(t, 2);
  a.transport.setPeer(2, [b.url]);
  a.transport.send([heartbeat(1, 2)]);
  await until(() => /UNKNOWN_PEER/.test(peerStats(a, 2).lastError ?? ''), 'rejection');
  t.ok(b.logs.find('peer handshake rejected', { code: 'UNKNOWN_PEER', from: '1' }).length >= 1);
  t.same(b.received, []);
});

t.test('a dialer that addresses another member id is refused', async (t) => {
  const [a, b] = await startCluster(t, 2);
  a!.transport.setPeer(3, [b!.url]); // b's URL, but b is member 2
  a!.transport.send([heartbeat(1, 3)]);
  await until(() => /WRONG_MEMBER/.test(peerStats(a!, 3).lastError ?? ''), 'rejection');
  t.ok(b!.logs.find('peer handshake rejected', { code: 'WRONG_MEMBER' }).length >= 1);
  t.same(b!.received, []);
});

t.test('a member removed at run time is cut off and refused until it is added back', async (t) => {
  const [a, b] = await startCluster(t, 2);
  a!.transport.send([heartbeat(1, 2, 1)]);
  await until(() => b!.received.length === 1, 'delivery before removal');
  b!.transport.removePeer(1);
  await until(() => /UNKNOWN_PEER/.test(peerStats(a!, 2).lastError ?? ''), 'a is refused after removal');
  a!.transport.send([heartbeat(1, 2, 2)]);
  await until(() => peerStats(a!, 2).dropped === 1, 'the refused dial drops it');
  t.ok(a!.unreachable.includes(2), 'reported');
  t.equal(b!.received.length, 1, 'nothing delivered after removal');
  b!.transport.setPeer(1, [a!.url]);
  await until(() => peerStats(a!, 2).connected, 'accepted again');
  a!.transport.send([heartbeat(1, 2, 3)]);
  await until(() => b!.received.length === 2, 'delivery resumes');
  t.equal(b!.received[1]!.commit, 3);
});

t.test('another protocol version and malformed handshakes get a rejection frame', async (t) => {
  const b = await startMember(t, 2);
  b.transport.setPeer(1, ['http://127.0.0.1:1']);
  const cases: [unknown, string][] = [
    [handshakeFrame(1, 2, 'raft', { version: 2 }), 'VERSION'],
    [{ magic: 'netcd-peer', kind: 'raft' }, 'BAD_HANDSHAKE'],
    [{ ...handshakeFrame(1, 2, 'raft'), kind: 'gossip' }, 'BAD_HANDSHAKE'],
    [{ ...handshakeFrame(1, 2, 'raft'), magic: 'etcd' }, 'BAD_HANDSHAKE'],
    [[1, 2, 3], 'BAD_HANDSHAKE'],
  ];
  for (const [frame, code] of cases) {
    const raw = await rawConnect(t, b.url);
    raw.send(frame);
    await raw.closed;
    t.match(raw.frames, [{ ok: false, code }], `${code}: rejection frame before the close`);
  }
  t.same(b.received, []);
});

t.test('judgeHandshake checks version, cluster, addressee and peer, in that order', async (t) => {
  const local = { memberId: 2, cluster: 'id:c1' };
  const h = parseHandshake(handshakeFrame(1, 2, 'rpc'));
  t.same(
    judgeHandshake(h, local, () => true),
    { ok: true },
  );
  t.match(
    judgeHandshake({ ...h, version: 9, cluster: 'x' }, local, () => true),
    { code: 'VERSION' },
  );
  t.match(
    judgeHandshake({ ...h, cluster: 'x', to: 5 }, local, () => true),
    { code: 'CLUSTER_MISMATCH' },
  );
  t.match(
    judgeHandshake({ ...h, to: 5 }, local, () => false),
    { code: 'WRONG_MEMBER' },
  );
  t.match(
    judgeHandshake(h, local, () => false),
    { code: 'UNKNOWN_PEER' },
  );
});

t.test('garbled and oversized frames close only their connection, with an error logged', async (t) => {
  const [a, b] = await startCluster(t, 2, {
    maxFrameBytes: 2 * 1024 * 1024,
    snapshotChunkBytes: 1024 * 1024,
  });
  const attacks: [string, (send: (bytes: Uint8Array) => void) => void, RegExp][] = [
    ['garbage body', (send) => send(new Uint8Array([0, 0, 0, 2, 0xd4, 0x05])), /invalid frame/],
    ['not a message', (send) => send(frameOf({ hello: 'world' })), /message is not an array/],
    ['oversized length', (send) => send(new Uint8Array([0x7f, 0xff, 0xff, 0xff])), /frame too large/],
  ];
  // The attacker passes the handshake as member 3, so its raft stream does not replace a's.
  b!.transport.setPeer(3, ['http://127.0.0.1:1']);
  for (const [name, attack, pattern] of attacks) {
    const raw = await rawConnect(t, b!.url);
    raw.send(handshakeFrame(3, 2, 'raft'));
    await until(() => raw.frames.length === 1, `${name}: handshake reply`);
    t.match(raw.frames[0], { ok: true });
    attack((bytes) => raw.sendBytes(bytes));
    await raw.closed;
    const logged = b!.logs.records.filter(
      (r) => r.msg === 'peer connection closed on error' && pattern.test(String(r.err)),
    );
    t.equal(logged.length, 1, `${name}: closed with an error logged`);
    t.equal(logged[0]?.level, 50, `${name}: at error level`);
  }
  t.same(b!.received, [], 'nothing delivered from the bad connections');
  a!.transport.send([heartbeat(1, 2, 7)]);
  await until(() => b!.received.length === 1, 'the real peer is still served');
});

t.test('before the handshake, frames are bounded small and silence times out', async (t) => {
  const b = await startMember(t, 2, { handshakeTimeoutMs: 100 });
  const big = await rawConnect(t, b.url);
  big.sendBytes(new Uint8Array([0, 0, 0x10, 0x01])); // 4097 bytes: above the pre-handshake bound
  await big.closed;
  t.same(big.frames, [], 'no reply to an oversized first frame');
  const silent = await rawConnect(t, b.url);
  await silent.closed;
  await until(() => b.logs.find('peer handshake failed').length === 2, 'both logged');
  t.match(
    b.logs.find('peer handshake failed').map((r) => r.err),
    [/frame too large/, /nothing received within 100 ms/],
  );
});

t.test('a message whose from/to does not match its stream is dropped and logged', async (t) => {
  const b = await startMember(t, 2);
  b.transport.setPeer(1, ['http://127.0.0.1:1']);
  b.transport.setPeer(3, ['http://127.0.0.1:1']);
  const raw = await rawConnect(t, b.url);
  raw.send(handshakeFrame(1, 2, 'raft'));
  raw.send(encodeMessage(heartbeat(3, 2, 1)));
  raw.send(encodeMessage(heartbeat(1, 4, 2)));
  raw.send(encodeMessage(heartbeat(1, 2, 3)));
  await until(() => b.received.length === 1, 'the well-addressed one');
  t.equal(b.received[0]!.commit, 3);
  t.equal(b.logs.find('misaddressed message on a raft stream; dropped').length, 2);
});

function frameOf(value: unknown): Uint8Array {
  const body = encodeBody(value);
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

t.test('the dialer gives up on silent, garbled or closing acceptors with a clear error', async (t) => {
  const acceptors: [string, (peer: RawPeer) => void, RegExp][] = [
    ['silent', () => {}, /no handshake reply from .* in 100 ms/],
    ['not a map', (p) => p.socket.once('data', () => p.send([1, 2])), /handshake reply is not a map/],
    [
      'no verdict',
      (p) => p.socket.once('data', () => p.send({ ok: 'maybe' })),
      /handshake reply has no verdict/,
    ],
    [
      'hangs up',
      (p) => p.socket.once('data', () => p.socket.destroy()),
      /closed the connection during the handshake/,
    ],
  ];
  const a = await startMember(t, 1, { dialTimeoutMs: 100, backoffMinMs: 1000, backoffMaxMs: 1000 });
  let id = 2;
  for (const [name, behave, pattern] of acceptors) {
    const url = await rawListen(t, behave);
    const peer = id++;
    a.transport.setPeer(peer, [url]);
    await until(() => peerStats(a, peer).lastError !== null, name);
    t.match(peerStats(a, peer).lastError, pattern, name);
    a.transport.removePeer(peer);
  }
});

t.test('a newer raft stream from a peer replaces its older one', async (t) => {
  const b = await startMember(t, 2);
  b.transport.setPeer(1, ['http://127.0.0.1:1']);
  const first = await rawConnect(t, b.url);
  first.send(handshakeFrame(1, 2, 'raft'));
  await until(() => first.frames.length === 1, 'first accepted');
  const second = await rawConnect(t, b.url);
  second.send(handshakeFrame(1, 2, 'raft'));
  await first.closed;
  t.equal(peerStats(b, 1).inboundConnections, 1, 'only the newer one is kept');
  second.send(encodeMessage(heartbeat(1, 2, 5)));
  await until(() => b.received.length === 1, 'the newer one delivers');
});
