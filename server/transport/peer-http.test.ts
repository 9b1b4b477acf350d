// Proves the peer port's HTTP side: GET /members answers the membership as JSON (503 until it is
// known), other paths and methods get 404/405, an oversized request head gets 431, and framed
// peer traffic on the same port is unaffected.

import { connect } from 'node:net';
import t from 'tap';
import { message } from '../../raft/index.js';
import { looksLikeHttp, MEMBERS_PATH } from './peer-http.js';
import { startCluster, startMember, until } from './testing/harness.js';

const info = { clusterId: 0xc1, members: [{ id: 1, name: 'a', peerURLs: ['http://127.0.0.1:1'] }] };

t.test('GET /members answers the membership as JSON, beside framed peer traffic', async (t) => {
  let known: typeof info | null = null;
  const [a, b] = await startCluster(t, 2, { clusterInfo: () => known });
  const before = await fetch(new URL(MEMBERS_PATH, b!.url));
  t.equal(before.status, 503, 'not known yet');
  t.match(await before.json(), { error: /not known/ });
  known = info;
  const res = await fetch(new URL(MEMBERS_PATH, b!.url));
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'application/json');
  t.same(await res.json(), info);
  a!.transport.send([message({ type: 'heartbeat', from: 1, to: 2, commit: 4 })]);
  await until(() => b!.received.length === 1, 'raft traffic on the same port');
});

t.test('other paths, other methods, no provider and oversized heads get HTTP errors', async (t) => {
  const a = await startMember(t, 1, { clusterInfo: () => info });
  t.equal((await fetch(new URL('/version', a.url))).status, 404);
  t.equal((await fetch(new URL(MEMBERS_PATH, a.url), { method: 'POST', body: 'x' })).status, 405);
  const throwing = await startMember(t, 2, {
    clusterInfo: () => {
      throw new Error('boom');
    },
  });
  t.equal((await fetch(new URL(MEMBERS_PATH, throwing.url))).status, 503);
  const none = await startMember(t, 3);
  t.equal((await fetch(new URL(MEMBERS_PATH, none.url))).status, 503, 'no provider: 503');

  const { port } = new URL(a.url);
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port) }, () => {
      socket.write(`GET ${MEMBERS_PATH} HTTP/1.1\r\nX-Pad: ${'x'.repeat(10_000)}`);
    });
    let text = '';
    socket.on('data', (d) => {
      text += d.toString();
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  t.match(reply, /^HTTP\/1.1 431 /);
});

t.test('only HTTP method prefixes are taken for HTTP', async (t) => {
  t.ok(looksLikeHttp(Buffer.from('GET /members HTTP/1.1\r\n')));
  t.ok(looksLikeHttp(Buffer.from('HEAD / HTTP/1.1')));
  t.notOk(looksLikeHttp(new Uint8Array([0, 0, 0, 40, 0x86])), 'a frame header');
  t.notOk(looksLikeHttp(Buffer.from('GE')), 'too short to tell');
});
