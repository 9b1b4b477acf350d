// Request/response between members on an 'rpc' connection multiplexed by request id. Every
// request ends exactly once (answer, remote error, timeout, lost connection, close); outstanding
// requests are bounded per transport and in-flight served ones per connection.

import type { Logger } from 'pino';
import type { FramedConnection } from './connection.js';
import { describeError, TransportError } from './errors.js';
import { arrayField, badFrame, boolField, stringField, uintField } from './fields.js';
import { encodeBody, FRAME_HEADER_BYTES } from './frame.js';
import { dialPeer } from './handshake.js';
import type { ResolvedOptions } from './options.js';
import type { PeerAddress, SocketRegistry } from './sockets.js';

const REQ = 'req';
const RES = 'res';

/** The count of outstanding requests, shared by every peer's client. */
export class RequestBudget {
  private used = 0;

  constructor(readonly max: number) {}

  get pending(): number {
    return this.used;
  }

  tryAcquire(): boolean {
    if (this.used >= this.max) return false;
    this.used++;
    return true;
  }

  release(): void {
    this.used--;
  }
}

export interface RpcClientContext {
  readonly options: ResolvedOptions;
  readonly registry: SocketRegistry;
  readonly budget: RequestBudget;
  readonly logger: Logger;
}

interface PendingRequest {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** The connection the request went out on, once written. */
  conn: FramedConnection | null;
}

function encodeFrame(frame: readonly unknown[], maxFrameBytes: number): Uint8Array {
  let body: Uint8Array;
  try {
    body = encodeBody(frame);
  } catch (err) {
    throw new TransportError('BAD_FRAME', `cannot encode: ${describeError(err)}`, { cause: err });
  }
  if (body.length + FRAME_HEADER_BYTES > maxFrameBytes)
    throw new TransportError('FRAME_TOO_LARGE', `${body.length} bytes`);
  return body;
}

/** The calling side towards one peer; dials on demand and redials after a lost connection. */
export class RpcClient {
  private conn: FramedConnection | null = null;
  private connecting: Promise<FramedConnection> | null = null;
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private nextAddress = 0;
  private closedWith: TransportError | null = null;

  constructor(
    private readonly peer: number,
    private readonly addresses: () => readonly PeerAddress[],
    private readonly ctx: RpcClientContext,
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  request(payload: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs))
      return Promise.reject(new TransportError('BAD_OPTION', 'timeoutMs must be a positive number'));
    const id = this.nextId++;
    let body: Uint8Array;
    try {
      body = encodeFrame([REQ, id, payload], this.ctx.options.maxFrameBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.ctx.budget.tryAcquire())
      return Promise.reject(new TransportError('TOO_MANY_REQUESTS', `${this.ctx.budget.max} outstanding`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.settle(
            id,
            new TransportError('TIMEOUT', `request to ${this.peer.toString(16)} after ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.pending.set(id, { resolve, reject, timer, conn: null });
      this.connection().then(
        (conn) => {
          const p = this.pending.get(id);
          if (p === undefined) return;
          p.conn = conn;
          conn.write([body]);
        },
        (err: unknown) =>
          this.settle(
            id,
            err instanceof TransportError ? err : new TransportError('UNREACHABLE', describeError(err)),
          ),
      );
    });
  }

  /** Fails every outstanding request with `err` and refuses new ones. */
  close(err: TransportError): void {
    this.closedWith = err;
    for (const id of [...this.pending.keys()]) this.settle(id, err);
    this.conn?.close();
    this.conn = null;
  }

  private connection(): Promise<FramedConnection> {
    if (this.conn?.isOpen) return Promise.resolve(this.conn);
    if (this.connecting !== null) return this.connecting;
    const list = this.addresses();
    const address = list[this.nextAddress++ % Math.max(1, list.length)];
    if (address === undefined) return Promise.reject(new TransportError('UNREACHABLE', 'peer has no URLs'));
    const { options, registry } = this.ctx;
    this.connecting = dialPeer({
      address,
      local: options.local,
      peer: this.peer,
      kind: 'rpc',
      timeoutMs: options.dialTimeoutMs,
      maxFrameBytes: options.maxFrameBytes,
      registry,
    }).then(
      (conn) => {
        this.connecting = null;
        if (this.closedWith !== null) {
          conn.close();
          throw this.closedWith;
        }
        this.conn = conn;
        conn.onFrame((v) => this.onResponse(v));
        conn.onClose((err) => this.onConnectionClosed(conn, err));
        return conn;
      },
      (err: unknown) => {
        this.connecting = null;
        this.ctx.logger.warn({ err: describeError(err) }, 'rpc dial failed');
        throw err;
      },
    );
    return this.connecting;
  }

  private onResponse(v: unknown): void {
    const f = arrayField(v, 'rpc response');
    if (f[0] !== RES || (f.length !== 4 && f.length !== 5)) throw badFrame('not an rpc response');
    const id = uintField(f[1], 'request id');
    const p = this.pending.get(id);
    if (p === undefined) return; // timed out already
    if (boolField(f[2], 'ok')) {
      this.settle(id, null, f[3]);
      return;
    }
    const code = f[4] === null || f[4] === undefined ? undefined : stringField(f[4], 'code');
    this.settle(
      id,
      new TransportError(
        'REMOTE',
        stringField(f[3], 'message', 1 << 20),
        code === undefined ? {} : { remoteCode: code },
      ),
    );
  }

  private onConnectionClosed(conn: FramedConnection, err: Error | null): void {
    if (this.conn === conn) this.conn = null;
    const reason = err === null ? 'connection closed' : describeError(err);
    for (const [id, p] of [...this.pending]) {
      if (p.conn === conn)
        this.settle(id, new TransportError('UNREACHABLE', `rpc connection lost: ${reason}`));
    }
  }

  private settle(id: number, err: Error | null, value?: unknown): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    this.ctx.budget.release();
    if (err === null) p.resolve(value);
    else p.reject(err);
  }
}

export interface RpcServeContext {
  readonly from: number;
  readonly handler: ((from: number, body: unknown) => Promise<unknown>) | undefined;
  readonly maxInFlight: number;
  readonly maxFrameBytes: number;
  readonly logger: Logger;
  readonly onBytes: (frameBytes: number) => void;
}

/** Serves requests arriving on an accepted `rpc` connection. */
export function serveRpc(conn: FramedConnection, ctx: RpcServeContext): void {
  let inFlight = 0;
  const respond = (frame: readonly unknown[]): void => {
    if (!conn.isOpen) return;
    let body: Uint8Array;
    try {
      body = encodeFrame(frame, ctx.maxFrameBytes);
    } catch (err) {
      ctx.logger.warn({ err: describeError(err) }, 'rpc response not sendable');
      body = encodeBody([RES, frame[1], false, `response not sendable: ${describeError(err)}`, 'BAD_FRAME']);
    }
    conn.write([body]);
  };
  conn.onFrame((v, frameBytes) => {
    ctx.onBytes(frameBytes);
    const f = arrayField(v, 'rpc request', 3);
    if (f[0] !== REQ) throw badFrame('not an rpc request');
    const id = uintField(f[1], 'request id');
    const handler = ctx.handler;
    if (handler === undefined) return respond([RES, id, false, 'peer serves no requests', 'NOT_SUPPORTED']);
    if (inFlight >= ctx.maxInFlight)
      return respond([
        RES,
        id,
        false,
        `more than ${ctx.maxInFlight} requests in flight`,
        'TOO_MANY_REQUESTS',
      ]);
    inFlight++;
    Promise.resolve()
      .then(() => handler(ctx.from, f[2]))
      .then(
        (result) => respond([RES, id, true, result]),
        (err: unknown) => {
          const code = (err as { code?: unknown } | null)?.code;
          respond([RES, id, false, describeError(err), typeof code === 'string' ? code : null]);
        },
      )
      .finally(() => inFlight--);
  });
}
