// Public surface of the watch hub: the hub, its request/response types, and the source interface
// the MVCC store implements for it.
export * from './hub.js';
export type { WatchSource } from './source.js';
export { connectWatchHub, storeWatchSource } from './store-source.js';
export type { Drained, Watcher, WatcherState, WatchRequest, WatchResponse, WatchSink } from './watcher.js';
