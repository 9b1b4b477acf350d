// The first frame of every peer connection, and the acceptor's answer to it. Only a member of
// the same cluster that we know as a peer, addressing us by our own id, gets past it; anyone else
// receives a rejection frame naming the reason (so its logs say why) and is disconnected.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { FramedConnection } from './connection.js';
import { describeError, isProtocolError, TransportError } from './errors.js';
import { badFrame, recordField, stringField, uintField } from './fields.js';
import { encodeBody } from './frame.js';
import { dialPeerSocket, type PeerAddress, type SocketRegistry } from './sockets.js';

export const HANDSHAKE_MAGIC = 'netcd-peer';
export const PROTOCOL_VERSION = 1;
/** Bound on frames read before a connection is authenticated. */
export const HANDSHAKE_MAX_FRAME_BYTES = 4096;

export type StreamKind = 'raft' | 'snapshot' | 'rpc';
const STREAM_KINDS: readonly StreamKind[] = ['raft', 'snapshot', 'rpc'];

export interface Handshake {
  readonly magic: string;
  readonly version: number;
  /** The cluster identity: its id or token, as configured on both sides. */
  readonly cluster: string;
  readonly from: number;
  readonly to: number;
  readonly kind: StreamKind;
}

export type RejectCode = 'BAD_HANDSHAKE' | 'VERSION' | 'CLUSTER_MISMATCH' | 'WRONG_MEMBER' | 'UNKNOWN_PEER';

export type HandshakeReply =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: RejectCode | string; readonly reason: string };

/** Who we are, as the handshake sees it. */
export interface LocalIdentity {
  readonly memberId: number;
  readonly cluster: string;
}

/** The handshake identity of a cluster configured by id, by token, or by both. */
export function clusterIdentity(clusterId: number | undefined, clusterToken: string | undefined): string {
  if (clusterId === undefined && clusterToken === undefined)
    throw new TransportError('BAD_OPTION', 'clusterId or clusterToken is required');
  const parts: string[] = [];
  if (clusterId !== undefined) parts.push(`id:${clusterId.toString(16)}`);
  if (clusterToken !== undefined) parts.push(`token:${clusterToken}`);
  return parts.join('/');
}

export function parseHandshake(v: unknown): Handshake {
  const o = recordField(v, 'handshake');
  const magic = stringField(o.magic, 'magic');
  if (magic !== HANDSHAKE_MAGIC) throw badFrame('not a netcd peer handshake');
  const kind = stringField(o.kind, 'kind') as StreamKind;
  if (!STREAM_KINDS.includes(kind)) throw badFrame(`unknown stream kind ${kind}`);
  return {
    magic,
    version: uintField(o.version, 'version'),
    cluster: stringField(o.cluster, 'cluster'),
    from: uintField(o.from, 'from'),
    to: uintField(o.to, 'to'),
    kind,
  };
}

/** The acceptor's verdict on a well-formed handshake. */
export function judgeHandshake(
  h: Handshake,
  local: LocalIdentity,
  isPeer: (id: number) => boolean,
): HandshakeReply {
  if (h.version !== PROTOCOL_VERSION)
    return {
      ok: false,
      code: 'VERSION',
      reason: `protocol version ${h.version}, expected ${PROTOCOL_VERSION}`,
    };
  if (h.cluster !== local.cluster)
    return { ok: false, code: 'CLUSTER_MISMATCH', reason: `cluster ${h.cluster}, expected ${local.cluster}` };
  if (h.to !== local.memberId)
    return {
      ok: false,
      code: 'WRONG_MEMBER',
      reason: `addressed to member ${h.to.toString(16)}, this is ${local.memberId.toString(16)}`,
    };
  if (!isPeer(h.from))
    return {
      ok: false,
      code: 'UNKNOWN_PEER',
      reason: `member ${h.from.toString(16)} is not a peer of this member`,
    };
  return { ok: true };
}

function parseReply(v: unknown): HandshakeReply {
  const o = recordField(v, 'handshake reply');
  if (o.ok === true) return { ok: true };
  if (o.ok !== false) throw badFrame('handshake reply has no verdict');
  return { ok: false, code: stringField(o.code, 'code'), reason: stringField(o.reason, 'reason') };
}

export interface DialOptions {
  readonly address: PeerAddress;
  readonly local: LocalIdentity;
  readonly peer: number;
  readonly kind: StreamKind;
  /** Bounds the TCP connect and, separately, the wait for the handshake reply. */
  readonly timeoutMs: number;
  readonly maxFrameBytes: number;
  readonly registry: SocketRegistry;
}

/**
 * Connects and shakes hands. Resolves with a connection whose later frames wait for an owner;
 * rejects with REJECTED (the peer's reason in the message, its code as rejectCode),
 * UNREACHABLE or TIMEOUT.
 */
export async function dialPeer(o: DialOptions): Promise<FramedConnection> {
  const socket = await dialPeerSocket(o.address, o.timeoutMs, o.registry);
  const conn = new FramedConnection(socket, HANDSHAKE_MAX_FRAME_BYTES);
  const handshake: Handshake = {
    magic: HANDSHAKE_MAGIC,
    version: PROTOCOL_VERSION,
    cluster: o.local.cluster,
    from: o.local.memberId,
    to: o.peer,
    kind: o.kind,
  };
  conn.write([encodeBody(handshake)]);
  const reply = await new Promise<HandshakeReply>((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.close(
        new TransportError('TIMEOUT', `no handshake reply from ${o.address.url} in ${o.timeoutMs} ms`),
      );
    }, o.timeoutMs);
    conn.onClose((err) => {
      clearTimeout(timer);
      reject(
        err ??
          new TransportError('UNREACHABLE', `${o.address.url} closed the connection during the handshake`),
      );
    });
    conn.onFrame((v) => {
      clearTimeout(timer);
      conn.onFrame(null);
      conn.onClose(() => {});
      try {
        resolve(parseReply(v));
      } catch (err) {
        conn.close();
        reject(err);
      }
    });
  });
  if (!reply.ok) {
    conn.close();
    throw new TransportError('REJECTED', `${o.address.url}: ${reply.code}: ${reply.reason}`, {
      rejectCode: reply.code,
    });
  }
  conn.setMaxFrameBytes(o.maxFrameBytes);
  return conn;
}

export interface AcceptOptions {
  readonly local: LocalIdentity;
  readonly isPeer: (id: number) => boolean;
  readonly timeoutMs: number;
  readonly maxFrameBytes: number;
  readonly logger: Logger;
  /** Takes over an authenticated connection (synchronously: its next frames are already queued). */
  readonly onAccepted: (conn: FramedConnection, handshake: Handshake) => void;
}

/** Runs the acceptor's side of the handshake on a freshly accepted socket. */
export function acceptPeer(socket: Socket, o: AcceptOptions): void {
  const conn = new FramedConnection(socket, HANDSHAKE_MAX_FRAME_BYTES);
  const timer = setTimeout(
    () => conn.close(new TransportError('BAD_HANDSHAKE', `none received within ${o.timeoutMs} ms`)),
    o.timeoutMs,
  );
  const reject = (code: RejectCode | string, reason: string, from: number | null): void => {
    o.logger.warn(
      { remote: conn.remoteAddress, from: from === null ? null : from.toString(16), code, reason },
      'peer handshake rejected',
    );
    const reply: HandshakeReply = { ok: false, code, reason };
    conn.write([encodeBody(reply)]);
    conn.end(o.timeoutMs);
  };
  conn.onClose((err) => {
    clearTimeout(timer);
    if (err !== null)
      o.logger[isProtocolError(err) ? 'error' : 'warn'](
        { remote: conn.remoteAddress, err: describeError(err) },
        'peer handshake failed',
      );
  });
  conn.onFrame((v) => {
    clearTimeout(timer);
    conn.onFrame(null);
    let handshake: Handshake;
    try {
      handshake = parseHandshake(v);
    } catch (err) {
      reject('BAD_HANDSHAKE', describeError(err), null);
      return;
    }
    const verdict = judgeHandshake(handshake, o.local, o.isPeer);
    if (!verdict.ok) {
      reject(verdict.code, verdict.reason, handshake.from);
      return;
    }
    const accepted: HandshakeReply = { ok: true };
    conn.write([encodeBody(accepted)]);
    conn.setMaxFrameBytes(o.maxFrameBytes);
    conn.onClose(() => {});
    o.onAccepted(conn, handshake);
  });
}
