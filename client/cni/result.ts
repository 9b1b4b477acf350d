// The IPAM result and its JSON in each supported cniVersion. IPAM plugins return the abbreviated
// result (no `interfaces`, no `interface` index in ips). Differences by version: 0.3.x and 0.4.0 carry
// `"version": "4"|"6"` in each ip; route fields beyond dst and gw (mtu, advmss, priority, table, scope)
// exist from 1.1.0 on and are left out below it. Empty routes and dns are left out, as libcni does.

import { type InterfaceAddress, parseInterface, parseOrNull } from '../ipam/cidr.js';
import type { AllocatedAddress } from './allocator.js';
import { invalidConfig, isObject } from './fields.js';
import { atLeast, SUPPORTED_VERSIONS, type SupportedVersion } from './version.js';

export interface Route {
  readonly dst: string;
  readonly gw?: string;
  readonly mtu?: number;
  readonly advmss?: number;
  readonly priority?: number;
  readonly table?: number;
  readonly scope?: number;
}

export interface Dns {
  readonly nameservers?: readonly string[];
  readonly domain?: string;
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

export interface IpamResult {
  readonly ips: readonly AllocatedAddress[];
  readonly routes: readonly Route[];
  readonly dns: Dns;
}

/** Route fields in output order; those after gw need cniVersion 1.1.0. */
const ROUTE_FIELDS_1_1 = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;

function routeJson(route: Route, version: SupportedVersion): Record<string, unknown> {
  const out: Record<string, unknown> = { dst: route.dst };
  if (route.gw !== undefined) out.gw = route.gw;
  if (atLeast(version, '1.1.0')) {
    for (const field of ROUTE_FIELDS_1_1) if (route[field] !== undefined) out[field] = route[field];
  }
  return out;
}

function ipJson(ip: AllocatedAddress, version: SupportedVersion): Record<string, unknown> {
  const out: Record<string, unknown> = atLeast(version, '1.0.0') ? {} : { version: String(ip.version) };
  out.address = ip.address;
  if (ip.gateway !== undefined) out.gateway = ip.gateway;
  return out;
}

function dnsJson(dns: Dns): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  if (dns.nameservers !== undefined && dns.nameservers.length > 0) out.nameservers = dns.nameservers;
  if (dns.domain !== undefined && dns.domain !== '') out.domain = dns.domain;
  if (dns.search !== undefined && dns.search.length > 0) out.search = dns.search;
  if (dns.options !== undefined && dns.options.length > 0) out.options = dns.options;
  return Object.keys(out).length > 0 ? out : null;
}

/** The ADD result as the runtime (or the calling plugin) expects it for `version`. */
export function resultJson(result: IpamResult, version: SupportedVersion): Record<string, unknown> {
  const out: Record<string, unknown> = {
    cniVersion: version,
    ips: result.ips.map((ip) => ipJson(ip, version)),
  };
  if (result.routes.length > 0) out.routes = result.routes.map((r) => routeJson(r, version));
  const dns = dnsJson(result.dns);
  if (dns !== null) out.dns = dns;
  return out;
}

/** VERSION's answer: the version the caller spoke, and every version the plugin speaks. */
export function versionJson(cniVersion: string): Record<string, unknown> {
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/**
 * The addresses listed in a prevResult (any supported version: all keep `ips[].address` in CIDR form).
 * CHECK compares them with what netcd holds.
 */
export function prevResultAddresses(prevResult: unknown): InterfaceAddress[] {
  if (!isObject(prevResult)) throw invalidConfig('prevResult: must be an object (the result of the ADD)');
  const ips = prevResult.ips ?? [];
  if (!Array.isArray(ips)) throw invalidConfig('prevResult.ips: must be an array');
  return ips.map((ip, i) => {
    const address =
      isObject(ip) && typeof ip.address === 'string' ? parseOrNull(parseInterface, ip.address) : null;
    if (address === null)
      throw invalidConfig(`prevResult.ips[${i}].address: must be an address in CIDR form`);
    return address;
  });
}
