// Proves, over random interleavings of writes, watch creation at random start revisions, consumer
// stalls, syncs, progress ticks, cancels and compactions, that every watcher receives exactly its
// filtered history from its start revision: in order, once, each revision in one response.

import fc from 'fast-check';
import t from 'tap';
import { propertyChecker } from '../../test/property.js';
import { inInterval, keyBytes, keyInterval, keyString } from '../keys.js';
import { ALL_KEYS_FROM, type Event } from '../types.js';
import { WatchHub } from './hub.js';
import { Consumer } from './testing/consumer.js';
import { describeEvent, describeResponse } from './testing/describe.js';
import { FakeSource } from './testing/fake-source.js';
import type { Watcher, WatchRequest, WatchResponse } from './watcher.js';

const FILE = 'kv/watch/hub.property.test.ts';
const checkProperty = propertyChecker(FILE);
const KEYS = ['a', 'b', 'c', 'd', 'e'];
/** Small, so stalls matter; a txn may hold more events than this (the oversize rule). */
const BOUND_EVENTS = 4;
const MAX_TXN_KEYS = KEYS.length;
const CATCH_UP_BATCH_EVENTS = 3;
const WATCHERS_PER_SYNC = 3;
/** Syncs allowed to bring every watcher up to date at the end of a run. */
const MAX_FINAL_SYNCS = 10_000;
const MAX_OPS = 150;

type Op =
  | { readonly write: readonly { readonly key: number; readonly del: boolean }[] }
  | {
      readonly watch: {
        readonly kind: 'single' | 'range' | 'from';
        readonly key: number;
        readonly span: number;
        readonly start: { readonly past: number } | { readonly future: number } | 'now';
        readonly prevKv: boolean;
        readonly noPut: boolean;
        readonly noDelete: boolean;
        readonly progressNotify: boolean;
      };
    }
  | { readonly stall: number }
  | { readonly resume: number }
  | { readonly drainOne: number }
  | { readonly cancel: number }
  | { readonly requestProgress: number }
  | { readonly compactBack: number }
  | 'sync'
  | 'progressAll';

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .uniqueArray(fc.record({ key: fc.nat(KEYS.length - 1), del: fc.boolean() }), {
        selector: (op) => op.key,
        minLength: 1,
        maxLength: MAX_TXN_KEYS,
      })
      .map((write) => ({ write })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        kind: fc.constantFrom('single' as const, 'range' as const, 'from' as const),
        key: fc.nat(KEYS.length - 1),
        span: fc.integer({ min: 1, max: 3 }),
        start: fc.oneof(
          fc.constant('now' as const),
          fc.nat(12).map((past) => ({ past })),
          fc.integer({ min: 1, max: 3 }).map((future) => ({ future })),
        ),
        prevKv: fc.boolean(),
        noPut: fc.boolean(),
        noDelete: fc.boolean(),
        progressNotify: fc.boolean(),
      })
      .map((watch) => ({ watch })),
  },
  { weight: 3, arbitrary: fc.nat(20).map((stall) => ({ stall })) },
  { weight: 1, arbitrary: fc.nat(20).map((resume) => ({ resume })) },
  { weight: 1, arbitrary: fc.nat(20).map((drainOne) => ({ drainOne })) },
  { weight: 1, arbitrary: fc.nat(20).map((cancel) => ({ cancel })) },
  { weight: 1, arbitrary: fc.nat(20).map((requestProgress) => ({ requestProgress })) },
  { weight: 1, arbitrary: fc.nat(6).map((compactBack) => ({ compactBack })) },
  { weight: 3, arbitrary: fc.constant('sync' as const) },
  { weight: 1, arbitrary: fc.constant('progressAll' as const) },
);

interface Model {
  readonly req: WatchRequest;
  /** The first revision it must see (start 0 = the revision after the one current at creation). */
  readonly from: number;
  readonly consumer: Consumer;
  readonly watcher: Watcher;
  canceledByTest: boolean;
}

function expectedFor(history: readonly Event[], m: Model): string[] {
  const iv = keyInterval(m.req.key, m.req.rangeEnd);
  return history
    .filter(
      (ev) =>
        ev.kv.modRevision >= m.from &&
        inInterval(keyString(ev.kv.key), iv) &&
        (ev.type === 'put' ? m.req.noPut !== true : m.req.noDelete !== true),
    )
    .map((ev) => describeEvent(m.req.prevKv === true ? ev : { type: ev.type, kv: ev.kv }));
}

function requestOf(op: Extract<Op, { watch: unknown }>['watch'], current: number): WatchRequest {
  const key = keyBytes(KEYS[op.key]!);
  const rangeEnd =
    op.kind === 'single'
      ? undefined
      : op.kind === 'from'
        ? ALL_KEYS_FROM
        : keyBytes(String.fromCharCode(KEYS[op.key]!.charCodeAt(0) + op.span));
  const startRevision =
    op.start === 'now'
      ? 0
      : 'past' in op.start
        ? Math.max(1, current - op.start.past)
        : current + op.start.future;
  return {
    key,
    ...(rangeEnd === undefined ? {} : { rangeEnd }),
    startRevision,
    prevKv: op.prevKv,
    noPut: op.noPut,
    noDelete: op.noDelete,
    progressNotify: op.progressNotify,
  };
}

/** Throws on the first broken guarantee, naming the watcher. */
function checkDelivery(m: Model, history: readonly Event[]): void {
  const name = `watcher #${m.watcher.id} from ${m.from}`;
  const responses = m.consumer.responses;
  const fail = (what: string): never => {
    throw new Error(`${name}: ${what}\n  got: ${responses.map(describeResponse).join('\n       ')}`);
  };
  if (responses[0]?.created !== true) fail('first response is not `created`');
  const seenRevisions = new Map<number, number>();
  let lastHeader = 0;
  let lastEventRevision = 0;
  responses.forEach((resp, i) => {
    if (resp.revision < lastHeader) fail(`header revision went back at response ${i}`);
    lastHeader = resp.revision;
    if ((resp.canceled === true || resp.compactRevision !== undefined) && i !== responses.length - 1) {
      fail(`response ${i} canceled the watch but more followed`);
    }
    for (const ev of resp.events) {
      const rev = ev.kv.modRevision;
      if (rev < lastEventRevision) fail(`revision ${rev} after ${lastEventRevision}`);
      if (rev > resp.revision) fail(`event at ${rev} in a response with header ${resp.revision}`);
      const owner = seenRevisions.get(rev);
      if (owner !== undefined && owner !== i) fail(`revision ${rev} split over responses ${owner} and ${i}`);
      seenRevisions.set(rev, i);
      lastEventRevision = rev;
    }
  });
  const got = m.consumer.events().map(describeEvent);
  const expected = expectedFor(history, m);
  const last = responses[responses.length - 1]!;
  const prefixOnly = m.canceledByTest || last.compactRevision !== undefined;
  const want = prefixOnly ? expected.slice(0, got.length) : expected;
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`events differ\n  want: ${want.join(', ')}\n  got:  ${got.join(', ')}`);
  }
  if (last.compactRevision !== undefined && lastEventRevision >= last.compactRevision) {
    fail(`compacted at ${last.compactRevision} after delivering ${lastEventRevision}`);
  }
  if (m.consumer.overBound.length > 0) fail(`held too much: ${m.consumer.overBound.join('; ')}`);
}

function run(ops: readonly Op[], overshoot: boolean): void {
  const src = new FakeSource({ overshoot });
  const hub = new WatchHub(src, {
    maxBufferedEventsPerWatcher: BOUND_EVENTS,
    catchUpBatchEvents: CATCH_UP_BATCH_EVENTS,
    maxWatchersPerSync: WATCHERS_PER_SYNC,
    onSinkError: (id, err) => {
      throw new Error(`sink of #${id} threw: ${String(err)}`);
    },
  });
  const models: Model[] = [];
  const pick = (i: number): Model | undefined => models[i % Math.max(1, models.length)];
  /** A progress notification at R promises that every event up to R has been sent. */
  const checkProgress = (m: Model, resp: WatchResponse): void => {
    if (resp.progress !== true) return;
    const upTo = expectedFor(
      src.history().filter((ev) => ev.kv.modRevision <= resp.revision),
      m,
    );
    const got = m.consumer.events().map(describeEvent);
    if (JSON.stringify(got) !== JSON.stringify(upTo)) {
      throw new Error(`#${resp.watchId}: progress at r${resp.revision} before all its events were sent`);
    }
  };
  for (const op of ops) {
    if (op === 'sync') hub.syncUnsynced();
    else if (op === 'progressAll') hub.progressAll();
    else if ('write' in op) {
      const events = src.write(op.write.map((w) => (w.del ? { del: KEYS[w.key]! } : { put: KEYS[w.key]! })));
      if (events.length > 0) hub.notify(src.current, events);
    } else if ('watch' in op) {
      const req = requestOf(op.watch, src.current);
      const consumer = new Consumer(BOUND_EVENTS);
      const start = req.startRevision ?? 0;
      const from = start === 0 ? src.current + 1 : start;
      const holder: { model?: Model } = {};
      const watcher = hub.watch(req, (resp) => {
        if (holder.model !== undefined) checkProgress(holder.model, resp);
        return consumer.sink(resp);
      });
      holder.model = { req, from, consumer, watcher, canceledByTest: false };
      models.push(holder.model);
    } else if ('stall' in op) pick(op.stall)?.consumer.stall();
    else if ('resume' in op) pick(op.resume)?.consumer.resume();
    else if ('drainOne' in op) pick(op.drainOne)?.consumer.drain(1);
    else if ('cancel' in op) {
      const m = pick(op.cancel);
      if (m?.watcher.cancel()) m.canceledByTest = true;
    } else if ('requestProgress' in op) pick(op.requestProgress)?.watcher.requestProgress();
    else if ('compactBack' in op) src.compact(Math.max(src.compacted, src.current - op.compactBack));
    const live = models.filter((m) => m.watcher.state !== 'canceled');
    const stats = hub.stats();
    const held = live.reduce((sum, m) => sum + m.consumer.heldEvents, 0);
    if (stats.watchers !== live.length || stats.synced + stats.unsynced !== live.length) {
      throw new Error(`stats ${JSON.stringify(stats)} with ${live.length} live watchers`);
    }
    if (stats.pendingEvents !== held)
      throw new Error(`pendingEvents ${stats.pendingEvents}, consumers hold ${held}`);
  }
  for (const m of models) m.consumer.resume();
  let syncs = 0;
  while (hub.stats().unsynced > 0) {
    if (++syncs > MAX_FINAL_SYNCS)
      throw new Error(`still ${hub.stats().unsynced} unsynced after ${syncs} syncs`);
    hub.syncUnsynced();
  }
  const history = src.history();
  for (const m of models) checkDelivery(m, history);
}

t.test('every watcher gets exactly its filtered history from its start, in order, txns whole', async (t) => {
  checkProperty(
    t,
    fc.property(
      fc.array(opArb, { minLength: 20, maxLength: MAX_OPS, size: 'max' }),
      fc.boolean(),
      (ops, overshoot) => run(ops, overshoot),
    ),
    400,
  );
});

t.test('the checker itself rejects a wrong delivery', async (t) => {
  const src = new FakeSource();
  src.write([{ put: 'a' }]);
  src.write([{ put: 'a' }]);
  const consumer = new Consumer();
  const watcher = new WatchHub(src).watch({ key: keyBytes('a'), startRevision: 2 }, consumer.sink);
  const m: Model = { req: { key: keyBytes('a') }, from: 2, consumer, watcher, canceledByTest: false };
  t.doesNotThrow(() => checkDelivery(m, src.history()));
  const [created, batch] = consumer.responses;
  const split = { ...batch!, events: batch!.events.slice(0, 1) };
  const rest = { ...batch!, events: batch!.events.slice(1) };
  consumer.responses.splice(0, consumer.responses.length, created!, split, rest);
  t.doesNotThrow(() => checkDelivery(m, src.history()), 'two revisions in two responses is fine');
  consumer.responses.splice(0, consumer.responses.length, created!, batch!, rest);
  t.throws(() => checkDelivery(m, src.history()), /revision 3 split|revision 3 after|events differ/);
  consumer.responses.splice(0, consumer.responses.length, created!, rest);
  t.throws(() => checkDelivery(m, src.history()), /events differ/);
  consumer.responses.splice(0, consumer.responses.length, batch!);
  t.throws(() => checkDelivery(m, src.history()), /first response is not `created`/);
  const greedy = new Consumer(1);
  greedy.sink(created!);
  greedy.stall();
  greedy.sink(split);
  greedy.sink(rest);
  t.throws(
    () => checkDelivery({ ...m, consumer: greedy }, src.history()),
    /held too much: 2 events in 2 responses/,
  );
});
