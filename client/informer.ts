// An informer keeps a local copy of every key under a prefix for controllers: it lists the prefix
// at one revision (page by page, all pages at that same revision), then watches from the next
// revision. Changes reach subscribers in revision order. When the watch cannot resume because the
// revisions it needs were compacted, the informer lists again and reports the differences as
// ordinary changes followed by a 'resync', so a subscriber's view never silently goes stale.

import type { CallOptions } from './connections.js';
import { CompactedError } from './errors.js';
import type { GetOptions, GetResult } from './kv.js';
import { sleep } from './sleep.js';
import type { Watch, WatchOptions } from './watch.js';
import { type Bytes, type KeyValue, prefixEnd, toBuffer } from './wire.js';

export type InformerEvent<T> =
  | { readonly type: 'put'; readonly key: string; readonly value: T; readonly kv: KeyValue }
  | {
      readonly type: 'delete';
      readonly key: string;
      readonly previous: T | undefined;
      readonly revision: number;
    }
  /** The cache is complete as of `revision` (after the first list and after every re-list). */
  | { readonly type: 'synced'; readonly revision: number; readonly relisted: boolean };

/** What the informer needs of a client (client/netcd.ts provides it). */
export interface InformerSource {
  get(key: Bytes, o: GetOptions & CallOptions): Promise<GetResult>;
  watch(key: Bytes, o: WatchOptions): Watch;
}

export interface InformerOptions<T> {
  readonly prefix: Bytes;
  /** Turns a stored key-value into the cached value (default: the value as a string). */
  readonly decode?: (kv: KeyValue) => T;
  /** Keys per page when listing. */
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

const DEFAULT_PAGE_SIZE = 1000;
const RELIST_PAUSE_MS = 100;

export class Informer<T = string> {
  private readonly items = new Map<string, T>();
  private readonly handlers = new Set<(e: InformerEvent<T>) => void>();
  private readonly stopper = new AbortController();
  private readonly decode: (kv: KeyValue) => T;
  private readyResolve!: () => void;
  private readyReject!: (err: unknown) => void;
  /** Resolves once the first list is in the cache. */
  readonly ready: Promise<void>;
  /** The revision the cache reflects. */
  revision = 0;
  /** Times the informer had to list again after a compaction. */
  relists = 0;
  /** Why the informer stopped, when it stopped on an error. */
  error: unknown;

  constructor(
    private readonly source: InformerSource,
    private readonly o: InformerOptions<T>,
  ) {
    this.decode = o.decode ?? ((kv) => kv.value.toString() as T);
    this.ready = new Promise((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => {});
    o.signal?.addEventListener('abort', () => this.stop(), { once: true });
  }

  get cache(): ReadonlyMap<string, T> {
    return this.items;
  }

  /** Calls `handler` for every change from now on; returns the function that unsubscribes. */
  subscribe(handler: (e: InformerEvent<T>) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Lists and watches until stopped; resolves when stopped, rejects on an unrecoverable error. */
  async run(): Promise<void> {
    const signal = this.stopper.signal;
    let relisted = false;
    try {
      while (!signal.aborted) {
        await this.list(relisted);
        this.readyResolve();
        try {
          await this.follow();
          return;
        } catch (err) {
          if (!(err instanceof CompactedError) || signal.aborted) throw err;
          relisted = true;
          this.relists += 1;
          await sleep(RELIST_PAUSE_MS, signal);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      this.error = err;
      this.readyReject(err);
      throw err;
    }
  }

  stop(): void {
    this.stopper.abort();
  }

  private emit(e: InformerEvent<T>): void {
    for (const h of this.handlers) h(e);
  }

  private async list(relisted: boolean): Promise<void> {
    const prefix = toBuffer(this.o.prefix);
    const end = prefixEnd(prefix);
    const limit = this.o.pageSize ?? DEFAULT_PAGE_SIZE;
    const fresh = new Map<string, { value: T; kv: KeyValue }>();
    let from = prefix;
    let revision = 0;
    for (;;) {
      const page = await this.source.get(from, {
        rangeEnd: end,
        limit,
        revision,
        signal: this.stopper.signal,
      });
      if (revision === 0) revision = page.header.revision;
      for (const kv of page.kvs) fresh.set(kv.key.toString(), { value: this.decode(kv), kv });
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) break;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
    // Report what changed while the informer could not watch, as ordinary changes.
    for (const [key, previous] of this.items)
      if (!fresh.has(key)) {
        this.items.delete(key);
        if (relisted) this.emit({ type: 'delete', key, previous, revision });
      }
    for (const [key, { value, kv }] of fresh) {
      const known = this.items.has(key);
      this.items.set(key, value);
      if (relisted || !known) this.emit({ type: 'put', key, value, kv });
    }
    this.revision = revision;
    this.emit({ type: 'synced', revision, relisted });
  }

  private async follow(): Promise<void> {
    const watch = this.source.watch(this.o.prefix, {
      prefix: true,
      startRevision: this.revision + 1,
      prevKv: false,
      signal: this.stopper.signal,
    });
    for await (const batch of watch) {
      for (const e of batch.events) {
        const key = e.kv.key.toString();
        if (e.type === 'PUT') {
          const value = this.decode(e.kv);
          this.items.set(key, value);
          this.emit({ type: 'put', key, value, kv: e.kv });
        } else {
          const previous = this.items.get(key);
          this.items.delete(key);
          this.emit({ type: 'delete', key, previous, revision: e.kv.modRevision });
        }
      }
      // The header may run ahead of the events delivered so far; the last event's revision does not.
      const last = batch.events[batch.events.length - 1];
      this.revision = last !== undefined ? last.kv.modRevision : batch.header.revision;
    }
  }
}
