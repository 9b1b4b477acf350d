// Proves snapshot transfer: a large snapshot crosses in bounded chunks on its own connection and
// is delivered as exactly one message while raft messages keep flowing; success is reported only
// after the receiver acknowledges; a cut, a refusal or a stopped receiver report failure, and the
// transfer can simply be sent again; the receiver refuses corrupt, out-of-order or oversized data.

import t from 'tap';
import { crc32c } from '../../kv/wal/crc32c.js';
import { EMPTY_BYTES, type Message, message } from '../../raft/index.js';
import {
  bytesOf,
  handshakeFrame,
  peerStats,
  rawConnect,
  rawListen,
  startCluster,
  startMember,
  until,
} from './testing/harness.js';
import { encodeMessage } from './wire.js';

const MiB = 1024 * 1024;

function snap(from: number, to: number, data: Uint8Array): Message {
  return message({
    type: 'snap',
    from,
    to,
    term: 5,
    snapshot: {
      metadata: {
        index: 1000,
        term: 4,
        confState: {
          voters: [1, 2, 3],
          votersOutgoing: [],
          learners: [4],
          learnersNext: [],
          autoLeave: false,
        },
      },
      data,
    },
  });
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(a, b) === 0;
}

t.test('an 8 MiB snapshot arrives intact as one message; raft messages are not held behind it', async (t) => {
  const [a, b] = await startCluster(t, 2);
  await until(() => peerStats(a!, 2).connected, 'raft stream up');
  const data = bytesOf(8 * MiB, 42);
  const sent = snap(1, 2, data);
  a!.transport.send([sent, message({ type: 'heartbeat', from: 1, to: 2, commit: 9 })]);
  await until(() => a!.snapshotStatus.length === 1, 'snapshot status', 30_000);
  t.same(a!.snapshotStatus, [{ peer: 2, ok: true }], 'reported ok after the ack');
  const snaps = b!.received.filter((m) => m.type === 'snap');
  t.equal(snaps.length, 1, 'one message');
  const got = snaps[0]!;
  t.same(got.snapshot?.metadata, sent.snapshot!.metadata);
  t.ok(sameBytes(got.snapshot?.data, data), '8 MiB byte for byte');
  t.same({ ...got, snapshot: null }, { ...sent, snapshot: null }, 'the other fields too');
  t.equal(b!.received[0]!.type, 'heartbeat', 'the heartbeat did not wait for the snapshot');
  t.equal(peerStats(a!, 2).snapshotsSent, 1);
  t.ok(peerStats(a!, 2).snapshotBytesSent > 8 * MiB, 'its bytes counted');
  t.equal(peerStats(b!, 1).snapshotsReceived, 1);
  t.ok(peerStats(b!, 1).bytesReceived > 8 * MiB);
  t.equal(peerStats(b!, 1).snapshotReceivingBytes, 0, 'nothing left in progress');
});

t.test('a transfer cut mid-way reports failure, and sending again succeeds', async (t) => {
  const chunkSizes: number[] = [];
  const offsets: number[] = [];
  const cutter = await rawListen(t, (peer) => {
    let replied = false;
    peer.socket.on('data', () => {
      if (!replied) peer.send({ ok: true });
      replied = true;
      for (const f of peer.frames.splice(1)) {
        const frame = f as unknown[];
        if (frame[0] === 'chunk') {
          offsets.push(frame[1] as number);
          chunkSizes.push((frame[2] as Uint8Array).length);
        }
      }
      if (chunkSizes.length >= 3) peer.socket.destroy();
    });
  });
  const a = await startMember(t, 1, { snapshotChunkBytes: MiB });
  const b = await startMember(t, 2);
  b.transport.setPeer(1, [a.url]);
  a.transport.setPeer(2, [cutter]);
  const data = bytesOf(16 * MiB, 7);
  a.transport.send([snap(1, 2, data)]);
  await until(() => a.snapshotStatus.length === 1, 'status after the cut', 30_000);
  t.same(a.snapshotStatus, [{ peer: 2, ok: false }]);
  t.same(chunkSizes.slice(0, 3), [MiB, MiB, MiB], 'chunks of snapshotChunkBytes');
  t.same(offsets.slice(0, 3), [0, MiB, 2 * MiB], 'in order');
  t.ok(a.logs.find('snapshot transfer failed').length === 1, 'logged');
  t.equal(peerStats(a, 2).snapshotsFailed, 1);

  a.transport.setPeer(2, [b.url]);
  a.transport.send([snap(1, 2, data)]);
  await until(() => a.snapshotStatus.length === 2, 'status of the retry', 30_000);
  t.same(a.snapshotStatus[1], { peer: 2, ok: true });
  t.ok(sameBytes(b.received[0]?.snapshot?.data, data), 'the retry delivered it');
});

t.test('a receiver stopped mid-transfer: the sender reports failure, nothing is delivered', async (t) => {
  const [a, b] = await startCluster(t, 2);
  a!.transport.send([snap(1, 2, bytesOf(64 * MiB, 3))]);
  await until(() => peerStats(b!, 1).snapshotReceivingBytes > 0, 'transfer under way', 30_000);
  await b!.transport.stop();
  await until(() => a!.snapshotStatus.length === 1, 'status', 30_000);
  t.same(a!.snapshotStatus, [{ peer: 2, ok: false }]);
  t.same(b!.received, []);
});

t.test('onMessage failing on the snapshot fails the transfer', async (t) => {
  const a = await startMember(t, 1);
  const b = await startMember(t, 2, {
    onMessage: () => {
      throw new Error('cannot apply');
    },
  });
  a.transport.setPeer(2, [b.url]);
  b.transport.setPeer(1, [a.url]);
  a.transport.send([snap(1, 2, bytesOf(1000, 1))]);
  await until(() => a.snapshotStatus.length === 1, 'status');
  t.same(a.snapshotStatus, [{ peer: 2, ok: false }]);
  t.match(a.logs.find('snapshot transfer failed')[0]?.err, /receiver refused: cannot apply/);
});

t.test('one transfer per peer at a time; removing the peer aborts it silently', async (t) => {
  const stalled = await rawListen(t, (peer) => {
    peer.socket.once('data', () => {
      peer.send({ ok: true });
      peer.socket.pause();
    });
  });
  const a = await startMember(t, 1);
  a.transport.setPeer(2, [stalled]);
  a.transport.send([snap(1, 2, bytesOf(32 * MiB, 1))]);
  a.transport.send([snap(1, 2, bytesOf(10, 1))]);
  t.equal(a.logs.find('a snapshot transfer is already running; new one dropped').length, 1);
  await until(() => a.transport.stats().openSockets >= 2, 'transfer connected');
  a.transport.removePeer(2);
  await until(() => a.transport.stats().openSockets === 0, 'its sockets closed');
  await until(() => a.logs.find('snapshot transfer failed').length === 1, 'the abort is logged');
  t.same(a.snapshotStatus, [], 'no status for a removed peer');
});

t.test('the receiver refuses corrupt, out-of-order, short and oversized transfers', async (t) => {
  const b = await startMember(t, 2, { maxSnapshotBytes: 4096 });
  b.transport.setPeer(1, ['http://127.0.0.1:1']);
  const data = bytesOf(3000, 9);
  const header = (m: Message, total: number) => [
    'begin',
    encodeMessage({ ...m, snapshot: { metadata: m.snapshot!.metadata, data: EMPTY_BYTES } }),
    total,
  ];
  const end = (crc = crc32c(data)) => ['end', crc];
  const good = snap(1, 2, data);
  const cases: [string, unknown[][], RegExp][] = [
    [
      'bad checksum',
      [header(good, 3000), ['chunk', 0, data], end((crc32c(data) ^ 1) >>> 0)],
      /checksum mismatch/,
    ],
    ['gap', [header(good, 3000), ['chunk', 100, data.subarray(100)]], /chunk at 100, expected 0/],
    ['short', [header(good, 3000), ['chunk', 0, data.subarray(0, 10)], end()], /received 10 of 3000/],
    ['oversized', [header(good, 5000)], /5000 bytes exceeds 4096/],
    ['overrun', [header(good, 10), ['chunk', 0, data]], /beyond the announced snapshot size/],
    ['not a snap', [header({ ...good, type: 'app' }, 1)], /not a snap message/],
    ['misaddressed', [header({ ...good, from: 3 }, 1)], /from\/to do not match/],
    ['chunk first', [['chunk', 0, data]], /chunk before its header/],
    ['end first', [end()], /end before its header/],
    ['end without crc', [header(good, 3000), ['chunk', 0, data], ['end']], /malformed snapshot end/],
    ['header without size', [header(good, 3000).slice(0, 2)], /malformed snapshot header/],
    ['unknown frame', [['resume', 0]], /unknown snapshot frame/],
    ['two headers', [header(good, 3000), header(good, 3000)], /second snapshot header/],
  ];
  for (const [name, frames, reason] of cases) {
    const raw = await rawConnect(t, b.url);
    raw.send(handshakeFrame(1, 2, 'snapshot'));
    for (const f of frames) raw.send(f);
    await raw.closed;
    t.match(raw.frames, [{ ok: true }, ['ack', false, reason]], `${name}: refused with its reason`);
  }
  t.same(b.received, [], 'nothing delivered');

  const ok = await rawConnect(t, b.url);
  ok.send(handshakeFrame(1, 2, 'snapshot'));
  for (const f of [
    header(good, 3000),
    ['chunk', 0, data.subarray(0, 1000)],
    ['chunk', 1000, data.subarray(1000)],
    end(),
  ])
    ok.send(f);
  await ok.closed;
  t.match(ok.frames, [{ ok: true }, ['ack', true, '']], 'a well-formed transfer is acknowledged');
  t.ok(sameBytes(b.received[0]?.snapshot?.data, data));
});
