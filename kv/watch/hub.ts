// The watch hub: sends each applied revision's events to the watchers whose range they touch, and
// catches lagging watchers up from storage. Invariants: a watcher gets its events once, in revision
// order, one revision's events always in one response; notify touches synced watchers only; the hub
// holds no event queue per watcher, and a consumer never holds more undrained events than the bound
// (one revision larger than the bound is the only exception, and only into an empty buffer).

import { KvError, kvErrorMessage } from '../errors.js';
import { inInterval, keyString } from '../keys.js';
import type { Event } from '../types.js';
import type { WatchSource } from './source.js';
import {
  type Drained,
  eventBytes,
  type Watcher,
  type WatcherOwner,
  WatcherRecord,
  type WatchRange,
  type WatchRequest,
  type WatchResponse,
  type WatchSink,
  watchRangeOf,
} from './watcher.js';

export interface WatchHubOptions {
  /** Undrained events a watcher's consumer may hold before the watcher falls behind. Default 1024. */
  readonly maxBufferedEventsPerWatcher?: number;
  /** `maxEvents` of one catch-up read from the source. Default 1000. */
  readonly catchUpBatchEvents?: number;
  /** Unsynced watchers served by one `syncUnsynced` call. Default 512 (etcd's maxWatchersPerSync). */
  readonly maxWatchersPerSync?: number;
  /** A sink threw: its watcher is already canceled. Default: rethrow from a microtask (uncaught). */
  readonly onSinkError?: (watchId: number, err: unknown) => void;
}

export const WATCH_HUB_DEFAULTS = {
  maxBufferedEventsPerWatcher: 1024,
  catchUpBatchEvents: 1000,
  maxWatchersPerSync: 512,
} as const;

export interface WatchHubStats {
  readonly watchers: number;
  readonly synced: number;
  readonly unsynced: number;
  /** Events sent to consumers and not yet drained, over all watchers. */
  readonly pendingEvents: number;
  /** Key and value bytes of those events. */
  readonly pendingBytes: number;
  /** Times a synced watcher fell behind because its consumer had not drained. */
  readonly fellBehindTotal: number;
}

export interface SyncReport {
  /** Events sent by this call. */
  readonly sentEvents: number;
  /** Watchers still unsynced: call again soon when this and `sentEvents` are both non-zero. */
  readonly unsynced: number;
}

/** Synced watchers on one key interval; looked up by key (single keys) or scanned (ranges). */
interface SyncedGroup {
  readonly range: WatchRange;
  readonly watchers: Set<WatcherRecord>;
}

export class WatchHub implements WatcherOwner {
  private readonly source: WatchSource;
  private readonly maxBufferedEvents: number;
  private readonly catchUpBatchEvents: number;
  private readonly maxWatchersPerSync: number;
  /** A watcher that fell behind is caught up again once its consumer holds at most this many. */
  private readonly resumeBelowEvents: number;
  private readonly onSinkError: (watchId: number, err: unknown) => void;

  private readonly watchers = new Map<number, WatcherRecord>();
  private readonly syncedByKey = new Map<string, SyncedGroup>();
  private readonly syncedRanges = new Map<string, SyncedGroup>();
  /** Insertion order is service order: a watcher served by syncUnsynced goes to the back. */
  private readonly unsynced = new Set<WatcherRecord>();
  private readonly progressWatchers = new Set<WatcherRecord>();
  private syncedCount = 0;
  private syncedPrevKvCount = 0;
  private pendingEventsTotal = 0;
  private pendingBytesTotal = 0;
  private fellBehindTotal = 0;
  private lastNotifiedRevision: number;
  private nextAutoId = 0;
  /** A sink is running: notify and syncUnsynced would interleave revisions, so they are refused. */
  private delivering = false;

  constructor(source: WatchSource, options: WatchHubOptions = {}) {
    this.source = source;
    this.maxBufferedEvents =
      options.maxBufferedEventsPerWatcher ?? WATCH_HUB_DEFAULTS.maxBufferedEventsPerWatcher;
    this.catchUpBatchEvents = options.catchUpBatchEvents ?? WATCH_HUB_DEFAULTS.catchUpBatchEvents;
    this.maxWatchersPerSync = options.maxWatchersPerSync ?? WATCH_HUB_DEFAULTS.maxWatchersPerSync;
    for (const [name, value] of [
      ['maxBufferedEventsPerWatcher', this.maxBufferedEvents],
      ['catchUpBatchEvents', this.catchUpBatchEvents],
      ['maxWatchersPerSync', this.maxWatchersPerSync],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new KvError('BAD_REQUEST', `${name} ${value}`);
    }
    this.resumeBelowEvents = Math.floor(this.maxBufferedEvents / 2);
    this.onSinkError = options.onSinkError ?? rethrowLater;
    this.lastNotifiedRevision = source.currentRevision();
  }

  /**
   * Starts a watch. The sink gets a `created` response at once, then history (when the start
   * revision is behind the store), then live events. A compacted start revision yields a response
   * with `compactRevision` set and the watch canceled. Throws WATCH_EMPTY_RANGE, WATCH_DUPLICATE_ID
   * or BAD_REQUEST for a malformed request.
   */
  watch(req: WatchRequest, sink: WatchSink): Watcher {
    const start = req.startRevision ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) throw new KvError('BAD_REQUEST', `startRevision ${start}`);
    if (req.id !== undefined && (!Number.isSafeInteger(req.id) || req.id < 0)) {
      throw new KvError('BAD_REQUEST', `watch id ${req.id}`);
    }
    if (req.id !== undefined && this.watchers.has(req.id)) throw new KvError('WATCH_DUPLICATE_ID');
    const range = watchRangeOf(req.key, req.rangeEnd);
    const id = req.id ?? this.allocateId();
    const w = new WatcherRecord(this, id, req, range, sink);
    this.watchers.set(id, w);
    if (w.progressNotify) this.progressWatchers.add(w);
    const current = this.source.currentRevision();
    // Placed before `created` is sent, so that a sink that cancels right away finds it.
    if (start === 0 || start > current) {
      // etcd: start 0 means "from the next write"; a future start waits in the synced set.
      w.nextRevision = start === 0 ? current + 1 : start;
      this.addSynced(w);
    } else {
      this.unsynced.add(w);
    }
    this.send(w, { watchId: id, revision: current, events: [], created: true });
    // History starts flowing now rather than at the caller's next sync tick.
    if (w.state === 'unsynced') this.catchUp(w, current, this.source.compactRevision(), new Map());
    return w;
  }

  /**
   * Sends the events of `revision`, just applied, to the synced watchers they concern. Events must
   * all carry modRevision = `revision`, in sub order, with prevKv filled whenever `notifyNeedsPrevKv()`.
   * Cost: the events times (one map lookup + the distinct watched ranges) plus one step per match;
   * watchers that fell behind are not visited.
   */
  notify(revision: number, events: readonly Event[]): void {
    this.refuseWhileDelivering('notify');
    check(revision > this.lastNotifiedRevision, `notify(${revision}) after ${this.lastNotifiedRevision}`);
    const current = this.source.currentRevision();
    check(revision === current, `notify(${revision}) while the store is at ${current}`);
    this.lastNotifiedRevision = revision;
    if (this.syncedCount === 0) return;
    const batches = new Map<WatcherRecord, Event[]>();
    for (const ev of events) {
      check(ev.kv.modRevision === revision, `event at ${ev.kv.modRevision} in notify(${revision})`);
      // Shared by every watcher that did not ask for prevKv, so it is built once per event.
      const bare: Event = ev.prevKv === undefined ? ev : { type: ev.type, kv: ev.kv };
      const key = keyString(ev.kv.key);
      const exact = this.syncedByKey.get(key);
      if (exact !== undefined) collect(batches, exact.watchers, revision, ev, bare);
      for (const group of this.syncedRanges.values()) {
        if (inInterval(key, group.range.interval)) collect(batches, group.watchers, revision, ev, bare);
      }
    }
    for (const [w, evs] of batches) {
      // An earlier sink in this loop may have canceled it.
      if (w.state !== 'synced') continue;
      if (w.pendingEvents > 0 && w.pendingEvents + evs.length > this.maxBufferedEvents) {
        this.fallBehind(w, revision);
        continue;
      }
      w.nextRevision = revision + 1;
      this.send(w, { watchId: w.id, revision, events: evs });
    }
  }

  /**
   * Catches up to `maxWatchersPerSync` unsynced watchers by one bounded read each, round robin.
   * A watcher whose consumer still holds more than half its bound is skipped without a read.
   * The caller runs this from its own timer (etcd: every 100 ms).
   */
  syncUnsynced(): SyncReport {
    this.refuseWhileDelivering('syncUnsynced');
    const current = this.source.currentRevision();
    const compact = this.source.compactRevision();
    const chosen: WatcherRecord[] = [];
    for (const w of this.unsynced) {
      if (chosen.length >= this.maxWatchersPerSync) break;
      chosen.push(w);
    }
    // Watchers on the same range from the same revision share one read.
    const reads = new Map<string, Event[]>();
    let sentEvents = 0;
    for (const w of chosen) {
      if (w.state === 'unsynced') sentEvents += this.catchUp(w, current, compact, reads);
    }
    return { sentEvents, unsynced: this.unsynced.size };
  }

  /**
   * Progress notifications (empty responses at the current revision) to the synced watchers that
   * asked for them and were sent no events since the previous call, as etcd's progress ticker does.
   * Returns how many were sent.
   */
  progressAll(): number {
    let sent = 0;
    for (const w of this.progressWatchers) {
      const quiet = !w.sentSinceProgress;
      w.sentSinceProgress = false;
      if (quiet && this.sendProgress(w)) sent++;
    }
    return sent;
  }

  /** A progress notification to one watcher, only if it is synced (else it would claim too much). */
  requestProgress(watchId: number): boolean {
    const w = this.watchers.get(watchId);
    return w !== undefined && this.sendProgress(w);
  }

  /** Cancels a watch and sends it a canceled response; false when there is no such watch. */
  cancel(watchId: number): boolean {
    const w = this.watchers.get(watchId);
    if (w === undefined) return false;
    this.detach(w);
    this.send(w, { watchId, revision: this.source.currentRevision(), events: [], canceled: true });
    return true;
  }

  /**
   * The store's state was replaced (a snapshot was installed): revisions may have jumped without
   * notify, so every synced watcher goes back to catching up from storage, as in etcd's Restore.
   */
  restore(): void {
    this.refuseWhileDelivering('restore');
    for (const group of [...this.syncedByKey.values(), ...this.syncedRanges.values()]) {
      for (const w of group.watchers) {
        this.removeSynced(w);
        w.nextRevision = Math.max(w.nextRevision, this.lastNotifiedRevision + 1);
        w.state = 'unsynced';
        this.unsynced.add(w);
      }
    }
    this.lastNotifiedRevision = this.source.currentRevision();
  }

  /** Whether some synced watcher wants prevKv: when not, the store may notify without it. */
  notifyNeedsPrevKv(): boolean {
    return this.syncedPrevKvCount > 0;
  }

  stats(): WatchHubStats {
    return {
      watchers: this.watchers.size,
      synced: this.syncedCount,
      unsynced: this.unsynced.size,
      pendingEvents: this.pendingEventsTotal,
      pendingBytes: this.pendingBytesTotal,
      fellBehindTotal: this.fellBehindTotal,
    };
  }

  /** One bounded read for an unsynced watcher; returns the events sent. */
  private catchUp(w: WatcherRecord, current: number, compact: number, reads: Map<string, Event[]>): number {
    // Taken out and put back at the end: the service order stays round robin.
    this.unsynced.delete(w);
    if (w.nextRevision < compact) {
      this.detach(w);
      this.send(w, {
        watchId: w.id,
        revision: current,
        events: [],
        compactRevision: compact,
        canceled: true,
        cancelReason: kvErrorMessage('COMPACTED'),
      });
      return 0;
    }
    if (w.nextRevision > current) {
      this.addSynced(w);
      return 0;
    }
    if (w.pendingEvents > this.resumeBelowEvents) {
      this.unsynced.add(w);
      return 0;
    }
    const room = Math.min(this.catchUpBatchEvents, this.maxBufferedEvents - w.pendingEvents);
    const readKey = `${w.nextRevision}|${w.range.groupId}|${w.prevKv}|${room}`;
    let read = reads.get(readKey);
    if (read === undefined) {
      read = this.source.eventsBetween(
        w.nextRevision,
        current,
        w.range.key,
        w.range.rangeEnd,
        room,
        w.prevKv,
      );
      checkRead(read, w.nextRevision, current, w.range);
      reads.set(readKey, read);
    }
    const take = wholeRevisionsWithin(read, room);
    if (take === 0) {
      w.nextRevision = current + 1;
      this.addSynced(w);
      return 0;
    }
    if (take > room && w.pendingEvents > 0) {
      // One revision larger than the room: it waits until the consumer has drained everything.
      this.unsynced.add(w);
      return 0;
    }
    w.nextRevision = read[take - 1]!.kv.modRevision + 1;
    const events: Event[] = [];
    for (let i = 0; i < take; i++) {
      const ev = read[i]!;
      if (w.wants(ev)) events.push(w.shape(ev));
    }
    // State first: a sink that cancels from inside send must find the watcher where it is.
    if (w.nextRevision > current) this.addSynced(w);
    else this.unsynced.add(w);
    if (events.length > 0) this.send(w, { watchId: w.id, revision: current, events });
    return events.length;
  }

  private sendProgress(w: WatcherRecord): boolean {
    if (w.state !== 'synced') return false;
    this.send(w, { watchId: w.id, revision: this.source.currentRevision(), events: [], progress: true });
    return true;
  }

  /** The consumer is behind: stop pushing, and read `revision` on from storage once it drains. */
  private fallBehind(w: WatcherRecord, revision: number): void {
    this.removeSynced(w);
    w.state = 'unsynced';
    w.nextRevision = revision;
    this.unsynced.add(w);
    this.fellBehindTotal++;
  }

  private send(w: WatcherRecord, resp: WatchResponse): void {
    const count = resp.events.length;
    let bytes = 0;
    if (count > 0) {
      for (const ev of resp.events) bytes += eventBytes(ev);
      w.pendingEvents += count;
      w.pendingBytes += bytes;
      this.pendingEventsTotal += count;
      this.pendingBytesTotal += bytes;
      w.sentSinceProgress = true;
    }
    const wasDelivering = this.delivering;
    this.delivering = true;
    let result: unknown;
    try {
      result = w.sink(resp);
    } catch (err) {
      this.delivering = wasDelivering;
      this.detach(w);
      this.onSinkError(w.id, err);
      return;
    }
    this.delivering = wasDelivering;
    let released = count === 0;
    const release = (): void => {
      if (released) return;
      released = true;
      // A canceled watcher's pending counts were dropped from the totals when it was detached.
      if (w.state === 'canceled') return;
      w.pendingEvents -= count;
      w.pendingBytes -= bytes;
      this.pendingEventsTotal -= count;
      this.pendingBytesTotal -= bytes;
    };
    // Observed even for responses without events: an unobserved rejected Promise would be reported
    // as unhandled. A failed drain (the stream closed) counts as drained; the caller cancels.
    if (isDrained(result)) result.then(release, release);
    else release();
  }

  /** Removes the watcher from every set; it gets nothing more unless the caller sends it a last word. */
  private detach(w: WatcherRecord): void {
    if (w.state === 'canceled') return;
    if (w.state === 'synced') this.removeSynced(w);
    else this.unsynced.delete(w);
    w.state = 'canceled';
    this.watchers.delete(w.id);
    this.progressWatchers.delete(w);
    this.pendingEventsTotal -= w.pendingEvents;
    this.pendingBytesTotal -= w.pendingBytes;
    w.pendingEvents = 0;
    w.pendingBytes = 0;
  }

  private addSynced(w: WatcherRecord): void {
    const index = w.range.interval.end === null ? this.syncedByKey : this.syncedRanges;
    let group = index.get(w.range.groupId);
    if (group === undefined) {
      group = { range: w.range, watchers: new Set() };
      index.set(w.range.groupId, group);
    }
    group.watchers.add(w);
    w.state = 'synced';
    this.syncedCount++;
    if (w.prevKv) this.syncedPrevKvCount++;
  }

  private removeSynced(w: WatcherRecord): void {
    const index = w.range.interval.end === null ? this.syncedByKey : this.syncedRanges;
    const group = index.get(w.range.groupId);
    check(group?.watchers.delete(w) === true, `watcher ${w.id} missing from its synced group`);
    if (group.watchers.size === 0) index.delete(w.range.groupId);
    this.syncedCount--;
    if (w.prevKv) this.syncedPrevKvCount--;
  }

  private allocateId(): number {
    while (this.watchers.has(this.nextAutoId)) this.nextAutoId++;
    return this.nextAutoId++;
  }

  private refuseWhileDelivering(what: string): void {
    check(!this.delivering, `${what} called from inside a watch sink`);
  }
}

function collect(
  batches: Map<WatcherRecord, Event[]>,
  watchers: Set<WatcherRecord>,
  revision: number,
  ev: Event,
  bare: Event,
): void {
  for (const w of watchers) {
    // A synced watcher whose start revision is still ahead (or that was caught up past this
    // revision by a read) must not see it.
    if (revision < w.nextRevision || !w.wants(ev)) continue;
    const batch = batches.get(w);
    const shaped = w.prevKv ? ev : bare;
    if (batch === undefined) batches.set(w, [shaped]);
    else batch.push(shaped);
  }
}

/**
 * How many leading events of `read` form whole revisions within `room`: at least the first revision
 * whatever its size (so a huge txn still gets through), and never a partial revision. The source
 * already never splits a revision, so its last revision is whole too.
 */
function wholeRevisionsWithin(read: readonly Event[], room: number): number {
  if (read.length <= room) return read.length;
  let take = 0;
  let i = 0;
  while (i < read.length) {
    const revision = read[i]!.kv.modRevision;
    let j = i;
    while (j < read.length && read[j]!.kv.modRevision === revision) j++;
    if (take > 0 && j > room) break;
    take = j;
    i = j;
  }
  return take;
}

/** The source's answer must be ordered, within the window and within the range. */
function checkRead(read: readonly Event[], from: number, to: number, range: WatchRange): void {
  let last = from;
  for (const ev of read) {
    const rev = ev.kv.modRevision;
    check(rev >= last && rev <= to, `eventsBetween(${from}, ${to}) returned revision ${rev} after ${last}`);
    check(inInterval(keyString(ev.kv.key), range.interval), `eventsBetween returned a key outside the range`);
    last = rev;
  }
}

function isDrained(value: unknown): value is Drained {
  return typeof value === 'object' && value !== null && typeof (value as Drained).then === 'function';
}

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new KvError('WATCH_INVARIANT', what);
}

function rethrowLater(_watchId: number, err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}
