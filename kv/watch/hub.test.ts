// Proves the watch hub's contract case by case with exact responses: live delivery, catch-up,
// filters, prevKv, compaction, future starts, cancel, progress, backpressure, and its guard rails.

import t from 'tap';
import { isKvError, kvErrorMessage } from '../errors.js';
import { keyBytes } from '../keys.js';
import { ALL_KEYS_FROM } from '../types.js';
import { WATCH_HUB_DEFAULTS, WatchHub, type WatchHubOptions } from './hub.js';
import { Consumer } from './testing/consumer.js';
import { describeResponse } from './testing/describe.js';
import { type FakeOp, FakeSource } from './testing/fake-source.js';
import type { WatchRequest } from './watcher.js';

const k = keyBytes;
const COMPACTED = kvErrorMessage('COMPACTED');

function setup(options: WatchHubOptions = {}, sourceOptions: { overshoot?: boolean } = {}) {
  const src = new FakeSource(sourceOptions);
  const hub = new WatchHub(src, options);
  /** One txn applied and notified; returns its revision. */
  const apply = (...ops: FakeOp[]): number => {
    const events = src.write(ops);
    hub.notify(src.current, events);
    return src.current;
  };
  const watch = (req: WatchRequest, consumer = new Consumer()) => {
    const watcher = hub.watch(req, consumer.sink);
    return { watcher, consumer, seen: () => consumer.responses.map(describeResponse) };
  };
  return { src, hub, apply, watch };
}

t.test('live: a watch from now gets each write on its key, one response per revision', async (t) => {
  const { apply, watch } = setup();
  apply({ put: 'a', value: 'old' });
  const w = watch({ key: k('a') });
  apply({ put: 'a', value: 'v1' });
  apply({ put: 'b', value: 'x' });
  apply({ del: 'a' }, { put: 'b', value: 'y' });
  t.strictSame(w.seen(), ['#0 r2 created', '#0 r3 [put a@3=v1]', '#0 r5 [delete a@5]']);
  t.equal(w.watcher.state, 'synced');
});

t.test('catch-up: history from the start revision, then live, with nothing lost or repeated', async (t) => {
  const { src, apply, watch } = setup();
  for (const v of ['v2', 'v3', 'v4', 'v5']) apply({ put: 'a', value: v });
  const readsBefore = src.reads;
  const w = watch({ key: k('a'), startRevision: 3 });
  t.strictSame(w.seen(), ['#0 r5 created', '#0 r5 [put a@3=v3, put a@4=v4, put a@5=v5]']);
  t.equal(src.reads, readsBefore + 1, 'one read, made by watch() itself');
  t.equal(w.watcher.state, 'synced');
  apply({ put: 'a', value: 'v6' });
  t.strictSame(w.seen().slice(2), ['#0 r6 [put a@6=v6]']);
});

t.test('catch-up reads whole revisions in batches bounded by catchUpBatchEvents', async (t) => {
  for (const overshoot of [false, true]) {
    const { hub, apply, watch } = setup({ catchUpBatchEvents: 2 }, { overshoot });
    apply({ put: 'a' }); // 2
    apply({ put: 'a' }, { put: 'b' }, { put: 'c' }); // 3: three events, more than a batch
    apply({ put: 'b' }); // 4
    apply({ put: 'c' }); // 5
    apply({ put: 'a' }); // 6
    const w = watch({ key: k('a'), rangeEnd: ALL_KEYS_FROM, startRevision: 2 });
    while (hub.stats().unsynced > 0) hub.syncUnsynced();
    t.strictSame(
      w.seen(),
      [
        '#0 r6 created',
        '#0 r6 [put a@2=a@2]',
        '#0 r6 [put a@3=a@3, put b@3=b@3, put c@3=c@3]',
        '#0 r6 [put b@4=b@4, put c@5=c@5]',
        '#0 r6 [put a@6=a@6]',
      ],
      overshoot
        ? 'a source that finishes the crossing revision is trimmed to whole revisions'
        : 'strict source',
    );
  }
});

t.test('prevKv is sent to the watchers that asked for it only', async (t) => {
  const { apply, watch } = setup();
  apply({ put: 'a', value: 'one' });
  const withPrev = watch({ key: k('a'), prevKv: true });
  const without = watch({ key: k('a') });
  const historyWithPrev = watch({ key: k('a'), prevKv: true, startRevision: 2 });
  apply({ put: 'a', value: 'two' });
  apply({ del: 'a' });
  t.strictSame(withPrev.seen(), [
    '#0 r2 created',
    '#0 r3 [put a@3=two prev=a@2=one]',
    '#0 r4 [delete a@4 prev=a@3=two]',
  ]);
  t.strictSame(without.seen(), ['#1 r2 created', '#1 r3 [put a@3=two]', '#1 r4 [delete a@4]']);
  t.notOk('prevKv' in without.consumer.events()[0]!, 'no prevKv property at all');
  t.strictSame(historyWithPrev.seen(), [
    '#2 r2 created',
    '#2 r2 [put a@2=one]',
    '#2 r3 [put a@3=two prev=a@2=one]',
    '#2 r4 [delete a@4 prev=a@3=two]',
  ]);
});

t.test('noPut and noDelete filter live and history events', async (t) => {
  const { apply, watch } = setup();
  apply({ put: 'a' }); // 2
  apply({ del: 'a' }); // 3
  const noPut = watch({ key: k('a'), noPut: true, startRevision: 2 });
  const noDelete = watch({ key: k('a'), noDelete: true, startRevision: 2 });
  apply({ put: 'a' }); // 4
  apply({ del: 'a' }); // 5
  t.strictSame(noPut.seen(), ['#0 r3 created', '#0 r3 [delete a@3]', '#0 r5 [delete a@5]']);
  t.strictSame(noDelete.seen(), ['#1 r3 created', '#1 r3 [put a@2=a@2]', '#1 r4 [put a@4=a@4]']);
});

t.test('range [key, end) and from-key watches get exactly the keys they cover', async (t) => {
  const { apply, watch } = setup();
  const range = watch({ key: k('b'), rangeEnd: k('d') });
  const fromC = watch({ key: k('c'), rangeEnd: ALL_KEYS_FROM });
  const all = watch({ key: new Uint8Array(0), rangeEnd: ALL_KEYS_FROM });
  apply({ put: 'a' }, { put: 'b' }, { put: 'c' }, { put: 'd' }); // 2
  t.strictSame(range.seen(), ['#0 r1 created', '#0 r2 [put b@2=b@2, put c@2=c@2]']);
  t.strictSame(fromC.seen(), ['#1 r1 created', '#1 r2 [put c@2=c@2, put d@2=d@2]']);
  t.strictSame(all.seen(), ['#2 r1 created', '#2 r2 [put a@2=a@2, put b@2=b@2, put c@2=c@2, put d@2=d@2]']);
});

t.test('a compacted start revision: created, then compactRevision and canceled', async (t) => {
  const { src, hub, apply, watch } = setup();
  for (let i = 0; i < 4; i++) apply({ put: 'a' }); // 2..5
  src.compact(4);
  const readsBefore = src.reads;
  const w = watch({ key: k('a'), startRevision: 3 });
  t.strictSame(w.seen(), ['#0 r5 created', `#0 r5 compacted@4 canceled(${COMPACTED})`]);
  t.equal(w.watcher.state, 'canceled');
  t.equal(src.reads, readsBefore, 'never reads below the compact revision');
  const atCompact = watch({ key: k('a'), startRevision: 4 });
  t.strictSame(atCompact.seen(), ['#1 r5 created', '#1 r5 [put a@4=a@4, put a@5=a@5]'], 'ids are not reused');
  t.strictSame(hub.stats().watchers, 1);
});

t.test(
  'a lagging watcher whose next revision is compacted away is canceled with compactRevision',
  async (t) => {
    const { src, hub, apply, watch } = setup({ maxBufferedEventsPerWatcher: 2 });
    const w = watch({ key: k('a') });
    w.consumer.stall();
    for (let i = 0; i < 5; i++) apply({ put: 'a' }); // 2..6: 2 and 3 held, 4 on fell behind
    t.equal(w.watcher.state, 'unsynced');
    src.compact(6);
    w.consumer.resume();
    hub.syncUnsynced();
    t.strictSame(w.seen(), [
      '#0 r1 created',
      '#0 r2 [put a@2=a@2]',
      '#0 r3 [put a@3=a@3]',
      `#0 r6 compacted@6 canceled(${COMPACTED})`,
    ]);
    t.strictSame(hub.stats(), {
      watchers: 0,
      synced: 0,
      unsynced: 0,
      pendingEvents: 0,
      pendingBytes: 0,
      fellBehindTotal: 1,
    });
  },
);

t.test('a future start revision is accepted and waits for that revision', async (t) => {
  const { src, hub, apply, watch } = setup();
  apply({ put: 'a' }); // 2
  const w = watch({ key: k('a'), startRevision: 5 });
  t.equal(w.watcher.state, 'synced', 'waits among the synced, as in etcd');
  apply({ put: 'a' }); // 3
  apply({ put: 'a' }); // 4
  hub.syncUnsynced();
  apply({ put: 'a' }); // 5
  apply({ put: 'a' }); // 6
  t.strictSame(w.seen(), ['#0 r2 created', '#0 r5 [put a@5=a@5]', '#0 r6 [put a@6=a@6]']);
  t.equal(src.reads, 0);
});

t.test(
  'start revision current+1 is live at once; start 0 on a fresh store sees the first write',
  async (t) => {
    const { apply, watch } = setup();
    const fresh = watch({ key: k('a') });
    apply({ put: 'a' }); // 2
    const next = watch({ key: k('a'), startRevision: 3 });
    apply({ put: 'a' }); // 3
    t.strictSame(fresh.seen(), ['#0 r1 created', '#0 r2 [put a@2=a@2]', '#0 r3 [put a@3=a@3]']);
    t.strictSame(next.seen(), ['#1 r2 created', '#1 r3 [put a@3=a@3]']);
  },
);

t.test('cancel: a canceled response, then nothing; a caller may reuse the id', async (t) => {
  const { hub, apply, watch } = setup();
  const w = watch({ key: k('a') });
  apply({ put: 'a' }); // 2
  t.equal(hub.cancel(0), true);
  apply({ put: 'a' }); // 3
  t.equal(hub.cancel(0), false, 'already gone');
  t.equal(w.watcher.cancel(), false);
  t.strictSame(w.seen(), ['#0 r1 created', '#0 r2 [put a@2=a@2]', '#0 r2 canceled']);
  t.equal(w.watcher.state, 'canceled');
  const again = watch({ key: k('a'), id: 0 });
  t.equal(again.watcher.cancel(), true, 'through the handle');
  t.strictSame(again.seen(), ['#0 r3 created', '#0 r3 canceled']);
  const fromSink = new Consumer();
  const selfCanceling = hub.watch({ key: k('a'), startRevision: 2 }, (resp) => {
    fromSink.sink(resp);
    if (resp.created === true) hub.cancel(resp.watchId);
  });
  t.strictSame(fromSink.responses.map(describeResponse), ['#1 r3 created', '#1 r3 canceled']);
  t.equal(selfCanceling.state, 'canceled', 'canceled inside the created callback: no history read');
  t.strictSame(hub.stats().watchers, 0);
});

t.test('a stalled consumer never holds more than the bound, and does not slow notify', async (t) => {
  const bound = 8;
  const { src, hub, apply, watch } = setup({ maxBufferedEventsPerWatcher: bound });
  const stalled = watch({ key: k('a') });
  const healthy = watch({ key: k('a') });
  stalled.consumer.stall();
  for (let i = 0; i < 100; i++) apply({ put: 'a' }); // 2..101
  t.equal(stalled.consumer.maxHeldEvents, bound, 'filled to the bound, never past it');
  t.equal(stalled.consumer.responses.length, 1 + bound, 'nothing sent once it fell behind');
  t.equal(healthy.consumer.events().length, 100, 'the healthy watcher got every revision');
  t.equal(src.reads, 0, 'notify never reads storage');
  t.strictSame(hub.stats(), {
    watchers: 2,
    synced: 1,
    unsynced: 1,
    pendingEvents: bound,
    pendingBytes: bound * ('a'.length + 'a@2'.length),
    fellBehindTotal: 1,
  });
  hub.syncUnsynced();
  t.equal(src.reads, 0, 'a full consumer costs no read');
  stalled.consumer.drain(bound / 2);
  hub.syncUnsynced();
  t.equal(src.reads, 1, 'resumes once drained to half the bound');
  t.equal(stalled.consumer.heldEvents, bound, 'refilled to the bound by a read sized to the room');
  stalled.consumer.resume();
  let rounds = 0;
  while (hub.stats().unsynced > 0) {
    hub.syncUnsynced();
    rounds++;
  }
  t.equal(rounds, 11, '88 missed revisions, 8 per read, then one empty read joins the synced');
  apply({ put: 'a' }); // 102
  const revisions = stalled.consumer.events().map((ev) => ev.kv.modRevision);
  t.strictSame(
    revisions,
    Array.from({ length: 101 }, (_, i) => i + 2),
    'every revision once, in order',
  );
  t.equal(stalled.consumer.maxHeldEvents, bound);
});

t.test('one revision larger than the bound gets through an empty buffer only', async (t) => {
  const { hub, apply, watch } = setup({ maxBufferedEventsPerWatcher: 2 });
  const w = watch({ key: k('a'), rangeEnd: ALL_KEYS_FROM });
  w.consumer.stall();
  apply({ put: 'a' }, { put: 'b' }, { put: 'c' }); // 2: three events into an empty buffer
  apply({ put: 'a' }); // 3: buffer not empty and over: falls behind
  apply({ put: 'a' }, { put: 'b' }, { put: 'c' }); // 4
  t.strictSame(w.seen(), ['#0 r1 created', '#0 r2 [put a@2=a@2, put b@2=b@2, put c@2=c@2]']);
  w.consumer.resume();
  w.consumer.stall();
  hub.syncUnsynced(); // room 2: revision 3 fits
  hub.syncUnsynced(); // room 1 and pending 1: revision 4 (3 events) must wait for an empty buffer
  t.equal(w.consumer.responses.length, 3);
  w.consumer.resume();
  hub.syncUnsynced();
  t.strictSame(w.seen().slice(2), ['#0 r4 [put a@3=a@3]', '#0 r4 [put a@4=a@4, put b@4=b@4, put c@4=c@4]']);
  t.equal(w.consumer.maxHeldEvents, 3);
});

t.test(
  'progress: progressAll reaches quiet synced watchers that asked; requestProgress any synced one',
  async (t) => {
    const { hub, apply, watch } = setup({ maxBufferedEventsPerWatcher: 1 });
    const quiet = watch({ key: k('q'), progressNotify: true });
    const busy = watch({ key: k('b'), progressNotify: true });
    const notAsked = watch({ key: k('q') });
    const behind = watch({ key: k('s'), progressNotify: true });
    behind.consumer.stall();
    apply({ put: 's' }); // 2
    apply({ put: 's' }); // 3: behind falls behind
    apply({ put: 'b' }); // 4
    t.equal(hub.progressAll(), 1);
    t.strictSame(quiet.seen(), ['#0 r1 created', '#0 r4 progress']);
    t.strictSame(busy.seen(), ['#1 r1 created', '#1 r4 [put b@4=b@4]'], 'skipped: it just got events');
    t.strictSame(notAsked.seen(), ['#2 r1 created']);
    t.strictSame(behind.seen(), ['#3 r1 created', '#3 r2 [put s@2=s@2]'], 'unsynced: no progress claim');
    t.equal(hub.progressAll(), 2, 'quiet and busy now; behind still unsynced');
    t.strictSame(busy.seen().slice(2), ['#1 r4 progress']);
    t.equal(notAsked.watcher.requestProgress(), true);
    t.equal(hub.requestProgress(3), false, 'unsynced');
    t.equal(hub.requestProgress(99), false, 'unknown');
    t.strictSame(notAsked.seen().slice(1), ['#2 r4 progress']);
    behind.consumer.resume();
    hub.syncUnsynced(); // sends revision 3, a read sized to the room of one event
    t.equal(behind.watcher.requestProgress(), false, 'not yet known to be caught up');
    hub.syncUnsynced(); // an empty read from 4: synced
    t.equal(behind.watcher.requestProgress(), true);
    t.strictSame(behind.seen().slice(2), ['#3 r4 [put s@3=s@3]', '#3 r4 progress']);
  },
);

t.test('bad requests and options are refused with coded errors', async (t) => {
  const { hub, watch } = setup();
  const code = (c: string) => ({ name: 'KvError', code: c });
  t.throws(() => watch({ key: k('b'), rangeEnd: k('b') }), code('WATCH_EMPTY_RANGE'));
  t.throws(() => watch({ key: k('b'), rangeEnd: k('a') }), code('WATCH_EMPTY_RANGE'));
  t.throws(() => watch({ key: k('b'), startRevision: -1 }), code('BAD_REQUEST'));
  t.throws(() => watch({ key: k('b'), startRevision: 1.5 }), code('BAD_REQUEST'));
  t.throws(() => watch({ key: k('b'), id: -2 }), code('BAD_REQUEST'));
  watch({ key: k('b'), id: 7 });
  t.throws(() => watch({ key: k('c'), id: 7 }), code('WATCH_DUPLICATE_ID'));
  t.throws(() => new WatchHub(new FakeSource(), { maxBufferedEventsPerWatcher: 0 }), code('BAD_REQUEST'));
  t.throws(() => new WatchHub(new FakeSource(), { catchUpBatchEvents: 1.5 }), code('BAD_REQUEST'));
  t.equal(hub.stats().watchers, 1, 'refused requests leave nothing behind');
  t.strictSame(WATCH_HUB_DEFAULTS, {
    maxBufferedEventsPerWatcher: 1024,
    catchUpBatchEvents: 1000,
    maxWatchersPerSync: 512,
  });
});

t.test('automatic ids increase and skip ids callers chose', async (t) => {
  const { watch } = setup();
  t.equal(watch({ key: k('a'), id: 1 }).watcher.id, 1);
  t.equal(watch({ key: k('a') }).watcher.id, 0);
  t.equal(watch({ key: k('a') }).watcher.id, 2);
});

t.test('a sink that throws loses its watch; the others carry on', async (t) => {
  const errors: string[] = [];
  const { hub, apply, watch } = setup({ onSinkError: (id, err) => errors.push(`${id}: ${String(err)}`) });
  const before = watch({ key: k('a') });
  hub.watch({ key: k('a') }, (resp) => {
    if (resp.events.length > 0) throw new Error('boom');
  });
  const after = watch({ key: k('a') });
  apply({ put: 'a' }); // 2
  apply({ put: 'a' }); // 3
  t.strictSame(errors, ['1: Error: boom']);
  t.equal(before.consumer.events().length, 2);
  t.equal(after.consumer.events().length, 2);
  t.equal(hub.stats().watchers, 2);
});

t.test('by default a sink error is rethrown from a microtask, after notify has finished', async (t) => {
  const scheduled: Array<() => void> = [];
  const original = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (fn) => scheduled.push(fn);
  t.teardown(() => {
    globalThis.queueMicrotask = original;
  });
  const { apply, watch, hub } = setup();
  hub.watch({ key: k('a') }, (resp) => {
    if (resp.events.length > 0) throw new Error('boom');
  });
  const other = watch({ key: k('a') });
  apply({ put: 'a' });
  globalThis.queueMicrotask = original;
  t.equal(other.consumer.events().length, 1, 'notify completed');
  t.equal(scheduled.length, 1);
  t.throws(() => scheduled[0]!(), /boom/);
});

t.test('writing to the store from inside a sink is refused (it would reorder revisions)', async (t) => {
  const errors: unknown[] = [];
  const src = new FakeSource();
  const hub = new WatchHub(src, { onSinkError: (_id, err) => errors.push(err) });
  hub.watch({ key: k('a') }, (resp) => {
    if (resp.events.length > 0) hub.notify(src.current, src.write([{ put: 'b' }]));
  });
  hub.notify(2, src.write([{ put: 'a' }]));
  t.equal(errors.length, 1);
  t.ok(isKvError(errors[0], 'WATCH_INVARIANT'));
  t.match(String(errors[0]), /notify called from inside a watch sink/);
});

t.test('notify checks its contract: current revision, increasing, events of that revision', async (t) => {
  const { src, hub, watch } = setup();
  watch({ key: k('a') });
  const invariant = { name: 'KvError', code: 'WATCH_INVARIANT' };
  const events = src.write([{ put: 'a' }]); // 2
  t.throws(() => hub.notify(3, events), invariant, 'not the store revision');
  hub.notify(2, events);
  t.throws(() => hub.notify(2, events), invariant, 'not increasing');
  const next = src.write([{ put: 'a' }]); // 3
  t.throws(() => hub.notify(3, events), invariant, 'events of another revision');
  t.throws(() => hub.notify(3, next), invariant, 'a failed notify still counts as seen');
});

t.test('a source returning history out of order or out of range is caught', async (t) => {
  const src = new FakeSource();
  src.write([{ put: 'a' }]);
  src.write([{ put: 'b' }]);
  const history = src.history();
  const broken = { ...src, currentRevision: () => 3, compactRevision: () => 0 };
  const cases = [
    { name: 'out of order', read: [history[1]!, history[0]!] },
    { name: 'another key', read: [history[1]!] },
  ];
  for (const c of cases) {
    const hub = new WatchHub({ ...broken, eventsBetween: () => c.read });
    t.throws(() => hub.watch({ key: k('a'), startRevision: 2 }, () => {}), /eventsBetween/, c.name);
  }
});

t.test('restore: after a snapshot install every synced watcher catches up from storage', async (t) => {
  const { src, hub, apply, watch } = setup();
  const w = watch({ key: k('a') });
  const future = watch({ key: k('a'), startRevision: 6 });
  apply({ put: 'a' }); // 2
  // A snapshot brings revisions 3..5 without notify.
  src.write([{ put: 'a' }]);
  src.write([{ put: 'b' }]);
  src.write([{ put: 'a' }]);
  hub.restore();
  t.strictSame(hub.stats().unsynced, 2);
  hub.syncUnsynced();
  apply({ put: 'a' }); // 6
  t.strictSame(w.seen(), [
    '#0 r1 created',
    '#0 r2 [put a@2=a@2]',
    '#0 r5 [put a@3=a@3, put a@5=a@5]',
    '#0 r6 [put a@6=a@6]',
  ]);
  t.strictSame(future.seen(), ['#1 r1 created', '#1 r6 [put a@6=a@6]']);
});

t.test('a Promise returned by the sink holds the events until it settles', async (t) => {
  const { hub, apply } = setup({ maxBufferedEventsPerWatcher: 1 });
  const settle: Array<() => void> = [];
  const got: number[] = [];
  hub.watch({ key: k('a') }, (resp) => {
    got.push(...resp.events.map((ev) => ev.kv.modRevision));
    return new Promise<void>((resolve) => settle.push(resolve));
  });
  hub.watch({ key: k('b') }, () => Promise.reject(new Error('stream closed')));
  apply({ put: 'a' }, { put: 'b' }); // 2
  t.strictSame(hub.stats().pendingEvents, 2);
  await Promise.resolve();
  t.strictSame(hub.stats().pendingEvents, 1, 'a rejected drain counts as drained');
  apply({ put: 'a' }); // 3: falls behind
  for (const s of settle.splice(0)) s();
  await Promise.resolve();
  t.strictSame(hub.stats().pendingEvents, 0);
  hub.syncUnsynced();
  t.strictSame(got, [2, 3]);
});

t.test(
  'syncUnsynced serves at most maxWatchersPerSync, round robin, one read per shared range',
  async (t) => {
    const { src, hub, apply, watch } = setup({ maxWatchersPerSync: 2, maxBufferedEventsPerWatcher: 1 });
    const ws = [0, 1, 2].map(() => watch({ key: k('a') }));
    for (const w of ws) w.consumer.stall();
    apply({ put: 'a' }); // 2: each holds one event
    apply({ put: 'a' }); // 3: all fall behind at 3
    apply({ put: 'a' }); // 4
    for (const w of ws) w.consumer.resume();
    const rounds: string[] = [];
    while (hub.stats().unsynced > 0) {
      const readsBefore = src.reads;
      const report = hub.syncUnsynced();
      rounds.push(`reads ${src.reads - readsBefore} sent ${report.sentEvents} unsynced ${report.unsynced}`);
    }
    t.strictSame(rounds, [
      'reads 1 sent 2 unsynced 3', // #0 and #1 at 3 share a read; both go to the back
      'reads 2 sent 2 unsynced 2', // #2 at 3, #0 at 4 (joins the synced)
      'reads 1 sent 2 unsynced 0', // #1 and #2 at 4 share a read
    ]);
    for (const w of ws)
      t.strictSame(
        w.consumer.events().map((ev) => ev.kv.modRevision),
        [2, 3, 4],
      );
  },
);

t.test('pending gauges and notifyNeedsPrevKv follow the watchers', async (t) => {
  const { hub, apply, watch } = setup();
  t.equal(hub.notifyNeedsPrevKv(), false);
  const w = watch({ key: k('a'), prevKv: true });
  t.equal(hub.notifyNeedsPrevKv(), true);
  w.consumer.stall();
  apply({ put: 'a', value: '12345' }); // 2
  apply({ put: 'a', value: '6' }); // 3
  t.strictSame(hub.stats().pendingEvents, 2);
  t.strictSame(hub.stats().pendingBytes, 1 + 5 + (1 + 1 + 1 + 5), 'keys, values and prevKv');
  w.consumer.drain(1);
  t.strictSame(hub.stats().pendingBytes, 1 + 1 + 1 + 5);
  w.watcher.cancel();
  t.strictSame(hub.stats().pendingEvents, 0, "a canceled watcher's pending is dropped at once");
  w.consumer.resume();
  t.strictSame(hub.stats().pendingEvents, 0, 'and late drains do not count twice');
  t.equal(hub.notifyNeedsPrevKv(), false);
});
