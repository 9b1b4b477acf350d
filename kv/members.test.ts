// Membership as replicated state: conf changes, published attributes, updates, removal for good,
// and an encoding that round-trips exactly.

import t from 'tap';
import { isKvError } from './errors.js';
import { ClusterMembers, decodeMemberContext, encodeMemberContext } from './members.js';

const founding = [
  { id: 11, name: 'a', peerURLs: ['http://127.0.0.1:2380'], clientURLs: [], isLearner: false },
  { id: 22, name: 'b', peerURLs: ['http://127.0.0.1:2381'], clientURLs: [], isLearner: false },
];

t.test('bootstrap, add a learner, promote it, publish, update, remove', async (t) => {
  const m = new ClusterMembers();
  m.bootstrap(7, founding);
  t.equal(m.clusterId, 7);
  t.same(
    m.list().map((x) => x.id),
    [11, 22],
  );
  m.apply({
    kind: 'add',
    id: 33,
    learner: true,
    context: { peerURLs: ['http://127.0.0.1:2382'], requestId: 'r' },
  });
  t.same(m.get(33), {
    id: 33,
    name: '',
    peerURLs: ['http://127.0.0.1:2382'],
    clientURLs: [],
    isLearner: true,
  });
  m.apply({ kind: 'promote', id: 33 });
  t.equal(m.get(33)?.isLearner, false);
  m.publish(33, 'c', ['http://127.0.0.1:2379']);
  t.same(m.get(33)?.clientURLs, ['http://127.0.0.1:2379']);
  t.equal(m.get(33)?.name, 'c');
  m.apply({
    kind: 'add',
    id: 33,
    learner: false,
    context: { peerURLs: ['http://127.0.0.1:2382'], requestId: 'r' },
  });
  t.equal(m.get(33)?.name, 'c', 're-applying an add keeps the published attributes');
  m.updatePeerURLs(22, ['http://127.0.0.1:9999']);
  t.same(m.get(22)?.peerURLs, ['http://127.0.0.1:9999']);
  m.apply({ kind: 'remove', id: 11 });
  t.equal(m.get(11), undefined);
  t.equal(m.isRemoved(11), true);
  t.equal(m.isRemoved(22), false);
  t.equal(m.size, 2);
  m.publish(99, 'ghost', []);
  t.equal(m.get(99), undefined, 'publishing for an unknown member changes nothing');
  m.apply({ kind: 'promote', id: 98 });
  t.equal(m.size, 2, 'promoting an unknown member changes nothing');
  const err = (() => {
    try {
      m.updatePeerURLs(12345, []);
      return null;
    } catch (e) {
      return e;
    }
  })();
  t.ok(isKvError(err), 'updating an unknown member fails');
});

t.test('the encoding round-trips and rejects garbage', async (t) => {
  const m = new ClusterMembers();
  m.bootstrap(5, founding);
  m.apply({ kind: 'remove', id: 22 });
  const back = ClusterMembers.decode(m.encode());
  t.equal(back.clusterId, 5);
  t.same(back.list(), m.list());
  t.equal(back.isRemoved(22), true);
  t.same(back.encode(), m.encode(), 'byte-identical after a round trip');
  t.throws(() => ClusterMembers.decode(encodeMemberContext({ peerURLs: [], requestId: 'x' })));
});

t.test('member contexts round-trip; an empty one is a change without member data', async (t) => {
  const ctx = { peerURLs: ['http://127.0.0.1:1'], requestId: 'abc', name: 'n' };
  t.same(decodeMemberContext(encodeMemberContext(ctx)), ctx);
  t.same(decodeMemberContext(new Uint8Array(0)), { peerURLs: [], requestId: '' });
  t.throws(() => decodeMemberContext(new Uint8Array([0xc0])), 'nil is not a context');
});
