import t from 'tap';
import { type AddressDoc, blockedReason, freeOrdinals, ownerOf, usableCount } from './block.js';
import { parseCidr } from './cidr.js';
import { parsePool } from './pool.js';

t.test('free addresses, cool-down and reasons', async (t) => {
  const pool = parsePool({ name: 'p', cidr: '10.0.0.0/24', blockSize: 29 });
  const block = parseCidr('10.0.0.0/29');
  const map = (entries: [number, AddressDoc][]) =>
    new Map(entries.map(([o, doc]) => [o, { doc, modRevision: 1 }]));
  t.equal(usableCount(block, pool), 6, '.0 is the network address and .1 the gateway');
  t.same(freeOrdinals(new Map(), block, pool, 0, 1000), [2, 3, 4, 5, 6, 7]);
  const some = map([
    [2, { h: 'h1' }],
    [3, { r: 100 }],
  ]);
  t.same(freeOrdinals(some, block, pool, 500, 1000), [4, 5, 6, 7], 'taken and cooling addresses are skipped');
  t.same(freeOrdinals(some, block, pool, 1100, 1000), [3, 4, 5, 6, 7], 'a cooled address is free again');
  t.equal(blockedReason(some, block, pool, 2, 0, 1000), 'already allocated');
  t.equal(blockedReason(some, block, pool, 3, 500, 1000), 'released recently and cooling down');
  t.equal(blockedReason(some, block, pool, 1, 0, 1000), 'reserved or outside the pool range');
  t.equal(blockedReason(some, block, pool, 4, 0, 1000), undefined);
  t.equal(ownerOf({ h: 'x' }), 'x');
  t.equal(ownerOf({ r: 1 }), undefined);
  t.equal(ownerOf(undefined), undefined);
});
