// Public surface of the peer transport: the transport itself, its options and stats, and its
// error catalogue. The frame and stream modules behind it are internal.

export { describeError, isTransportError, TransportError, type TransportErrorCode } from './errors.js';
export { type PeerTransportOptions, TRANSPORT_DEFAULTS } from './options.js';
export { type PeerStats, PeerTransport, type TransportStats } from './transport.js';
