// The simulator end to end: seeded runs of correct raft find no violation, runs replay exactly
// from their seed, and each deliberately broken raft variant is caught within a bounded number
// of seeds (the simulator proves it can find the bugs it exists to find).

import t from 'tap';
import { replayCommand, simulate } from './simulate.js';
import type { BugName } from './world.js';

const SAFETY = [
  'election-safety',
  'state-machine-safety',
  'leader-completeness',
  'committed-safety',
  'log-matching',
  'linearizability',
];

t.test('300 seeded runs of 3 members and 100 of 5 members: no violation', async (t) => {
  const failures: string[] = [];
  let commits = 0;
  let faults = 0;
  let watchEvents = 0;
  let leasesRevoked = 0;
  let keepAlives = 0;
  for (const [nodes, runs, base] of [
    [3, 300, 10_000],
    [5, 100, 20_000],
  ] as const) {
    for (let i = 0; i < runs; i++) {
      const o = { seed: base + i, nodes, steps: 20_000 };
      const { result } = simulate(o);
      commits += result.stats.commits;
      faults += result.stats.faults;
      watchEvents += result.stats.watchEvents;
      leasesRevoked += result.stats.leases.revoked;
      keepAlives += result.stats.leases.keepAlives;
      if (result.violations.length > 0) {
        failures.push(
          `${replayCommand(o)}: ${result.violations.map((v) => `${v.property}: ${v.detail}`).join('; ')}`,
        );
      }
    }
  }
  t.same(failures, [], 'replay each failure with the printed command');
  // The runs must have done real work under real faults, or "no violation" proves nothing.
  t.ok(commits > 100_000, `commits ${commits}`);
  t.ok(faults > 2_000, `faults ${faults}`);
  t.ok(watchEvents > 50_000, `watch events ${watchEvents}`);
  t.ok(keepAlives > 500 && leasesRevoked > 100, `keep-alives ${keepAlives}, leases revoked ${leasesRevoked}`);
});

t.test('a run replays exactly from its seed', async (t) => {
  const o = { seed: 4242, nodes: 5, steps: 20_000 };
  const a = simulate(o);
  const b = simulate(o);
  t.same(b.schedule, a.schedule);
  t.same(b.result.stats, a.result.stats);
  t.same(b.result.faultLog, a.result.faultLog);
  const c = simulate({ ...o, seed: 4243 });
  t.not(JSON.stringify(c.result.stats), JSON.stringify(a.result.stats), 'another seed is another run');
});

const BUG_CASES: readonly { bug: BugName; properties: readonly string[] }[] = [
  { bug: 'doubleVote', properties: ['election-safety'] },
  {
    bug: 'commitPreviousTerm',
    properties: ['committed-safety', 'leader-completeness', 'state-machine-safety'],
  },
  { bug: 'skipPersistBeforeSend', properties: SAFETY },
  { bug: 'readIndexWithoutHeartbeat', properties: ['linearizability'] },
];
const MAX_SEEDS = 1500;

for (const { bug, properties } of BUG_CASES) {
  t.test(`broken variant ${bug} is caught within ${MAX_SEEDS} seeds`, async (t) => {
    let found: { seed: number; property: string } | null = null;
    for (let seed = 1; seed <= MAX_SEEDS && found === null; seed++) {
      const { result } = simulate({ seed, nodes: 3, steps: 20_000, bugs: { [bug]: true } });
      const v = result.violations.find((x) => properties.includes(x.property));
      if (v !== undefined) found = { seed, property: v.property };
    }
    t.not(found, null, `no ${properties.join('/')} violation found with ${bug}`);
    t.comment(`${bug}: ${found?.property} at seed ${found?.seed}`);
  });
}

t.test('a failing schedule shrinks to a smaller one that still fails', async (t) => {
  // doubleVote fails fast; shrinking must keep a failing schedule and never grow it.
  let outcome = null;
  for (let seed = 1; seed <= 200; seed++) {
    const o = simulate({ seed, nodes: 3, steps: 20_000, bugs: { doubleVote: true } }, true);
    if (o.result.violations.length > 0 && o.schedule.length > 0) {
      outcome = o;
      break;
    }
  }
  t.not(outcome, null, 'a failing run with faults');
  t.ok(outcome?.shrunk !== undefined);
  t.ok((outcome?.shrunk?.schedule.length ?? Infinity) <= (outcome?.schedule.length ?? 0));
  t.ok((outcome?.shrunk?.result.violations.length ?? 0) > 0, 'the shrunk schedule still fails');
});
