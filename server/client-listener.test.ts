// Proves one client port serves a real grpc-js server and the HTTP endpoints side by side, that the
// HTTP/2 preface decides the route even when it arrives in pieces, that gRPC requests whose
// :authority is a URL (etcdctl's `http://host:port`) are answered instead of reset, that garbage
// and silent connections are closed without crashing or leaking, and that close() leaves nothing
// open.

import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import t, { type Test } from 'tap';
import { Prng } from '../raft/prng.js';
import {
  type ClientListener,
  classifyConnection,
  HTTP2_PREFACE,
  startClientListener,
} from './client-listener.js';
import { type ParsedURL, parseUrl } from './config.js';
import { startHttpEndpoints } from './http.js';
import { FrameFlag, FrameType } from './http2/frames.js';
import { HpackDecoder } from './http2/hpack.js';
import {
  clientEncoder,
  type Frame,
  field,
  frame,
  grpcConnectionBytes,
  grpcRequestHeaders,
  parseFrames,
} from './http2/testing.js';
import { ServerMetrics } from './metrics.js';

const ECHO_PATH = '/netcd.test.Echo/Echo';
const raw = (b: Buffer): Buffer => b;
const ECHO_SERVICE: grpc.ServiceDefinition = {
  Echo: {
    path: ECHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
    originalName: 'echo',
  },
};
const ANY_PORT = parseUrl('test', 'http://127.0.0.1:0', true);
const silent = pino({ level: 'silent' });

interface Fixture {
  listener: ClientListener;
  grpcServer: grpc.Server;
  url: ParsedURL;
}

type EchoHandler = (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => void;

const prefixEcho: EchoHandler = (call, cb) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));

async function startFixture(
  t: Test,
  overrides: { sniffTimeoutMs?: number; urls?: ParsedURL[]; echo?: EchoHandler } = {},
) {
  const grpcServer = new grpc.Server();
  grpcServer.addService(ECHO_SERVICE, { Echo: overrides.echo ?? prefixEcho });
  t.teardown(() => grpcServer.forceShutdown());
  const http = await startHttpEndpoints({
    health: async () => ({ health: true, reason: '' }),
    metrics: new ServerMetrics({ processMetrics: false }),
    version: { etcdserver: '3.4.0', etcdcluster: '3.4.0', netcd: '0.1.0' },
    logger: silent,
  });
  t.teardown(() => http.close());
  const [httpServer] = http.servers;
  if (httpServer === undefined) throw new Error('no http server');
  const listener = await startClientListener({
    urls: overrides.urls ?? [ANY_PORT],
    grpcServer,
    httpServer,
    logger: silent,
    ...(overrides.sniffTimeoutMs === undefined ? {} : { sniffTimeoutMs: overrides.sniffTimeoutMs }),
  });
  t.teardown(() => listener.close());
  const url = listener.addresses[0];
  if (url === undefined) throw new Error('no address');
  return { listener, grpcServer, url } satisfies Fixture;
}

function echoClient(t: Test, url: ParsedURL): (text: string) => Promise<string> {
  const client = new grpc.Client(url.url.replace('http://', ''), grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  return (text) =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(ECHO_PATH, raw, raw, Buffer.from(text), (err, value) => {
        if (err !== null) reject(err);
        else resolve(value?.toString() ?? '');
      });
    });
}

async function getText(url: ParsedURL, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url.url + path);
  return { status: r.status, body: await r.text() };
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** Opens a raw connection, sends `parts` one by one, and resolves with what the server sent before closing. */
function rawExchange(url: ParsedURL, parts: Buffer[], gapMs = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(url.port, url.host);
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(received)));
    socket.on('connect', async () => {
      for (const p of parts) {
        socket.write(p);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

function garbage(seed: number, bytes: number): Buffer {
  const prng = new Prng(seed);
  return Buffer.from(Array.from({ length: bytes }, () => prng.nextU32() & 0xff));
}

t.test('classifyConnection decides on the HTTP/2 preface, byte by byte', async (t) => {
  t.equal(classifyConnection(Buffer.alloc(0)), undefined);
  t.equal(classifyConnection(HTTP2_PREFACE.subarray(0, 1)), undefined);
  t.equal(classifyConnection(HTTP2_PREFACE.subarray(0, 23)), undefined);
  t.equal(classifyConnection(HTTP2_PREFACE), 'grpc');
  t.equal(classifyConnection(Buffer.concat([HTTP2_PREFACE, Buffer.from([0, 0, 0, 4])])), 'grpc');
  t.equal(classifyConnection(Buffer.from('G')), 'http');
  t.equal(classifyConnection(Buffer.from('PRI * HTTP/1.1')), 'http');
  t.equal(classifyConnection(Buffer.from('POST /etcdserverpb.KV/Range HTTP/1.1')), 'http');
});

t.test('gRPC calls and HTTP requests share one port', async (t) => {
  const { url } = await startFixture(t);
  const echo = echoClient(t, url);
  for (let i = 0; i < 3; i++) {
    t.equal(await echo(`call ${i}`), `echo:call ${i}`);
    t.same(await getText(url, '/health'), { status: 200, body: '{"health":"true","reason":""}' });
  }
  t.same(await getText(url, '/version'), {
    status: 200,
    body: '{"etcdserver":"3.4.0","etcdcluster":"3.4.0","netcd":"0.1.0"}',
  });
  t.equal((await getText(url, '/metrics')).status, 200);
  t.equal((await getText(url, '/nope')).status, 404);
  const pipelined = await rawExchange(url, [
    Buffer.from(
      'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ),
  ]);
  t.same(
    pipelined.toString('latin1').match(/HTTP\/1\.1 \d{3} [A-Za-z ]+/g),
    ['HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found'],
    'two requests in the first packet are both answered',
  );
  const big = 'x'.repeat(1 << 20);
  t.equal(await echo(big), 'echo:' + big, 'a 1 MiB message crosses the injected connection intact');
});

t.test('every listen URL serves both protocols', async (t) => {
  const { listener } = await startFixture(t, { urls: [ANY_PORT, parseUrl('test', 'http://[::1]:0', true)] });
  t.equal(listener.addresses.length, 2);
  t.match(listener.addresses[1]?.url ?? '', /^http:\/\/\[::1\]:\d+$/);
  for (const url of listener.addresses) {
    t.equal(await echoClient(t, url)('hi'), 'echo:hi');
    t.equal((await getText(url, '/health')).status, 200);
  }
});

t.test('a preface that arrives in pieces still reaches the gRPC server', async (t) => {
  const { url } = await startFixture(t);
  const probe = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect(url.port, url.host);
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const [from, to] of [
        [0, 5],
        [5, 20],
        [20, 24],
      ]) {
        socket.write(HTTP2_PREFACE.subarray(from, to));
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d);
    });
  });
  // An HTTP/2 server answers the preface with a SETTINGS frame (type 4) before anything else.
  t.equal(probe[3], 4, 'the first frame from the server is SETTINGS');
});

interface StreamResult {
  headers: Record<string, string>[];
  data: Buffer;
  reset: boolean;
}

/**
 * Sends `bytes` (a whole client connection) on a raw socket and reads the server's frames until
 * every stream in `streamIds` ended (trailers, or RST_STREAM) or the connection closed.
 */
function rawGrpcExchange(
  port: number,
  bytes: Buffer,
  streamIds: number[],
): Promise<Map<number, StreamResult>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const decoder = new HpackDecoder();
    const results = new Map<number, StreamResult>(
      streamIds.map((id) => [id, { headers: [], data: Buffer.alloc(0), reset: false }]),
    );
    const ended = new Set<number>();
    let received = Buffer.alloc(0);
    const finish = () => {
      socket.destroy();
      resolve(results);
    };
    const onFrame = (f: Frame) => {
      const result = results.get(f.streamId);
      if (result === undefined) return;
      if (f.type === FrameType.HEADERS) {
        result.headers.push(Object.fromEntries(decoder.decode(f.payload).map((h) => [h.name, h.value])));
      } else if (f.type === FrameType.DATA) {
        result.data = Buffer.concat([result.data, f.payload]);
      } else if (f.type === FrameType.RST_STREAM) {
        result.reset = true;
        ended.add(f.streamId);
      }
      if (f.type === FrameType.HEADERS && f.flags & FrameFlag.END_STREAM) ended.add(f.streamId);
    };
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      const { frames, bytes: used } = parseFrames(received);
      received = received.subarray(used);
      for (const f of frames) onFrame(f);
      if (ended.size === streamIds.length) finish();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(results));
    socket.on('connect', () => socket.write(bytes));
  });
}

/** A grpc-js server on its own port, without the client listener in front. */
async function startBareGrpcServer(t: Test): Promise<number> {
  const grpcServer = new grpc.Server();
  grpcServer.addService(ECHO_SERVICE, { Echo: prefixEcho });
  t.teardown(() => grpcServer.forceShutdown());
  return new Promise((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
      err === null ? resolve(port) : reject(err),
    ),
  );
}

t.test(
  "gRPC requests whose :authority is a URL are answered, not reset (etcdctl's dial target)",
  async (t) => {
    const { url } = await startFixture(t);
    const authority = `http://127.0.0.1:${url.port}`;
    const calls = [0, 1, 2].map((i) => ({
      headers: grpcRequestHeaders(authority, ECHO_PATH, [field('x-call', String(i))]),
      message: Buffer.from(`raw ${i}`),
    }));
    const bytes = grpcConnectionBytes(clientEncoder(), calls);
    const streams = [1, 3, 5];

    const bare = await rawGrpcExchange(await startBareGrpcServer(t), bytes, streams);
    t.same(
      streams.map((id) => bare.get(id)?.reset),
      [true, true, true],
      'grpc-js on its own resets every such stream (nghttp2 refuses the authority)',
    );

    const results = await rawGrpcExchange(url.port, bytes, streams);
    for (const [i, id] of streams.entries()) {
      const r = results.get(id);
      t.equal(r?.reset, false, `stream ${id} not reset`);
      t.equal(r?.headers[0]?.[':status'], '200');
      t.equal(r?.headers[1]?.['grpc-status'], '0', `stream ${id} trailers say OK`);
      t.equal(r?.data.subarray(5).toString(), `echo:raw ${i}`, `stream ${id} echoed`);
    }
  },
);

t.test(
  'a connection that breaks HPACK after its authority was rewritten is closed; the port keeps serving',
  async (t) => {
    const { listener, url } = await startFixture(t);
    const good = grpcConnectionBytes(clientEncoder(), [
      { headers: grpcRequestHeaders(`http://127.0.0.1:${url.port}`, ECHO_PATH), message: Buffer.from('ok') },
    ]);
    const broken = Buffer.concat([
      good,
      frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 3, Buffer.from([0xff, 0x80])),
    ]);
    const results = await rawGrpcExchange(url.port, broken, [1, 3]);
    t.same(results.get(3)?.headers, [], 'the broken request is not answered');
    t.ok(await eventually(() => listener.connectionCount === 0), 'the connection is closed');
    t.equal(await echoClient(t, url)('after'), 'echo:after');
  },
);

t.test(
  'a grpc-js client dialing with a URL authority works through the listener, call after call',
  async (t) => {
    const seen: { authority: string; call: string | undefined }[] = [];
    const { url } = await startFixture(t, {
      echo: (call, cb) => {
        seen.push({
          authority: call.getHost(),
          call: call.metadata.get('x-call')[0]?.toString(),
        });
        cb(null, call.request);
      },
    });
    const client = new grpc.Client(url.url.replace('http://', ''), grpc.credentials.createInsecure(), {
      'grpc.default_authority': url.url,
    });
    t.teardown(() => client.close());
    const call = (i: number) =>
      new Promise<string>((resolve, reject) => {
        const metadata = new grpc.Metadata();
        metadata.set('x-call', String(i));
        client.makeUnaryRequest(ECHO_PATH, raw, raw, Buffer.from(`m${i}`), metadata, (err, value) =>
          err === null ? resolve(value?.toString() ?? '') : reject(err),
        );
      });
    for (let i = 0; i < 5; i++) t.equal(await call(i), `m${i}`);
    const parallel = await Promise.all(Array.from({ length: 20 }, (_, i) => call(100 + i)));
    t.same(
      parallel,
      Array.from({ length: 20 }, (_, i) => `m${100 + i}`),
    );
    t.same(
      seen.slice(0, 5).map((s) => s.call),
      ['0', '1', '2', '3', '4'],
      'metadata arrives intact',
    );
    t.same(
      new Set(seen.map((s) => s.authority)),
      new Set([`127.0.0.1:${url.port}`]),
      'the server sees the authority without its scheme',
    );
  },
);

t.test('garbage is answered or dropped, never crashes, and leaves no connection behind', async (t) => {
  const { listener, url } = await startFixture(t);
  const httpGarbage = await rawExchange(url, [garbage(1, 1000)]);
  t.equal(httpGarbage.toString('latin1').split('\r\n')[0], 'HTTP/1.1 400 Bad Request');
  const h2Garbage = await rawExchange(url, [Buffer.concat([HTTP2_PREFACE, garbage(2, 1000)])]);
  t.ok(h2Garbage.length >= 9, 'the HTTP/2 server answered before closing');
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      rawExchange(url, [
        i % 2 === 0 ? garbage(100 + i, 1000) : Buffer.concat([HTTP2_PREFACE, garbage(100 + i, 1000)]),
      ]),
    ),
  );
  t.ok(await eventually(() => listener.connectionCount === 0), 'every garbage connection is gone');
  t.equal(await echoClient(t, url)('still here'), 'echo:still here');
  t.equal((await getText(url, '/health')).status, 200);
});

t.test('a connection that sends nothing is closed after the sniff timeout', async (t) => {
  const { listener, url } = await startFixture(t, { sniffTimeoutMs: 50 });
  const started = Date.now();
  const got = await rawExchange(url, []);
  t.equal(got.length, 0);
  t.ok(Date.now() - started >= 40, 'not before the timeout');
  t.ok(await eventually(() => listener.connectionCount === 0));
  const partial = await rawExchange(url, [HTTP2_PREFACE.subarray(0, 10)]);
  t.equal(partial.length, 0, 'an unfinished preface is closed too');
});

t.test('close() stops accepting and closes open gRPC and HTTP connections', async (t) => {
  const { listener, url } = await startFixture(t);
  const echo = echoClient(t, url);
  t.equal(await echo('a'), 'echo:a');
  const idleHttp = net.connect(url.port, url.host);
  const httpClosed = new Promise<void>((r) => idleHttp.on('close', () => r()));
  idleHttp.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((r) => idleHttp.once('data', r));
  t.equal(listener.connectionCount, 2, 'one gRPC and one HTTP connection');
  await listener.close();
  await httpClosed;
  t.equal(listener.connectionCount, 0);
  await t.rejects(echo('b'), { code: grpc.status.UNAVAILABLE });
  await t.rejects(
    new Promise((resolve, reject) =>
      net.connect(url.port, url.host).on('connect', resolve).on('error', reject),
    ),
    { code: 'ECONNREFUSED' },
  );
  await listener.close();
});

t.test('close() with grace lets calls in flight finish', async (t) => {
  let release: (() => void) | undefined;
  const { listener, url } = await startFixture(t, {
    echo: (call, cb) => {
      release = () => cb(null, call.request);
    },
  });
  const inFlight = echoClient(t, url)('slow');
  t.ok(await eventually(() => release !== undefined), 'the call reached the server');
  const closed = listener.close({ graceMs: 5000 });
  release?.();
  t.equal(await inFlight, 'slow');
  await closed;
  t.equal(listener.connectionCount, 0);
});

t.test('a busy port and https URLs are refused with clear errors', async (t) => {
  const { url } = await startFixture(t);
  const grpcServer = new grpc.Server();
  t.teardown(() => grpcServer.forceShutdown());
  const http = await startHttpEndpoints({
    health: async () => ({ health: true, reason: '' }),
    metrics: new ServerMetrics({ processMetrics: false }),
    version: { etcdserver: '3.4.0', etcdcluster: '3.4.0', netcd: '0.1.0' },
    logger: silent,
  });
  t.teardown(() => http.close());
  const httpServer = http.servers[0];
  if (httpServer === undefined) throw new Error('no server');
  await t.rejects(startClientListener({ urls: [ANY_PORT, url], grpcServer, httpServer, logger: silent }), {
    name: 'ListenError',
    code: 'EADDRINUSE',
    url: url.url,
    message: `cannot listen on ${url.url}: address already in use (EADDRINUSE)`,
  });
  await t.rejects(
    startClientListener({
      urls: [parseUrl('test', 'https://127.0.0.1:0', true)],
      grpcServer,
      httpServer,
      logger: silent,
    }),
    { message: 'cannot serve https://127.0.0.1:0: TLS on the client port is not implemented yet' },
  );
  await t.rejects(startClientListener({ urls: [], grpcServer, httpServer, logger: silent }), {
    message: 'no client URLs to listen on',
  });
});
