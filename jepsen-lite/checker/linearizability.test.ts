// Tests of the register linearizability checker: hand-written histories with known verdicts, the
// time and memory bounds, and properties against histories built from a real sequential execution
// and against a brute-force oracle that tries every order of every small history.

import fc from 'fast-check';
import t, { type Test } from 'tap';
import { isCheckerError } from './errors.js';
import type { Outcome, RegisterOp } from './history.js';
import { checkRegisterHistory, type LinearizabilityResult } from './linearizability.js';

interface At {
  readonly p?: number;
  readonly key?: string;
  readonly outcome?: Outcome;
}

function base(kind: RegisterOp['kind'], [invokeTime, completeTime]: readonly [number, number], at: At) {
  return {
    process: at.p ?? 1,
    key: at.key ?? 'k',
    kind,
    invokeTime,
    completeTime,
    outcome: at.outcome ?? 'ok',
  };
}
function write(value: string | null, span: readonly [number, number], at: At = {}): RegisterOp {
  return { ...base('write', span, at), value };
}
function read(result: string | null, span: readonly [number, number], at: At = {}): RegisterOp {
  return { ...base('read', span, at), result };
}
function cas(
  expect: string | null,
  value: string | null,
  swapped: boolean,
  span: readonly [number, number],
  at: At = {},
): RegisterOp {
  return { ...base('cas', span, at), expect, value, casSwapped: swapped };
}

function violationOf(
  t: Test,
  result: LinearizabilityResult,
): Extract<LinearizabilityResult, { verdict: 'violation' }> {
  if (result.verdict !== 'violation') throw new Error(`expected a violation, got ${JSON.stringify(result)}`);
  t.pass('verdict is violation');
  return result;
}

// ---------- linearizable histories ----------

t.test('an empty history is linearizable', async (t) => {
  t.same(checkRegisterHistory([]), { verdict: 'ok', keys: 0, ops: 0 });
});

t.test('a sequential history of writes and reads is linearizable', async (t) => {
  const h = [
    read(null, [0, 1]),
    write('a', [2, 3]),
    read('a', [4, 5]),
    write('b', [6, 7]),
    read('b', [8, 9]),
  ];
  t.same(checkRegisterHistory(h), { verdict: 'ok', keys: 1, ops: 5 });
});

t.test('a read overlapping two concurrent writes may see either, or the value before them', async (t) => {
  const writes = [write('a', [0, 10], { p: 1 }), write('b', [0, 10], { p: 2 })];
  for (const seen of ['a', 'b']) {
    t.same(checkRegisterHistory([...writes, read(seen, [11, 12], { p: 3 })]).verdict, 'ok', `after: ${seen}`);
    t.same(checkRegisterHistory([...writes, read(seen, [5, 6], { p: 3 })]).verdict, 'ok', `during: ${seen}`);
  }
  t.same(checkRegisterHistory([...writes, read(null, [5, 6], { p: 3 })]).verdict, 'ok', 'during: null');
  t.same(
    checkRegisterHistory([...writes, read('a', [11, 12], { p: 3 }), read('a', [13, 14], { p: 3 })]).verdict,
    'ok',
    'a twice',
  );
});

t.test('a cas chain with swaps and a failed compare is linearizable', async (t) => {
  const h = [
    write('a', [0, 1]),
    cas('a', 'b', true, [2, 3]),
    cas('b', 'c', true, [4, 5], { p: 2 }),
    cas('a', 'd', false, [6, 7]),
    cas(null, 'e', false, [6, 7], { p: 2 }),
    read('c', [8, 9]),
  ];
  t.same(checkRegisterHistory(h), { verdict: 'ok', keys: 1, ops: 6 });
});

t.test('concurrent cas ops on the same expectation: exactly one may swap', async (t) => {
  const both = [cas(null, 'a', true, [0, 5], { p: 1 }), cas(null, 'b', true, [0, 5], { p: 2 })];
  violationOf(t, checkRegisterHistory(both));
  const one = [
    cas(null, 'a', true, [0, 5], { p: 1 }),
    cas(null, 'b', false, [0, 5], { p: 2 }),
    read('a', [6, 7]),
  ];
  t.same(checkRegisterHistory(one).verdict, 'ok');
});

t.test('a return and a call at the same time are concurrent; strictly later is ordered', async (t) => {
  t.same(checkRegisterHistory([write('a', [0, 5], { p: 1 }), read(null, [5, 6], { p: 2 })]).verdict, 'ok');
  const stale = checkRegisterHistory([write('a', [0, 5], { p: 1 }), read(null, [6, 7], { p: 2 })]);
  t.equal(violationOf(t, stale).key, 'k');
});

t.test('writes of null (deletes) and reads of null after them', async (t) => {
  const h = [write('a', [0, 1]), write(null, [2, 3]), read(null, [4, 5]), cas(null, 'b', true, [6, 7])];
  t.same(checkRegisterHistory(h).verdict, 'ok');
});

// ---------- violations ----------

t.test(
  'a stale read after a completed write is a violation, minimised to the three ops that show it',
  async (t) => {
    const h = [write('a', [0, 1]), write('b', [2, 3]), read('a', [4, 5])];
    const v = violationOf(t, checkRegisterHistory(h));
    t.equal(v.key, 'k');
    t.equal(v.ops, 3);
    t.same(v.minimal, h);
    t.equal(
      v.explanation,
      'longest linearizable prefix (2 of 3 ops): p1 write "a" [0, 1]; p1 write "b" [2, 3]; the register then holds "b" ' +
        'and none of the remaining ops can take effect next: p1 read -> "a" [4, 5]',
    );
  },
);

t.test('a read of a value never written is a violation, minimised to that read', async (t) => {
  const bad = read('zzz', [4, 5], { p: 2 });
  const v = violationOf(t, checkRegisterHistory([write('a', [0, 1]), read('a', [2, 3]), bad]));
  t.same(v.minimal, [bad]);
  t.match(v.explanation, /^no op can be linearized first; the register then holds null/);
});

t.test('reads observing a, then b, then a again with one write of each is a violation', async (t) => {
  const h = [
    write('a', [0, 100], { p: 1 }),
    write('b', [0, 100], { p: 2 }),
    read('a', [10, 20], { p: 3 }),
    read('b', [30, 40], { p: 3 }),
    read('a', [50, 60], { p: 3 }),
  ];
  const v = violationOf(t, checkRegisterHistory(h));
  t.same(v.minimal, h, 'every op is needed to show it');
  // Any two of the three reads alone are fine.
  t.same(checkRegisterHistory(h.slice(0, 4)).verdict, 'ok');
  t.same(checkRegisterHistory([...h.slice(0, 3), h[4]!]).verdict, 'ok');
});

t.test('a cas that swapped on a value that could not be current is a violation', async (t) => {
  const h = [write('a', [0, 1]), write('b', [2, 3]), cas('a', 'c', true, [4, 5])];
  t.same(violationOf(t, checkRegisterHistory(h)).minimal, h);
});

t.test('a cas whose compare failed although the value had to match is a violation', async (t) => {
  const h = [write('a', [0, 1]), cas('a', 'c', false, [2, 3])];
  t.same(violationOf(t, checkRegisterHistory(h)).minimal, h);
});

t.test('a lost acknowledged write is a violation', async (t) => {
  const lostFirst = [write('x', [0, 1]), read(null, [2, 3], { p: 2 })];
  t.same(violationOf(t, checkRegisterHistory(lostFirst)).minimal, lostFirst);
  const lostLater = [write('x', [0, 1]), write('y', [2, 3]), read('y', [4, 5], { p: 2 }), write('z', [6, 7])];
  const h = [...lostLater, read('y', [8, 9], { p: 2 })];
  const v = violationOf(t, checkRegisterHistory(h));
  t.same(v.minimal, [write('y', [2, 3]), write('z', [6, 7]), read('y', [8, 9], { p: 2 })]);
});

// ---------- unknown and failed ops ----------

t.test('an unknown write that a later read observes is linearizable', async (t) => {
  const h = [
    write('a', [0, 0], { outcome: 'unknown' }),
    read('a', [5, 6], { p: 2 }),
    read('a', [7, 8], { p: 2 }),
  ];
  t.same(checkRegisterHistory(h), { verdict: 'ok', keys: 1, ops: 3 });
});

t.test('an unknown write that no one observes is linearizable', async (t) => {
  const h = [
    write('a', [0, 0], { outcome: 'unknown' }),
    read(null, [5, 6], { p: 2 }),
    read(null, [7, 8], { p: 2 }),
  ];
  t.same(checkRegisterHistory(h).verdict, 'ok');
});

t.test('an unknown write takes effect at most once and not before it was invoked', async (t) => {
  const once = [
    write('a', [0, 0], { outcome: 'unknown' }),
    read('a', [5, 6], { p: 2 }),
    read(null, [7, 8], { p: 2 }),
  ];
  t.same(violationOf(t, checkRegisterHistory(once)).minimal, once);
  const early = [read('a', [0, 1], { p: 2 }), write('a', [2, 2], { outcome: 'unknown' })];
  t.same(violationOf(t, checkRegisterHistory(early)).minimal, early);
});

t.test('an unknown cas may have swapped or not', async (t) => {
  const prefix = [write('a', [0, 1]), cas('a', 'b', false, [2, 2], { outcome: 'unknown', p: 2 })];
  t.same(checkRegisterHistory([...prefix, read('b', [5, 6])]).verdict, 'ok', 'swapped');
  t.same(checkRegisterHistory([...prefix, read('a', [5, 6])]).verdict, 'ok', 'did not swap');
  const mismatch = [write('c', [0, 1]), cas('a', 'b', false, [2, 2], { outcome: 'unknown', p: 2 })];
  violationOf(t, checkRegisterHistory([...mismatch, read('b', [5, 6])]));
});

t.test('unknown reads are dropped, whatever result they carry', async (t) => {
  const h = [write('a', [0, 1]), read('nonsense', [2, 3], { outcome: 'unknown' })];
  t.same(checkRegisterHistory(h), { verdict: 'ok', keys: 1, ops: 1 });
});

t.test('a failed write whose value is read later is a violation; failed ops are not counted', async (t) => {
  const failed = write('a', [0, 1], { outcome: 'fail' });
  const seen = read('a', [2, 3], { p: 2 });
  const v = violationOf(t, checkRegisterHistory([failed, seen]));
  t.equal(v.ops, 1);
  t.same(v.minimal, [seen]);
  t.same(checkRegisterHistory([failed, read(null, [2, 3])]), { verdict: 'ok', keys: 1, ops: 1 });
});

t.test('an unknown write can explain a failed compare, and then must have happened', async (t) => {
  const h = [
    write('a', [0, 1]),
    write('b', [2, 2], { outcome: 'unknown', p: 2 }),
    cas('a', 'c', false, [5, 6]),
  ];
  t.same(checkRegisterHistory(h).verdict, 'ok');
  // Without the unknown write the failed compare is wrong already: that is the minimal story.
  const after = [...h, read('a', [7, 8])];
  t.same(violationOf(t, checkRegisterHistory(after)).minimal, [h[0], h[2]]);
});

t.test('chains of unknown cas ops can explain reads and failed compares', async (t) => {
  const chain = [
    write('a', [0, 1]),
    cas('a', 'b', false, [2, 2], { outcome: 'unknown', p: 2 }),
    cas('b', 'c', false, [3, 3], { outcome: 'unknown', p: 3 }),
  ];
  t.same(checkRegisterHistory([...chain, read('c', [5, 6])]).verdict, 'ok', 'a -> b -> c');
  t.same(checkRegisterHistory([...chain, cas('b', 'x', false, [5, 6]), read('c', [7, 8])]).verdict, 'ok');
  t.same(checkRegisterHistory([...chain, cas('b', 'x', false, [5, 6]), read('b', [7, 8])]).verdict, 'ok');
  const backwards = [...chain, read('c', [5, 6]), read('b', [7, 8])];
  t.same(violationOf(t, checkRegisterHistory(backwards)).minimal, backwards);
});

// ---------- keys ----------

t.test('a violation on one key among many clean keys is attributed to that key', async (t) => {
  const h: RegisterOp[] = [];
  for (let k = 0; k < 30; k++) {
    const key = `key-${k}`;
    h.push(write(`v${k}`, [k, k + 10], { key, p: 1 }), read(`v${k}`, [k + 11, k + 12], { key, p: 2 }));
  }
  t.same(checkRegisterHistory(h), { verdict: 'ok', keys: 30, ops: 60 });
  const bad = read('v6', [100, 101], { key: 'key-17', p: 3 });
  const v = violationOf(t, checkRegisterHistory([...h, bad]));
  t.equal(v.key, 'key-17');
  t.equal(v.ops, 3);
  t.same(v.minimal, [bad]);
});

t.test('the same value on different keys does not leak between them', async (t) => {
  const h = [write('a', [0, 1], { key: 'x' }), read('a', [2, 3], { key: 'y' })];
  t.equal(violationOf(t, checkRegisterHistory(h)).key, 'y');
});

// ---------- generated histories ----------

/** One step of a generated execution; `fate` says whether it happens and what the client learns. */
interface Step {
  readonly key: string;
  readonly kind: RegisterOp['kind'];
  readonly value: string | null;
  readonly expect: string | null;
  /** With unique values, whether a cas expects the current value (else one that never matches). */
  readonly expectCurrent: boolean;
  readonly client: number;
  readonly leadMs: number;
  readonly lagMs: number;
  readonly fate: 'ok' | 'unknown-applied' | 'unknown-lost' | 'fail';
}

const valueArb = fc.constantFrom<string | null>('a', 'b', 'c', null);
const stepArb: fc.Arbitrary<Step> = fc.record({
  key: fc.constantFrom('x', 'y', 'z'),
  kind: fc.constantFrom<RegisterOp['kind']>('read', 'write', 'cas', 'cas'),
  value: valueArb,
  expect: valueArb,
  expectCurrent: fc.boolean(),
  client: fc.nat(),
  leadMs: fc.nat(40),
  lagMs: fc.nat(40),
  fate: fc.constantFrom<Step['fate']>(
    'ok',
    'ok',
    'ok',
    'ok',
    'ok',
    'ok',
    'unknown-applied',
    'unknown-lost',
    'fail',
  ),
});

interface ExecutionOptions {
  readonly clients: number;
  /** Put every op on this key instead of the step's. */
  readonly onlyKey?: string;
  /** Write a fresh value per step, as Jepsen does, instead of the step's (recurring) one. */
  readonly uniqueValues?: boolean;
}

/**
 * Runs the steps against a sequential register in order, step i taking effect at time 10*i, inside
 * its op's [invoke, complete] interval; so the true order is a linearization of the history. A
 * client is busy until its previous op completed (forever, if unknown); if the chosen one is busy
 * a new client is used.
 */
function executedHistory(steps: readonly Step[], options: ExecutionOptions): RegisterOp[] {
  const register = new Map<string, string | null>();
  const busyUntil: number[] = Array.from({ length: options.clients }, () => Number.NEGATIVE_INFINITY);
  const history: RegisterOp[] = [];
  steps.forEach((s, i) => {
    const key = options.onlyKey ?? s.key;
    const effectAt = 10 * i;
    let process = s.client % options.clients;
    if (busyUntil[process]! > effectAt) process = busyUntil.push(Number.NEGATIVE_INFINITY) - 1;
    const invokeTime = Math.max(busyUntil[process]!, effectAt - s.leadMs);
    const completeTime = effectAt + s.lagMs;
    const outcome: Outcome = s.fate === 'ok' ? 'ok' : s.fate === 'fail' ? 'fail' : 'unknown';
    busyUntil[process] = outcome === 'unknown' ? Number.POSITIVE_INFINITY : completeTime;
    const happens = s.fate === 'ok' || s.fate === 'unknown-applied';
    const current = register.get(key) ?? null;
    const value = options.uniqueValues === true ? `v${i}` : s.value;
    const expect = options.uniqueValues === true && s.expectCurrent ? current : s.expect;
    const common = { process, key, invokeTime, completeTime, outcome };
    if (s.kind === 'read') {
      history.push(
        outcome === 'ok' ? { ...common, kind: 'read', result: current } : { ...common, kind: 'read' },
      );
    } else if (s.kind === 'write') {
      if (happens) register.set(key, value);
      history.push({ ...common, kind: 'write', value });
    } else {
      const swapped = current === expect;
      if (happens && swapped) register.set(key, value);
      const op: RegisterOp = { ...common, kind: 'cas', value, expect };
      history.push(outcome === 'ok' ? { ...op, casSwapped: swapped } : op);
    }
  });
  return history;
}

/** Three ops on key k after everything else that no order explains: a read of an overwritten value. */
function staleTail(afterSteps: number): RegisterOp[] {
  const startMs = 10 * afterSteps + 100;
  return [
    write('zz1', [startMs, startMs + 1], { p: 1000 }),
    write('zz2', [startMs + 2, startMs + 3], { p: 1000 }),
    read('zz1', [startMs + 4, startMs + 5], { p: 1001 }),
  ];
}

function generated(steps: number, seed: number, options: ExecutionOptions): RegisterOp[] {
  return executedHistory(fc.sample(stepArb, { numRuns: steps, seed }), options);
}

// ---------- minimisation ----------

t.test('the minimal sub-history is a non-linearizable subset of the key history', async (t) => {
  const histories: RegisterOp[][] = [
    [write('a', [0, 1]), write('b', [2, 3]), read('a', [4, 5])],
    [
      write('a', [0, 50], { p: 1 }),
      write('b', [0, 50], { p: 2 }),
      read('b', [10, 11]),
      read('a', [12, 13]),
      read('b', [14, 15]),
    ],
    pathological(8),
    [...generated(60, 7, { clients: 4, onlyKey: 'k' }), ...staleTail(60)],
    [...generated(400, 7, { clients: 4, onlyKey: 'k', uniqueValues: true }), ...staleTail(400)],
    [...generated(300, 8, { clients: 3 }), read('v17', [5000, 5001], { key: 'y' })],
  ];
  for (const h of histories) {
    const v = violationOf(t, checkRegisterHistory(h));
    const keyOps = h.filter((op) => op.key === v.key);
    t.ok(v.minimal.length <= keyOps.length, 'no larger than the input');
    t.ok(
      v.minimal.every((op) => keyOps.includes(op)),
      'made of the input ops',
    );
    t.equal(checkRegisterHistory(v.minimal).verdict, 'violation', 'still not linearizable');
  }
});

t.test(
  'a stale read after thousands of ops, hundreds unknown, shrinks to the three ops that show it',
  async (t) => {
    const h = generated(3000, 11, { clients: 5, onlyKey: 'k', uniqueValues: true });
    t.ok(h.filter((op) => op.outcome === 'unknown').length > 500, 'many unknown ops');
    const tail = staleTail(3000);
    const v = violationOf(t, checkRegisterHistory([...h, ...tail]));
    t.equal(v.key, 'k');
    t.same(v.minimal, tail);
  },
);

t.test(
  'a stale read after recurring values and unknown ops shrinks to the three ops that show it',
  async (t) => {
    const tail = staleTail(60);
    const v = violationOf(
      t,
      checkRegisterHistory([...generated(60, 12, { clients: 4, onlyKey: 'k' }), ...tail]),
    );
    t.same(v.minimal, tail);
  },
);

// ---------- bounds ----------

/** One write of x, then n concurrent writes that all overwrite it, then a read of x: refuting it visits every subset. */
function pathological(n: number): RegisterOp[] {
  const h = [write('x', [0, 1], { p: 0 })];
  for (let i = 1; i <= n; i++) h.push(write(`v${i}`, [2, 3], { p: i }));
  h.push(read('x', [4, 5], { p: 0 }));
  return h;
}

t.test('a pathological history yields unknown once a fake clock passes the budget', async (t) => {
  let clockMs = 0;
  let clockReads = 0;
  const now = (): number => {
    clockReads++;
    clockMs += 1000;
    return clockMs;
  };
  const result = checkRegisterHistory(pathological(22), { now });
  t.same(result, { verdict: 'unknown', reason: 'time budget exceeded on key "k" (24 ops)' });
  t.ok(clockReads <= 12, `clock read ${clockReads} times`);
});

t.test('a pathological history with a real clock stops close to its budget', async (t) => {
  const started = performance.now();
  const result = checkRegisterHistory(pathological(26), { timeBudgetMs: 50 });
  t.equal(result.verdict, 'unknown');
  t.ok(performance.now() - started < 5_000, 'did not hang');
});

t.test('the search memo bound yields unknown instead of exhausting memory', async (t) => {
  const result = checkRegisterHistory(pathological(22), { maxCacheBytes: 1024 * 1024 });
  t.same(result, { verdict: 'unknown', reason: 'search memo exceeded 1048576 bytes on key "k" (24 ops)' });
});

t.test('a violation on one key is still reported when another key ran out of budget', async (t) => {
  const bad = [
    write('a', [0, 1], { key: 'other' }),
    write('b', [2, 3], { key: 'other' }),
    read('a', [4, 5], { key: 'other' }),
  ];
  const v = violationOf(
    t,
    checkRegisterHistory([...pathological(22), ...bad], { maxCacheBytes: 1024 * 1024 }),
  );
  t.equal(v.key, 'other');
  t.same(v.minimal, bad);
});

t.test('an exhaustive refutation within budget is a violation, shrunk to one overwrite', async (t) => {
  const h = pathological(10);
  const v = violationOf(t, checkRegisterHistory(h));
  t.equal(v.minimal.length, 3);
  t.equal(v.minimal[0], h[0]);
  t.equal(v.minimal[2], h[h.length - 1]);
});

t.test('thousands of concurrent ops on one key, many unknown, check ok well within the budget', async (t) => {
  for (const uniqueValues of [false, true]) {
    const h = generated(5000, 3, { clients: 5, onlyKey: 'k', uniqueValues });
    const taking = h.filter(
      (op) => op.outcome !== 'fail' && !(op.outcome === 'unknown' && op.kind === 'read'),
    );
    const started = performance.now();
    t.same(checkRegisterHistory(h, { timeBudgetMs: 5_000 }), { verdict: 'ok', keys: 1, ops: taking.length });
    t.comment(
      `uniqueValues=${uniqueValues}: ${h.length} ops in ${Math.round(performance.now() - started)} ms`,
    );
  }
});

t.test('malformed ops are rejected with INVALID_OP', async (t) => {
  const bad: RegisterOp[] = [
    { process: 1, key: 'k', kind: 'read', invokeTime: 0, completeTime: 1, outcome: 'ok' },
    { process: 1, key: 'k', kind: 'write', invokeTime: 0, completeTime: 1, outcome: 'ok' },
    {
      process: 1,
      key: 'k',
      kind: 'cas',
      invokeTime: 0,
      completeTime: 1,
      outcome: 'ok',
      value: 'a',
      expect: null,
    },
    write('a', [5, 4]),
    write('a', [Number.NaN, 4]),
    write('a', [0, Number.POSITIVE_INFINITY]),
  ];
  for (const op of bad) {
    let caught: unknown = null;
    try {
      checkRegisterHistory([op]);
    } catch (err) {
      caught = err;
    }
    t.ok(isCheckerError(caught, 'INVALID_OP'), `rejects ${JSON.stringify(op)}`);
  }
  const pending = write('a', [0, Number.POSITIVE_INFINITY], { outcome: 'unknown' });
  t.same(checkRegisterHistory([pending]).verdict, 'ok', 'an unknown op needs no completeTime');
});

// ---------- properties ----------

const executionArb = fc.record({
  clients: fc.integer({ min: 1, max: 6 }),
  uniqueValues: fc.boolean(),
  steps: fc.array(stepArb, { maxLength: 80 }),
});

t.test('property: histories of a real sequential execution are linearizable', async (t) => {
  fc.assert(
    fc.property(executionArb, ({ steps, ...options }) => {
      return checkRegisterHistory(executedHistory(steps, options)).verdict === 'ok';
    }),
    { numRuns: 300 },
  );
  t.pass('300 executions checked');
});

t.test('property: one ok read changed to a value never written makes a violation on its key', async (t) => {
  const arb = executionArb
    .map(({ steps, ...options }) => executedHistory(steps, options))
    .filter((h) => h.some((op) => op.kind === 'read' && op.outcome === 'ok'));
  fc.assert(
    fc.property(arb, fc.nat(), (h, pick) => {
      const reads = h.flatMap((op, i) => (op.kind === 'read' && op.outcome === 'ok' ? [i] : []));
      const at = reads[pick % reads.length]!;
      const mutated: RegisterOp = { ...h[at]!, result: 'never-written' };
      const history = h.with(at, mutated);
      const result = checkRegisterHistory(history);
      return (
        result.verdict === 'violation' &&
        result.key === mutated.key &&
        result.minimal.length === 1 &&
        result.minimal[0] === mutated
      );
    }),
    { numRuns: 300 },
  );
  t.pass('300 mutations checked');
});

t.test(
  'property: a stale read appended to a real execution is a violation, shrunk to at most 3 ops',
  async (t) => {
    fc.assert(
      fc.property(executionArb, ({ steps, ...options }) => {
        const tail = staleTail(steps.length).map((op) => ({ ...op, key: 'x' }));
        const result = checkRegisterHistory([...executedHistory(steps, options), ...tail]);
        // The minimal history is some non-linearizable subset no larger than the stale tail: with
        // recurring values it can be another one (a failed cas whose expected value never changed).
        return (
          result.verdict === 'violation' &&
          result.key === 'x' &&
          result.minimal.length <= 3 &&
          !bruteForceLinearizable(result.minimal)
        );
      }),
      { numRuns: 200 },
    );
    t.pass('200 stale reads checked');
  },
);

/** Tries every order (and every subset of the unknown ops) of a small history: the specification, slowly. */
function bruteForceLinearizable(keyOps: readonly RegisterOp[]): boolean {
  const live = keyOps.filter((op) => op.outcome === 'ok' || (op.outcome === 'unknown' && op.kind !== 'read'));
  const used = live.map(() => false);
  const end = (op: RegisterOp): number =>
    op.outcome === 'unknown' ? Number.POSITIVE_INFINITY : op.completeTime;
  const apply = (state: string | null, op: RegisterOp): string | null | undefined => {
    if (op.kind === 'read') return op.result === state ? state : undefined;
    if (op.kind === 'write') return op.value ?? null;
    const matches = op.expect === state;
    if (op.outcome === 'unknown' || op.casSwapped === true) return matches ? (op.value ?? null) : undefined;
    return matches ? undefined : state;
  };
  const extend = (state: string | null): boolean => {
    if (live.every((op, i) => used[i] || op.outcome !== 'ok')) return true;
    for (let i = 0; i < live.length; i++) {
      if (used[i]) continue;
      const op = live[i]!;
      // An op goes next only if no op left to place returned strictly before it was called.
      if (live.some((other, j) => !used[j] && j !== i && end(other) < op.invokeTime)) continue;
      const next = apply(state, op);
      if (next === undefined) continue;
      used[i] = true;
      if (extend(next)) return true;
      used[i] = false;
    }
    return false;
  };
  return extend(null);
}

const smallOpArb: fc.Arbitrary<RegisterOp> = fc
  .record({
    process: fc.nat(3),
    key: fc.constantFrom('x', 'y'),
    kind: fc.constantFrom<RegisterOp['kind']>('read', 'write', 'cas', 'cas'),
    invokeTime: fc.nat(12),
    durationMs: fc.nat(8),
    outcome: fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'unknown', 'unknown', 'fail'),
    value: valueArb,
    expect: valueArb,
    casSwapped: fc.boolean(),
  })
  .map(({ durationMs, value, expect, casSwapped, ...common }): RegisterOp => {
    const op = { ...common, completeTime: common.invokeTime + durationMs };
    if (common.kind === 'read') return op.outcome === 'ok' ? { ...op, result: value } : op;
    if (common.kind === 'write') return { ...op, value };
    return op.outcome === 'ok' ? { ...op, value, expect, casSwapped } : { ...op, value, expect };
  });

t.test('property: verdicts agree with a brute-force oracle on small histories', async (t) => {
  let violations = 0;
  const runs = 3000;
  fc.assert(
    fc.property(fc.array(smallOpArb, { maxLength: 9 }), (h) => {
      const keys = [...new Set(h.map((op) => op.key))];
      const firstBad = keys.find((key) => !bruteForceLinearizable(h.filter((op) => op.key === key)));
      const result = checkRegisterHistory(h);
      if (firstBad === undefined) return result.verdict === 'ok';
      violations++;
      if (result.verdict !== 'violation' || result.key !== firstBad) return false;
      const keyOps = h.filter((op) => op.key === firstBad);
      return result.minimal.every((op) => keyOps.includes(op)) && !bruteForceLinearizable(result.minimal);
    }),
    { numRuns: runs },
  );
  t.ok(violations > runs / 10, `the generator reaches both verdicts (${violations} violations in ${runs})`);
});

t.test('property: the verdict does not depend on the order ops are listed in', async (t) => {
  fc.assert(
    fc.property(fc.array(smallOpArb, { maxLength: 9 }), fc.nat(), (h, seed) => {
      const shuffled = h
        .map((op, i) => ({ op, rank: (Math.imul(i + 1, 0x9e3779b1) ^ seed) >>> 0 }))
        .sort((x, y) => x.rank - y.rank)
        .map(({ op }) => op);
      return checkRegisterHistory(h).verdict === checkRegisterHistory(shuffled).verdict;
    }),
    { numRuns: 500 },
  );
  t.pass('500 shuffles checked');
});
