// The peer transport's error catalogue. Callers branch on `code`; a busy listen address keeps
// Node's own code (EADDRINUSE) so generic socket error handling still recognises it.

export type TransportErrorCode =
  | 'EADDRINUSE'
  | 'LISTEN_FAILED'
  | 'BAD_OPTION'
  | 'BAD_URL'
  | 'STOPPED'
  | 'UNKNOWN_PEER'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'REJECTED'
  | 'BAD_HANDSHAKE'
  | 'BAD_FRAME'
  | 'FRAME_TOO_LARGE'
  | 'SNAPSHOT_FAILED'
  | 'TOO_MANY_REQUESTS'
  | 'REMOTE';

const MESSAGES: Record<TransportErrorCode, string> = {
  EADDRINUSE: 'transport: peer listen address is already in use',
  LISTEN_FAILED: 'transport: cannot listen for peers',
  BAD_OPTION: 'transport: invalid option',
  BAD_URL: 'transport: invalid peer URL',
  STOPPED: 'transport: stopped',
  UNKNOWN_PEER: 'transport: unknown peer',
  UNREACHABLE: 'transport: peer unreachable',
  TIMEOUT: 'transport: timed out',
  /** The remote end refused our handshake (other cluster, removed member, wrong member id). */
  REJECTED: 'transport: handshake rejected by peer',
  /** The remote end sent a handshake we refuse. */
  BAD_HANDSHAKE: 'transport: invalid handshake',
  /** A frame that does not decode, or decodes to something the protocol does not allow here. */
  BAD_FRAME: 'transport: invalid frame',
  FRAME_TOO_LARGE: 'transport: frame too large',
  SNAPSHOT_FAILED: 'transport: snapshot transfer failed',
  TOO_MANY_REQUESTS: 'transport: too many pending requests',
  /** The peer's request handler failed; the message is the remote one, verbatim. */
  REMOTE: 'transport: remote request failed',
};

export interface TransportErrorOptions {
  readonly cause?: unknown;
  /** For REMOTE: the `code` of the error the remote handler threw, when it had one. */
  readonly remoteCode?: string;
  /** For REJECTED: the rejection code the peer sent. */
  readonly rejectCode?: string;
}

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  readonly remoteCode: string | undefined;
  readonly rejectCode: string | undefined;

  constructor(code: TransportErrorCode, detail?: string, options: TransportErrorOptions = {}) {
    const message =
      code === 'REMOTE' && detail !== undefined
        ? detail
        : detail === undefined
          ? MESSAGES[code]
          : `${MESSAGES[code]}: ${detail}`;
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.remoteCode = options.remoteCode;
    this.rejectCode = options.rejectCode;
    this.name = 'TransportError';
  }
}

export function isTransportError(err: unknown, code?: TransportErrorCode): err is TransportError {
  return err instanceof TransportError && (code === undefined || err.code === code);
}

/** A one-line description of anything thrown, for logs and stats. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A peer broke the wire protocol (garbled or oversized frame): worth an error-level log. */
export function isProtocolError(err: unknown): boolean {
  return isTransportError(err, 'BAD_FRAME') || isTransportError(err, 'FRAME_TOO_LARGE');
}
