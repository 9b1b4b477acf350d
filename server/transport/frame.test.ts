// Proves the frame codec and the raft message wire format: any sequence of messages, cut into
// chunks at arbitrary points, decodes to exactly the messages sent (byte fields as plain
// Uint8Array); oversized lengths are refused before buffering; malformed frames are BAD_FRAME;
// hand-framed snapshot chunks decode like packed ones.

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import type { Entry, Message, MessageType, Snapshot } from '../../raft/index.js';
import { message } from '../../raft/index.js';
import { propertyChecker } from '../../test/property.js';
import { isTransportError } from './errors.js';
import {
  assembleFrames,
  decodeBody,
  encodeBody,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  layoutFrames,
  ZERO_COPY_BODY_BYTES,
} from './frame.js';
import { FrameQueue } from './frame-queue.js';
import { chunkPrefix } from './snapshot-stream.js';
import { decodeMessage, encodeMessage } from './wire.js';

const FILE = 'server/transport/frame.test.ts';
const checkProperty = propertyChecker(FILE);

const WIRE_TYPES: MessageType[] = [
  'prop',
  'app',
  'appResp',
  'vote',
  'voteResp',
  'preVote',
  'preVoteResp',
  'snap',
  'heartbeat',
  'heartbeatResp',
  'transferLeader',
  'timeoutNow',
  'readIndex',
  'readIndexResp',
];

/** Records with Object.prototype, like the messages raft builds (deep equality checks prototypes). */
function plainRecord<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const id = fc.integer({ min: 0, max: 2 ** 52 - 1 });
const counter = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const bytes = fc.uint8Array({ maxLength: 80 });
const entry: fc.Arbitrary<Entry> = plainRecord({
  term: counter,
  index: counter,
  type: fc.constantFrom('normal' as const, 'confChange' as const),
  data: bytes,
});
const snapshot: fc.Arbitrary<Snapshot> = plainRecord({
  metadata: plainRecord({
    index: counter,
    term: counter,
    confState: plainRecord({
      voters: fc.array(id, { maxLength: 5 }),
      votersOutgoing: fc.array(id, { maxLength: 5 }),
      learners: fc.array(id, { maxLength: 3 }),
      learnersNext: fc.array(id, { maxLength: 3 }),
      autoLeave: fc.boolean(),
    }),
  }),
  data: fc.uint8Array({ maxLength: 300 }),
});
export const messageArb: fc.Arbitrary<Message> = plainRecord({
  type: fc.constantFrom(...WIRE_TYPES),
  from: id,
  to: id,
  term: counter,
  logTerm: counter,
  index: counter,
  entries: fc.array(entry, { maxLength: 6 }),
  commit: counter,
  reject: fc.boolean(),
  rejectHint: counter,
  snapshot: fc.option(snapshot, { nil: null }),
  context: bytes,
});

/** Splits `buf` at the given cut points (any order, duplicates allowed). */
function cut(buf: Uint8Array, points: number[]): Uint8Array[] {
  const sorted = [...new Set(points.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...sorted, buf.length]) {
    out.push(buf.subarray(from, p));
    from = p;
  }
  return out;
}

t.test('property: messages cut at arbitrary chunk boundaries decode to the same messages', async (t) => {
  checkProperty(
    t,
    fc.property(
      fc.array(messageArb, { minLength: 1, maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (messages, points) => {
        const stream = assembleFrames(messages.map((m) => encodeBody(encodeMessage(m))));
        const decoder = new FrameDecoder(1 << 20);
        const decoded: Message[] = [];
        for (const chunk of cut(stream, points))
          for (const body of decoder.push(chunk)) decoded.push(decodeMessage(decodeBody(body)));
        if (decoder.pendingBytes !== 0) throw new Error(`${decoder.pendingBytes} bytes left over`);
        if (!isDeepStrictEqual(decoded, messages)) throw new Error('decoded messages differ');
      },
    ),
    300,
  );
});

t.test('byte fields decode as plain Uint8Array that own no more than their frame', async (t) => {
  const m = message({
    type: 'app',
    from: 1,
    to: 2,
    entries: [{ term: 1, index: 1, type: 'normal', data: new Uint8Array([1, 2, 3]) }],
    context: new Uint8Array([9]),
  });
  const big = new Uint8Array(64 * 1024);
  const frame = assembleFrames([encodeBody(encodeMessage(m))]);
  big.set(frame, 100);
  // The frame sits inside a larger socket chunk, as it would after a read of many frames.
  const [body] = new FrameDecoder(1 << 20).push(big.subarray(100, 100 + frame.length));
  const got = decodeMessage(decodeBody(body!));
  const data = got.entries[0]!.data;
  t.equal(Object.getPrototypeOf(data), Uint8Array.prototype, 'not a Buffer');
  t.same([...data], [1, 2, 3]);
  t.ok(data.buffer.byteLength <= frame.length, 'the socket chunk is not retained');
  t.equal(Object.getPrototypeOf(got.context), Uint8Array.prototype);
});

t.test('a length above the bound is refused as soon as its header is read', async (t) => {
  const decoder = new FrameDecoder(1000);
  const header = new Uint8Array([0, 0, 0x03, 0xe9]); // 1001
  t.throws(() => decoder.push(header), { code: 'FRAME_TOO_LARGE' });
  const ok = new FrameDecoder(1000);
  t.same(ok.push(assembleFrames([new Uint8Array(1000).fill(0xc0)])).length, 1, 'exactly the bound passes');
});

t.test('the bound can be raised after a handshake', async (t) => {
  const decoder = new FrameDecoder(16);
  const big = encodeBody({ pad: 'x'.repeat(100) });
  t.throws(() => new FrameDecoder(16).push(assembleFrames([big])), { code: 'FRAME_TOO_LARGE' });
  decoder.setMaxFrameBytes(1000);
  t.equal(decoder.push(assembleFrames([big])).length, 1);
});

t.test('garbled bodies are BAD_FRAME, never another exception', async (t) => {
  for (const body of [
    new Uint8Array(0),
    new Uint8Array([0xd4, 0x05, 0x01]),
    new Uint8Array([1, 2]),
    new Uint8Array([0x92, 1]),
  ]) {
    t.throws(() => decodeBody(body), { code: 'BAD_FRAME' }, `body ${[...body]}`);
  }
});

t.test('decodeMessage refuses every malformed field with BAD_FRAME naming it', async (t) => {
  const good = encodeMessage(
    message({
      type: 'app',
      from: 1,
      to: 2,
      entries: [{ term: 1, index: 2, type: 'normal', data: new Uint8Array(1) }],
    }),
  ) as unknown[];
  const variants: [string, (f: unknown[]) => void, RegExp][] = [
    ['not an array', (f) => f.splice(0), /message has 0 fields/],
    ['unknown type', (f) => (f[0] = 99), /unknown message type/],
    ['negative term', (f) => (f[3] = -1), /term/],
    ['fractional index', (f) => (f[5] = 1.5), /index/],
    ['string from', (f) => (f[1] = '1'), /from/],
    ['reject not boolean', (f) => (f[8] = 1), /reject/],
    ['context not bytes', (f) => (f[11] = 'x'), /context/],
    ['entries not whole', (f) => (f[6] = [1, 2, 0]), /entries are not whole/],
    ['entry type unknown', (f) => (f[6] = [1, 2, 7, new Uint8Array(0)]), /unknown entry type/],
    ['entry data not bytes', (f) => (f[6] = [1, 2, 0, [1]]), /entry data/],
    ['snapshot malformed', (f) => (f[10] = [1]), /snapshot has 1 fields/],
    ['conf state malformed', (f) => (f[10] = [[1, 1, [[], [], [], []]], new Uint8Array(0)]), /confState/],
    ['voter not an id', (f) => (f[10] = [[1, 1, [[-3], [], [], [], false]], new Uint8Array(0)]), /voters/],
  ];
  for (const [name, mutate, pattern] of variants) {
    const f = structuredClone(good);
    mutate(f);
    try {
      decodeMessage(decodeBody(encodeBody(f)));
      t.fail(`${name}: accepted`);
    } catch (err) {
      t.ok(isTransportError(err, 'BAD_FRAME'), `${name}: BAD_FRAME`);
      t.match((err as Error).message, pattern, name);
    }
  }
  t.throws(() => decodeMessage({ a: 1 }), { code: 'BAD_FRAME' });
});

t.test('frames assemble back to back with big-endian lengths', async (t) => {
  const out = assembleFrames([new Uint8Array([7]), new Uint8Array(0), new Uint8Array(300)]);
  t.equal(out.length, 3 * FRAME_HEADER_BYTES + 301);
  t.same([...out.subarray(0, 5)], [0, 0, 0, 1, 7]);
  t.same([...out.subarray(5, 9)], [0, 0, 0, 0]);
  t.same([...out.subarray(9, 13)], [0, 0, 1, 44]);
});

t.test('the frame queue refuses what would cross its byte bound and batches by bytes', async (t) => {
  const q = new FrameQueue(100);
  t.ok(q.push(new Uint8Array(60)));
  t.notOk(q.push(new Uint8Array(41)), 'over the bound');
  t.ok(q.push(new Uint8Array(40)), 'exactly the bound');
  t.equal(q.bytes, 100);
  t.equal(q.take(50).length, 1, 'a batch stops before exceeding its bytes');
  t.equal(q.take(1).length, 1, 'but always takes one');
  t.equal(q.length, 0);
  const big = new FrameQueue(1e6);
  for (let i = 0; i < 3000; i++) big.push(new Uint8Array([i & 0xff]));
  for (let i = 0; i < 2000; i++) big.take(1);
  t.equal(big.length, 1000, 'compaction keeps the count');
  t.same([...big.take(1)[0]!], [2000 & 0xff], 'and the order');
  t.equal(big.clear(), 999);
  t.equal(big.bytes, 0);
});

t.test('a snapshot chunk written as prefix + raw bytes decodes like a packed one', async (t) => {
  for (const [offset, length] of [
    [0, 0],
    [5, 1],
    [2 ** 40, 300],
    [1 << 20, 70_000],
  ] as const) {
    const data = new Uint8Array(length).map((_, i) => i * 7);
    const prefix = chunkPrefix(offset, length);
    const body = new Uint8Array(prefix.length + length);
    body.set(prefix);
    body.set(data, prefix.length);
    t.ok(isDeepStrictEqual(decodeBody(body), ['chunk', offset, data]), `offset ${offset}, ${length} bytes`);
  }
});

t.test(
  'property: the vectored layout is byte for byte the contiguous one, large bodies not copied',
  async (t) => {
    checkProperty(
      t,
      fc.property(
        fc.array(
          fc.oneof(fc.nat(100), fc.integer({ min: ZERO_COPY_BODY_BYTES, max: ZERO_COPY_BODY_BYTES + 50 })),
          {
            maxLength: 12,
          },
        ),
        (sizes) => {
          const bodies = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
          const parts = layoutFrames(bodies);
          if (Buffer.compare(Buffer.concat(parts), assembleFrames(bodies)) !== 0)
            throw new Error('layouts differ');
          for (const b of bodies)
            if (b.length >= ZERO_COPY_BODY_BYTES && !parts.includes(b))
              throw new Error('a large body was copied');
        },
      ),
      200,
    );
  },
);
