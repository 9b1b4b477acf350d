// The plugin's error catalogue: the CNI spec's well-known codes (0-99) and netcd-ipam's own (100+),
// and the one mapping from whatever a command threw to the error JSON a runtime reads on stdout.

import {
  CniAllocatorError,
  PoolConflictError,
  PoolExhaustedError,
  PoolNotFoundError,
  RequestedAddressUnavailableError,
  StoreUnreachableError,
} from './allocator.js';

export const CNI_ERROR_CODES = {
  /** The config's cniVersion is not one the plugin speaks, or too old for the command. */
  INCOMPATIBLE_VERSION: 1,
  /** A key the plugin does not know in its own (ipam) section; the message names key and value. */
  UNSUPPORTED_FIELD: 2,
  /** A CNI_* variable is missing or malformed; the message names the variables. */
  INVALID_ENVIRONMENT: 4,
  /** Reading stdin failed. */
  IO_FAILURE: 5,
  /** Stdin is not a JSON object. */
  DECODING_FAILURE: 6,
  INVALID_NETWORK_CONFIG: 7,
  /** The command ran out of time; the condition may clear, the runtime should retry. */
  TRY_AGAIN_LATER: 11,
  /** STATUS: the plugin cannot serve ADD now. */
  NOT_AVAILABLE: 50,
  /** No free address in a range set or pool. */
  POOL_EXHAUSTED: 100,
  /** No netcd member could be reached, or none could serve the request. */
  STORE_UNREACHABLE: 101,
  /** A requested address (args/runtimeConfig `ips`, CNI_ARGS IP) is taken, reserved or outside the pools. */
  ADDRESS_UNAVAILABLE: 102,
  /** CHECK: what netcd holds for the attachment differs from prevResult (or nothing is held). */
  CHECK_MISMATCH: 103,
  /** A bug or an unexpected failure (the code libcni's skel uses for untyped errors). */
  INTERNAL: 999,
} as const;

export type CniErrorCode = (typeof CNI_ERROR_CODES)[keyof typeof CNI_ERROR_CODES];

export class CniError extends Error {
  readonly code: CniErrorCode;
  readonly details: string;

  constructor(code: CniErrorCode, message: string, details = '', options?: ErrorOptions) {
    super(message, options);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }
}

const ALLOCATOR_CODES: ReadonlyArray<[new (...args: never[]) => CniAllocatorError, CniErrorCode]> = [
  [PoolExhaustedError, CNI_ERROR_CODES.POOL_EXHAUSTED],
  [StoreUnreachableError, CNI_ERROR_CODES.STORE_UNREACHABLE],
  [RequestedAddressUnavailableError, CNI_ERROR_CODES.ADDRESS_UNAVAILABLE],
  [PoolNotFoundError, CNI_ERROR_CODES.INVALID_NETWORK_CONFIG],
  [PoolConflictError, CNI_ERROR_CODES.INVALID_NETWORK_CONFIG],
];

/** Maps anything a command threw to a CniError; untyped errors become 999 with their message. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof CniAllocatorError) {
    const code = ALLOCATOR_CODES.find(([type]) => err instanceof type)?.[1] ?? CNI_ERROR_CODES.INTERNAL;
    return new CniError(code, err.message, err.details, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CniError(CNI_ERROR_CODES.INTERNAL, message, '', { cause: err });
}

/** The spec's error result; `details` is left out when empty, as libcni does. */
export function errorJson(cniVersion: string, err: CniError): string {
  const body: Record<string, unknown> = { cniVersion, code: err.code, msg: err.message };
  if (err.details !== '') body.details = err.details;
  return `${JSON.stringify(body)}\n`;
}
