// The HTTP/2 layer's error catalogue: what the HPACK codec and the client→server frame rewriter
// refuse. Each is a connection error in HTTP/2 terms (COMPRESSION_ERROR or PROTOCOL_ERROR): the
// connection cannot go on once one is thrown.

export type Http2ErrorCode =
  | 'BAD_INTEGER'
  | 'BAD_STRING'
  | 'BAD_HUFFMAN'
  | 'BAD_INDEX'
  | 'BAD_TABLE_SIZE_UPDATE'
  | 'HEADER_LIST_TOO_LARGE'
  | 'HEADER_BLOCK_TOO_LARGE'
  | 'BAD_FRAME_SEQUENCE';

const MESSAGES: Record<Http2ErrorCode, string> = {
  /** An HPACK integer that runs past the block or past 2^31 - 1. */
  BAD_INTEGER: 'hpack: invalid integer',
  /** A string literal longer than what is left of the block. */
  BAD_STRING: 'hpack: truncated string literal',
  /** A Huffman string holding EOS, or padded with more than 7 bits or with zero bits. */
  BAD_HUFFMAN: 'hpack: invalid Huffman code',
  /** Index 0, or an index past the static and dynamic tables. */
  BAD_INDEX: 'hpack: invalid table index',
  /** A dynamic table size update above the limit, or after a header field of the block. */
  BAD_TABLE_SIZE_UPDATE: 'hpack: invalid dynamic table size update',
  HEADER_LIST_TOO_LARGE: 'hpack: decoded header list too large',
  HEADER_BLOCK_TOO_LARGE: 'http2: header block too large',
  /** A CONTINUATION out of place, a frame between HEADERS and its CONTINUATION, or bad padding. */
  BAD_FRAME_SEQUENCE: 'http2: invalid header frame sequence',
};

export class Http2Error extends Error {
  readonly code: Http2ErrorCode;

  constructor(code: Http2ErrorCode, detail?: string) {
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`);
    this.code = code;
    this.name = 'Http2Error';
  }
}

export function isHttp2Error(err: unknown, code?: Http2ErrorCode): err is Http2Error {
  return err instanceof Http2Error && (code === undefined || err.code === code);
}
