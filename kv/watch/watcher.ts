// One watch: what it asked for (range, filters, prevKv), where it is (synced, unsynced, canceled;
// the next revision it must see) and what its consumer has not drained yet. The hub owns every
// transition; this file only keeps the record and the pure per-event decisions.

import { KvError } from '../errors.js';
import { bytesCompare, type KeyInterval, keyInterval } from '../keys.js';
import type { Bytes, Event } from '../types.js';

export interface WatchRequest {
  readonly key: Bytes;
  /** RangeRequest conventions: absent or empty = `key` alone, "\0" = every key from `key` on. */
  readonly rangeEnd?: Bytes;
  /** 0 or absent: from the next write on. A future revision is allowed and waits for it. */
  readonly startRevision?: number;
  readonly prevKv?: boolean;
  /** Filter out put events (etcd's NOPUT). */
  readonly noPut?: boolean;
  /** Filter out delete events (etcd's NODELETE). */
  readonly noDelete?: boolean;
  /** Include this watcher in `progressAll`. */
  readonly progressNotify?: boolean;
  /** Chosen by the caller; unique within the hub. Absent: the hub's next unused id (never one it gave before). */
  readonly id?: number;
}

export interface WatchResponse {
  readonly watchId: number;
  /** Header revision: the revision of a live event, else the store's current revision. */
  readonly revision: number;
  /** In revision order; every revision here is complete (one txn is never split). */
  readonly events: readonly Event[];
  /** Set when the start revision was compacted; the watch is canceled with it. */
  readonly compactRevision?: number;
  readonly canceled?: boolean;
  readonly cancelReason?: string;
  readonly created?: boolean;
  /** A progress notification: every event up to `revision` has been sent. */
  readonly progress?: boolean;
}

/** Anything with a `then`, such as a Promise. */
export interface Drained {
  then(onDrained: () => void, onFailed: (reason: unknown) => void): unknown;
}

/**
 * Receives a watcher's responses in order. Return nothing when the response is consumed at once,
 * or a thenable that settles when it is (for example once written to the network): until then its
 * events count against the watcher's bound. Must not write to the store synchronously.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: `void` lets any function that returns nothing be a sink.
export type WatchSink = (resp: WatchResponse) => void | Drained;

export type WatcherState = 'synced' | 'unsynced' | 'canceled';

/** The caller's handle on a watch. */
export interface Watcher {
  readonly id: number;
  readonly state: WatcherState;
  /** Events sent whose drain has not been reported. */
  readonly pendingEvents: number;
  /** Cancels the watch (a canceled response is sent); false when it was already gone. */
  cancel(): boolean;
  /** Sends a progress notification now if the watcher is synced; returns whether it did. */
  requestProgress(): boolean;
}

/** A watcher's key interval plus the key the hub groups identical intervals under. */
export interface WatchRange {
  readonly key: Bytes;
  /** As handed to WatchSource.eventsBetween. */
  readonly rangeEnd: Bytes | undefined;
  readonly interval: KeyInterval;
  /** Equal for equal intervals; for a single key, the key string itself (the notify lookup key). */
  readonly groupId: string;
}

export function watchRangeOf(key: Bytes, rangeEnd: Bytes | undefined): WatchRange {
  const interval = keyInterval(key, rangeEnd);
  if (interval.end === null) return { key, rangeEnd: undefined, interval, groupId: interval.start };
  if (!interval.toEnd && bytesCompare(key, rangeEnd!) >= 0) throw new KvError('WATCH_EMPTY_RANGE');
  // JSON keeps the two strings apart whatever bytes the keys hold.
  return { key, rangeEnd, interval, groupId: JSON.stringify([interval.start, interval.end, interval.toEnd]) };
}

/** Implemented by the hub: the handle's methods forward to it. */
export interface WatcherOwner {
  cancel(watchId: number): boolean;
  requestProgress(watchId: number): boolean;
}

export class WatcherRecord implements Watcher {
  readonly id: number;
  readonly range: WatchRange;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly progressNotify: boolean;
  readonly sink: WatchSink;
  state: WatcherState = 'unsynced';
  /**
   * The lowest revision this watcher has not been sent. For a synced watcher it may lag (notify
   * does not touch watchers a revision does not concern): then the hub's last notified revision + 1
   * is the true position. A future start revision makes it run ahead of the store.
   */
  nextRevision: number;
  pendingEvents = 0;
  pendingBytes = 0;
  /** Events were sent since the last progressAll: etcd skips the next progress notification then. */
  sentSinceProgress = false;
  private readonly owner: WatcherOwner;

  constructor(owner: WatcherOwner, id: number, req: WatchRequest, range: WatchRange, sink: WatchSink) {
    this.owner = owner;
    this.id = id;
    this.range = range;
    this.prevKv = req.prevKv === true;
    this.noPut = req.noPut === true;
    this.noDelete = req.noDelete === true;
    this.progressNotify = req.progressNotify === true;
    this.sink = sink;
    this.nextRevision = req.startRevision ?? 0;
  }

  /** Whether the type filters let this event through. */
  wants(ev: Event): boolean {
    return ev.type === 'put' ? !this.noPut : !this.noDelete;
  }

  /** The event as this watcher gets it: prevKv only when asked for. */
  shape(ev: Event): Event {
    return this.prevKv || ev.prevKv === undefined ? ev : { type: ev.type, kv: ev.kv };
  }

  cancel(): boolean {
    return this.owner.cancel(this.id);
  }

  requestProgress(): boolean {
    return this.owner.requestProgress(this.id);
  }
}

/** Payload bytes of an event (keys and values), the unit of the pending-bytes gauge. */
export function eventBytes(ev: Event): number {
  const prev = ev.prevKv === undefined ? 0 : ev.prevKv.key.length + ev.prevKv.value.length;
  return ev.kv.key.length + ev.kv.value.length + prev;
}
