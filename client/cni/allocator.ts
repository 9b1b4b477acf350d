// The seam between the CNI plugin and the IPAM backend: the plugin speaks CNI (env, stdin, result
// versions, error JSON), the allocator owns addresses in netcd. Everything the plugin needs from IPAM
// is this interface; the plugin's tests drive it with an in-memory double.

import type { IpamPluginConfig } from './config.js';

/**
 * One attachment of a container to a network, the spec's primary key for plugin state
 * `(network name, CNI_CONTAINERID, CNI_IFNAME)`. ADD and DEL are idempotent per handle.
 */
export interface AttachmentHandle {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
}

/**
 * One range in host-local's shape, canonical: the plugin has filled in the defaults and validated it,
 * so every field is present, addresses are canonical text and all lie inside `subnet`.
 * The allocator never hands out the network address, the gateway or (IPv4) the broadcast address.
 */
export interface RangeSpec {
  /** Network address and prefix, e.g. "10.22.0.0/16" (host bits clear). */
  readonly subnet: string;
  /** First allocatable address, inclusive (default: network address + 1). */
  readonly rangeStart: string;
  /** Last allocatable address, inclusive (default: the last address; for IPv4 the one below broadcast). */
  readonly rangeEnd: string;
  /** Default: network address + 1, like host-local. */
  readonly gateway: string;
}

/** Ranges of one address family that together serve one address per attachment. */
export type RangeSet = readonly RangeSpec[];

export interface AllocatedAddress {
  /** The address with its subnet's prefix length, e.g. "10.22.0.12/16". */
  readonly address: string;
  readonly gateway?: string;
  readonly version: 4 | 6;
}

export interface AllocateRequest {
  readonly handle: AttachmentHandle;
  /** The node the attachment lives on; the backend prefers blocks with this node's affinity. */
  readonly node: string;
  /** One address from each range set, in this order… */
  readonly ranges: readonly RangeSet[];
  /** …then one address from each named pool (pools created with `netcdctl ipam pool add`), in order. */
  readonly pools: readonly string[];
  /**
   * Addresses the runtime asked for (canonical text, no prefix). Each lies in at most one range set
   * (the plugin checked that for `ranges`) and is what that set or pool must hand out.
   */
  readonly requestedIps: readonly string[];
}

export interface CniAllocator {
  /**
   * Returns `ranges.length + pools.length` addresses: ranges first, then pools, in request order.
   * Idempotent per handle: a second call with the same handle returns the addresses it already holds.
   * All or nothing: when it throws, the handle holds no address it did not hold before.
   * Throws PoolExhaustedError, RequestedAddressUnavailableError, PoolNotFoundError,
   * StoreUnreachableError; aborts (rejects with `signal.reason`) when `signal` fires.
   */
  allocate(request: AllocateRequest, signal: AbortSignal): Promise<AllocatedAddress[]>;
  /** Releases every address of the handle. Succeeds when nothing is allocated (DEL is idempotent). */
  release(handle: AttachmentHandle, signal: AbortSignal): Promise<void>;
  /** The addresses the handle holds now, or null when it holds none. */
  check(handle: AttachmentHandle, signal: AbortSignal): Promise<AllocatedAddress[] | null>;
  /**
   * Releases addresses of `network` whose handle is not in `valid` (the runtime's still-valid
   * attachments; `handle.network` equals `network` in each). Returns how many addresses it released.
   */
  gc(network: string, valid: readonly AttachmentHandle[], signal: AbortSignal): Promise<number>;
  /**
   * Resolves when an ADD could be served now: the store answers and the configured ranges or pools
   * have a free address. Throws StoreUnreachableError or PoolExhaustedError otherwise.
   */
  status(signal: AbortSignal): Promise<void>;
  /** Closes connections; the plugin calls it once, after its command, whatever the outcome. */
  close(): Promise<void>;
}

/**
 * Builds the allocator for one plugin invocation. `config` is the validated ipam section; `signal`
 * bounds any connecting or file reading the factory does. Implemented in allocator-factory.ts.
 */
export type CniAllocatorFactory = (config: IpamPluginConfig, signal: AbortSignal) => Promise<CniAllocator>;

/** Base of the failures the plugin reports with their own CNI error codes (errors.ts). */
export class CniAllocatorError extends Error {
  /** Longer explanation for the CNI error's `details`. */
  readonly details: string;

  constructor(message: string, details = '', options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.details = details;
  }
}

/** No free address left in a range set or pool (CNI code 100). */
export class PoolExhaustedError extends CniAllocatorError {}

/** No netcd member answered, or none could serve the request (CNI code 101). */
export class StoreUnreachableError extends CniAllocatorError {}

/** A requested address is held by another handle, reserved, or outside every range and pool (code 102). */
export class RequestedAddressUnavailableError extends CniAllocatorError {}

/** A named pool in the config does not exist in netcd (CNI code 7, invalid network config). */
export class PoolNotFoundError extends CniAllocatorError {}

/** A range's pool already exists in netcd with another definition (CNI code 7). */
export class PoolConflictError extends CniAllocatorError {}
