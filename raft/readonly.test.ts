// Proves the ReadIndex queue: requests keyed by context, acks per request, release in arrival order.

import t from 'tap';
import { contextKey, ReadOnly } from './readonly.js';
import { type Message, message } from './types.js';

const ctx = (s: string): Uint8Array => new TextEncoder().encode(s);
const req = (s: string, from = 1): Message => message({ type: 'readIndex', from, context: ctx(s) });

t.test('contextKey is a lossless hex key', async (t) => {
  t.equal(contextKey(new Uint8Array([0, 1, 255])), '0001ff');
  t.equal(contextKey(new Uint8Array()), '');
  t.not(contextKey(new Uint8Array([1, 0])), contextKey(new Uint8Array([16])));
});

t.test('addRequest queues once per context and remembers the commit index', async (t) => {
  const ro = new ReadOnly('safe');
  t.equal(ro.lastPendingRequestContext(), null);
  ro.addRequest(5, req('a'));
  ro.addRequest(7, req('a'));
  t.equal(ro.pendingCount, 1, 'a duplicate context is ignored');
  ro.addRequest(6, req('b'));
  t.equal(ro.pendingCount, 2);
  t.same([...ro.lastPendingRequestContext()!], [...ctx('b')]);
  const done = ro.advance(ctx('a'));
  t.same(
    done.map((rs) => rs.index),
    [5],
    'the first index recorded is kept',
  );
});

t.test('recvAck accumulates distinct acks per request; unknown contexts give null', async (t) => {
  const ro = new ReadOnly('safe');
  ro.addRequest(5, req('a'));
  t.equal(ro.recvAck(2, ctx('zz')), null);
  t.same([...ro.recvAck(1, ctx('a'))!.keys()], [1]);
  t.same([...ro.recvAck(2, ctx('a'))!.keys()].sort(), [1, 2]);
  const acks = ro.recvAck(2, ctx('a'))!;
  t.equal(acks.size, 2, 'a repeated ack counts once');
  t.ok([...acks.values()].every((v) => v === true));
});

t.test('advance releases every request up to and including the acked one, oldest first', async (t) => {
  const ro = new ReadOnly('safe');
  ro.addRequest(1, req('a'));
  ro.addRequest(2, req('b', 2));
  ro.addRequest(3, req('c', 3));
  t.same(ro.advance(ctx('nope')), [], 'unknown context releases nothing');
  const done = ro.advance(ctx('b'));
  t.same(
    done.map((rs) => [rs.index, rs.req.from]),
    [
      [1, 1],
      [2, 2],
    ],
  );
  t.equal(ro.pendingCount, 1);
  t.equal(ro.recvAck(1, ctx('a')), null, 'released requests are forgotten');
  t.same(
    ro.advance(ctx('c')).map((rs) => rs.index),
    [3],
  );
  t.equal(ro.pendingCount, 0);
  t.equal(ro.lastPendingRequestContext(), null);
});

t.test('the option is kept as given', async (t) => {
  t.equal(new ReadOnly('leaseBased').option, 'leaseBased');
  t.equal(new ReadOnly('safe').option, 'safe');
});
