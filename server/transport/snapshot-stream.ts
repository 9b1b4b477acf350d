// Snapshots travel one per connection of their own, so raft messages never wait behind them:
// [begin, size] [chunk, offset, bytes]… [end, crc32c], with backpressure. The receiver checks
// order, size and checksum, delivers ONE message, then acks; only that ack counts as success.

import type { Logger } from 'pino';
import { crc32c } from '../../kv/wal/crc32c.js';
import type { Message, SnapshotMetadata } from '../../raft/index.js';
import { EMPTY_BYTES } from '../../raft/index.js';
import type { FramedConnection } from './connection.js';
import { describeError, TransportError } from './errors.js';
import { arrayField, badFrame, boolField, bytesField, stringField, uintField } from './fields.js';
import { encodeBody } from './frame.js';
import { dialPeer } from './handshake.js';
import type { ResolvedOptions } from './options.js';
import type { PeerAddress, SocketRegistry } from './sockets.js';
import { decodeMessage, encodeMessage } from './wire.js';

const BEGIN = 'begin';
const CHUNK = 'chunk';
const END = 'end';
const ACK = 'ack';

export interface SnapshotSendContext {
  readonly options: ResolvedOptions;
  readonly registry: SocketRegistry;
  readonly logger: Logger;
}

export interface SnapshotSendResult {
  readonly ok: boolean;
  readonly bytesSent: number;
  readonly error: string | null;
}

/** One outbound transfer of a `snap` message. */
export class SnapshotSender {
  private conn: FramedConnection | null = null;
  private aborted = false;
  private bytesSent = 0;

  constructor(
    private readonly peer: number,
    private readonly address: PeerAddress,
    private readonly message: Message,
    private readonly ctx: SnapshotSendContext,
  ) {}

  /** Runs the transfer to its end; never rejects. */
  async run(): Promise<SnapshotSendResult> {
    const snapshot = this.message.snapshot;
    const logger = this.ctx.logger;
    const fields = {
      index: snapshot?.metadata.index,
      term: snapshot?.metadata.term,
      sizeBytes: snapshot?.data.length,
    };
    try {
      if (snapshot === null) throw new TransportError('SNAPSHOT_FAILED', 'message carries no snapshot');
      await this.transfer(snapshot.metadata, snapshot.data);
      logger.info(fields, 'snapshot sent');
      return { ok: true, bytesSent: this.bytesSent, error: null };
    } catch (err) {
      const error = describeError(err);
      logger.warn({ ...fields, sentBytes: this.bytesSent, err: error }, 'snapshot transfer failed');
      return { ok: false, bytesSent: this.bytesSent, error };
    } finally {
      this.conn?.close();
      this.conn = null;
    }
  }

  /** Fails the transfer now (peer removed, transport stopping). */
  abort(): void {
    this.aborted = true;
    this.conn?.close(new TransportError('SNAPSHOT_FAILED', 'transfer aborted'));
  }

  private async transfer(metadata: SnapshotMetadata, data: Uint8Array): Promise<void> {
    const { options, registry } = this.ctx;
    const conn = await dialPeer({
      address: this.address,
      local: options.local,
      peer: this.peer,
      kind: 'snapshot',
      timeoutMs: options.dialTimeoutMs,
      maxFrameBytes: options.maxFrameBytes,
      registry,
    });
    this.conn = conn;
    if (this.aborted) throw new TransportError('SNAPSHOT_FAILED', 'transfer aborted');
    conn.setIdleTimeout(options.snapshotIdleTimeoutMs);
    const acked = new Promise<void>((resolve, reject) => {
      conn.onClose((err) =>
        reject(
          err ?? new TransportError('SNAPSHOT_FAILED', 'receiver closed the connection before acknowledging'),
        ),
      );
      conn.onFrame((v) => {
        const ack = parseAck(v);
        if (ack.ok) resolve();
        else reject(new TransportError('SNAPSHOT_FAILED', `receiver refused: ${ack.reason}`));
      });
    });
    // A refusal can arrive while chunks are still going out; it must not go unhandled meanwhile.
    acked.catch(() => {});

    const header: Message = { ...this.message, snapshot: { metadata, data: EMPTY_BYTES } };
    this.write(conn, [BEGIN, encodeMessage(header), data.length]);
    // The checksum is computed chunk by chunk as the data goes out: one pass over hundreds of MiB
    // up front would stall the event loop, and raft's heartbeats with it.
    let crc = 0;
    for (let offset = 0; offset < data.length; offset += options.snapshotChunkBytes) {
      const chunk = data.subarray(offset, Math.min(data.length, offset + options.snapshotChunkBytes));
      crc = crc32c(chunk, crc);
      const prefix = chunkPrefix(offset, chunk.length);
      this.bytesSent += prefix.length + chunk.length;
      if (!conn.writeParts([prefix, chunk])) await conn.drained();
      if (!conn.isOpen) break;
    }
    if (conn.isOpen) this.write(conn, [END, crc]);
    await acked;
  }

  private write(conn: FramedConnection, frame: readonly unknown[]): boolean {
    const body = encodeBody(frame);
    this.bytesSent += body.length;
    return conn.write([body]);
  }
}

/** msgpack: bin 32, then a big-endian length. */
const BIN32 = 0xc6;
const BIN32_HEADER_BYTES = 5;

/**
 * The msgpack encoding of [CHUNK, offset, data] up to (not including) the data bytes, so a chunk
 * goes out as prefix + the snapshot's own bytes: the packer never copies megabytes. The packer
 * writes the empty placeholder as bin 8 (c4 00); it is replaced by a bin 32 header for `length`.
 */
export function chunkPrefix(offset: number, length: number): Uint8Array {
  const packed = encodeBody([CHUNK, offset, EMPTY_BYTES]);
  const head = packed.length - 2;
  if (packed[head] !== 0xc4 || packed[head + 1] !== 0)
    throw new Error('unexpected msgpack encoding of empty bytes');
  const prefix = new Uint8Array(head + BIN32_HEADER_BYTES);
  prefix.set(packed.subarray(0, head));
  prefix[head] = BIN32;
  new DataView(prefix.buffer).setUint32(head + 1, length);
  return prefix;
}

function parseAck(v: unknown): { ok: boolean; reason: string } {
  const f = arrayField(v, 'snapshot ack', 3);
  if (f[0] !== ACK) throw badFrame('expected a snapshot ack');
  return { ok: boolField(f[1], 'ok'), reason: stringField(f[2], 'reason') };
}

export interface SnapshotReceiveContext {
  readonly from: number;
  readonly memberId: number;
  readonly maxSnapshotBytes: number;
  readonly idleTimeoutMs: number;
  readonly graceMs: number;
  readonly logger: Logger;
  /** Counts frame bytes as they arrive (for stats). */
  readonly onBytes: (frameBytes: number) => void;
  /** Hands raft the reassembled message; a throw fails the transfer. */
  readonly deliver: (m: Message) => void;
}

/** The receiving end of one transfer, driving an accepted `snapshot` connection. */
export class SnapshotReceiver {
  private header: Message | null = null;
  private data: Uint8Array | null = null;
  private receivedBytes = 0;
  private crc = 0;
  private done = false;

  constructor(
    private readonly conn: FramedConnection,
    private readonly ctx: SnapshotReceiveContext,
  ) {
    conn.setIdleTimeout(ctx.idleTimeoutMs);
    conn.onFrame((v, frameBytes) => {
      ctx.onBytes(frameBytes);
      try {
        this.onFrame(v);
      } catch (err) {
        this.refuse(describeError(err));
      }
    });
    conn.onClose((err) => {
      if (!this.done)
        ctx.logger.warn(
          { receivedBytes: this.receivedBytes, err: err === null ? 'connection closed' : describeError(err) },
          'snapshot reception cut',
        );
    });
  }

  /** Bytes of snapshot data received so far; 0 once the transfer has ended either way. */
  get progressBytes(): number {
    return this.done ? 0 : this.receivedBytes;
  }

  close(): void {
    this.done = true;
    this.conn.close();
  }

  private onFrame(v: unknown): void {
    if (this.done) throw badFrame('frame after the end of a snapshot transfer');
    const f = arrayField(v, 'snapshot frame');
    switch (f[0]) {
      case BEGIN:
        return this.begin(f);
      case CHUNK:
        return this.chunk(f);
      case END:
        return this.end(f);
      default:
        throw badFrame('unknown snapshot frame');
    }
  }

  private begin(f: readonly unknown[]): void {
    if (this.header !== null) throw badFrame('second snapshot header');
    if (f.length !== 3) throw badFrame('malformed snapshot header');
    const header = decodeMessage(f[1]);
    const totalBytes = uintField(f[2], 'snapshot size');
    if (header.type !== 'snap' || header.snapshot === null)
      throw badFrame('snapshot header is not a snap message');
    if (header.from !== this.ctx.from || header.to !== this.ctx.memberId)
      throw badFrame('snapshot header from/to do not match the connection');
    if (totalBytes > this.ctx.maxSnapshotBytes)
      throw new TransportError('SNAPSHOT_FAILED', `${totalBytes} bytes exceeds ${this.ctx.maxSnapshotBytes}`);
    this.header = header;
    this.data = new Uint8Array(totalBytes);
    this.ctx.logger.info(
      { index: header.snapshot.metadata.index, term: header.snapshot.metadata.term, sizeBytes: totalBytes },
      'receiving snapshot',
    );
  }

  private chunk(f: readonly unknown[]): void {
    const data = this.data;
    if (data === null) throw badFrame('snapshot chunk before its header');
    if (f.length !== 3) throw badFrame('malformed snapshot chunk');
    const offset = uintField(f[1], 'chunk offset');
    const bytes = bytesField(f[2], 'chunk data');
    if (offset !== this.receivedBytes) throw badFrame(`chunk at ${offset}, expected ${this.receivedBytes}`);
    if (offset + bytes.length > data.length) throw badFrame('chunk beyond the announced snapshot size');
    data.set(bytes, offset);
    this.crc = crc32c(bytes, this.crc);
    this.receivedBytes += bytes.length;
  }

  private end(f: readonly unknown[]): void {
    const header = this.header;
    const data = this.data;
    if (header === null || data === null || header.snapshot === null)
      throw badFrame('snapshot end before its header');
    if (this.receivedBytes !== data.length)
      throw new TransportError('SNAPSHOT_FAILED', `received ${this.receivedBytes} of ${data.length} bytes`);
    if (f.length !== 2) throw badFrame('malformed snapshot end');
    if (this.crc !== uintField(f[1], 'snapshot crc'))
      throw new TransportError('SNAPSHOT_FAILED', 'checksum mismatch');
    this.done = true;
    this.ctx.deliver({ ...header, snapshot: { metadata: header.snapshot.metadata, data } });
    this.data = null;
    this.ctx.logger.info(
      { index: header.snapshot.metadata.index, sizeBytes: data.length },
      'snapshot received',
    );
    this.conn.write([encodeBody([ACK, true, ''])]);
    this.conn.end(this.ctx.graceMs);
  }

  private refuse(reason: string): void {
    this.ctx.logger.warn({ receivedBytes: this.receivedBytes, err: reason }, 'snapshot refused');
    this.done = true;
    this.data = null;
    this.conn.write([encodeBody([ACK, false, reason])]);
    this.conn.end(this.ctx.graceMs);
  }
}
