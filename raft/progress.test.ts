// Proves Progress transitions set next like etcd-raft, rejections back off, pausing follows state, match < next.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../test/property.js';
import { Progress } from './progress.js';

const FILE = 'raft/progress.test.ts';
const checkProperty = propertyChecker(FILE);

function progress(
  state: 'probe' | 'replicate' | 'snapshot',
  match: number,
  next: number,
  maxInflight = 256,
): Progress {
  const pr = new Progress(next, false, maxInflight, 0);
  pr.match = match;
  if (state === 'replicate') {
    pr.becomeReplicate();
    pr.next = next;
  } else if (state === 'snapshot') {
    pr.becomeSnapshot(0);
    pr.next = next;
  }
  return pr;
}

t.test('a new progress is a probe with match 0', async (t) => {
  const pr = new Progress(6, true, 4, 0);
  t.equal(pr.state, 'probe');
  t.equal(pr.match, 0);
  t.equal(pr.next, 6);
  t.ok(pr.isLearner);
  t.notOk(pr.isPaused());
});

t.test('becomeProbe from replicate restarts at match + 1', async (t) => {
  const pr = progress('replicate', 1, 5);
  pr.inflights.add(4, 10);
  pr.becomeProbe();
  t.equal(pr.state, 'probe');
  t.equal(pr.next, 2);
  t.equal(pr.inflights.count, 0, 'the window is reset');
});

t.test(
  'becomeProbe from snapshot resumes after the snapshot index or match, whichever is later',
  async (t) => {
    const a = progress('probe', 1, 5);
    a.becomeSnapshot(10);
    a.becomeProbe();
    t.equal(a.next, 11);
    t.equal(a.pendingSnapshot, 0);
    const b = progress('probe', 20, 21);
    b.becomeSnapshot(10);
    b.becomeProbe();
    t.equal(b.next, 21);
  },
);

t.test('becomeReplicate sends from match + 1', async (t) => {
  const pr = progress('probe', 1, 5);
  pr.becomeReplicate();
  t.equal(pr.state, 'replicate');
  t.equal(pr.next, 2);
});

t.test('maybeUpdate advances match (and next) only forward, and clears probeSent', async (t) => {
  const pr = progress('probe', 3, 5);
  pr.probeSent = true;
  t.notOk(pr.maybeUpdate(2), 'older ack');
  t.equal(pr.match, 3);
  t.equal(pr.next, 5);
  t.ok(pr.probeSent, 'a stale ack does not unpause');
  t.notOk(pr.maybeUpdate(3), 'same ack');
  t.ok(pr.maybeUpdate(4));
  t.equal(pr.match, 4);
  t.equal(pr.next, 5);
  t.notOk(pr.probeSent);
  t.ok(pr.maybeUpdate(8));
  t.equal(pr.next, 9, 'next follows match');
});

t.test(
  'maybeDecrTo in replicate: a rejection at or below match is stale, otherwise next = match + 1',
  async (t) => {
    const pr = progress('replicate', 5, 10);
    t.notOk(pr.maybeDecrTo(5, 5));
    t.notOk(pr.maybeDecrTo(4, 4));
    t.equal(pr.next, 10);
    t.ok(pr.maybeDecrTo(9, 9));
    t.equal(pr.next, 6, 'the hint is not used in replicate state');
  },
);

t.test(
  'maybeDecrTo in probe: only a rejection of next - 1 counts; next = min(rejected, hint + 1)',
  async (t) => {
    const cases: {
      match: number;
      next: number;
      rejected: number;
      hint: number;
      ok: boolean;
      want: number;
    }[] = [
      { match: 0, next: 10, rejected: 5, hint: 5, ok: false, want: 10 },
      { match: 0, next: 10, rejected: 9, hint: 9, ok: true, want: 9 },
      { match: 0, next: 2, rejected: 1, hint: 1, ok: true, want: 1 },
      { match: 0, next: 1, rejected: 0, hint: 0, ok: true, want: 1 },
      { match: 0, next: 10, rejected: 9, hint: 2, ok: true, want: 3 },
      { match: 0, next: 10, rejected: 9, hint: 0, ok: true, want: 1 },
      { match: 4, next: 10, rejected: 9, hint: 2, ok: true, want: 5 },
    ];
    for (const c of cases) {
      const pr = progress('probe', c.match, c.next);
      pr.probeSent = true;
      t.equal(pr.maybeDecrTo(c.rejected, c.hint), c.ok, `${JSON.stringify(c)}: result`);
      t.equal(pr.next, c.want, `${JSON.stringify(c)}: next`);
      if (c.ok) t.notOk(pr.probeSent, 'a real rejection unpauses the probe');
    }
  },
);

t.test('isPaused: probe after one send, replicate when the window is full, always in snapshot', async (t) => {
  const probe = progress('probe', 0, 1);
  t.notOk(probe.isPaused());
  probe.sentEntries(3, 30);
  t.ok(probe.isPaused());
  t.equal(probe.next, 1, 'a probe does not move next optimistically');

  const rep = progress('replicate', 0, 1, 2);
  rep.sentEntries(3, 30);
  t.equal(rep.next, 4);
  t.notOk(rep.isPaused());
  rep.sentEntries(0, 0);
  t.equal(rep.inflights.count, 1, 'an empty append takes no window slot');
  rep.sentEntries(2, 20);
  t.equal(rep.next, 6);
  t.ok(rep.isPaused(), 'two messages in flight with a window of two');
  rep.inflights.freeLE(3);
  t.notOk(rep.isPaused());

  const sn = progress('snapshot', 0, 1);
  t.ok(sn.isPaused());
});

t.test('describe shows state, indexes and flags', async (t) => {
  const pr = progress('probe', 2, 3);
  t.equal(pr.describe(), 'probe match=2 next=3');
  pr.isLearner = true;
  pr.becomeSnapshot(7);
  t.equal(pr.describe(), 'snapshot match=2 next=3 learner pendingSnap=7 paused');
});

type Op =
  | { kind: 'send'; count: number }
  | { kind: 'ack'; delta: number }
  | { kind: 'reject'; delta: number; hint: number }
  | { kind: 'probe' }
  | { kind: 'replicate' }
  | { kind: 'snapshot'; at: number };

t.test('property: match < next and match never decreases under any operation sequence', async (t) => {
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('send' as const), count: fc.nat(4) }),
    fc.record({ kind: fc.constant('ack' as const), delta: fc.integer({ min: -3, max: 3 }) }),
    fc.record({
      kind: fc.constant('reject' as const),
      delta: fc.integer({ min: -3, max: 1 }),
      hint: fc.nat(20),
    }),
    fc.record({ kind: fc.constant('probe' as const) }),
    fc.record({ kind: fc.constant('replicate' as const) }),
    fc.record({ kind: fc.constant('snapshot' as const), at: fc.nat(30) }),
  );
  checkProperty(
    t,
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const pr = new Progress(1, false, 4, 0);
      for (const op of ops) {
        const matchBefore = pr.match;
        switch (op.kind) {
          case 'send':
            if (!pr.isPaused()) pr.sentEntries(op.count, op.count * 10);
            break;
          case 'ack':
            pr.maybeUpdate(Math.max(0, pr.next - 1 + op.delta));
            break;
          case 'reject':
            pr.maybeDecrTo(Math.max(0, pr.next - 1 + op.delta), op.hint);
            break;
          case 'probe':
            pr.becomeProbe();
            break;
          case 'replicate':
            pr.becomeReplicate();
            break;
          case 'snapshot':
            pr.becomeSnapshot(op.at);
            break;
        }
        if (!(pr.match < pr.next)) throw new Error(`match ${pr.match} >= next ${pr.next} after ${op.kind}`);
        if (pr.match < matchBefore) throw new Error(`match went back ${matchBefore} -> ${pr.match}`);
      }
    }),
    500,
  );
});
