// Rewrites the client→server byte stream of an HTTP/2 connection so that `:authority` carries no
// URL scheme: grpc-go's passthrough resolver sends the dial target verbatim
// (`http://127.0.0.1:2379`), which nghttp2 refuses with RST_STREAM PROTOCOL_ERROR while etcd takes it.
//
// Invariants. Bytes that are not part of a header block pass through unchanged, in order, as views
// of the input chunks (only a frame header split between two chunks is copied). Until the connection's first header
// block is complete every byte is held or passed unchanged; that block decides the mode for the
// rest of the connection:
// - 'passthrough': its authority needed no change, so it and everything after pass unchanged.
//   The server's HPACK state then always equals the client's, because it saw every byte. A later
//   request with a bad authority is refused exactly as without this rewriter; grpc-go and grpc-js
//   use one authority per connection, so a connection's first request speaks for all of them.
// - 'rewrite': every header block from here on is decoded with a decoder that follows the client's
//   dynamic table and re-encoded without the server's dynamic table (static references and literals
//   that are not indexed), so the server's table stays empty and can never disagree with what it
//   is sent. Once a block was rewritten this cannot stop: the client's later blocks refer to a table
//   that only the decoder here holds.
// Anything malformed before the decision is passed through for the server to refuse as it would
// have; afterwards it throws Http2Error and the connection must be closed.

import { Http2Error, type Http2ErrorCode } from './errors.js';
import {
  FRAME_HEADER_BYTES,
  FrameFlag,
  FrameType,
  HTTP2_PREFACE,
  MAX_FRAME_PAYLOAD_BYTES,
} from './frames.js';
import { type HeaderField, HpackDecoder, type HpackDecoderOptions, HpackEncoder } from './hpack.js';

const DEFAULT_MAX_HEADER_BLOCK_BYTES = 256 * 1024;

/** Bytes of the PRIORITY fields in a HEADERS frame (stream dependency and weight). */
const PRIORITY_FIELDS_BYTES = 5;

const SCHEME_PREFIX = /^https?:\/\//i;
const TRAILING_SLASHES = /\/+$/;

/** `authority` without a leading http:// or https:// and without trailing slashes. */
export function normalizeAuthority(authority: string): string {
  return authority.replace(SCHEME_PREFIX, '').replace(TRAILING_SLASHES, '');
}

export type RewriteMode = 'undecided' | 'passthrough' | 'rewrite';

export interface AuthorityRewriterOptions {
  /** Bound on one header block (HEADERS and its CONTINUATIONs, padding excluded). Default 256 KiB. */
  readonly maxHeaderBlockBytes?: number;
  /** The client's HPACK context; defaults match Node's http2 server (4096-byte table). */
  readonly decoder?: HpackDecoderOptions;
}

/** Reads the client→server bytes of one connection, preface included, and emits what the server gets. */
export class AuthorityRewriter {
  private currentMode: RewriteMode = 'undecided';
  private readonly emit: (bytes: Buffer) => void;
  private readonly maxHeaderBlockBytes: number;
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder({ indexing: 'none' });

  private prefaceLeft = HTTP2_PREFACE.length;
  /** The first frame after the preface must be SETTINGS; anything else is left to the server. */
  private sawFirstFrame = false;
  /** A frame header split across chunks: its first bytes, held back until the rest arrives. */
  private readonly heldHeader = Buffer.alloc(FRAME_HEADER_BYTES);
  private heldHeaderBytes = 0;
  /** Payload bytes still to pass of the frame being passed through. */
  private passLeft = 0;
  /** The header-block frame being collected (its 9-byte header first, then payload) and how much is in. */
  private collecting: Buffer | undefined;
  private collected = 0;

  // The header block being assembled from HEADERS + CONTINUATION.
  private blockStreamId = 0;
  private blockEndStream = false;
  private blockFragments: Buffer[] = [];
  private blockBytes = 0;
  /** The raw frames of the block, for passing it on unchanged. */
  private blockFrames: Buffer[] = [];

  constructor(emit: (bytes: Buffer) => void, options: AuthorityRewriterOptions = {}) {
    this.emit = emit;
    this.maxHeaderBlockBytes = options.maxHeaderBlockBytes ?? DEFAULT_MAX_HEADER_BLOCK_BYTES;
    this.decoder = new HpackDecoder(options.decoder);
  }

  get mode(): RewriteMode {
    return this.currentMode;
  }

  private handedOver(): boolean {
    return this.currentMode === 'passthrough';
  }

  /** Takes the next chunk from the client; emits the bytes for the server, in order. Throws Http2Error. */
  write(chunk: Buffer): void {
    if (this.currentMode === 'passthrough') {
      if (chunk.length > 0) this.emit(chunk);
      return;
    }
    let pos = 0;
    /** Start of this chunk's bytes that pass unchanged and are not emitted yet; they end at `pos`. */
    let passStart = 0;
    while (pos < chunk.length && !this.handedOver()) {
      if (this.prefaceLeft > 0) {
        const n = Math.min(this.prefaceLeft, chunk.length - pos);
        this.prefaceLeft -= n;
        pos += n;
      } else if (this.passLeft > 0) {
        const n = Math.min(this.passLeft, chunk.length - pos);
        this.passLeft -= n;
        pos += n;
      } else if (this.collecting !== undefined) {
        const frame = this.collecting;
        const n = Math.min(frame.length - this.collected, chunk.length - pos);
        chunk.copy(frame, this.collected, pos, pos + n);
        this.collected += n;
        pos += n;
        passStart = pos;
        if (this.collected === frame.length) {
          this.collecting = undefined;
          this.frameCollected(frame);
        }
      } else {
        // A frame header, possibly begun in an earlier chunk (then it starts at 0 here).
        const heldBefore = this.heldHeaderBytes;
        const frameStart = heldBefore === 0 ? pos : 0;
        let header: Buffer;
        if (heldBefore === 0 && chunk.length - pos >= FRAME_HEADER_BYTES) {
          header = chunk.subarray(pos, pos + FRAME_HEADER_BYTES);
          pos += FRAME_HEADER_BYTES;
        } else {
          const n = Math.min(FRAME_HEADER_BYTES - heldBefore, chunk.length - pos);
          chunk.copy(this.heldHeader, heldBefore, pos, pos + n);
          this.heldHeaderBytes += n;
          pos += n;
          if (this.heldHeaderBytes < FRAME_HEADER_BYTES) {
            // The chunk ends inside the header: hold it back until the frame type is known.
            if (frameStart > passStart) this.emit(chunk.subarray(passStart, frameStart));
            return;
          }
          header = this.heldHeader;
        }
        this.heldHeaderBytes = 0;
        const action = this.startFrame(header);
        if (action === 'pass') {
          if (heldBefore > 0) this.emit(Buffer.from(this.heldHeader.subarray(0, heldBefore)));
          continue;
        }
        // Header blocks are collected, not passed: what passes unchanged ends where the frame starts.
        // (When a frame inside a header block hands the connection over, the block's frames were
        // emitted first; no bytes to pass can sit between them and this frame.)
        if (frameStart > passStart) this.emit(chunk.subarray(passStart, frameStart));
        if (action !== 'passthrough') {
          passStart = pos;
          this.collected = FRAME_HEADER_BYTES;
          if (action.length > FRAME_HEADER_BYTES) this.collecting = action;
          else this.frameCollected(action);
        } else {
          if (heldBefore > 0) this.emit(Buffer.from(this.heldHeader.subarray(0, heldBefore)));
          passStart = frameStart;
        }
      }
    }
    const passEnd = this.handedOver() ? chunk.length : pos;
    if (passEnd > passStart) this.emit(chunk.subarray(passStart, passEnd));
  }

  /**
   * Reads a complete frame header: 'pass' when the frame passes unchanged, 'passthrough' when the
   * connection was just handed over to the server unchanged from this frame on, else the buffer
   * to collect the header-block frame in (its header already copied in).
   */
  private startFrame(header: Buffer): 'pass' | 'passthrough' | Buffer {
    const length = header.readUIntBE(0, 3);
    const type = header[3] ?? 0;
    const firstFrame = !this.sawFirstFrame;
    this.sawFirstFrame = true;
    if (firstFrame && type !== FrameType.SETTINGS) return this.fail('first frame is not SETTINGS');
    const inBlock = this.blockFrames.length > 0;
    if (type !== FrameType.HEADERS && type !== FrameType.CONTINUATION) {
      if (inBlock) return this.fail(`frame type ${type} inside a header block`);
      this.passLeft = length;
      return 'pass';
    }
    if (length > MAX_FRAME_PAYLOAD_BYTES) return this.fail(`header frame of ${length} bytes`);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
    header.copy(frame, 0, 0, FRAME_HEADER_BYTES);
    return frame;
  }

  /** A complete HEADERS or CONTINUATION frame (header included). */
  private frameCollected(frame: Buffer): void {
    const length = frame.length - FRAME_HEADER_BYTES;
    const type = frame[3] ?? 0;
    const flags = frame[4] ?? 0;
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    const inBlock = this.blockFrames.length > 0;
    let fragmentStart = FRAME_HEADER_BYTES;
    let fragmentEnd = frame.length;
    if (type === FrameType.HEADERS) {
      if (inBlock) return void this.fail('HEADERS inside a header block', frame);
      if (streamId === 0) return void this.fail('HEADERS on stream 0', frame);
      if (flags & FrameFlag.PADDED) {
        const padBytes = frame[fragmentStart] ?? 0;
        fragmentStart += 1;
        fragmentEnd -= padBytes;
      }
      if (flags & FrameFlag.PRIORITY) fragmentStart += PRIORITY_FIELDS_BYTES;
      if (fragmentStart > fragmentEnd)
        return void this.fail(`padding and priority exceed ${length} bytes`, frame);
      this.blockStreamId = streamId;
      this.blockEndStream = (flags & FrameFlag.END_STREAM) !== 0;
    } else if (!inBlock || streamId !== this.blockStreamId) {
      return void this.fail(`CONTINUATION on stream ${streamId} out of place`, frame);
    }
    const fragment = frame.subarray(fragmentStart, fragmentEnd);
    this.blockBytes += fragment.length;
    if (this.blockBytes > this.maxHeaderBlockBytes)
      return void this.fail(`over ${this.maxHeaderBlockBytes} bytes`, frame, 'HEADER_BLOCK_TOO_LARGE');
    this.blockFragments.push(fragment);
    this.blockFrames.push(frame);
    if (flags & FrameFlag.END_HEADERS) this.blockComplete();
  }

  private blockComplete(): void {
    const fragments = this.blockFragments;
    const block =
      fragments.length === 1 && fragments[0] !== undefined ? fragments[0] : Buffer.concat(fragments);
    const frames = this.blockFrames;
    this.blockFragments = [];
    this.blockFrames = [];
    this.blockBytes = 0;
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(block);
    } catch (err) {
      if (this.currentMode === 'rewrite') throw err;
      for (const frame of frames) this.emit(frame);
      this.currentMode = 'passthrough';
      return;
    }
    const rewritten = rewriteAuthority(fields);
    if (this.currentMode === 'undecided' && rewritten === fields) {
      for (const frame of frames) this.emit(frame);
      this.currentMode = 'passthrough';
      return;
    }
    this.currentMode = 'rewrite';
    this.emitHeaderBlock(this.encoder.encode(rewritten));
  }

  /** Sends `block` as HEADERS (+ CONTINUATION when it does not fit one frame) on the block's stream. */
  private emitHeaderBlock(block: Buffer): void {
    const frameCount = Math.max(1, Math.ceil(block.length / MAX_FRAME_PAYLOAD_BYTES));
    const out = Buffer.allocUnsafe(block.length + frameCount * FRAME_HEADER_BYTES);
    let offset = 0;
    for (let i = 0; i < frameCount; i++) {
      const start = i * MAX_FRAME_PAYLOAD_BYTES;
      const end = Math.min(block.length, start + MAX_FRAME_PAYLOAD_BYTES);
      const last = i === frameCount - 1;
      let flags = last ? FrameFlag.END_HEADERS : 0;
      if (i === 0 && this.blockEndStream) flags |= FrameFlag.END_STREAM;
      out.writeUIntBE(end - start, offset, 3);
      out[offset + 3] = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      out[offset + 4] = flags;
      out.writeUInt32BE(this.blockStreamId, offset + 5);
      offset += FRAME_HEADER_BYTES;
      offset += block.copy(out, offset, start, end);
    }
    this.emit(out);
  }

  /**
   * Before the decision, hands the connection over to the server unchanged from the held header
   * block on (then `frame`, a collected frame not yet emitted), for it to refuse as it would
   * have; after a rewrite, throws.
   */
  private fail(detail: string, frame?: Buffer, code: Http2ErrorCode = 'BAD_FRAME_SEQUENCE'): 'passthrough' {
    if (this.currentMode === 'rewrite') throw new Http2Error(code, detail);
    for (const held of this.blockFrames) this.emit(held);
    if (frame !== undefined) this.emit(frame);
    this.blockFrames = [];
    this.blockFragments = [];
    this.blockBytes = 0;
    this.collecting = undefined;
    this.currentMode = 'passthrough';
    return 'passthrough';
  }
}

/** `fields` with `:authority` normalised; the same array when nothing changed. */
function rewriteAuthority(fields: HeaderField[]): HeaderField[] {
  const i = fields.findIndex((f) => f.name === ':authority');
  const field = fields[i];
  if (field === undefined) return fields;
  const value = normalizeAuthority(field.value);
  if (value === field.value) return fields;
  const copy = fields.slice();
  copy[i] = { ...field, value };
  return copy;
}
