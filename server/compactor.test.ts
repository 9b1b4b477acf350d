// Auto-compaction decisions on a virtual clock: periodic keeps the retention window of history,
// revision keeps the last N revisions, followers never compact, failures are logged not thrown.

import pino from 'pino';
import t from 'tap';
import { type CompactionTarget, Compactor } from './compactor.js';

function target(): CompactionTarget & {
  rev: number;
  compacted: number;
  leader: boolean;
  calls: number[];
  fail: boolean;
} {
  const o = {
    rev: 1,
    compacted: 0,
    leader: true,
    calls: [] as number[],
    fail: false,
    isLeader: () => o.leader,
    currentRevision: () => o.rev,
    compactRevision: () => o.compacted,
    compact: async (r: number) => {
      if (o.fail) throw new Error('no leader');
      o.calls.push(r);
      o.compacted = r;
    },
  };
  return o;
}

const logger = pino({ level: 'silent' });

t.test('periodic: compacts to the newest revision older than the retention window', async (t) => {
  let now = 0;
  const tg = target();
  const c = new Compactor({ mode: { kind: 'periodic', ms: 60_000 }, target: tg, logger, now: () => now });
  t.equal(c.intervalMs, 6000, 'samples ten times per window');
  for (let i = 0; i < 10; i++) {
    tg.rev = 100 + i * 10;
    t.equal(await c.runOnce(), 0, `nothing is old enough at ${now}ms`);
    now += 6000;
  }
  tg.rev = 300;
  t.equal(await c.runOnce(), 100, 'the sample taken 60 s ago');
  now += 6000;
  tg.rev = 310;
  t.equal(await c.runOnce(), 110);
  t.same(tg.calls, [100, 110]);
});

t.test('revision: keeps the last N revisions; nothing to do below them', async (t) => {
  const tg = target();
  const c = new Compactor({
    mode: { kind: 'revision', revisions: 1000 },
    target: tg,
    logger,
    revisionCheckMs: 10,
  });
  t.equal(c.intervalMs, 10);
  tg.rev = 500;
  t.equal(await c.runOnce(), 0);
  tg.rev = 1500;
  t.equal(await c.runOnce(), 500);
  t.equal(await c.runOnce(), 0, 'already compacted there');
  t.same(tg.calls, [500]);
});

t.test('followers do not compact and forget their samples; errors are survived', async (t) => {
  let now = 0;
  const tg = target();
  const c = new Compactor({ mode: { kind: 'periodic', ms: 10_000 }, target: tg, logger, now: () => now });
  tg.rev = 50;
  await c.runOnce();
  tg.leader = false;
  now += 20_000;
  t.equal(await c.runOnce(), 0, 'a follower does nothing');
  tg.leader = true;
  tg.rev = 60;
  t.equal(await c.runOnce(), 0, 'samples taken before stepping down are gone');
  now += 10_000;
  tg.fail = true;
  t.equal(await c.runOnce(), 0, 'a failed compaction is logged and reported as none');
  tg.fail = false;
  now += 1;
  t.equal(await c.runOnce(), 60);
});

t.test('off never runs; start and stop manage the timer', async (t) => {
  const tg = target();
  const off = new Compactor({ mode: { kind: 'off' }, target: tg, logger });
  t.equal(off.intervalMs, 0);
  off.start();
  t.equal(await off.runOnce(), 0);
  off.stop();
  const on = new Compactor({
    mode: { kind: 'revision', revisions: 1 },
    target: tg,
    logger,
    revisionCheckMs: 5,
  });
  tg.rev = 10;
  on.start();
  on.start();
  const deadline = Date.now() + 2000;
  while (tg.calls.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  on.stop();
  t.same(tg.calls, [9], 'the timer ran a compaction');
});
