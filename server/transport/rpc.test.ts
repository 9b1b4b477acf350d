// Proves request/response between members: values (bytes included) round-trip, concurrent
// requests are matched to their own responses, a remote failure arrives with the remote message
// and code, and every request ends exactly once on timeout, unreachable or removed peer, lost
// connection, a full budget, or stop; nothing is left pending.

import t from 'tap';
import { isTransportError, TransportError } from './errors.js';
import { deadUrl, startCluster, startMember, until } from './testing/harness.js';

function outcome(p: Promise<unknown>): Promise<{ value: unknown } | { error: TransportError }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => {
      if (!(error instanceof TransportError)) throw error;
      return { error };
    },
  );
}

t.test('a request returns the handler result, bytes as Uint8Array', async (t) => {
  const [a] = await startCluster(t, 2, {
    onRequest: async (from, body) => ({ from, echo: body, bytes: new Uint8Array([4, 5]) }),
  });
  const result = (await a!.transport.request(
    2,
    { op: 'keepAlive', id: 7, raw: new Uint8Array([1]) },
    2000,
  )) as {
    from: number;
    echo: { raw: Uint8Array };
    bytes: Uint8Array;
  };
  t.same(result, {
    from: 1,
    echo: { op: 'keepAlive', id: 7, raw: new Uint8Array([1]) },
    bytes: new Uint8Array([4, 5]),
  });
  t.equal(Object.getPrototypeOf(result.bytes), Uint8Array.prototype);
  t.equal(a!.transport.stats().pendingRequests, 0);
});

t.test('concurrent requests each get their own response', async (t) => {
  const [a] = await startCluster(t, 2, {
    // Answer out of order: later requests first.
    onRequest: (_from, body) =>
      new Promise((resolve) => setTimeout(() => resolve((body as number) * 2), 50 - (body as number) / 4)),
  });
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => a!.transport.request(2, i, 5000)));
  t.same(
    results,
    Array.from({ length: 200 }, (_, i) => i * 2),
  );
});

t.test('a remote failure carries the remote message and code', async (t) => {
  const [a] = await startCluster(t, 2, {
    onRequest: async (_from, body) => {
      if (body === 'coded')
        throw Object.assign(new Error('etcdserver: requested lease not found'), { code: 'LEASE_NOT_FOUND' });
      throw new Error('plain failure');
    },
  });
  const coded = await outcome(a!.transport.request(2, 'coded', 2000));
  t.match(coded, {
    error: {
      code: 'REMOTE',
      message: 'etcdserver: requested lease not found',
      remoteCode: 'LEASE_NOT_FOUND',
    },
  });
  const plain = await outcome(a!.transport.request(2, 'plain', 2000));
  t.match(plain, { error: { code: 'REMOTE', message: 'plain failure', remoteCode: undefined } });
});

t.test('a peer without a handler answers NOT_SUPPORTED', async (t) => {
  const [a] = await startCluster(t, 2);
  t.match(await outcome(a!.transport.request(2, 'x', 2000)), {
    error: { code: 'REMOTE', remoteCode: 'NOT_SUPPORTED' },
  });
});

t.test('an unanswered request times out and frees its slot; a late answer is ignored', async (t) => {
  let answerLate: ((v: unknown) => void) | null = null;
  const [a] = await startCluster(t, 2, {
    onRequest: (_from, body) =>
      body === 'slow'
        ? new Promise((resolve) => (answerLate = resolve))
        : Promise.resolve(`answer to ${body}`),
  });
  const started = Date.now();
  t.match(await outcome(a!.transport.request(2, 'slow', 100)), { error: { code: 'TIMEOUT' } });
  t.ok(Date.now() - started >= 90, 'not before its deadline');
  t.equal(a!.transport.stats().pendingRequests, 0);
  answerLate!('too late');
  t.equal(
    await a!.transport.request(2, 'next', 2000),
    'answer to next',
    'the late answer is not mistaken for it',
  );
});

t.test('unknown, unreachable and removed peers fail fast with their code', async (t) => {
  const [a, b] = await startCluster(t, 2, { onRequest: () => new Promise(() => {}) });
  t.match(await outcome(a!.transport.request(9, 'x', 1000)), { error: { code: 'UNKNOWN_PEER' } });
  a!.transport.setPeer(3, [await deadUrl()]);
  t.match(await outcome(a!.transport.request(3, 'x', 5000)), {
    error: { code: 'UNREACHABLE', message: /ECONNREFUSED/ },
  });
  a!.transport.setPeer(4, []);
  t.match(await outcome(a!.transport.request(4, 'x', 5000)), {
    error: { code: 'UNREACHABLE', message: /no URLs/ },
  });
  const pending = outcome(a!.transport.request(2, 'x', 5000));
  await until(
    () => a!.transport.stats().pendingRequests === 1 && b!.transport.stats().openSockets >= 2,
    'in flight',
  );
  a!.transport.removePeer(2);
  t.match(await pending, { error: { code: 'UNKNOWN_PEER', message: /removed/ } });
  t.equal(a!.transport.stats().pendingRequests, 0);
  t.match(await outcome(a!.transport.request(2, 'x', 1000)), { error: { code: 'UNKNOWN_PEER' } });
});

t.test('a lost connection fails the requests sent on it; the next request redials', async (t) => {
  const a = await startMember(t, 1);
  let arrived = false;
  const b = await startMember(t, 2, {
    onRequest: () => {
      arrived = true;
      return new Promise(() => {});
    },
  });
  a.transport.setPeer(2, [b.url]);
  b.transport.setPeer(1, [a.url]);
  const pending = outcome(a.transport.request(2, 'x', 5000));
  await until(() => arrived, 'the request reached b');
  await b.transport.stop();
  t.match(await pending, { error: { code: 'UNREACHABLE', message: /connection lost/ } });
  const b2 = await startMember(t, 2, { listenUrls: [b.url], onRequest: async () => 'back' });
  b2.transport.setPeer(1, [a.url]);
  t.equal(await a.transport.request(2, 'x', 5000), 'back');
});

t.test('outstanding requests are bounded; served requests per connection too', async (t) => {
  const [a] = await startCluster(t, 2, { maxPendingRequests: 2, onRequest: () => new Promise(() => {}) });
  const first = outcome(a!.transport.request(2, 1, 300));
  const second = outcome(a!.transport.request(2, 2, 300));
  t.match(await outcome(a!.transport.request(2, 3, 300)), { error: { code: 'TOO_MANY_REQUESTS' } });
  t.match(await first, { error: { code: 'TIMEOUT' } });
  t.match(await second, { error: { code: 'TIMEOUT' } });
  // The server side refuses a third concurrent request on one connection with the same code.
  const x = await startMember(t, 10, { maxPendingRequests: 4 });
  const y = await startMember(t, 11, { maxPendingRequests: 2, onRequest: () => new Promise(() => {}) });
  x.transport.setPeer(11, [y.url]);
  y.transport.setPeer(10, [x.url]);
  const results = await Promise.all([1, 2, 3].map((i) => outcome(x.transport.request(11, i, 500))));
  t.match(results[2], { error: { code: 'REMOTE', remoteCode: 'TOO_MANY_REQUESTS' } });
});

t.test('requests and responses above maxFrameBytes are refused, not sent', async (t) => {
  const opts = { maxFrameBytes: 2 * 1024 * 1024, snapshotChunkBytes: 1024 * 1024 };
  const [a] = await startCluster(t, 2, { ...opts, onRequest: async () => new Uint8Array(3 * 1024 * 1024) });
  t.match(await outcome(a!.transport.request(2, new Uint8Array(3 * 1024 * 1024), 1000)), {
    error: { code: 'FRAME_TOO_LARGE' },
  });
  t.match(await outcome(a!.transport.request(2, 'small', 1000)), {
    error: { code: 'REMOTE', remoteCode: 'BAD_FRAME', message: /response not sendable/ },
  });
  t.match(
    await outcome(a!.transport.request(2, 2n ** 70n, 1000)),
    { error: { code: 'BAD_FRAME' } },
    'unencodable',
  );
  t.match(await outcome(a!.transport.request(2, 'x', 0)), { error: { code: 'BAD_OPTION' } });
  t.ok(isTransportError(new TransportError('TIMEOUT'), 'TIMEOUT'));
});
