// The corruption check compares HashKV at one revision and alarms exactly the members that differ.

import pino from 'pino';
import t from 'tap';
import { CorruptionCheck, type CorruptionTarget, type HashAt } from './corruption-check.js';

const logger = pino({ level: 'silent' });

function target(peerHashes: Map<number, HashAt | Error>, leader = true) {
  const raised: number[] = [];
  const tg: CorruptionTarget = {
    isLeader: () => leader,
    memberId: () => 1,
    peers: () => [...peerHashes.keys()],
    currentRevision: () => 10,
    localHash: async (revision) => ({ hash: 42, revision, compactRevision: 3 }),
    peerHash: async (peer) => {
      const h = peerHashes.get(peer);
      if (h instanceof Error || h === undefined) throw h ?? new Error('unknown');
      return h;
    },
    raiseCorrupt: async (id) => {
      raised.push(id);
    },
  };
  return { tg, raised };
}

t.test(
  'a differing member is alarmed; equal, unreachable and differently compacted ones are not',
  async (t) => {
    const { tg, raised } = target(
      new Map<number, HashAt | Error>([
        [2, { hash: 42, revision: 10, compactRevision: 3 }],
        [3, { hash: 7, revision: 10, compactRevision: 3 }],
        [4, new Error('unreachable')],
        [5, { hash: 9, revision: 10, compactRevision: 5 }],
      ]),
    );
    const report = await new CorruptionCheck({ target: tg, intervalMs: 0, logger }).runOnce();
    t.same(report, { agreed: [2], corrupt: [3], skipped: [4, 5] });
    t.same(raised, [3]);
  },
);

t.test('followers do not check', async (t) => {
  const { tg, raised } = target(new Map([[2, { hash: 1, revision: 10, compactRevision: 3 }]]), false);
  const report = await new CorruptionCheck({ target: tg, intervalMs: 0, logger }).runOnce();
  t.same(report, { agreed: [], corrupt: [], skipped: [] });
  t.same(raised, []);
});

t.test('the timer runs checks until stopped', async (t) => {
  const { tg, raised } = target(new Map([[2, { hash: 1, revision: 10, compactRevision: 3 }]]));
  const c = new CorruptionCheck({ target: tg, intervalMs: 5, logger });
  c.start();
  c.start();
  const deadline = Date.now() + 2000;
  while (raised.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  c.stop();
  t.ok(raised.length >= 1);
  t.equal(raised[0], 2);
  new CorruptionCheck({ target: tg, intervalMs: 0, logger }).start();
});
