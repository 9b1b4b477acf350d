// The outbound raft stream to one peer: one persistent connection, redialled with backoff, fed
// from a byte-bounded queue flushed once per event-loop turn with socket backpressure. Past the
// bound, or when a dial fails, messages are dropped and the peer reported unreachable.

import type { Logger } from 'pino';
import { Backoff } from './backoff.js';
import type { FramedConnection } from './connection.js';
import { describeError, TransportError } from './errors.js';
import { FRAME_HEADER_BYTES } from './frame.js';
import { FrameQueue } from './frame-queue.js';
import { dialPeer } from './handshake.js';
import type { ResolvedOptions } from './options.js';
import { type PeerAddress, parsePeerUrl, type SocketRegistry } from './sockets.js';

export interface RaftStreamContext {
  readonly options: ResolvedOptions;
  readonly registry: SocketRegistry;
  readonly logger: Logger;
  /** Coalesced by the transport; called whenever messages to this peer are lost. */
  readonly reportUnreachable: (peer: number) => void;
  /** The peer refused our handshake (its code: UNKNOWN_PEER when it no longer counts us a member). */
  readonly reportRejected?: (peer: number, code: string) => void;
}

export interface RaftStreamStats {
  readonly connected: boolean;
  readonly messagesSent: number;
  readonly bytesSent: number;
  /** Socket writes; each carries one or more frames. */
  readonly writes: number;
  readonly dropped: number;
  readonly queueBytes: number;
  /** Bytes written but not yet taken by the kernel. */
  readonly socketBufferedBytes: number;
  readonly connects: number;
  readonly lastError: string | null;
}

type State = 'dialing' | 'connected' | 'waiting' | 'stopped';

export class RaftStream {
  private readonly queue: FrameQueue;
  private readonly backoff: Backoff;
  private readonly logger: Logger;
  private addresses: PeerAddress[];
  private nextAddress = 0;
  private state: State = 'waiting';
  private conn: FramedConnection | null = null;
  private connAddress: PeerAddress | null = null;
  private redialTimer: NodeJS.Timeout | null = null;
  private flushImmediate: NodeJS.Immediate | null = null;
  private awaitingDrain = false;
  /** Set after a failure was logged at warn, so a long outage logs once, not every redial. */
  private failing = false;
  private counters = { messagesSent: 0, bytesSent: 0, writes: 0, dropped: 0, connects: 0 };
  private lastError: string | null = null;

  constructor(
    readonly peer: number,
    urls: readonly string[],
    private readonly ctx: RaftStreamContext,
  ) {
    this.queue = new FrameQueue(ctx.options.maxQueueBytes);
    this.backoff = new Backoff({
      minMs: ctx.options.backoffMinMs,
      maxMs: ctx.options.backoffMaxMs,
      random: ctx.options.random,
    });
    this.logger = ctx.logger.child({ peer: peer.toString(16), stream: 'raft' });
    this.addresses = urls.map(parsePeerUrl);
    this.dial();
  }

  /** New addresses for the peer; a connection to an address no longer listed is dropped. */
  setUrls(urls: readonly string[]): void {
    this.addresses = urls.map(parsePeerUrl);
    this.nextAddress = 0;
    if (this.connAddress !== null && !urls.includes(this.connAddress.url)) this.conn?.close();
  }

  /** Queues one encoded message; false when it was dropped (queue full or stream stopped). */
  enqueue(body: Uint8Array): boolean {
    if (this.state === 'stopped' || !this.queue.push(body)) {
      this.counters.dropped++;
      return false;
    }
    this.scheduleFlush();
    return true;
  }

  stats(): RaftStreamStats {
    return {
      connected: this.state === 'connected',
      ...this.counters,
      queueBytes: this.queue.bytes,
      socketBufferedBytes: this.conn?.bufferedBytes ?? 0,
      lastError: this.lastError,
    };
  }

  /** Drops the queue, closes the connection and cancels every timer. */
  stop(): void {
    this.state = 'stopped';
    if (this.redialTimer !== null) clearTimeout(this.redialTimer);
    if (this.flushImmediate !== null) clearImmediate(this.flushImmediate);
    this.redialTimer = null;
    this.flushImmediate = null;
    this.queue.clear();
    this.conn?.close();
    this.conn = null;
  }

  private dial(): void {
    const address = this.addresses[this.nextAddress++ % Math.max(1, this.addresses.length)];
    if (address === undefined) {
      this.onDialFailed(new TransportError('UNREACHABLE', 'peer has no URLs'));
      return;
    }
    this.state = 'dialing';
    const { options, registry } = this.ctx;
    dialPeer({
      address,
      local: options.local,
      peer: this.peer,
      kind: 'raft',
      timeoutMs: options.dialTimeoutMs,
      maxFrameBytes: options.maxFrameBytes,
      registry,
    }).then(
      (conn) => this.onConnected(conn, address),
      (err: unknown) => this.onDialFailed(err),
    );
  }

  private onConnected(conn: FramedConnection, address: PeerAddress): void {
    if (this.state === 'stopped') {
      conn.close();
      return;
    }
    if (!this.addresses.some((a) => a.url === address.url)) {
      // setUrls moved the peer while this dial was under way.
      conn.close();
      this.scheduleRedial();
      return;
    }
    this.state = 'connected';
    this.conn = conn;
    this.connAddress = address;
    this.awaitingDrain = false;
    this.counters.connects++;
    this.backoff.reset();
    this.logger[this.failing ? 'info' : 'debug']({ url: address.url }, 'raft stream connected');
    this.failing = false;
    this.lastError = null;
    // The acceptor never speaks on a raft stream after its handshake reply.
    conn.onFrame(() => {
      throw new TransportError('BAD_FRAME', 'unexpected frame on an outbound raft stream');
    });
    conn.onClose((err) => this.onDisconnected(conn, err));
    this.scheduleFlush();
  }

  private onDisconnected(conn: FramedConnection, err: Error | null): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.connAddress = null;
    if (this.state === 'stopped') return;
    this.lastError = err === null ? 'connection closed' : describeError(err);
    this.logger.warn({ err: this.lastError }, 'raft stream lost');
    this.failing = true;
    // Whatever was in the socket's buffer is gone.
    this.ctx.reportUnreachable(this.peer);
    this.scheduleRedial();
  }

  private onDialFailed(err: unknown): void {
    if (this.state === 'stopped') return;
    this.lastError = describeError(err);
    const rejectCode = (err as TransportError).rejectCode;
    const fields = { err: this.lastError, rejectCode };
    if (rejectCode !== undefined) this.ctx.reportRejected?.(this.peer, rejectCode);
    if (this.failing) this.logger.debug(fields, 'raft stream dial failed');
    else this.logger.warn(fields, 'raft stream dial failed');
    this.failing = true;
    const dropped = this.queue.clear();
    if (dropped > 0) {
      this.counters.dropped += dropped;
      this.ctx.reportUnreachable(this.peer);
    }
    this.scheduleRedial();
  }

  private scheduleRedial(): void {
    this.state = 'waiting';
    this.redialTimer = setTimeout(() => {
      this.redialTimer = null;
      if (this.state === 'waiting') this.dial();
    }, this.backoff.nextDelayMs());
  }

  private scheduleFlush(): void {
    if (this.flushImmediate !== null || this.state !== 'connected' || this.awaitingDrain) return;
    // setImmediate, not a microtask: everything sent during this turn of the loop shares a write.
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = null;
      this.flush();
    });
  }

  private flush(): void {
    const conn = this.conn;
    if (conn === null || !conn.isOpen) return;
    while (this.queue.length > 0) {
      const batch = this.queue.take(this.ctx.options.maxWriteBytes);
      const writable = conn.write(batch);
      this.counters.writes++;
      this.counters.messagesSent += batch.length;
      for (const b of batch) this.counters.bytesSent += b.length + FRAME_HEADER_BYTES;
      if (!writable) {
        this.awaitingDrain = true;
        conn.drained().then(() => {
          this.awaitingDrain = false;
          if (this.conn === conn) this.scheduleFlush();
        });
        return;
      }
    }
  }
}
