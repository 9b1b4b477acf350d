import t from 'tap';
import {
  allocatedCount,
  blockedReason,
  emptyBlock,
  pickFree,
  usableCount,
  withAllocation,
  withRelease,
} from './block.js';
import { parseCidr } from './cidr.js';
import { parsePool } from './pool.js';

t.test('free addresses, cool-down and reasons', async (t) => {
  const pool = parsePool({ name: 'p', cidr: '10.0.0.0/24', blockSize: 29 });
  const block = parseCidr('10.0.0.0/29');
  let doc = emptyBlock('10.0.0.0/29', 'n1');
  t.equal(usableCount(block, pool), 6, '.0 is the network address and .1 the gateway');
  t.equal(pickFree(doc, block, pool, 0, 1000), 2);
  doc = withAllocation(doc, 2, 'h1', 0, 1000);
  t.equal(pickFree(doc, block, pool, 0, 1000), 3);
  t.equal(blockedReason(doc, block, pool, 2, 0, 1000), '10.0.0.2 is already allocated');
  t.equal(blockedReason(doc, block, pool, 1, 0, 1000), "10.0.0.1 is reserved or outside the pool's range");
  doc = withRelease(doc, [2], 100, 1000);
  t.equal(allocatedCount(doc), 0);
  t.equal(
    blockedReason(doc, block, pool, 2, 500, 1000),
    '10.0.0.2 was released recently and is cooling down',
  );
  t.equal(pickFree(doc, block, pool, 500, 1000), 3, 'a cooling address is skipped');
  t.equal(pickFree(doc, block, pool, 1100, 1000), 2, 'and reused once cool');
  t.equal(blockedReason(doc, block, pool, 2, 1100, 1000), undefined);
  const later = withAllocation(doc, 3, 'h2', 5000, 1000);
  t.same(later.released, {}, 'old release marks are dropped on the next write');
  for (let i = 2; i < 8; i++) doc = withAllocation(doc, i, `h${i}`, 2000, 1000);
  t.equal(pickFree(doc, block, pool, 2000, 1000), undefined, 'full');
  t.same(withRelease(doc, [4], 3000, 0).released, {}, 'no cool-down, no mark');
});
