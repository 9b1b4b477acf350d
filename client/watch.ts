// Watch as an async iterator of batches (all events of one revision arrive in one batch). The
// watch survives its member: when the stream breaks it reopens on another member from the
// revision after the last one delivered, so no event is missed and none is delivered twice.
// When that revision has been compacted away the iterator throws CompactedError: the caller's
// view has a gap and must re-list (client/informer.ts does).

import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Connections } from './connections.js';
import { CompactedError, fromGrpcError, NetcdError } from './errors.js';
import { type KeySelector, keyRange } from './kv.js';
import { backoff, sleep } from './sleep.js';
import {
  type Bytes,
  header,
  type KeyValue,
  keyValue,
  type ResponseHeader,
  toNumber,
  type WireHeader,
  type WireInt,
  type WireKeyValue,
} from './wire.js';

export interface WatchOptions extends KeySelector {
  /** First revision to deliver (0 or absent: changes after the watch starts). */
  readonly startRevision?: number;
  readonly prevKv?: boolean;
  readonly filters?: readonly ('NOPUT' | 'NODELETE')[];
  /** Also yield empty batches when the server reports progress (the watch is caught up to `revision`). */
  readonly progressNotify?: boolean;
  readonly signal?: AbortSignal;
}

export interface WatchEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: KeyValue;
  readonly prevKv: KeyValue | undefined;
}

export interface WatchBatch {
  readonly header: ResponseHeader;
  /** Empty for a progress notification. */
  readonly events: readonly WatchEvent[];
}

interface WireWatchResponse {
  readonly header: WireHeader;
  readonly watch_id: WireInt;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compact_revision: WireInt;
  readonly cancel_reason: string;
  readonly fragment: boolean;
  readonly events: readonly {
    readonly type: 'PUT' | 'DELETE';
    readonly kv: WireKeyValue;
    readonly prev_kv: WireKeyValue | null;
  }[];
}

const RECONNECT_BASE_MS = 50;
const RECONNECT_MAX_MS = 2000;

export class Watch implements AsyncIterable<WatchBatch> {
  private readonly abort = new AbortController();
  private nextRevision: number;
  private started = false;
  /** Times the stream was reopened after a break (for tests and metrics). */
  reconnects = 0;

  constructor(
    private readonly conns: Connections,
    private readonly key: Bytes,
    private readonly o: WatchOptions,
  ) {
    this.nextRevision = o.startRevision ?? 0;
    o.signal?.addEventListener('abort', () => this.cancel(), { once: true });
    if (o.signal?.aborted === true) this.cancel();
  }

  /** The revision the watch resumes from: one past the last delivered (0 before the first answer). */
  get resumeRevision(): number {
    return this.nextRevision;
  }

  cancel(): void {
    this.abort.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    if (this.started) throw new Error('a Watch can be iterated only once');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<WatchBatch> {
    const signal = this.abort.signal;
    let failures = 0;
    let avoid: string | undefined;
    while (!signal.aborted) {
      let opened: { call: ClientDuplexStream<object, WireWatchResponse>; endpoint: string };
      try {
        opened = await this.conns.duplex<object, WireWatchResponse>('Watch', 'Watch', { signal, avoid });
      } catch (err) {
        if (signal.aborted) return;
        if (!(err instanceof NetcdError) || err.code !== 'UNAVAILABLE') throw err;
        failures += 1;
        await sleep(backoff(failures, RECONNECT_BASE_MS, RECONNECT_MAX_MS), signal);
        continue;
      }
      const { call, endpoint } = opened;
      const onAbort = (): void => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        call.write({ create_request: this.createRequest() });
        for await (const res of call as AsyncIterable<WireWatchResponse>) {
          const batch = this.accept(res);
          failures = 0;
          if (batch !== undefined) yield batch;
        }
        // The server ended the stream (it is stopping): resume elsewhere.
        avoid = endpoint;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof NetcdError) throw err;
        const e = fromGrpcError(err, true);
        if (e.grpcCode !== undefined && !RESUMABLE.has(e.code)) throw e;
        this.conns.reportFailure(endpoint);
        avoid = endpoint;
        failures += 1;
        this.reconnects += 1;
        await sleep(backoff(failures, RECONNECT_BASE_MS, RECONNECT_MAX_MS), signal);
      } finally {
        signal.removeEventListener('abort', onAbort);
        call.cancel();
      }
    }
  }

  private createRequest(): object {
    return {
      ...keyRange(this.key, this.o),
      start_revision: this.nextRevision,
      prev_kv: this.o.prevKv ?? false,
      filters: this.o.filters ?? [],
      progress_notify: this.o.progressNotify ?? false,
      fragment: false,
    };
  }

  /** Updates the resume point from a response; returns what to hand the caller, if anything. */
  private accept(res: WireWatchResponse): WatchBatch | undefined {
    const h = header(res.header);
    if (res.canceled) {
      const compacted = toNumber(res.compact_revision);
      if (compacted > 0) throw new CompactedError(compacted);
      throw new NetcdError('CANCELLED', res.cancel_reason || 'watch canceled by the server', 'not-applied');
    }
    if (res.created) {
      // Watching "from now": now is the revision the member answered at.
      if (this.nextRevision === 0) this.nextRevision = h.revision + 1;
      return undefined;
    }
    if (res.events.length === 0) {
      // A progress notification: every event up to header.revision has been delivered.
      this.nextRevision = Math.max(this.nextRevision, h.revision + 1);
      return this.o.progressNotify === true ? { header: h, events: [] } : undefined;
    }
    const events = res.events.map(
      (e): WatchEvent => ({
        type: e.type,
        kv: keyValue(e.kv),
        prevKv: e.prev_kv ? keyValue(e.prev_kv) : undefined,
      }),
    );
    const last = events[events.length - 1] as WatchEvent;
    this.nextRevision = last.kv.modRevision + 1;
    return { header: h, events };
  }
}

/** Failures after which the watch reopens elsewhere: the member went away or lost its leader. */
const RESUMABLE = new Set<string>([
  'UNAVAILABLE',
  'CANCELLED',
  'INTERNAL',
  'UNKNOWN',
  'NO_LEADER',
  'STOPPED',
]);
