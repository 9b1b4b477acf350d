// The transport's options, their documented defaults, and the checks that make every bound a
// positive whole number before anything starts: a bad option fails construction with BAD_OPTION.

import type { Logger } from 'pino';
import type { Message } from '../../raft/index.js';
import { TransportError } from './errors.js';
import { FRAME_HEADER_BYTES } from './frame.js';
import { clusterIdentity, type LocalIdentity } from './handshake.js';
import { parsePeerUrl } from './sockets.js';

const MiB = 1024 * 1024;

export interface PeerTransportOptions {
  /** This member's id (positive). */
  readonly memberId: number;
  /** The cluster's identity in handshakes: its id, its token, or both (all members alike). */
  readonly clusterId?: number;
  readonly clusterToken?: string;
  /** `http://host:port` URLs to accept peer connections on (port 0: any free port). */
  readonly listenUrls: readonly string[];
  readonly logger: Logger;
  /** Every raft message received from a peer, snapshots included (reassembled). */
  readonly onMessage: (m: Message) => void;
  /** Serves `request()` calls from peers; without it, peers' requests fail. */
  readonly onRequest?: (from: number, body: unknown) => Promise<unknown>;
  /** Messages to `peer` were dropped (queue full, connection lost, unknown peer): raft probes it. */
  readonly onUnreachable?: (peer: number) => void;
  /** A snapshot sent to `peer` was acknowledged complete (true) or its transfer failed (false). */
  readonly onSnapshotStatus?: (peer: number, ok: boolean) => void;
  /** A peer refused our handshake, with its reason code (UNKNOWN_PEER: it does not count us a member). */
  readonly onRejected?: (peer: number, code: string) => void;
  /**
   * The membership served as JSON to `GET /members` on the peer port (for joining members, like
   * etcd's peer endpoint); null while not known. Without it the endpoint answers 503.
   */
  readonly clusterInfo?: () => unknown;
  /** Encoded bytes queued per peer before new messages to it are dropped. Default 64 MiB. */
  readonly maxQueueBytes?: number;
  /** Largest frame sent or accepted. Default 16 MiB. */
  readonly maxFrameBytes?: number;
  /** Frames coalesced into one socket write, in bytes. Default 1 MiB. */
  readonly maxWriteBytes?: number;
  /** TCP connect bound, and separately the handshake-reply bound. Default 2000 ms. */
  readonly dialTimeoutMs?: number;
  /** How long an accepted connection may take to send its handshake. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Reconnect delay bounds (exponential with jitter in between). Defaults 50 ms and 2000 ms. */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** Snapshot data per chunk frame. Default 1 MiB. */
  readonly snapshotChunkBytes?: number;
  /** Largest snapshot accepted from a peer. Default 1 GiB. */
  readonly maxSnapshotBytes?: number;
  /** A snapshot transfer with no progress for this long fails. Default 30000 ms. */
  readonly snapshotIdleTimeoutMs?: number;
  /** Outstanding `request()` calls, and in-flight served requests per connection. Default 1024. */
  readonly maxPendingRequests?: number;
  /** Accepted sockets at once. Default 1024. */
  readonly maxInboundConnections?: number;
  /** Jitter source, uniform in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export const TRANSPORT_DEFAULTS = {
  maxQueueBytes: 64 * MiB,
  maxFrameBytes: 16 * MiB,
  maxWriteBytes: 1 * MiB,
  dialTimeoutMs: 2000,
  handshakeTimeoutMs: 5000,
  backoffMinMs: 50,
  backoffMaxMs: 2000,
  snapshotChunkBytes: 1 * MiB,
  maxSnapshotBytes: 1024 * MiB,
  snapshotIdleTimeoutMs: 30_000,
  maxPendingRequests: 1024,
  maxInboundConnections: 1024,
} as const;

/** Room in a frame for everything but a snapshot chunk's data (tag, offset, headers). */
const CHUNK_FRAME_OVERHEAD_BYTES = 64;

type Bounds = { -readonly [K in keyof typeof TRANSPORT_DEFAULTS]: number };

export interface ResolvedOptions extends Bounds {
  readonly local: LocalIdentity;
  readonly random: () => number;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new TransportError('BAD_OPTION', `${name} must be a positive integer`);
  return v;
}

export function resolveOptions(o: PeerTransportOptions): ResolvedOptions {
  positiveInt('memberId', o.memberId);
  if (o.clusterId !== undefined) positiveInt('clusterId', o.clusterId);
  if (o.clusterToken !== undefined && o.clusterToken === '')
    throw new TransportError('BAD_OPTION', 'clusterToken must not be empty');
  if (o.listenUrls.length === 0) throw new TransportError('BAD_OPTION', 'listenUrls is empty');
  for (const url of o.listenUrls) parsePeerUrl(url);
  const bounds = {} as Bounds;
  for (const key of Object.keys(TRANSPORT_DEFAULTS) as (keyof Bounds)[])
    bounds[key] = positiveInt(key, o[key] ?? TRANSPORT_DEFAULTS[key]);
  if (bounds.backoffMinMs > bounds.backoffMaxMs)
    throw new TransportError('BAD_OPTION', 'backoffMinMs must not exceed backoffMaxMs');
  if (bounds.snapshotChunkBytes + CHUNK_FRAME_OVERHEAD_BYTES + FRAME_HEADER_BYTES > bounds.maxFrameBytes)
    throw new TransportError('BAD_OPTION', 'snapshotChunkBytes must fit in maxFrameBytes');
  return {
    ...bounds,
    local: { memberId: o.memberId, cluster: clusterIdentity(o.clusterId, o.clusterToken) },
    random: o.random ?? Math.random,
  };
}
