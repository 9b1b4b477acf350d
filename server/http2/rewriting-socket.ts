// The connection an HTTP/2 server is handed in place of a client socket: it reads the client's
// bytes through an AuthorityRewriter and writes the server's bytes to the socket untouched. Flow
// control follows the server: while it reads nothing the socket is paused. Closing or failing
// either side closes the other; a rewriter error destroys it with that error. Node's http2 wraps a
// stream that is not a net.Socket in a socket of its own that knows no peer address, so grpc-js's
// call.getPeer() reports 'unknown' on such a connection.

import type net from 'node:net';
import { Duplex } from 'node:stream';
import { AuthorityRewriter, type AuthorityRewriterOptions } from './authority-rewriter.js';

export class RewritingSocket extends Duplex {
  readonly socket: net.Socket;
  readonly rewriter: AuthorityRewriter;

  /** Takes over `socket`, whose unread bytes (the HTTP/2 preface first) become this stream's input. */
  constructor(socket: net.Socket, options: AuthorityRewriterOptions = {}) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    // What one socket read turns into is pushed as one chunk: each push is a trip through the
    // server's HTTP/2 session, which costs more than copying the few pieces of one read together.
    let pieces: Buffer[] = [];
    this.rewriter = new AuthorityRewriter((bytes) => pieces.push(bytes), options);
    socket.on('data', (chunk: Buffer) => {
      if (this.destroyed) return;
      try {
        this.rewriter.write(chunk);
      } catch (err) {
        this.destroy(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const out = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
      pieces = [];
      if (out !== undefined && out.length > 0 && !this.push(out)) socket.pause();
    });
    socket.once('end', () => this.push(null));
    socket.once('error', (err) => this.destroy(err));
    socket.once('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) callback();
    else this.socket.once('drain', () => callback());
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (err?: Error | null) => void,
  ): void {
    this.socket.cork();
    let flushed = true;
    for (const { chunk } of chunks) flushed = this.socket.write(chunk);
    this.socket.uncork();
    if (flushed) callback();
    else this.socket.once('drain', () => callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}
