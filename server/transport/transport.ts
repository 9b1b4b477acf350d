// PeerTransport: per peer an outbound raft stream, a connection per snapshot transfer and an rpc
// connection on demand; inbound connections are authenticated by handshake and routed by kind.
// send() never blocks or throws: losses go to onUnreachable, coalesced and deferred.

import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { isLocalMessage, type Message } from '../../raft/index.js';
import type { FramedConnection } from './connection.js';
import { describeError, isProtocolError, TransportError } from './errors.js';
import { encodeBody, FRAME_HEADER_BYTES } from './frame.js';
import { acceptPeer, type Handshake } from './handshake.js';
import { type PeerTransportOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { membersAnswer, routeByFirstBytes, serveHttp } from './peer-http.js';
import { RaftStream, type RaftStreamStats } from './raft-stream.js';
import { RequestBudget, RpcClient, serveRpc } from './rpc.js';
import { SnapshotReceiver, SnapshotSender } from './snapshot-stream.js';
import {
  closeServer,
  formatPeerUrl,
  listenForPeers,
  type PeerAddress,
  parsePeerUrl,
  SocketRegistry,
} from './sockets.js';
import { decodeMessage, encodeMessage } from './wire.js';

export interface PeerStats extends RaftStreamStats {
  readonly id: number;
  readonly urls: readonly string[];
  readonly messagesReceived: number;
  readonly bytesReceived: number;
  readonly inboundConnections: number;
  readonly snapshotsSent: number;
  readonly snapshotsFailed: number;
  /** Wire bytes of snapshot transfers, finished or not. */
  readonly snapshotBytesSent: number;
  readonly snapshotsReceived: number;
  /** Data bytes of the snapshot being received from this peer, 0 when none is. */
  readonly snapshotReceivingBytes: number;
  readonly pendingRequests: number;
}

export interface TransportStats {
  readonly memberId: number;
  readonly listening: boolean;
  readonly urls: readonly string[];
  /** Every socket this transport holds, inbound and outbound (0 after stop). */
  readonly openSockets: number;
  readonly pendingRequests: number;
  /** Messages addressed to members that are not peers. */
  readonly droppedUnknownPeer: number;
  readonly peers: readonly PeerStats[];
}

interface Peer {
  readonly id: number;
  urls: readonly string[];
  addresses: readonly PeerAddress[];
  readonly stream: RaftStream;
  rpc: RpcClient | null;
  snapshot: SnapshotSender | null;
  receiving: SnapshotReceiver | null;
  readonly inbound: Set<FramedConnection>;
  /** The peer's current raft stream to us; a newer one replaces it (the peer redialled). */
  inboundRaft: FramedConnection | null;
  received: { messages: number; bytes: number; snapshots: number };
  snapshotsSent: number;
  snapshotsFailed: number;
  snapshotBytesSent: number;
}

type State = 'new' | 'starting' | 'started' | 'stopped';

export class PeerTransport {
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly registry = new SocketRegistry();
  private readonly budget: RequestBudget;
  private readonly peers = new Map<number, Peer>();
  private servers: Server[] = [];
  private boundUrls: string[] = [];
  private state: State = 'new';
  private stopping: Promise<void> | null = null;
  private readonly unreachable = new Set<number>();
  private notifyImmediate: NodeJS.Immediate | null = null;
  private droppedUnknownPeer = 0;

  constructor(private readonly o: PeerTransportOptions) {
    this.options = resolveOptions(o);
    this.logger = o.logger.child({ component: 'transport' });
    this.budget = new RequestBudget(this.options.maxPendingRequests);
  }

  /** Listens on every listen URL; rejects (EADDRINUSE, LISTEN_FAILED) leaving nothing open. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new TransportError('BAD_OPTION', `start() called when ${this.state}`);
    this.state = 'starting';
    try {
      for (const url of this.o.listenUrls) {
        const address = parsePeerUrl(url);
        const server = await listenForPeers(
          address,
          this.registry,
          this.options.maxInboundConnections,
          (socket) => this.accept(socket),
        );
        if (this.stopped()) {
          await closeServer(server);
          return;
        }
        this.servers.push(server);
        const bound = server.address();
        const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
        this.boundUrls.push(formatPeerUrl(address.host, port));
      }
    } catch (err) {
      if (this.stopped()) throw err;
      this.logger.error(
        { err: describeError(err), code: (err as TransportError).code },
        'cannot listen for peers',
      );
      await Promise.all(this.servers.map(closeServer));
      this.servers = [];
      this.boundUrls = [];
      this.state = 'new';
      throw err;
    }
    this.state = 'started';
    this.logger.info({ urls: this.boundUrls }, 'listening for peers');
  }

  /** The URLs actually listened on (ports resolved when 0 was asked for); empty before start. */
  get urls(): readonly string[] {
    return this.boundUrls;
  }

  /** Adds a peer or updates its URLs; connecting starts at once. Our own id is ignored. */
  setPeer(id: number, urls: readonly string[]): void {
    if (this.state === 'stopped') return;
    if (!Number.isSafeInteger(id) || id <= 0) throw new TransportError('BAD_OPTION', `peer id ${id}`);
    if (id === this.options.local.memberId) return;
    const addresses = urls.map(parsePeerUrl);
    const existing = this.peers.get(id);
    if (existing !== undefined) {
      existing.urls = [...urls];
      existing.addresses = addresses;
      existing.stream.setUrls(urls);
      return;
    }
    const peer: Peer = {
      id,
      urls: [...urls],
      addresses,
      stream: new RaftStream(id, urls, {
        options: this.options,
        registry: this.registry,
        logger: this.logger,
        reportUnreachable: (p) => this.reportUnreachable(p),
        reportRejected: (p, code) => this.o.onRejected?.(p, code),
      }),
      rpc: null,
      snapshot: null,
      receiving: null,
      inbound: new Set(),
      inboundRaft: null,
      received: { messages: 0, bytes: 0, snapshots: 0 },
      snapshotsSent: 0,
      snapshotsFailed: 0,
      snapshotBytesSent: 0,
    };
    this.peers.set(id, peer);
    this.logger.info({ peer: id.toString(16), urls }, 'peer added');
  }

  /** Forgets a peer: its queue is dropped, its connections (both ways) closed, its requests failed. */
  removePeer(id: number): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    this.peers.delete(id);
    this.unreachable.delete(id);
    this.closePeer(peer, new TransportError('UNKNOWN_PEER', `${id.toString(16)} was removed`));
    this.logger.info({ peer: id.toString(16) }, 'peer removed');
  }

  /** Queues messages for their peers; never blocks, never throws for an absent or slow peer. */
  send(messages: readonly Message[]): void {
    if (this.state === 'stopped') return;
    const debug = this.logger.isLevelEnabled('debug');
    for (const m of messages) {
      if (m.to === this.options.local.memberId || isLocalMessage(m.type)) {
        if (debug)
          this.logger.debug({ type: m.type, to: m.to.toString(16) }, 'not a message for a peer; dropped');
        continue;
      }
      const peer = this.peers.get(m.to);
      if (peer === undefined) {
        this.droppedUnknownPeer++;
        if (debug)
          this.logger.debug({ type: m.type, to: m.to.toString(16) }, 'message to an unknown peer dropped');
        this.reportUnreachable(m.to);
        continue;
      }
      if (m.snapshot !== null) {
        this.sendSnapshot(peer, m);
        continue;
      }
      const body = encodeBody(encodeMessage(m));
      if (body.length + FRAME_HEADER_BYTES > this.options.maxFrameBytes) {
        this.logger.error(
          { peer: m.to.toString(16), type: m.type, sizeBytes: body.length },
          'message larger than a frame; dropped',
        );
        this.reportUnreachable(m.to);
        continue;
      }
      if (debug)
        this.logger.debug({ peer: m.to.toString(16), type: m.type, term: m.term, index: m.index }, 'send');
      if (!peer.stream.enqueue(body)) this.reportUnreachable(m.to);
    }
  }

  /**
   * Calls the peer's onRequest with `body`. Rejects with TransportError: UNKNOWN_PEER, UNREACHABLE,
   * TIMEOUT, TOO_MANY_REQUESTS, FRAME_TOO_LARGE, STOPPED, or REMOTE (the remote message verbatim,
   * its code as remoteCode).
   */
  request(to: number, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.state === 'stopped') return Promise.reject(new TransportError('STOPPED'));
    const peer = this.peers.get(to);
    if (peer === undefined) return Promise.reject(new TransportError('UNKNOWN_PEER', to.toString(16)));
    peer.rpc ??= new RpcClient(to, () => peer.addresses, {
      options: this.options,
      registry: this.registry,
      budget: this.budget,
      logger: this.logger.child({ peer: to.toString(16), stream: 'rpc' }),
    });
    return peer.rpc.request(body, timeoutMs);
  }

  stats(): TransportStats {
    const peers: PeerStats[] = [];
    for (const p of this.peers.values()) {
      peers.push({
        id: p.id,
        urls: p.urls,
        ...p.stream.stats(),
        messagesReceived: p.received.messages,
        bytesReceived: p.received.bytes,
        inboundConnections: p.inbound.size,
        snapshotsSent: p.snapshotsSent,
        snapshotsFailed: p.snapshotsFailed,
        snapshotBytesSent: p.snapshotBytesSent,
        snapshotsReceived: p.received.snapshots,
        snapshotReceivingBytes: p.receiving?.progressBytes ?? 0,
        pendingRequests: p.rpc?.pendingCount ?? 0,
      });
    }
    return {
      memberId: this.options.local.memberId,
      listening: this.servers.some((s) => s.listening),
      urls: this.boundUrls,
      openSockets: this.registry.size,
      pendingRequests: this.budget.pending,
      droppedUnknownPeer: this.droppedUnknownPeer,
      peers,
    };
  }

  /** Closes listeners and every socket, fails pending requests, clears timers; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopped';
    if (this.notifyImmediate !== null) clearImmediate(this.notifyImmediate);
    this.notifyImmediate = null;
    this.unreachable.clear();
    const stopped = new TransportError('STOPPED');
    for (const peer of this.peers.values()) this.closePeer(peer, stopped);
    this.peers.clear();
    const servers = this.servers;
    this.servers = [];
    await Promise.all([...servers.map(closeServer), this.registry.destroyAll()]);
    this.logger.info('transport stopped');
  }

  /** A method, not a field test, so control-flow narrowing does not survive an await. */
  private stopped(): boolean {
    return this.state === 'stopped';
  }

  private closePeer(peer: Peer, reason: TransportError): void {
    peer.stream.stop();
    peer.rpc?.close(reason);
    peer.snapshot?.abort();
    peer.receiving?.close();
    for (const conn of peer.inbound) conn.close();
    peer.inbound.clear();
  }

  private reportUnreachable(peer: number): void {
    if (this.o.onUnreachable === undefined || this.state === 'stopped') return;
    this.unreachable.add(peer);
    // Deferred: the caller may be inside raft's own step/ready handling.
    this.notifyImmediate ??= setImmediate(() => {
      this.notifyImmediate = null;
      const peers = [...this.unreachable];
      this.unreachable.clear();
      for (const p of peers) this.callback(() => this.o.onUnreachable?.(p));
    });
  }

  private callback(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.stopped()) throw err;
      this.logger.error({ err: describeError(err) }, 'transport callback threw');
    }
  }

  private sendSnapshot(peer: Peer, m: Message): void {
    if (peer.snapshot !== null) {
      this.logger.warn(
        { peer: peer.id.toString(16) },
        'a snapshot transfer is already running; new one dropped',
      );
      return;
    }
    const address =
      peer.addresses[(peer.snapshotsSent + peer.snapshotsFailed) % Math.max(1, peer.addresses.length)];
    if (address === undefined) {
      peer.snapshotsFailed++;
      queueMicrotask(() => this.finishSnapshot(peer, false));
      return;
    }
    const sender = new SnapshotSender(peer.id, address, m, {
      options: this.options,
      registry: this.registry,
      logger: this.logger.child({ peer: peer.id.toString(16), stream: 'snapshot' }),
    });
    peer.snapshot = sender;
    sender.run().then((result) => {
      if (peer.snapshot === sender) peer.snapshot = null;
      peer.snapshotBytesSent += result.bytesSent;
      if (result.ok) peer.snapshotsSent++;
      else peer.snapshotsFailed++;
      this.finishSnapshot(peer, result.ok);
    });
  }

  private finishSnapshot(peer: Peer, ok: boolean): void {
    if (this.state === 'stopped' || this.peers.get(peer.id) !== peer) return;
    this.callback(() => this.o.onSnapshotStatus?.(peer.id, ok));
  }

  private accept(socket: Socket): void {
    if (this.state === 'stopped') {
      socket.destroy();
      return;
    }
    const timeoutMs = this.options.handshakeTimeoutMs;
    const clusterInfo = this.o.clusterInfo ?? (() => null);
    routeByFirstBytes(socket, timeoutMs, {
      onHttp: (first) =>
        serveHttp(socket, first, timeoutMs, (method, path) => membersAnswer(method, path, clusterInfo)),
      onPeer: () =>
        acceptPeer(socket, {
          local: this.options.local,
          isPeer: (id) => this.peers.has(id),
          timeoutMs,
          maxFrameBytes: this.options.maxFrameBytes,
          logger: this.logger,
          onAccepted: (conn, h) => this.route(conn, h),
        }),
      onSilent: () =>
        this.logger.warn(
          {
            remote: `${socket.remoteAddress}:${socket.remotePort}`,
            err: `nothing received within ${timeoutMs} ms`,
          },
          'peer handshake failed',
        ),
    });
  }

  private route(conn: FramedConnection, h: Handshake): void {
    const peer = this.peers.get(h.from);
    if (peer === undefined || this.state === 'stopped') {
      conn.close();
      return;
    }
    const logger = this.logger.child({ peer: h.from.toString(16), stream: h.kind, inbound: true });
    logger.debug({ remote: conn.remoteAddress }, 'peer connection accepted');
    peer.inbound.add(conn);
    conn.onClose((err) => {
      peer.inbound.delete(conn);
      if (peer.inboundRaft === conn) peer.inboundRaft = null;
      if (err !== null && this.state !== 'stopped')
        logger[isProtocolError(err) ? 'error' : 'warn'](
          { remote: conn.remoteAddress, err: describeError(err) },
          'peer connection closed on error',
        );
    });
    const countBytes = (n: number): void => {
      peer.received.bytes += n;
    };
    switch (h.kind) {
      case 'raft':
        // A peer dials one raft stream at a time, so an older one is a leftover (possibly half-open).
        peer.inboundRaft?.close();
        peer.inboundRaft = conn;
        conn.onFrame((v, frameBytes) => this.receiveRaft(peer, v, frameBytes, logger));
        return;
      case 'snapshot': {
        peer.receiving?.close();
        const receiver = new SnapshotReceiver(conn, {
          from: peer.id,
          memberId: this.options.local.memberId,
          maxSnapshotBytes: this.options.maxSnapshotBytes,
          idleTimeoutMs: this.options.snapshotIdleTimeoutMs,
          graceMs: this.options.handshakeTimeoutMs,
          logger,
          onBytes: countBytes,
          deliver: (m) => {
            peer.received.messages++;
            peer.received.snapshots++;
            this.o.onMessage(m);
          },
        });
        peer.receiving = receiver;
        conn.closed.then(() => {
          if (peer.receiving === receiver) peer.receiving = null;
        });
        return;
      }
      case 'rpc':
        serveRpc(conn, {
          from: peer.id,
          handler: this.o.onRequest,
          maxInFlight: this.options.maxPendingRequests,
          maxFrameBytes: this.options.maxFrameBytes,
          logger,
          onBytes: countBytes,
        });
        return;
    }
  }

  private receiveRaft(peer: Peer, v: unknown, frameBytes: number, logger: Logger): void {
    const m = decodeMessage(v);
    peer.received.bytes += frameBytes;
    if (m.from !== peer.id || m.to !== this.options.local.memberId || m.snapshot !== null) {
      logger.warn(
        { from: m.from.toString(16), to: m.to.toString(16), type: m.type },
        'misaddressed message on a raft stream; dropped',
      );
      return;
    }
    peer.received.messages++;
    if (logger.isLevelEnabled('debug'))
      logger.debug({ type: m.type, term: m.term, index: m.index }, 'received');
    this.callback(() => this.o.onMessage(m));
  }
}
