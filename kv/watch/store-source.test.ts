// The watch hub on the real MvccStore, from a new store on: etcd's start revisions (0 = the next
// write, 1 = every write from the beginning, since revision 1 is the empty store), history served
// by the store's eventsBetween, and compaction (at 0 on a new store, then at later revisions).

import t from 'tap';
import { kvErrorMessage } from '../errors.js';
import { keyBytes } from '../keys.js';
import { MvccStore } from '../mvcc.js';
import { WatchHub } from './hub.js';
import { connectWatchHub, storeWatchSource } from './store-source.js';
import { Consumer } from './testing/consumer.js';
import { describeResponse } from './testing/describe.js';
import type { WatchRequest } from './watcher.js';

const k = keyBytes;
const COMPACTED = kvErrorMessage('COMPACTED');

function setup() {
  const store = new MvccStore();
  const hub = new WatchHub(storeWatchSource(store));
  connectWatchHub(store, hub);
  const watch = (req: WatchRequest) => {
    const consumer = new Consumer();
    const watcher = hub.watch(req, consumer.sink);
    return { watcher, seen: () => consumer.responses.map(describeResponse) };
  };
  return { store, hub, watch };
}

t.test('on a new store, start revision 0 and 1 both see the first write, at revision 2', async (t) => {
  const { store, watch } = setup();
  const fromNow = watch({ key: k('a') });
  const fromOne = watch({ key: k('a'), startRevision: 1 });
  const fromTwo = watch({ key: k('a'), startRevision: 2 });
  t.strictSame(fromNow.seen(), ['#0 r1 created']);
  t.strictSame(fromOne.seen(), ['#1 r1 created'], 'revision 1 holds nothing to replay');
  t.strictSame(fromTwo.seen(), ['#2 r1 created'], 'revision 2 is the next one: it waits');
  store.put({ key: k('a'), value: k('v') });
  t.strictSame(fromNow.seen(), ['#0 r1 created', '#0 r2 [put a@2=v]']);
  t.strictSame(fromOne.seen(), ['#1 r1 created', '#1 r2 [put a@2=v]']);
  t.strictSame(fromTwo.seen(), ['#2 r1 created', '#2 r2 [put a@2=v]']);
});

t.test('start revision 1 later replays the whole history from the store', async (t) => {
  const { store, watch } = setup();
  store.put({ key: k('a'), value: k('1') }); // 2
  store.put({ key: k('b'), value: k('x') }); // 3
  store.put({ key: k('a'), value: k('2') }); // 4
  store.deleteRange({ key: k('a') }); // 5
  const w = watch({ key: k('a'), startRevision: 1, prevKv: true });
  t.strictSame(w.seen(), ['#0 r5 created', '#0 r5 [put a@2=1, put a@4=2 prev=a@2=1, delete a@5 prev=a@4=2]']);
  t.equal(w.watcher.state, 'synced');
  const now = watch({ key: k('a') });
  store.put({ key: k('a'), value: k('3') });
  t.strictSame(now.seen(), ['#1 r5 created', '#1 r6 [put a@6=3]'], 'start 0: from current + 1');
});

t.test('compaction: at 0 on a new store cancels nothing; later ones cancel starts below them', async (t) => {
  const { store, watch } = setup();
  store.compact(0);
  t.strictSame(watch({ key: k('a'), startRevision: 1 }).seen(), ['#0 r1 created']);
  store.put({ key: k('a'), value: k('1') }); // 2
  store.put({ key: k('a'), value: k('2') }); // 3
  store.put({ key: k('a'), value: k('3') }); // 4
  store.compact(3);
  const below = watch({ key: k('a'), startRevision: 2 });
  t.strictSame(below.seen(), ['#1 r4 created', `#1 r4 compacted@3 canceled(${COMPACTED})`]);
  const at = watch({ key: k('a'), startRevision: 3 });
  t.strictSame(at.seen(), ['#2 r4 created', '#2 r4 [put a@3=2, put a@4=3]'], 'the compact revision is kept');
});
