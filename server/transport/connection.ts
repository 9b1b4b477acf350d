// One peer socket speaking frames: incoming frames go to the current owner (handshake, then a
// stream protocol), outgoing batches leave in one (vectored) write. Any decode or protocol error
// closes the connection and is reported once through onClose, never thrown to the process.

import type { Socket } from 'node:net';
import { describeError, TransportError } from './errors.js';
import { decodeBody, FRAME_HEADER_BYTES, FrameDecoder, layoutFrames } from './frame.js';

export type FrameHandler = (value: unknown, frameBytes: number) => void;
export type CloseHandler = (error: Error | null) => void;

/** Frames held while no handler is set (between a handshake and its owner taking over). */
const MAX_HELD_FRAMES = 64;

export class FramedConnection {
  readonly remoteAddress: string;
  /** Resolves once the socket has closed. */
  readonly closed: Promise<void>;
  private readonly decoder: FrameDecoder;
  private handler: FrameHandler | null = null;
  private closeHandler: CloseHandler | null = null;
  private readonly held: { value: unknown; frameBytes: number }[] = [];
  private error: Error | null = null;
  private isClosed = false;
  private endTimer: NodeJS.Timeout | null = null;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly socket: Socket,
    maxFrameBytes: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        if (this.endTimer !== null) clearTimeout(this.endTimer);
        this.wakeDrainWaiters();
        const handler = this.closeHandler;
        this.closeHandler = null;
        handler?.(this.error);
        resolve();
      });
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.wakeDrainWaiters());
    socket.on('timeout', () => this.fail(new TransportError('TIMEOUT', 'peer connection idle')));
  }

  get isOpen(): boolean {
    return !this.isClosed && !this.socket.destroyed && this.error === null;
  }

  /** Bytes handed to the socket but not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  setMaxFrameBytes(maxFrameBytes: number): void {
    this.decoder.setMaxFrameBytes(maxFrameBytes);
  }

  /** Closes the connection when no byte moves either way for `ms` (0 disables). */
  setIdleTimeout(ms: number): void {
    this.socket.setTimeout(ms);
  }

  /** Takes over incoming frames; frames held so far are delivered first, synchronously. */
  onFrame(handler: FrameHandler | null): void {
    this.handler = handler;
    while (handler !== null && this.handler === handler && this.held.length > 0 && this.isOpen) {
      const f = this.held.shift()!;
      this.dispatch(handler, f.value, f.frameBytes);
    }
  }

  /**
   * Called once when the socket closes, with the first error that closed it (null: a clean close);
   * at once if it already has.
   */
  onClose(handler: CloseHandler): void {
    if (this.isClosed) handler(this.error);
    else this.closeHandler = handler;
  }

  /**
   * Writes the frames with one socket write. Returns false when the socket's buffer is over its
   * high-water mark: the caller should wait for `drained()` before writing more.
   */
  write(bodies: readonly Uint8Array[]): boolean {
    if (!this.isOpen) return false;
    const buffers = layoutFrames(bodies);
    if (buffers.length === 1) return this.socket.write(buffers[0]!);
    this.socket.cork();
    let writable = true;
    for (const b of buffers) writable = this.socket.write(b);
    this.socket.uncork();
    return writable;
  }

  /**
   * Writes ONE frame whose body is the concatenation of `parts`, without copying them (the
   * socket gathers them in one writev). For bulk data such as snapshot chunks.
   */
  writeParts(parts: readonly Uint8Array[]): boolean {
    if (!this.isOpen) return false;
    let bodyBytes = 0;
    for (const p of parts) bodyBytes += p.length;
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE(bodyBytes, 0);
    this.socket.cork();
    let writable = this.socket.write(header);
    for (const p of parts) writable = this.socket.write(p);
    this.socket.uncork();
    return writable;
  }

  /** Resolves when the socket buffer drains or the connection closes. */
  drained(): Promise<void> {
    if (!this.isOpen || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Closes now; `error` is what onClose reports (null: a deliberate, clean close). */
  close(error: Error | null = null): void {
    if (this.error === null && error !== null) this.error = error;
    this.socket.destroy();
  }

  /** Flushes what was written, then closes; destroys after `graceMs` if the peer lingers. */
  end(graceMs: number): void {
    if (this.isClosed || this.endTimer !== null) return;
    this.handler = () => {};
    this.socket.end();
    this.endTimer = setTimeout(() => this.socket.destroy(), graceMs);
  }

  private fail(error: Error): void {
    this.close(error);
  }

  private receive(chunk: Buffer): void {
    try {
      for (const body of this.decoder.push(chunk)) {
        if (!this.isOpen) return;
        const value = decodeBody(body);
        const frameBytes = body.length + FRAME_HEADER_BYTES;
        const handler = this.handler;
        if (handler === null) {
          if (this.held.length >= MAX_HELD_FRAMES)
            throw new TransportError('BAD_FRAME', 'too many frames before the stream was set up');
          this.held.push({ value, frameBytes });
        } else this.dispatch(handler, value, frameBytes);
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new TransportError('BAD_FRAME', describeError(err)));
    }
  }

  private dispatch(handler: FrameHandler, value: unknown, frameBytes: number): void {
    try {
      handler(value, frameBytes);
    } catch (err) {
      this.fail(err instanceof Error ? err : new TransportError('BAD_FRAME', describeError(err)));
    }
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}
