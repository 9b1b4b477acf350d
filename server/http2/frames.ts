// HTTP/2 framing facts (RFC 9113 §3.4, §4.1, §6) shared by the client port, the :authority
// rewriter and tests: the connection preface, the 9-byte frame header, frame types and flags.

/** What every HTTP/2 client sends first (RFC 9113 §3.4); gRPC always speaks HTTP/2. */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Payload length (3 bytes), type, flags, stream id (4 bytes). */
export const FRAME_HEADER_BYTES = 9;
/** SETTINGS_MAX_FRAME_SIZE's initial value and Node's http2 default: every peer accepts frames this large. */
export const MAX_FRAME_PAYLOAD_BYTES = 16_384;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  CONTINUATION: 0x9,
} as const;

export const FrameFlag = {
  END_STREAM: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;
