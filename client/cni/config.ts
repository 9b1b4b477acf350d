// The network config a runtime streams on stdin, checked and reduced to what the plugin uses. The
// whole config arrives (the calling plugin's keys too); netcd-ipam reads the top-level name,
// cniVersion, args, runtimeConfig, prevResult and cni.dev/valid-attachments, and owns the `ipam`
// section, where unknown keys are refused (code 2) so a typo never passes silently. ADD and STATUS
// need the address settings valid; DEL, CHECK and GC only need the connection and the attachment,
// so a broken address setting there is a warning and never stops a release.

import { accessSync, constants, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { EndpointError, parseEndpoint } from '../endpoints.js';
import {
  formatCidr,
  formatInterface,
  formatIp,
  type IpAddress,
  parseInterface,
  parseIp,
  parseOrNull,
} from '../ipam/cidr.js';
import type { RangeSet } from './allocator.js';
import { CNI_NAME, type CniEnv, type EnvSource, requestedIpFromCniArgs } from './env.js';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import {
  invalidConfig,
  isObject,
  type JsonObject,
  optionalInteger,
  optionalString,
  optionalStringArray,
  rejectUnknownKeys,
} from './fields.js';
import {
  checkRangeSets,
  type ParsedRangeSet,
  parseRange,
  parseRangeSets,
  rangeSetIndexOf,
  toRangeSet,
} from './ranges.js';
import type { Dns, Route } from './result.js';
import {
  atLeast,
  CURRENT_VERSION,
  isSupportedVersion,
  MINIMUM_VERSION_OF,
  SUPPORTED_VERSIONS,
  type SupportedVersion,
} from './version.js';

/** TLS files for talking to netcd; paths are absolute and were readable when the config was checked. */
export interface TlsFiles {
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly trustedCaFile?: string;
}

/** The validated `ipam` section: everything the allocator factory needs to reach netcd and allocate. */
export interface IpamPluginConfig {
  /** The network name (top-level `name`): part of every handle. */
  readonly network: string;
  /** netcd client URLs, as written (validated with client/endpoints.ts). */
  readonly endpoints: readonly string[];
  readonly nodeName: string;
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Deadline of one whole command (ADD, DEL, …), allocator creation included. */
  readonly commandTimeoutMs: number;
  readonly tls: TlsFiles;
  /** Canonical range sets: runtimeConfig.ipRanges, then the ipam.subnet shorthand, then ipam.ranges. */
  readonly ranges: readonly RangeSet[];
  readonly pools: readonly string[];
  readonly routes: readonly Route[];
  readonly dns: Dns;
}

export interface ValidAttachment {
  readonly containerId: string;
  readonly ifname: string;
}

export interface NetworkConfig {
  readonly cniVersion: SupportedVersion;
  readonly name: string;
  readonly ipam: IpamPluginConfig;
  /** Canonical addresses from args.cni.ips, runtimeConfig.ips and CNI_ARGS IP (the last only without args). */
  readonly requestedIps: readonly string[];
  /** As given; undefined when absent. */
  readonly prevResult: unknown;
  /** GC's cni.dev/valid-attachments; empty for other commands. */
  readonly validAttachments: readonly ValidAttachment[];
  /** Problems DEL, CHECK and GC set aside (they do not need the address settings). */
  readonly warnings: readonly string[];
}

/** What the config check reads from the machine, injectable for tests. */
export interface HostAccess {
  hostname(): string;
  isReadableFile(path: string): boolean;
}

export const realHost: HostAccess = {
  hostname,
  isReadableFile(path) {
    try {
      accessSync(path, constants.R_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  },
};

export const DEFAULTS = {
  endpoints: ['http://127.0.0.1:2379'],
  dialTimeoutMs: 2_000,
  requestTimeoutMs: 5_000,
  commandTimeoutMs: 30_000,
} as const;

export const MAX_TIMEOUT_MS = 600_000;
export const MAX_ENDPOINTS = 16;
export const MAX_POOLS = 16;
export const MAX_ROUTES = 64;
export const MAX_REQUESTED_IPS = 16;
export const MAX_DNS_ENTRIES = 16;
/** Network, node and pool names end up in netcd keys; DNS names are the longest real ones. */
export const MAX_NAME_LENGTH = 253;
const MAX_UINT32 = 4_294_967_295;

const IPAM_KEYS = new Set([
  'type',
  'endpoints',
  'nodeName',
  'dialTimeoutMs',
  'requestTimeoutMs',
  'commandTimeoutMs',
  'certFile',
  'keyFile',
  'trustedCaFile',
  'ranges',
  'subnet',
  'rangeStart',
  'rangeEnd',
  'gateway',
  'pools',
  'routes',
  'dns',
]);
const ROUTE_KEYS = new Set(['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope']);
const DNS_KEYS = new Set(['nameservers', 'domain', 'search', 'options']);

/** Stdin as a JSON object, or code 6. */
export function decodeConfig(stdin: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(
      CNI_ERROR_CODES.DECODING_FAILURE,
      'decoding network config from stdin',
      err instanceof Error ? err.message : String(err),
    );
  }
  if (!isObject(value))
    throw new CniError(CNI_ERROR_CODES.DECODING_FAILURE, 'network config must be a JSON object');
  return value;
}

/** The version errors are reported in: the config's, when the plugin speaks it. */
export function replyVersionOf(raw: JsonObject): string {
  const v = raw.cniVersion;
  return typeof v === 'string' && isSupportedVersion(v) ? v : CURRENT_VERSION;
}

function checkName(value: unknown, what: string, path: string): string {
  if (value === undefined || value === '') throw invalidConfig(`missing ${what}`, path);
  if (typeof value !== 'string' || !CNI_NAME.test(value) || value.length > MAX_NAME_LENGTH)
    throw invalidConfig(
      `invalid ${what} ${JSON.stringify(value)}`,
      `${path} must start with a letter or digit, continue with letters, digits, _ . - and have at most ${MAX_NAME_LENGTH} characters`,
    );
  return value;
}

function checkVersion(raw: JsonObject, command: keyof typeof MINIMUM_VERSION_OF): SupportedVersion {
  // libcni reads a config without cniVersion as 0.1.0.
  const version = raw.cniVersion ?? '0.1.0';
  if (typeof version !== 'string')
    throw new CniError(CNI_ERROR_CODES.DECODING_FAILURE, 'cniVersion must be a string');
  if (!isSupportedVersion(version))
    throw new CniError(
      CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
      'incompatible CNI versions',
      `config is ${JSON.stringify(version)}, plugin supports [${SUPPORTED_VERSIONS.map((v) => JSON.stringify(v)).join(' ')}]`,
    );
  const minimum = MINIMUM_VERSION_OF[command];
  if (!atLeast(version, minimum))
    throw new CniError(
      CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
      `config version does not allow ${command}`,
      `${command} needs cniVersion ${minimum} or later, config is ${JSON.stringify(version)}`,
    );
  return version;
}

interface Connection {
  endpoints: string[];
  nodeName: string;
  dialTimeoutMs: number;
  requestTimeoutMs: number;
  commandTimeoutMs: number;
  tls: TlsFiles;
}

function parseEndpointList(ipam: JsonObject): string[] {
  const raw = ipam.endpoints ?? DEFAULTS.endpoints;
  if (!Array.isArray(raw) || raw.some((e) => typeof e !== 'string'))
    throw invalidConfig('ipam.endpoints: must be an array of URLs such as "http://127.0.0.1:2379"');
  if (raw.length === 0) throw invalidConfig('ipam.endpoints: empty');
  if (raw.length > MAX_ENDPOINTS) throw invalidConfig(`ipam.endpoints: more than ${MAX_ENDPOINTS} entries`);
  return (raw as string[]).map((text, i) => {
    try {
      parseEndpoint(text);
    } catch (err) {
      if (err instanceof EndpointError) throw invalidConfig(`ipam.endpoints[${i}]: ${err.message}`);
      throw err;
    }
    return text.trim();
  });
}

function parseNodeName(ipam: JsonObject, env: EnvSource, host: HostAccess): string {
  if (ipam.nodeName !== undefined) return checkName(ipam.nodeName, 'node name', 'ipam.nodeName');
  const fromEnv = env.NETCD_NODE_NAME;
  if (fromEnv !== undefined && fromEnv !== '') return checkName(fromEnv, 'node name', 'NETCD_NODE_NAME');
  return checkName(host.hostname(), 'node name', 'the host name (set ipam.nodeName or NETCD_NODE_NAME)');
}

function parseTls(ipam: JsonObject, host: HostAccess): TlsFiles {
  const tls: { certFile?: string; keyFile?: string; trustedCaFile?: string } = {};
  for (const key of ['certFile', 'keyFile', 'trustedCaFile'] as const) {
    const path = optionalString(ipam, key, 'ipam');
    if (path === undefined) continue;
    if (!isAbsolute(path))
      throw invalidConfig(`ipam.${key}: ${JSON.stringify(path)} is not an absolute path`);
    if (!host.isReadableFile(path)) throw invalidConfig(`ipam.${key}: ${path} is not a readable file`);
    tls[key] = path;
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined))
    throw invalidConfig('ipam.certFile and ipam.keyFile must be given together');
  return tls;
}

function parseConnection(ipam: JsonObject, env: EnvSource, host: HostAccess): Connection {
  const timeout = (key: keyof typeof DEFAULTS & `${string}Ms`) =>
    optionalInteger(ipam, key, 'ipam', 1, MAX_TIMEOUT_MS) ?? DEFAULTS[key];
  return {
    endpoints: parseEndpointList(ipam),
    nodeName: parseNodeName(ipam, env, host),
    dialTimeoutMs: timeout('dialTimeoutMs'),
    requestTimeoutMs: timeout('requestTimeoutMs'),
    commandTimeoutMs: timeout('commandTimeoutMs'),
    tls: parseTls(ipam, host),
  };
}

function parseRoute(raw: unknown, path: string): Route {
  if (!isObject(raw)) throw invalidConfig(`${path}: must be an object with a dst`);
  rejectUnknownKeys(raw, ROUTE_KEYS, path);
  // Parsed with its host bits kept, so a destination with them set is named as it was written.
  const dst = typeof raw.dst === 'string' ? parseOrNull(parseInterface, raw.dst) : null;
  if (dst === null) throw invalidConfig(`${path}.dst: must be a CIDR such as "0.0.0.0/0"`);
  if (dst.value !== dst.cidr.base)
    throw invalidConfig(`${path}.dst: ${formatInterface(dst)} has host bits set`);
  const route: { -readonly [K in keyof Route]: Route[K] } = { dst: formatCidr(dst.cidr) };
  const gwText = optionalString(raw, 'gw', path);
  if (gwText !== undefined) {
    const gw = parseOrNull(parseIp, gwText);
    if (gw === null || gw.family !== dst.family)
      throw invalidConfig(`${path}.gw: ${JSON.stringify(gwText)} is not an IPv${dst.family} address`);
    route.gw = formatIp(gw.family, gw.value);
  }
  for (const key of ['mtu', 'advmss', 'priority', 'table'] as const) {
    const value = optionalInteger(raw, key, path, 0, MAX_UINT32);
    if (value !== undefined) route[key] = value;
  }
  const scope = optionalInteger(raw, 'scope', path, 0, 255);
  if (scope !== undefined) route.scope = scope;
  return route;
}

function parseRoutes(ipam: JsonObject): Route[] {
  const raw = ipam.routes ?? [];
  if (!Array.isArray(raw)) throw invalidConfig('ipam.routes: must be an array of routes');
  if (raw.length > MAX_ROUTES) throw invalidConfig(`ipam.routes: more than ${MAX_ROUTES} routes`);
  return raw.map((r, i) => parseRoute(r, `ipam.routes[${i}]`));
}

function parseDns(ipam: JsonObject): Dns {
  const raw = ipam.dns ?? {};
  if (!isObject(raw)) throw invalidConfig('ipam.dns: must be an object');
  rejectUnknownKeys(raw, DNS_KEYS, 'ipam.dns');
  const dns: { -readonly [K in keyof Dns]: Dns[K] } = {};
  const nameservers = optionalStringArray(raw, 'nameservers', 'ipam.dns', MAX_DNS_ENTRIES);
  if (nameservers !== undefined)
    dns.nameservers = nameservers.map((text, i) => {
      const ip = parseOrNull(parseIp, text);
      if (ip === null)
        throw invalidConfig(`ipam.dns.nameservers[${i}]: ${JSON.stringify(text)} is not an IP address`);
      return formatIp(ip.family, ip.value);
    });
  const domain = optionalString(raw, 'domain', 'ipam.dns');
  if (domain !== undefined) dns.domain = domain;
  const search = optionalStringArray(raw, 'search', 'ipam.dns', MAX_DNS_ENTRIES);
  if (search !== undefined) dns.search = search;
  const options = optionalStringArray(raw, 'options', 'ipam.dns', MAX_DNS_ENTRIES);
  if (options !== undefined) dns.options = options;
  return dns;
}

const SHORTHAND_KEYS = ['subnet', 'rangeStart', 'rangeEnd', 'gateway'] as const;

function parseAllRangeSets(raw: JsonObject, ipam: JsonObject): ParsedRangeSet[] {
  const sets: ParsedRangeSet[] = [];
  // host-local's order: ranges from the runtime's ipRanges capability first.
  const runtimeRanges = isObject(raw.runtimeConfig) ? raw.runtimeConfig.ipRanges : undefined;
  if (runtimeRanges !== undefined) sets.push(...parseRangeSets(runtimeRanges, 'runtimeConfig.ipRanges'));
  // host-local's older single-range form, ipam.subnet (+ rangeStart, rangeEnd, gateway).
  if (ipam.subnet !== undefined) {
    const range = Object.fromEntries(
      SHORTHAND_KEYS.flatMap((k) => (ipam[k] === undefined ? [] : [[k, ipam[k]]])),
    );
    sets.push([parseRange(range, 'ipam')]);
  } else {
    const stray = SHORTHAND_KEYS.find((k) => ipam[k] !== undefined);
    if (stray !== undefined) throw invalidConfig(`ipam.${stray}: needs ipam.subnet`);
  }
  if (ipam.ranges !== undefined) sets.push(...parseRangeSets(ipam.ranges, 'ipam.ranges'));
  checkRangeSets(sets, 'ipam.ranges');
  return sets;
}

function parsePools(ipam: JsonObject): string[] {
  const pools = optionalStringArray(ipam, 'pools', 'ipam', MAX_POOLS) ?? [];
  for (const [i, pool] of pools.entries()) checkName(pool, 'pool name', `ipam.pools[${i}]`);
  const dup = pools.find((p, i) => pools.indexOf(p) !== i);
  if (dup !== undefined) throw invalidConfig(`ipam.pools: ${dup} is listed twice`);
  return pools;
}

const addressUnavailable = (message: string) => new CniError(CNI_ERROR_CODES.ADDRESS_UNAVAILABLE, message);

/** A requested address: "<ip>" or, as CNI's `ips` conventions allow, "<ip>/<prefix>" (prefix dropped). */
function parseRequestedIp(text: string): IpAddress | null {
  return text.includes('/') ? parseOrNull(parseInterface, text) : parseOrNull(parseIp, text);
}

function ipList(value: unknown, path: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw invalidConfig(`${path}: must be an array of addresses such as "10.22.0.5" or "10.22.0.5/16"`);
  return value as string[];
}

/**
 * The requested addresses, canonical and without duplicates. Sources per the CNI conventions:
 * args.cni.ips, runtimeConfig.ips, and CNI_ARGS IP=, which is ignored when args.cni.ips is given.
 */
function parseRequestedIps(
  raw: JsonObject,
  cni: CniEnv,
  sets: readonly ParsedRangeSet[],
  pools: number,
): string[] {
  const fromArgs = isObject(raw.args) && isObject(raw.args.cni) ? raw.args.cni.ips : undefined;
  const fromRuntime = isObject(raw.runtimeConfig) ? raw.runtimeConfig.ips : undefined;
  const cniArgsIp = requestedIpFromCniArgs(cni.args);
  const sources: Array<[string, string]> = [
    ...(fromArgs === undefined
      ? []
      : ipList(fromArgs, 'args.cni.ips').map((t, i): [string, string] => [t, `args.cni.ips[${i}]`])),
    ...(fromRuntime === undefined
      ? []
      : ipList(fromRuntime, 'runtimeConfig.ips').map((t, i): [string, string] => [
          t,
          `runtimeConfig.ips[${i}]`,
        ])),
    ...(cniArgsIp === null || fromArgs !== undefined ? [] : [[cniArgsIp, 'CNI_ARGS IP'] as [string, string]]),
  ];
  const requested: string[] = [];
  const setOwner = new Map<number, string>();
  for (const [text, path] of sources) {
    const ip = parseRequestedIp(text);
    if (ip === null) {
      const message = `${path}: ${JSON.stringify(text)} is not an IP address`;
      throw path === 'CNI_ARGS IP'
        ? new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, message)
        : invalidConfig(message);
    }
    const canonical = formatIp(ip.family, ip.value);
    if (requested.includes(canonical)) continue;
    // One address per range set: a request picks its set, and two requests cannot share one.
    const set = rangeSetIndexOf(sets, ip);
    if (set < 0 && pools === 0) throw addressUnavailable(`requested IP ${canonical} is not in any range`);
    const other = setOwner.get(set);
    if (set >= 0 && other !== undefined)
      throw addressUnavailable(
        `requested IPs ${other} and ${canonical} are both in range set ${set}, which gives one address`,
      );
    if (set >= 0) setOwner.set(set, canonical);
    requested.push(canonical);
  }
  if (requested.length > MAX_REQUESTED_IPS)
    throw invalidConfig(`more than ${MAX_REQUESTED_IPS} requested IPs`);
  return requested;
}

interface Addressing {
  ranges: RangeSet[];
  pools: string[];
  routes: Route[];
  dns: Dns;
  requestedIps: string[];
}

const NO_ADDRESSING: Addressing = { ranges: [], pools: [], routes: [], dns: {}, requestedIps: [] };

function parseAddressing(raw: JsonObject, ipam: JsonObject, cni: CniEnv): Addressing {
  rejectUnknownKeys(ipam, IPAM_KEYS, 'ipam');
  const sets = parseAllRangeSets(raw, ipam);
  const pools = parsePools(ipam);
  if (sets.length + pools.length === 0) throw invalidConfig('ipam: no ranges or pools to allocate from');
  return {
    ranges: sets.map(toRangeSet),
    pools,
    routes: parseRoutes(ipam),
    dns: parseDns(ipam),
    requestedIps: parseRequestedIps(raw, cni, sets, pools.length),
  };
}

function parseValidAttachments(raw: JsonObject): ValidAttachment[] {
  const key = 'cni.dev/valid-attachments';
  const list = raw[key];
  // Without the list every allocation of the network would look stale: refuse rather than release all.
  if (!Array.isArray(list)) throw invalidConfig(`GC needs ${key}, an array of {containerID, ifname}`);
  return list.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string')
      throw invalidConfig(`${key}[${i}]: must be an object with containerID and ifname strings`);
    return { containerId: a.containerID, ifname: a.ifname };
  });
}

export interface ParseContext {
  /** The process environment (NETCD_NODE_NAME). */
  readonly env: EnvSource;
  readonly host: HostAccess;
}

/** Checks a decoded config for a command other than VERSION. Throws CniError with the spec's codes. */
export function parseNetworkConfig(raw: JsonObject, cni: CniEnv, context: ParseContext): NetworkConfig {
  if (cni.command === 'VERSION') throw new Error('VERSION takes no network config');
  const name = checkName(raw.name, 'network name', 'name');
  const cniVersion = checkVersion(raw, cni.command);
  if (raw.ipam === undefined) throw invalidConfig('missing "ipam" section');
  if (!isObject(raw.ipam)) throw invalidConfig('ipam: must be an object');
  const ipam = raw.ipam;
  const connection = parseConnection(ipam, context.env, context.host);
  const warnings: string[] = [];
  let addressing: Addressing;
  if (cni.command === 'ADD' || cni.command === 'STATUS') {
    addressing = parseAddressing(raw, ipam, cni);
  } else {
    try {
      addressing = parseAddressing(raw, ipam, cni);
    } catch (err) {
      if (!(err instanceof CniError)) throw err;
      warnings.push(`${cni.command} goes on without the address settings: ${err.message}`);
      addressing = NO_ADDRESSING;
    }
  }
  return {
    cniVersion,
    name,
    ipam: {
      network: name,
      ...connection,
      ranges: addressing.ranges,
      pools: addressing.pools,
      routes: addressing.routes,
      dns: addressing.dns,
    },
    requestedIps: addressing.requestedIps,
    prevResult: raw.prevResult,
    validAttachments: cni.command === 'GC' ? parseValidAttachments(raw) : [],
    warnings,
  };
}
