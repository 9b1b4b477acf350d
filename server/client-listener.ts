// The client port: like etcd, one TCP port per --listen-client-urls entry carries both gRPC and plain
// HTTP/1.1 (/health, /metrics, /version). Each connection is classified by its first bytes — the
// HTTP/2 preface goes to the gRPC server, anything else to the HTTP server — and the bytes read to
// decide are pushed back, so neither server can tell the connection was inspected. gRPC connections
// reach grpc-js through an :authority rewriter (http2/authority-rewriter.ts): etcdctl sends its
// endpoint URL as the authority, which Node's HTTP/2 server would refuse.

import type http from 'node:http';
import net from 'node:net';
import { getSystemErrorMap } from 'node:util';
import { type Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { formatUrl, type ParsedURL } from './config.js';
import { isHttp2Error } from './http2/errors.js';
import { HTTP2_PREFACE } from './http2/frames.js';
import { RewritingSocket } from './http2/rewriting-socket.js';

export { HTTP2_PREFACE };

export interface ClientListenerOptions {
  /** --listen-client-urls. Only http:// is served; https:// is refused until TLS is implemented. */
  readonly urls: readonly ParsedURL[];
  /**
   * Serves connections that start with the HTTP/2 preface. It must not be bound to a port and needs
   * no start(): connections reach it through a connection injector.
   */
  readonly grpcServer: GrpcServer;
  /** Serves every other connection; it must not listen itself (see startHttpEndpoints without urls). */
  readonly httpServer: http.Server;
  readonly logger: Logger;
  /** A connection that has not sent enough bytes to be classified within this time is closed. Default 10_000. */
  readonly sniffTimeoutMs?: number;
}

export interface CloseOptions {
  /**
   * Time open connections get to finish (gRPC sessions are sent GOAWAY) before they are destroyed.
   * Default 0: destroy them at once.
   */
  readonly graceMs?: number;
}

export interface ClientListener {
  /** Where the listener is bound, in --listen-client-urls order (port 0 resolved). */
  readonly addresses: readonly ParsedURL[];
  /** Connections open right now, whether still being classified, gRPC or HTTP. */
  readonly connectionCount: number;
  /** Stops accepting, then closes every connection; resolves when all are closed. Idempotent. */
  close(options?: CloseOptions): Promise<void>;
}

const DEFAULT_SNIFF_TIMEOUT_MS = 10_000;

/** 'grpc' or 'http' once `head` decides it, undefined while it is a strict prefix of the preface. */
export function classifyConnection(head: Uint8Array): 'grpc' | 'http' | undefined {
  const n = Math.min(head.length, HTTP2_PREFACE.length);
  for (let i = 0; i < n; i++) if (head[i] !== HTTP2_PREFACE[i]) return 'http';
  return head.length >= HTTP2_PREFACE.length ? 'grpc' : undefined;
}

export async function startClientListener(options: ClientListenerOptions): Promise<ClientListener> {
  const { grpcServer, httpServer, logger } = options;
  const sniffTimeoutMs = options.sniffTimeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS;
  const https = options.urls.find((u) => u.scheme === 'https');
  if (https !== undefined)
    throw new Error(`cannot serve ${https.url}: TLS on the client port is not implemented yet`);
  if (options.urls.length === 0) throw new Error('no client URLs to listen on');

  const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  let closing: Promise<void> | undefined;

  const onConnection = (socket: net.Socket): void => {
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('error', (err) =>
      logger.debug({ err, remote: socket.remoteAddress }, 'client connection error'),
    );
    const timer = setTimeout(() => socket.destroy(), sniffTimeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      sockets.delete(socket);
    });
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const kind = classifyConnection(head);
      if (kind === undefined) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(head);
      if (kind === 'grpc') {
        // The gRPC server reads through a rewriter that makes `:authority` acceptable to nghttp2
        // (etcdctl sends `http://host:port`); it resumes the socket when the server reads.
        const connection = new RewritingSocket(socket);
        connection.on('error', (err) => {
          if (isHttp2Error(err))
            logger.debug({ err, remote: socket.remoteAddress }, 'gRPC connection refused');
        });
        injector.injectConnection(connection);
      } else {
        httpServer.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  };

  const servers: net.Server[] = [];
  const addresses: ParsedURL[] = [];
  try {
    for (const url of options.urls) {
      const server = net.createServer({ noDelay: true }, onConnection);
      servers.push(server);
      addresses.push(await listenOn(server, url));
    }
  } catch (e) {
    await Promise.all(servers.map(closeServer));
    injector.destroy();
    throw e;
  }
  logger.info({ urls: addresses.map((a) => a.url) }, 'serving client requests (gRPC and HTTP)');

  const close = async (graceMs: number): Promise<void> => {
    const stopped = Promise.all(servers.map(closeServer));
    if (graceMs > 0 && sockets.size > 0) {
      injector.drain(graceMs);
      await allClosedOrTimeout(sockets, graceMs);
    }
    for (const s of sockets) s.destroy();
    injector.destroy();
    await stopped;
  };

  return {
    addresses,
    get connectionCount() {
      return sockets.size;
    },
    close(closeOptions = {}) {
      closing ??= close(closeOptions.graceMs ?? 0);
      return closing;
    },
  };
}

/** A listen failure keeping the system error code (EADDRINUSE, EACCES, ...) with a one-line message. */
export class ListenError extends Error {
  readonly code: string;
  readonly url: string;
  constructor(url: string, cause: NodeJS.ErrnoException) {
    const code = cause.code ?? 'UNKNOWN';
    const text = cause.errno === undefined ? undefined : getSystemErrorMap().get(cause.errno)?.[1];
    super(`cannot listen on ${url}: ${text ?? cause.message} (${code})`, { cause });
    this.name = 'ListenError';
    this.code = code;
    this.url = url;
  }
}

/** Binds `server` to the URL's host and port; resolves with the bound address (port 0 resolved). */
export function listenOn(server: net.Server, url: ParsedURL): Promise<ParsedURL> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(new ListenError(url.url, err));
    };
    const onListening = (): void => {
      server.off('error', onError);
      const bound = server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : url.port;
      resolve({ ...url, port, url: formatUrl(url.scheme, url.host, port) });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: url.host, port: url.port });
  });
}

/** Resolves once `server` has stopped listening and all its connections are gone. */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) resolve();
    else server.close(() => resolve());
  });
}

function allClosedOrTimeout(sockets: ReadonlySet<net.Socket>, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const pending = [...sockets].filter((s) => !s.closed);
    if (pending.length === 0) {
      resolve();
      return;
    }
    let left = pending.length;
    const timer = setTimeout(resolve, timeoutMs);
    for (const s of pending)
      s.once('close', () => {
        left--;
        if (left === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
  });
}
