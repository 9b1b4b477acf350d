// etcd's Watch service: one bidirectional stream carries many watches, each a watcher on the
// member's watch hub. Watch ids are the stream's own (chosen by the client or counted from 0), so
// two streams never clash; the hub's ids stay internal. A stream that ends, fails or is canceled
// takes all its watches with it. Writes apply backpressure to the hub through the sink's promise.

import type { ServerDuplexStream } from '@grpc/grpc-js';
import { isKvError, KvError } from '../../../kv/errors.js';
import type { Watcher, WatchResponse } from '../../../kv/watch/watcher.js';
import type { Member } from '../../api.js';
import { isServerError } from '../../api.js';
import { ETCD_ERRORS } from '../../proto/errors.js';
import { eventOut, headerOut, watchCreateIn } from '../convert.js';
import { toRpcError } from '../errors.js';
import { int64 } from '../int64.js';
import { StreamWriter } from '../rpc.js';
import { splitWatchResponse } from '../watch-split.js';
import type { WireWatchCreateRequest, WireWatchRequest, WireWatchResponse } from '../wire-types.js';

export interface WatchServiceOptions {
  /**
   * A progress request that arrives while some watch of the stream is still catching up is
   * answered once all are synced; this is how often that is checked. Default 100 ms.
   */
  readonly progressRetryMs?: number;
}

const DEFAULT_PROGRESS_RETRY_MS = 100;
/** The watch id of responses that concern no single watch (etcd's convention). */
const STREAM_WIDE_ID = -1;

export function watchService(member: Member, options: WatchServiceOptions = {}) {
  const progressRetryMs = options.progressRetryMs ?? DEFAULT_PROGRESS_RETRY_MS;
  return {
    Watch: (call: ServerDuplexStream<WireWatchRequest, WireWatchResponse>): void => {
      new WatchSession(member, call, progressRetryMs);
    },
  };
}

interface StreamWatch {
  readonly watcher: Watcher;
}

class WatchSession {
  private readonly member: Member;
  private readonly out: StreamWriter<WireWatchResponse>;
  private readonly progressRetryMs: number;
  private readonly watches = new Map<number, StreamWatch>();
  private nextId = 0;
  private closed = false;
  private progressTimer: NodeJS.Timeout | null = null;

  constructor(
    member: Member,
    call: ServerDuplexStream<WireWatchRequest, WireWatchResponse>,
    retryMs: number,
  ) {
    this.member = member;
    this.out = new StreamWriter(call);
    this.progressRetryMs = retryMs;
    call.on('data', (req: WireWatchRequest) => this.receive(req));
    // A client that closes its side keeps its watches until it cancels the call, as in etcd.
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
  }

  private receive(req: WireWatchRequest): void {
    if (this.closed) return;
    try {
      if (req.create_request) this.create(req.create_request);
      else if (req.cancel_request) this.cancel(int64(req.cancel_request.watch_id, 'watch_id'));
      else if (req.progress_request) this.requestProgress();
      // An empty request is ignored, like etcd does.
    } catch (err) {
      this.out.fail(err);
      this.close();
    }
  }

  private create(c: WireWatchCreateRequest): void {
    let id: number;
    let watcher: Watcher;
    try {
      const wanted = int64(c.watch_id, 'watch_id');
      if (wanted !== 0 && this.watches.has(wanted)) throw new KvError('WATCH_DUPLICATE_ID');
      const req = watchCreateIn(c);
      id = wanted !== 0 ? wanted : this.unusedId();
      const fragment = c.fragment;
      // The hub answers `created` (and maybe history) from inside watch(), before it returns.
      watcher = this.member.watchHub.watch(req, (resp) => this.deliver(id, fragment, resp));
      // A refused watch does not use up a server-chosen id, as in etcd.
      if (wanted === 0) this.nextId = id + 1;
    } catch (err) {
      this.out.write({
        header: headerOut(this.member.header()),
        watch_id: STREAM_WIDE_ID,
        created: true,
        canceled: true,
        cancel_reason: cancelReason(err),
        events: [],
      });
      return;
    }
    // Canceled already when the start revision was compacted.
    if (watcher.state !== 'canceled' && !this.closed) this.watches.set(id, { watcher });
    else if (this.closed) watcher.cancel();
  }

  private unusedId(): number {
    while (this.watches.has(this.nextId)) this.nextId++;
    return this.nextId;
  }

  /** Cancels a watch of this stream; an unknown id gets no answer, as in etcd. */
  private cancel(id: number): void {
    // The hub sends the canceled response through the watch's sink.
    this.watches.get(id)?.watcher.cancel();
  }

  private requestProgress(): void {
    if (this.sendProgressIfSynced() || this.progressTimer !== null) return;
    this.progressTimer = setInterval(() => {
      if (this.closed || this.sendProgressIfSynced()) this.stopProgressTimer();
    }, this.progressRetryMs);
  }

  /** A stream-wide progress response, only when every watch has been sent all events up to now. */
  private sendProgressIfSynced(): boolean {
    for (const w of this.watches.values()) if (w.watcher.state !== 'synced') return false;
    this.out.write({ header: headerOut(this.member.header()), watch_id: STREAM_WIDE_ID, events: [] });
    return true;
  }

  private stopProgressTimer(): void {
    if (this.progressTimer === null) return;
    clearInterval(this.progressTimer);
    this.progressTimer = null;
  }

  /** The watch's sink: never throws (the hub would take that for a broken consumer). */
  private deliver(id: number, fragment: boolean, resp: WatchResponse): Promise<void> | undefined {
    if (this.closed) return undefined;
    try {
      return this.respond(id, fragment, resp);
    } catch (err) {
      this.out.fail(err);
      this.close();
      return undefined;
    }
  }

  private respond(id: number, fragment: boolean, resp: WatchResponse): Promise<void> | undefined {
    if (resp.canceled === true) this.watches.delete(id);
    const base = {
      header: headerOut(this.member.header(), resp.revision),
      watch_id: id,
      events: resp.events.map(eventOut),
    };
    let wire: WireWatchResponse;
    if (resp.created === true) wire = { ...base, created: true };
    else if (resp.compactRevision !== undefined) {
      wire = {
        ...base,
        canceled: true,
        compact_revision: resp.compactRevision,
        cancel_reason: ETCD_ERRORS.COMPACTED[1],
      };
    } else if (resp.canceled === true) wire = { ...base, canceled: true };
    else wire = base;
    let drained: Promise<void> | undefined;
    for (const piece of splitWatchResponse(wire, this.member.maxRequestBytes, fragment)) {
      drained = this.out.write(piece) ?? drained;
    }
    return drained;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopProgressTimer();
    const watches = [...this.watches.values()];
    this.watches.clear();
    // Their canceled responses reach deliver() after `closed` is set and are dropped.
    for (const w of watches) w.watcher.cancel();
  }
}

/** etcd puts the bare error text in cancel_reason ("mvcc: watcher range is empty", ...). */
function cancelReason(err: unknown): string {
  if (isKvError(err) || isServerError(err)) return err.message;
  return toRpcError(err).details;
}
