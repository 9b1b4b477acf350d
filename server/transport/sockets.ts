// The only code touching node:net (so TLS slots in here): peer URL parsing, the listener and the
// dialer. Every socket made or accepted is registered, so stop() can destroy them all and wait
// until each has closed.

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { TransportError } from './errors.js';

export interface PeerAddress {
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

/** `http://host:port` → host and port; anything else is BAD_URL (https is not served yet). */
export function parsePeerUrl(url: string): PeerAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TransportError('BAD_URL', url);
  }
  if (parsed.protocol !== 'http:')
    throw new TransportError('BAD_URL', `${url}: only http:// peer URLs are supported`);
  const port = parsed.port === '' ? 80 : Number(parsed.port);
  // URL keeps the brackets of an IPv6 literal; sockets want the bare address.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new TransportError('BAD_URL', `${url}: no host`);
  return { url, host, port };
}

export function formatPeerUrl(host: string, port: number): string {
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** Every live peer socket of one transport. */
export class SocketRegistry {
  private readonly sockets = new Set<Socket>();

  add(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Destroys every socket and resolves once all have closed. */
  async destroyAll(): Promise<void> {
    // A socket leaves the set on its 'close' event, so every one still here has that event to come
    // (even if `closed` is already true: the event follows on a later tick).
    const closing = [...this.sockets].map(
      (s) =>
        new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          s.destroy();
        }),
    );
    await Promise.all(closing);
  }
}

function tune(socket: Socket): void {
  // Raft messages are latency-sensitive and already batched per write.
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 10_000);
}

/** Listens on `address`; accepted sockets are registered and handed to `onSocket`. */
export function listenForPeers(
  address: PeerAddress,
  registry: SocketRegistry,
  maxConnections: number,
  onSocket: (socket: Socket) => void,
): Promise<Server> {
  const server = createServer((socket) => {
    registry.add(socket);
    tune(socket);
    onSocket(socket);
  });
  server.maxConnections = maxConnections;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${address.host}:${address.port}`;
      reject(
        err.code === 'EADDRINUSE'
          ? new TransportError('EADDRINUSE', where, { cause: err })
          : new TransportError('LISTEN_FAILED', `${where}: ${err.message}`, { cause: err }),
      );
    };
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** Connects to `address` within `timeoutMs`; failures are UNREACHABLE or TIMEOUT. */
export function dialPeerSocket(
  address: PeerAddress,
  timeoutMs: number,
  registry: SocketRegistry,
): Promise<Socket> {
  const socket = createConnection({ host: address.host, port: address.port });
  registry.add(socket);
  return new Promise((resolve, reject) => {
    const settle = (err: Error | null): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err === null) return resolve(socket);
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      tune(socket);
      settle(null);
    };
    const onError = (err: NodeJS.ErrnoException): void =>
      settle(new TransportError('UNREACHABLE', `${address.url}: ${err.code ?? err.message}`, { cause: err }));
    const onClose = (): void =>
      settle(new TransportError('UNREACHABLE', `${address.url}: closed while connecting`));
    const timer = setTimeout(
      () => settle(new TransportError('TIMEOUT', `connecting to ${address.url} took over ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}
