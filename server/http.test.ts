// Proves /health, /metrics and /version answer with etcd's status codes and JSON shapes, that other
// paths and methods are refused, that a failing handler answers 500 and the server keeps serving, and
// that the routes can listen on URLs, ride on a given server, or sit on an unbound one.

import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import t, { type Test } from 'tap';
import { parseUrl } from './config.js';
import { type HealthReport, type HttpEndpointsOptions, startHttpEndpoints } from './http.js';
import { ServerMetrics } from './metrics.js';

const VERSION = { etcdserver: '3.4.0', etcdcluster: '3.4.0', netcd: '0.1.0' };
const LOOPBACK_ANY_PORT = parseUrl('test', 'http://127.0.0.1:0', true);

function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

interface Reply {
  status: number;
  type: string | null;
  allow: string | null;
  body: string;
}

async function request(base: string, path: string, method = 'GET'): Promise<Reply> {
  const r = await fetch(base + path, { method });
  return {
    status: r.status,
    type: r.headers.get('content-type'),
    allow: r.headers.get('allow'),
    body: await r.text(),
  };
}

async function start(
  t: Test,
  overrides: Partial<HttpEndpointsOptions> = {},
): Promise<{ base: string; lines: Array<Record<string, unknown>>; metrics: ServerMetrics }> {
  const { logger, lines } = capturingLogger();
  const metrics = new ServerMetrics({ processMetrics: false });
  const endpoints = await startHttpEndpoints({
    urls: [LOOPBACK_ANY_PORT],
    health: async () => ({ health: true, reason: '' }),
    metrics,
    version: VERSION,
    logger,
    ...overrides,
  });
  t.teardown(() => endpoints.close());
  const address = endpoints.addresses[0];
  if (address === undefined) throw new Error('no address');
  return { base: address.url, lines, metrics };
}

t.test('GET /health answers 200 with etcd JSON when healthy and 503 with the reason when not', async (t) => {
  let report: HealthReport = { health: true, reason: '' };
  const { base } = await start(t, { health: async () => report });
  t.same(await request(base, '/health'), {
    status: 200,
    type: 'application/json',
    allow: null,
    body: '{"health":"true","reason":""}',
  });
  report = { health: false, reason: 'RAFT NO LEADER' };
  t.same(await request(base, '/health'), {
    status: 503,
    type: 'application/json',
    allow: null,
    body: '{"health":"false","reason":"RAFT NO LEADER"}',
  });
  report = { health: true, reason: 'ignored when healthy' };
  t.equal((await request(base, '/health?serializable=true')).body, '{"health":"true","reason":""}');
});

t.test('GET /metrics answers the Prometheus text of the member registry', async (t) => {
  const { base, metrics } = await start(t);
  metrics.hasLeader.set(1);
  const r = await request(base, '/metrics');
  t.equal(r.status, 200);
  t.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8');
  t.equal(r.body, await metrics.text());
  t.ok(r.body.split('\n').includes('etcd_server_has_leader 1'));
});

t.test('GET /version answers etcd fields plus netcd', async (t) => {
  const { base } = await start(t);
  t.same(await request(base, '/version'), {
    status: 200,
    type: 'application/json',
    allow: null,
    body: '{"etcdserver":"3.4.0","etcdcluster":"3.4.0","netcd":"0.1.0"}',
  });
});

t.test('other paths are 404, other methods 405 with Allow, HEAD has headers only', async (t) => {
  const { base } = await start(t);
  t.same(await request(base, '/'), {
    status: 404,
    type: 'text/plain; charset=utf-8',
    allow: null,
    body: '404 page not found\n',
  });
  t.equal((await request(base, '/healthz')).status, 404);
  t.equal((await request(base, '/toString')).status, 404, 'object prototype names are not routes');
  t.equal((await request(base, '/v2/keys')).status, 404);
  t.same(await request(base, '/health', 'POST'), {
    status: 405,
    type: 'text/plain; charset=utf-8',
    allow: 'GET, HEAD',
    body: 'Method Not Allowed\n',
  });
  t.same(await request(base, '/version', 'HEAD'), {
    status: 200,
    type: 'application/json',
    allow: null,
    body: '',
  });
});

t.test('a failing handler answers 500, is logged, and the server keeps serving', async (t) => {
  let fail = true;
  const { base, lines, metrics } = await start(t, {
    health: async () => {
      if (fail) throw new Error('backend closed');
      return { health: true, reason: '' };
    },
  });
  t.same(await request(base, '/health'), {
    status: 500,
    type: 'text/plain; charset=utf-8',
    allow: null,
    body: 'Internal Server Error\n',
  });
  const logged = lines.find((l) => l.msg === 'HTTP endpoint failed');
  t.equal(logged?.path, '/health');
  t.match(logged?.err, { message: 'backend closed' });
  const remove = metrics.onCollect(() => {
    throw new Error('collector broke');
  });
  t.equal((await request(base, '/metrics')).status, 500);
  remove();
  fail = false;
  t.equal((await request(base, '/health')).status, 200);
  t.equal((await request(base, '/metrics')).status, 200);
});

t.test('routes ride on a given server; close detaches them and leaves the server to its owner', async (t) => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const { logger } = capturingLogger();
  const endpoints = await startHttpEndpoints({
    urls: server,
    health: async () => ({ health: true, reason: '' }),
    metrics: new ServerMetrics({ processMetrics: false }),
    version: VERSION,
    logger,
  });
  t.same(endpoints.servers, [server]);
  t.same(endpoints.addresses, []);
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  t.equal((await request(base, '/health')).status, 200);
  await endpoints.close();
  await endpoints.close();
  t.equal(server.listening, true);
  t.equal(server.listenerCount('request'), 0);
});

t.test('without urls the server does not listen and serves connections handed to it', async (t) => {
  const { logger } = capturingLogger();
  const endpoints = await startHttpEndpoints({
    health: async () => ({ health: true, reason: '' }),
    metrics: new ServerMetrics({ processMetrics: false }),
    version: VERSION,
    logger,
    idleTimeoutMs: 1234,
  });
  t.teardown(() => endpoints.close());
  const [server] = endpoints.servers;
  if (server === undefined) throw new Error('no server');
  t.equal(server.listening, false);
  t.equal(server.timeout, 1234);
  const front = net.createServer((socket) => server.emit('connection', socket));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => front.close(() => r())));
  const address = front.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  t.equal((await request(`http://127.0.0.1:${port}`, '/version')).status, 200);
});

t.test(
  'several URLs get one server each; a busy port rejects with EADDRINUSE and closes the rest',
  async (t) => {
    const { base } = await start(t);
    const busy = parseUrl('test', base, true);
    const { logger } = capturingLogger();
    const common = {
      health: async () => ({ health: true, reason: '' }),
      metrics: new ServerMetrics({ processMetrics: false }),
      version: VERSION,
      logger,
    };
    const two = await startHttpEndpoints({ ...common, urls: [LOOPBACK_ANY_PORT, LOOPBACK_ANY_PORT] });
    t.teardown(() => two.close());
    t.equal(two.servers.length, 2);
    t.not(two.addresses[0]?.port, two.addresses[1]?.port);
    for (const a of two.addresses) t.equal((await request(a.url, '/health')).status, 200);

    const free = await startHttpEndpoints({ ...common, urls: [LOOPBACK_ANY_PORT] });
    const freedPort = free.addresses[0]?.port ?? 0;
    await free.close();
    await t.rejects(
      startHttpEndpoints({
        ...common,
        urls: [parseUrl('test', `http://127.0.0.1:${freedPort}`, true), busy],
      }),
      {
        name: 'ListenError',
        code: 'EADDRINUSE',
        message: `cannot listen on ${busy.url}: address already in use (EADDRINUSE)`,
      },
    );
    const again = await startHttpEndpoints({
      ...common,
      urls: [parseUrl('test', `http://127.0.0.1:${freedPort}`, true)],
    });
    t.teardown(() => again.close());
    t.equal(again.addresses[0]?.port, freedPort, 'the first URL was released when the second failed');
  },
);
