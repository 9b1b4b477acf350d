// Proves proposer-chosen lease ids are exact positive numbers, distinct per member, skip ids already
// taken, and give up after a bounded number of probes instead of spinning.

import t from 'tap';
import { LeaseIdGenerator, MAX_LEASE_ID_PROBES } from './ids.js';

t.test('ids are positive safe integers, increasing, and never repeat within a run', async (t) => {
  const gen = new LeaseIdGenerator(0x1abc, 1_700_000_000_000);
  const ids = Array.from({ length: 1000 }, () => gen.next());
  t.ok(ids.every((id) => Number.isSafeInteger(id) && id > 0));
  t.equal(new Set(ids).size, ids.length);
  t.ok(
    ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1),
    'a counter, like etcd',
  );
});

t.test('members get disjoint id ranges from their low 13 bits', async (t) => {
  const a = new LeaseIdGenerator(1, 5000).next();
  const b = new LeaseIdGenerator(2, 5000).next();
  t.equal(Math.floor(a / 2 ** 40), 1);
  t.equal(Math.floor(b / 2 ** 40), 2);
  t.equal(new LeaseIdGenerator(2 ** 13 - 1, 0).next() < 2 ** 53, true, 'the top member stays exact');
});

t.test('id 0 (NoLease) is never produced, and taken ids are skipped', async (t) => {
  const gen = new LeaseIdGenerator(0, 0);
  t.equal(gen.next(), 1, 'member 0 at time 0 would start at 0: skipped');
  const taken = new Set([2, 3]);
  t.equal(
    gen.next((id) => taken.has(id)),
    4,
  );
});

t.test('a full id space fails after a bounded number of probes', async (t) => {
  const gen = new LeaseIdGenerator(3, 0);
  t.throws(() => gen.next(() => true), new RegExp(`${MAX_LEASE_ID_PROBES} probes`));
});
