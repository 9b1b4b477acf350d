// Glue between grpc-js handlers and the services' async functions: a call's cancellation becomes
// an AbortSignal, a thrown error becomes etcd's status (errors.ts), a stream write that fills the
// transport's buffer yields a promise for its drain, and nothing a handler throws escapes.

import type { handleUnaryCall, ServerDuplexStream, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { CallOptions } from '../api.js';
import { ServerError } from '../api.js';
import { toRpcError } from './errors.js';
import { wireBytes } from './proto.js';

/** What a unary service function gets besides the request. */
export interface CallContext extends CallOptions {
  readonly signal: AbortSignal;
}

/** What every server call has: whether it was canceled, and the event that says so. */
interface CancellableCall {
  readonly cancelled: boolean;
  once(event: 'cancelled', listener: () => void): unknown;
}

/** An AbortSignal that fires when the client cancels the call or its deadline passes. */
export function callSignal(call: CancellableCall): AbortSignal {
  const controller = new AbortController();
  if (call.cancelled) controller.abort();
  else call.once('cancelled', () => controller.abort());
  return controller.signal;
}

/** A grpc-js unary handler running `fn`; its result or its error (mapped) is the answer. */
export function unary<Req, Res>(fn: (req: Req, ctx: CallContext) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback: sendUnaryData<Res>) => {
    const ctx: CallContext = { signal: callSignal(call) };
    let result: Promise<Res>;
    try {
      result = fn(call.request, ctx);
    } catch (err) {
      callback(toRpcError(err));
      return;
    }
    result.then(
      (res) => callback(null, res),
      (err: unknown) => callback(toRpcError(err)),
    );
  };
}

/** Refuses a request whose encoded size is above the member's limit, as etcd does before proposing. */
export function checkRequestSize(request: object, maxRequestBytes: number): void {
  if (wireBytes(request) > maxRequestBytes)
    throw new ServerError('REQUEST_TOO_LARGE', 'request is too large');
}

type OutStream<Res> = ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>;

/**
 * Writes to a response stream with backpressure: undefined when the message went into the
 * transport's buffer, else a promise that settles once the buffer drained or the stream closed.
 */
export class StreamWriter<Res> {
  private readonly call: OutStream<Res>;
  private pendingDrain: Promise<void> | null = null;
  private ended = false;

  constructor(call: OutStream<Res>) {
    this.call = call;
    call.once('close', () => {
      this.ended = true;
    });
  }

  get closed(): boolean {
    return this.ended || this.call.cancelled || this.call.destroyed || this.call.writableEnded;
  }

  write(message: Res): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.call.write(message)) return this.pendingDrain ?? undefined;
    this.pendingDrain ??= new Promise<void>((resolve) => {
      const done = (): void => {
        this.call.off('drain', done);
        this.call.off('close', done);
        this.pendingDrain = null;
        resolve();
      };
      this.call.on('drain', done);
      this.call.on('close', done);
    });
    return this.pendingDrain;
  }

  /** Ends the stream with OK, once. */
  end(): void {
    if (this.closed) return;
    this.ended = true;
    this.call.end();
  }

  /** Ends the stream with the status of `err` (see errors.ts), once. */
  fail(err: unknown): void {
    if (this.closed) return;
    this.ended = true;
    this.call.emit('error', toRpcError(err));
  }
}
