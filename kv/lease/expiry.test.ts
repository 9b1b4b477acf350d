// Proves the leader's lease clock on a fake clock: leases expire on time, keep-alives postpone them,
// a new leader continues from the last checkpoint (never the full TTL, never early), a leader
// without an active quorum revokes nothing, and revokes are handed out in order at a bounded rate.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../../test/property.js';
import { isKvError } from '../errors.js';
import { kvErrorCodeOf } from '../testing/error-code.js';
import { LeaseExpiry, type LeaseExpiryOptions } from './expiry.js';
import { LeaseTable } from './lessor.js';

const FILE = 'kv/lease/expiry.test.ts';
const checkProperty = propertyChecker(FILE);

/** One member's view: the replicated table (entries applied at once) and a leader clock. */
class Harness {
  nowMs = 0;
  readonly table = new LeaseTable({ minTtlSeconds: 1 });
  readonly expiry: LeaseExpiry;

  constructor(options: Partial<LeaseExpiryOptions> = {}) {
    this.expiry = new LeaseExpiry({ now: () => this.nowMs, ...options });
    this.expiry.becomeLeader(this.table, this.nowMs);
  }

  at(ms: number): this {
    this.nowMs = ms;
    return this;
  }

  grant(id: number, ttlSeconds: number): void {
    this.table.grant(id, ttlSeconds);
    this.expiry.granted(id);
  }

  /** Proposes and applies the due checkpoints; returns them. */
  checkpoint(): { id: number; remainingMs: number }[] {
    const due = this.expiry.dueCheckpoints(this.nowMs);
    this.table.applyCheckpoints(due);
    return due;
  }

  /** Hands out expired leases and applies their revokes; returns the ids. */
  revoke(canRevoke = true): number[] {
    const { revoke } = this.expiry.expired(this.nowMs, { canRevoke });
    for (const id of revoke) {
      this.table.revoke(id);
      this.expiry.revoked(id);
    }
    return revoke;
  }
}

const codeOf = kvErrorCodeOf;

t.test('a lease expires exactly when its TTL runs out, not before', async (t) => {
  const h = new Harness();
  h.at(1000).grant(1, 10);
  t.same(h.at(10_999).revoke(), []);
  t.same(h.at(11_000).revoke(), [1]);
  t.equal(h.table.has(1), false);
  t.same(h.at(20_000).revoke(), [], 'a revoked lease is not handed out again');
});

t.test('a keep-alive postpones expiry by a full TTL from the renewal', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 10);
  t.equal(h.at(6000).expiry.keepAlive(1), 10, 'answers the granted TTL');
  t.equal(h.expiry.remainingMs(1), 10_000);
  t.same(h.at(15_999).revoke(), []);
  t.same(h.at(16_000).revoke(), [1]);
});

t.test('keep-alive refuses unknown and expired leases, and any lease when not leading', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 10);
  t.equal(
    codeOf(() => h.expiry.keepAlive(2)),
    'LEASE_NOT_FOUND',
  );
  t.equal(
    codeOf(() => h.at(10_000).expiry.keepAlive(1)),
    'LEASE_NOT_FOUND',
    'expired, even before its revoke was handed out: an expired lease is never revived',
  );
  t.equal(h.expiry.remainingMs(1), 0);
  h.expiry.stepDown();
  t.equal(
    codeOf(() => h.expiry.keepAlive(1)),
    'LEASE_NOT_PRIMARY',
  );
  t.equal(h.expiry.remainingMs(1), undefined);
});

t.test('a new leader continues from the last checkpoint: neither the full TTL nor early', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 10);
  t.same(h.at(5000).checkpoint(), [{ id: 1, remainingMs: 5000 }], 'periodic checkpoint after 5 s');
  h.at(7000).expiry.stepDown();
  // The old leader dies at 7 s; the new one takes over at 8 s from the replicated 5000 ms.
  const next = new LeaseExpiry({ now: () => h.nowMs });
  next.becomeLeader(h.table, h.at(8000).nowMs);
  t.equal(next.remainingMs(1), 7000, '5000 ms remaining + 2000 ms takeover grace');
  t.same(next.expired(h.at(14_999).nowMs, { canRevoke: true }).revoke, [], 'not early');
  t.same(
    next.expired(h.at(15_000).nowMs, { canRevoke: true }).revoke,
    [1],
    'at 8 s + 5 s + 2 s grace, long before 8 s + the full 10 s TTL',
  );
});

t.test('the takeover grace is not checkpointed, so leader changes cannot stack it', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 60);
  h.table.checkpoint(1, 8000);
  h.expiry.stepDown();
  h.expiry.becomeLeader(h.table, h.at(8000).nowMs);
  t.same(h.at(13_000).checkpoint(), [{ id: 1, remainingMs: 3000 }], '8000 - 5000 elapsed; no grace inside');
  t.same(h.at(17_999).revoke(), [], 'its revoke waits for the grace of this takeover only');
  t.same(h.at(18_000).checkpoint(), [{ id: 1, remainingMs: 0 }], 'the log learns it ran out');
  t.same(h.at(18_000).revoke(), [1]);
});

t.test('a renewal beyond the slack is checkpointed at once; one within it adds no entry', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 10);
  h.at(5000).checkpoint();
  h.at(6000).expiry.keepAlive(1);
  t.same(h.checkpoint(), [{ id: 1, remainingMs: 10_000 }], 'urgent: the periodic one is not due until 10 s');
  h.at(6500).expiry.keepAlive(1);
  t.same(h.checkpoint(), [], 'within the 1 s slack: no extra entry per keep-alive');
});

t.test(
  'renewalPending is true from a renewal beyond the slack until its checkpoint is handed out',
  async (t) => {
    const h = new Harness();
    h.at(0).grant(1, 10);
    h.at(5000).checkpoint();
    t.equal(h.expiry.renewalPending(1), false);
    h.at(6000).expiry.keepAlive(1);
    t.equal(h.expiry.renewalPending(1), true, 'a reply held until here cannot be lost by a leader change');
    h.checkpoint();
    t.equal(h.expiry.renewalPending(1), false);
    h.at(6500).expiry.keepAlive(1);
    t.equal(h.expiry.renewalPending(1), false, 'within the slack: the grace covers it, nothing to wait for');
    t.equal(h.expiry.renewalPending(99), false);
  },
);

t.test('the takeover grace covers a renewal the log has not seen', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 10);
  h.at(5000).checkpoint();
  h.at(6000).expiry.keepAlive(1);
  // The urgent checkpoint waits 400 ms for the next batch: the log learns 9600 ms at 6.4 s.
  t.same(h.at(6400).checkpoint(), [{ id: 1, remainingMs: 9600 }]);
  h.at(6900).expiry.keepAlive(1);
  t.same(h.checkpoint(), [], 'promised 16.9 s, 0.9 s past the replicated 16 s: within the slack');
  h.expiry.stepDown();
  h.expiry.becomeLeader(h.table, h.at(6950).nowMs);
  t.same(h.at(16_900).revoke(), [], 'without the grace it would go at 6.95 s + 9.6 s = 16.55 s, early');
  t.same(h.at(18_550).revoke(), [1], 'with it at 18.55 s');
});

t.test(
  'urgent checkpoints are served before an overdue periodic backlog, within the batch bound',
  async (t) => {
    const h = new Harness({ maxCheckpointsPerBatch: 1000 });
    for (let id = 1; id <= 2500; id++) h.grant(id, 100);
    h.at(20_000);
    h.expiry.keepAlive(2500);
    const first = h.checkpoint();
    t.equal(first.length, 1000);
    t.same(first[0], { id: 2500, remainingMs: 100_000 }, 'the renewal first');
    t.same(first[1], { id: 1, remainingMs: 80_000 }, 'then periodic ones by due time, then id');
    t.equal(h.checkpoint().length, 1000);
    t.equal(h.checkpoint().length, 500, 'the renewed lease is not checkpointed twice');
    t.same(h.checkpoint(), []);
    t.equal(h.table.get(7)?.remainingMs, 80_000);
  },
);

t.test('a leader without an active quorum never hands out a revoke, however long expired', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 1);
  h.grant(2, 2);
  const stale = h.at(1_000_000).expiry.expired(h.nowMs, { canRevoke: false });
  t.same(stale, { revoke: [], backlog: 2 }, 'nothing, but the backlog shows them');
  t.equal(h.expiry.backlog, 2);
  t.same(h.revoke(true), [1, 2], 'once the quorum is back');
  t.equal(h.expiry.backlog, 0);
});

t.test('revokes come earliest expiry first, then by id, at the bounded rate', async (t) => {
  const h = new Harness({ maxRevokesPerSecond: 2 });
  h.at(0);
  h.grant(5, 3);
  h.grant(9, 1);
  h.grant(3, 1);
  h.grant(4, 2);
  h.grant(8, 3);
  t.same(h.at(3000).expiry.expired(h.nowMs, { canRevoke: true }), { revoke: [3, 9], backlog: 3 });
  t.same(h.expiry.expired(h.nowMs, { canRevoke: true }), { revoke: [], backlog: 3 }, 'bucket empty');
  t.same(h.at(3499).expiry.expired(h.nowMs, { canRevoke: true }).revoke, [], 'less than one token');
  t.same(h.at(3500).expiry.expired(h.nowMs, { canRevoke: true }).revoke, [4]);
  t.same(h.at(4500).expiry.expired(h.nowMs, { canRevoke: true }), { revoke: [5, 8], backlog: 0 });
  t.equal(h.expiry.inflightRevokes, 5, 'handed out, not applied');
});

t.test('a handed-out revoke that never applies is handed out again after the retry interval', async (t) => {
  const h = new Harness({ revokeRetryMs: 3000 });
  h.at(0).grant(1, 1);
  t.same(h.at(1000).expiry.expired(h.nowMs, { canRevoke: true }).revoke, [1]);
  t.same(h.at(3999).expiry.expired(h.nowMs, { canRevoke: true }).revoke, [], 'in flight');
  t.same(h.at(4000).expiry.expired(h.nowMs, { canRevoke: true }).revoke, [1], 'the proposal was lost');
  h.table.revoke(1);
  h.expiry.revoked(1);
  t.equal(h.expiry.size, 0);
  t.same(h.at(8000).expiry.expired(h.nowMs, { canRevoke: true }).revoke, []);
});

t.test('a revoke applied from a client stops the timing of that lease', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 5);
  h.table.revoke(1);
  h.expiry.revoked(1);
  t.equal(
    codeOf(() => h.expiry.keepAlive(1)),
    'LEASE_NOT_FOUND',
  );
  t.same(h.at(10_000).revoke(), []);
  t.same(h.checkpoint(), []);
});

t.test('a follower times nothing: stepDown forgets every deadline', async (t) => {
  const h = new Harness();
  h.at(0).grant(1, 1);
  h.expiry.stepDown();
  t.equal(h.expiry.leading, false);
  t.same(h.at(5000).expiry.expired(h.nowMs, { canRevoke: true }), { revoke: [], backlog: 0 });
  t.same(h.expiry.dueCheckpoints(h.nowMs), []);
  h.table.grant(2, 1);
  h.expiry.granted(2);
  t.equal(h.expiry.size, 0, 'grants applied on a follower are not timed');
});

t.test('100k leases expiring at once are drained at the bounded rate, in id order', async (t) => {
  const count = 100_000;
  const h = new Harness();
  for (let id = 1; id <= count; id++) h.grant(id, 10);
  h.at(10_000);
  const stepMs = 100;
  const perSecond = h.expiry.maxRevokesPerSecond;
  const handed: number[] = [];
  const perCall: number[] = [];
  while (h.table.size > 0) {
    const before = h.expiry.backlog;
    const batch = h.revoke();
    if (before > 0) t.equal(h.expiry.backlog, before - batch.length);
    handed.push(...batch);
    perCall.push(batch.length);
    h.at(h.nowMs + stepMs);
    if (h.nowMs > 200_000) break;
  }
  t.equal(handed.length, count, 'all drained');
  t.ok(
    handed.every((id, i) => id === i + 1),
    'earliest deadline first, then id',
  );
  t.equal(perCall[0], perSecond, 'a full bucket first');
  t.ok(
    perCall.slice(1).every((n) => n <= (perSecond * stepMs) / 1000),
    'then no more than the rate earns',
  );
  // 1000 at once, then 100 per 100 ms: the last 99,000 take 99 s.
  t.equal(h.nowMs - stepMs, 10_000 + 99_000, 'drained at exactly the bounded rate');
});

t.test('options are validated and the clock must not run backwards', async (t) => {
  const now = (): number => 0;
  t.throws(() => new LeaseExpiry({ now, takeoverGraceMs: 500, renewSlackMs: 1000 }), RangeError);
  t.throws(() => new LeaseExpiry({ now, maxRevokesPerSecond: 0 }), RangeError);
  t.throws(() => new LeaseExpiry({ now, checkpointIntervalMs: 1.5 }), RangeError);
  const h = new Harness();
  h.at(1000).grant(1, 10);
  t.throws(() => h.expiry.expired(999, { canRevoke: true }), /clock went backwards/);
  t.throws(() => h.expiry.becomeLeader(h.table, 2000), /already leading/);
});

// ---- property: leader churn ----

const CHECKPOINT_MS = 5000;
const GRACE_MS = 2000;
const MAX_STEP_MS = 1500;
const MAX_GAP_MS = 3000;
/**
 * What one leader change may add to a lease: the time since its last checkpoint (interval, plus a
 * held batch and step lag), the leaderless gap, and a grace (a lease at 0 remaining restarts at 0).
 */
const PER_CHANGE_MS = CHECKPOINT_MS + 3 * MAX_STEP_MS + MAX_GAP_MS + GRACE_MS;

type Action =
  | { readonly kind: 'idle' }
  | { readonly kind: 'keepAlive'; readonly id: number }
  | { readonly kind: 'leaderChange'; readonly gapMs: number };

interface Step {
  readonly advanceMs: number;
  /** The leader skips this step's checkpoint batch (never two steps in a row), as a slow proposer. */
  readonly holdBatch: boolean;
  readonly action: Action;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  advanceMs: fc.integer({ min: 1, max: MAX_STEP_MS }),
  holdBatch: fc.boolean(),
  action: fc.oneof(
    { weight: 3, arbitrary: fc.constant<Action>({ kind: 'idle' }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('keepAlive' as const), id: fc.integer({ min: 1, max: 3 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('leaderChange' as const),
        gapMs: fc.integer({ min: 0, max: MAX_GAP_MS }),
      }),
    },
  ),
});

t.test(
  'property: under leader churn a lease is revoked never before its promise, and boundedly after',
  async (t) => {
    checkProperty(
      t,
      fc.property(
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 3 }),
        fc.array(stepArb, { maxLength: 150, size: 'max' }),
        (ttls, steps) => {
          let nowMs = 0;
          const table = new LeaseTable({ minTtlSeconds: 1 });
          const options = {
            now: () => nowMs,
            checkpointIntervalMs: CHECKPOINT_MS,
            takeoverGraceMs: GRACE_MS,
          };
          const members = [new LeaseExpiry(options), new LeaseExpiry(options)];
          let leader = 0;
          members[leader]!.becomeLeader(table, nowMs);
          /** Per lease: the latest deadline a client was told, and leader changes since. */
          const promise = new Map<number, { deadlineMs: number; changes: number }>();
          /** Keep-alive replies held (strict server) until their checkpoint has applied. */
          let held = new Map<number, number>();
          ttls.forEach((ttl, i) => {
            table.grant(i + 1, ttl);
            members[leader]!.granted(i + 1);
            promise.set(i + 1, { deadlineMs: nowMs + ttl * 1000, changes: 0 });
          });
          let heldLastStep = false;
          const process = (holdBatch: boolean): void => {
            const current = members[leader]!;
            if (!holdBatch) {
              table.applyCheckpoints(current.dueCheckpoints(nowMs));
              for (const [id, deadlineMs] of held)
                if (!current.renewalPending(id) && promise.has(id))
                  promise.set(id, { deadlineMs, changes: 0 });
              held = new Map([...held].filter(([id]) => current.renewalPending(id)));
            }
            for (const id of current.expired(nowMs, { canRevoke: true }).revoke) {
              const p = promise.get(id)!;
              if (nowMs < p.deadlineMs)
                throw new Error(`lease ${id} revoked at ${nowMs}, promised ${p.deadlineMs}`);
              const bound = p.deadlineMs + p.changes * PER_CHANGE_MS + GRACE_MS + MAX_STEP_MS;
              if (nowMs > bound) throw new Error(`lease ${id} revoked at ${nowMs}, later than ${bound}`);
              table.revoke(id);
              current.revoked(id);
              promise.delete(id);
              held.delete(id);
            }
          };
          for (const step of steps) {
            nowMs += step.advanceMs;
            const { action } = step;
            if (action.kind === 'keepAlive' && promise.has(action.id)) {
              try {
                const ttl = members[leader]!.keepAlive(action.id);
                const deadlineMs = nowMs + ttl * 1000;
                if (members[leader]!.renewalPending(action.id)) held.set(action.id, deadlineMs);
                else promise.set(action.id, { deadlineMs, changes: 0 });
              } catch (err) {
                if (!isKvError(err, 'LEASE_NOT_FOUND')) throw err;
              }
            } else if (action.kind === 'leaderChange') {
              members[leader]!.stepDown();
              held.clear(); // those clients get an error and retry with the new leader
              nowMs += action.gapMs;
              leader = 1 - leader;
              members[leader]!.becomeLeader(table, nowMs);
              for (const p of promise.values()) p.changes++;
            }
            const hold: boolean = step.holdBatch && !heldLastStep;
            process(hold);
            heldLastStep = hold;
          }
          // Then a stable leader: every lease must end, none kept alive indefinitely.
          for (let i = 0; promise.size > 0; i++) {
            if (i > 10_000) throw new Error('a lease never expired');
            nowMs += MAX_STEP_MS;
            process(false);
          }
        },
      ),
      300,
    );
  },
);
