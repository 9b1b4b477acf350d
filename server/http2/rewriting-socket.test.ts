// Proves the socket stand-in: Node's own HTTP/2 server, which resets a request whose :authority is
// a URL, answers it when handed a RewritingSocket; the client's bytes arrive complete and in order
// under backpressure (the socket pauses while nobody reads); the server's bytes and end-of-stream
// reach the client; and closing either side closes the other.

import http2 from 'node:http2';
import net from 'node:net';
import t, { type Test } from 'tap';
import { eventually } from '../grpc/testing/harness.js';
import { FrameFlag, FrameType, HTTP2_PREFACE } from './frames.js';
import { HpackEncoder } from './hpack.js';
import { RewritingSocket } from './rewriting-socket.js';
import { field, frame, parseFrames } from './testing.js';

/** A loopback server handing each connection to `onSocket`; resolves with its port. */
async function listen(t: Test, onSocket: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function connect(t: Test, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
    t.teardown(() => socket.destroy());
  });
}

/** Sends one GET with `authority` and resolves with the types of the frames the server sent on stream 1. */
async function requestFrameTypes(t: Test, port: number, authority: string): Promise<number[]> {
  const socket = await connect(t, port);
  const block = new HpackEncoder({ indexing: 'incremental', huffman: 'shorter' }).encode([
    field(':method', 'GET'),
    field(':scheme', 'http'),
    field(':path', '/'),
    field(':authority', authority),
  ]);
  socket.write(
    Buffer.concat([
      HTTP2_PREFACE,
      frame(FrameType.SETTINGS, 0, 0),
      frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 1, block),
    ]),
  );
  let received = Buffer.alloc(0);
  const stream1 = () => parseFrames(received).frames.filter((f) => f.streamId === 1);
  socket.on('data', (d) => {
    received = Buffer.concat([received, d]);
  });
  await eventually(
    () => stream1().some((f) => f.type === FrameType.RST_STREAM || (f.flags & FrameFlag.END_STREAM) !== 0),
    5000,
    'stream 1 ended',
  );
  socket.destroy();
  return stream1().map((f) => f.type);
}

t.test("Node's HTTP/2 server answers a URL authority only through the rewriting socket", async (t) => {
  const seen: (string | undefined)[] = [];
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    seen.push(headers[':authority']);
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  t.teardown(() => h2.close());
  const bare = await listen(t, (socket) => h2.emit('connection', socket));
  const wrapped = await listen(t, (socket) => h2.emit('connection', new RewritingSocket(socket)));

  t.same(
    await requestFrameTypes(t, bare, 'http://127.0.0.1:2379'),
    [FrameType.RST_STREAM],
    'reset without it',
  );
  t.same(seen, [], 'the server never saw that request');
  t.same(
    await requestFrameTypes(t, wrapped, 'http://127.0.0.1:2379'),
    [FrameType.HEADERS, FrameType.DATA],
    'answered with it',
  );
  t.same(await requestFrameTypes(t, wrapped, '127.0.0.1:2379'), [FrameType.HEADERS, FrameType.DATA]);
  t.same(seen, ['127.0.0.1:2379', '127.0.0.1:2379']);
});

t.test('client bytes arrive whole under backpressure; server bytes and end reach the client', async (t) => {
  let wrapped: RewritingSocket | undefined;
  const port = await listen(t, (socket) => {
    wrapped = new RewritingSocket(socket);
  });
  const client = await connect(t, port);
  const payload = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) >> 8;
  const sent = Buffer.concat([
    HTTP2_PREFACE,
    frame(FrameType.SETTINGS, 0, 0),
    frame(FrameType.DATA, 0, 1, payload),
  ]);
  client.write(sent);
  await eventually(() => wrapped?.socket.isPaused() === true, 5000, 'socket paused while nobody reads');
  const stand = wrapped;
  if (stand === undefined) throw new Error('no connection');
  t.ok(stand.readableLength < sent.length, 'only a bounded part is buffered');

  const fromServer: Buffer[] = [];
  client.on('data', (d) => fromServer.push(d));
  const clientEnded = new Promise<void>((resolve) => client.once('end', resolve));
  stand.write(Buffer.from('server says hi'));
  const chunks: Buffer[] = [];
  stand.on('data', (d: Buffer) => {
    chunks.push(d);
    if (Buffer.concat(chunks).length === sent.length) client.end();
  });
  await new Promise<void>((resolve) => stand.once('end', resolve));
  t.ok(Buffer.concat(chunks).equals(sent), 'every byte, in order');
  stand.end();
  await clientEnded;
  t.equal(Buffer.concat(fromServer).toString(), 'server says hi');
});

t.test('closing either side closes the other', async (t) => {
  const wrapped: RewritingSocket[] = [];
  const port = await listen(t, (socket) => wrapped.push(new RewritingSocket(socket)));

  const a = await connect(t, port);
  await eventually(() => wrapped.length === 1);
  const aClosed = new Promise<void>((resolve) => a.once('close', () => resolve()));
  wrapped[0]?.destroy();
  await aClosed;
  t.pass('destroying the stand-in closes the client connection');

  const b = await connect(t, port);
  await eventually(() => wrapped.length === 2);
  const standClosed = new Promise<void>((resolve) => wrapped[1]?.once('close', () => resolve()));
  b.destroy();
  await standClosed;
  t.ok(wrapped[1]?.destroyed, 'the client going away destroys the stand-in');
});
