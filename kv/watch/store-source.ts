// Adapts the MVCC store to the watch hub's source interface, and feeds the hub every committed
// revision: the only connection between the two.

import type { MvccStore } from '../mvcc.js';
import type { WatchHub } from './hub.js';
import type { WatchSource } from './source.js';

export function storeWatchSource(store: MvccStore): WatchSource {
  return {
    currentRevision: () => store.currentRevision,
    compactRevision: () => store.compactRevision,
    eventsBetween: (from, to, key, rangeEnd, maxEvents, withPrevKv) =>
      store.eventsBetween(from, to, key, rangeEnd, maxEvents, withPrevKv),
  };
}

/** Makes `hub` receive each write revision of `store` as it commits. */
export function connectWatchHub(store: MvccStore, hub: WatchHub): void {
  store.observer = { onCommit: (revision, events) => hub.notify(revision, events) };
}
