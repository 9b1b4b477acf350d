// One invocation of the netcd-ipam CNI plugin: env and stdin in, a result or an error JSON on stdout,
// an exit code out. The command comes from CNI_COMMAND only (never from the program's name, so the
// plugin works under any file name or symlink). Every command that talks to netcd runs under one
// deadline (ipam.commandTimeoutMs); past it the runtime gets code 11 and retries.

import {
  contains,
  formatInterface,
  formatIp,
  type InterfaceAddress,
  parseCidr,
  parseInterface,
  parseIp,
  parseOrNull,
} from '../ipam/cidr.js';
import type {
  AllocatedAddress,
  AllocateRequest,
  AttachmentHandle,
  CniAllocator,
  CniAllocatorFactory,
} from './allocator.js';
import {
  decodeConfig,
  type HostAccess,
  type NetworkConfig,
  parseNetworkConfig,
  realHost,
  replyVersionOf,
} from './config.js';
import { type CniEnv, type EnvSource, parseCniEnv } from './env.js';
import { CNI_ERROR_CODES, CniError, errorJson, toCniError } from './errors.js';
import { invalidConfig, isObject } from './fields.js';
import { prevResultAddresses, resultJson, versionJson } from './result.js';
import { CURRENT_VERSION } from './version.js';

/** The logging the plugin does; a pino logger fits. Never stdout: stdout carries the result. */
export interface PluginLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface PluginOptions {
  readonly env: EnvSource;
  /** Reads all of stdin; a rejection is reported as code 5 (I/O failure). */
  readonly readStdin: () => Promise<string>;
  readonly stdout: { write(text: string): unknown };
  readonly allocatorFactory: CniAllocatorFactory;
  /** Default: no logging. */
  readonly log?: PluginLog;
  /** Default: the real host name and file system. */
  readonly host?: HostAccess;
}

const SILENT: PluginLog = { info() {}, warn() {}, error() {} };

/** How long closing the allocator may take after the command; it cannot change the outcome. */
export const CLOSE_TIMEOUT_MS = 1_000;

/** Runs one command and returns the process exit code (0 on success, 1 after an error JSON). */
export async function runPlugin(options: PluginOptions): Promise<number> {
  const log = options.log ?? SILENT;
  let replyVersion = CURRENT_VERSION;
  let command = '';
  try {
    const cni = parseCniEnv(options.env);
    command = cni.command;
    if (cni.command === 'VERSION') {
      options.stdout.write(`${JSON.stringify(versionJson(await versionAskedFor(options.readStdin)))}\n`);
      return 0;
    }
    let stdin: string;
    try {
      stdin = await options.readStdin();
    } catch (err) {
      throw new CniError(CNI_ERROR_CODES.IO_FAILURE, 'reading network config from stdin', messageOf(err));
    }
    const raw = decodeConfig(stdin);
    replyVersion = replyVersionOf(raw);
    const config = parseNetworkConfig(raw, cni, { env: options.env, host: options.host ?? realHost });
    for (const warning of config.warnings) log.warn({ command }, warning);
    const output = await execute(cni, config, options.allocatorFactory, log);
    if (output !== null) options.stdout.write(output);
    return 0;
  } catch (err) {
    const error = toCniError(err);
    log.error(
      {
        command,
        code: error.code,
        details: error.details,
        ...(error.code === CNI_ERROR_CODES.INTERNAL ? { err } : {}),
      },
      error.message,
    );
    options.stdout.write(errorJson(replyVersion, error));
    return 1;
  }
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** VERSION answers in the version the caller spoke (stdin's cniVersion), else the current one. */
async function versionAskedFor(readStdin: () => Promise<string>): Promise<string> {
  try {
    const parsed: unknown = JSON.parse(await readStdin());
    if (isObject(parsed) && typeof parsed.cniVersion === 'string' && parsed.cniVersion !== '')
      return parsed.cniVersion;
  } catch {
    // VERSION needs no config; a missing or broken one is no reason to fail.
  }
  return CURRENT_VERSION;
}

type Command = Exclude<CniEnv['command'], 'VERSION'>;

async function execute(
  cni: CniEnv,
  config: NetworkConfig,
  factory: CniAllocatorFactory,
  log: PluginLog,
): Promise<string | null> {
  const command = cni.command as Command;
  const handle: AttachmentHandle = { network: config.name, containerId: cni.containerId, ifname: cni.ifname };
  const timeoutMs = config.ipam.commandTimeoutMs;
  const run = (work: (allocator: CniAllocator, signal: AbortSignal) => Promise<string | null>) =>
    withAllocator(factory, config, timeoutMs, command, log, work);
  switch (command) {
    case 'ADD':
      return run(async (allocator, signal) => {
        const request: AllocateRequest = {
          handle,
          node: config.ipam.nodeName,
          ranges: config.ipam.ranges,
          pools: config.ipam.pools,
          requestedIps: config.requestedIps,
        };
        const ips = checkAllocation(request, await allocator.allocate(request, signal));
        const result = resultJson(
          { ips, routes: config.ipam.routes, dns: config.ipam.dns },
          config.cniVersion,
        );
        return `${JSON.stringify(result)}\n`;
      });
    case 'DEL':
      return run(async (allocator, signal) => {
        await allocator.release(handle, signal);
        return null;
      });
    case 'CHECK': {
      if (config.prevResult === undefined)
        throw invalidConfig('CHECK needs prevResult (the result of the ADD)');
      const expected = prevResultAddresses(config.prevResult);
      return run(async (allocator, signal) => {
        compareWithPrevResult(handle, expected, await allocator.check(handle, signal));
        return null;
      });
    }
    case 'GC': {
      const valid = config.validAttachments.map((a) => ({ network: config.name, ...a }));
      return run(async (allocator, signal) => {
        const released = await allocator.gc(config.name, valid, signal);
        log.info({ network: config.name, valid: valid.length, released }, 'gc released stale addresses');
        return null;
      });
    }
    case 'STATUS':
      try {
        return await run(async (allocator, signal) => {
          await allocator.status(signal);
          return null;
        });
      } catch (err) {
        // STATUS speaks in its own codes: whatever keeps ADD from working is "not available".
        const cause = toCniError(err);
        throw new CniError(CNI_ERROR_CODES.NOT_AVAILABLE, cause.message, cause.details, { cause });
      }
  }
}

/**
 * Creates the allocator, runs `work` with it under the command's deadline, and closes it. The race
 * with the deadline does not rely on the allocator honouring the signal: a stuck call cannot hold the
 * runtime past `timeoutMs`.
 */
async function withAllocator(
  factory: CniAllocatorFactory,
  config: NetworkConfig,
  timeoutMs: number,
  command: Command,
  log: PluginLog,
  work: (allocator: CniAllocator, signal: AbortSignal) => Promise<string | null>,
): Promise<string | null> {
  // Not AbortSignal.timeout: its timer is unref'd, so a call stuck without open handles would let the
  // process end with no answer at all. This timer keeps the process alive until the deadline speaks.
  const controller = new AbortController();
  const deadline = setTimeout(
    () => controller.abort(new DOMException(`${command} deadline of ${timeoutMs} ms passed`, 'TimeoutError')),
    timeoutMs,
  );
  const signal = controller.signal;
  const held: { allocator?: CniAllocator; finished: boolean } = { finished: false };
  const timedOut = () =>
    new CniError(
      CNI_ERROR_CODES.TRY_AGAIN_LATER,
      `${command} did not finish within ${timeoutMs} ms`,
      'netcd did not answer in time; the runtime should retry (ipam.commandTimeoutMs sets the deadline)',
    );
  try {
    return await new Promise<string | null>((resolve, reject) => {
      const onAbort = () => reject(timedOut());
      signal.addEventListener('abort', onAbort, { once: true });
      (async () => {
        const allocator = await factory(config.ipam, signal);
        if (held.finished) {
          // The deadline passed while the allocator was being built: nobody else will close it.
          void closeQuietly(allocator, log);
          return null;
        }
        held.allocator = allocator;
        return work(allocator, signal);
      })()
        .then(resolve, (err: unknown) => reject(signal.aborted ? timedOut() : err))
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  } finally {
    clearTimeout(deadline);
    held.finished = true;
    if (held.allocator !== undefined) await closeQuietly(held.allocator, log);
  }
}

async function closeQuietly(allocator: CniAllocator, log: PluginLog): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      allocator.close(),
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`close took longer than ${CLOSE_TIMEOUT_MS} ms`)),
          CLOSE_TIMEOUT_MS,
        );
        timer.unref();
      }),
    ]);
  } catch (err) {
    log.warn({ err: messageOf(err) }, 'closing the IPAM allocator failed');
  } finally {
    clearTimeout(timer);
  }
}

const contractBroken = (what: string) =>
  new CniError(CNI_ERROR_CODES.INTERNAL, `IPAM allocator broke its contract: ${what}`);

/** Asserts what CniAllocator.allocate promises, and returns the addresses in canonical text. */
export function checkAllocation(
  request: AllocateRequest,
  ips: readonly AllocatedAddress[],
): AllocatedAddress[] {
  const expected = request.ranges.length + request.pools.length;
  if (ips.length !== expected)
    throw contractBroken(`${ips.length} addresses for ${expected} range sets and pools`);
  const canonical = ips.map((ip, i) => {
    const address = parseOrNull(parseInterface, ip.address);
    if (address === null || address.family !== ip.version)
      throw contractBroken(`address ${i} ${JSON.stringify(ip.address)} is not an IPv${ip.version} CIDR`);
    const set = request.ranges[i];
    if (set !== undefined) {
      const inSet = set.some((range) => {
        const subnet = parseOrNull(parseCidr, range.subnet);
        return (
          subnet !== null &&
          subnet.prefix === address.cidr.prefix &&
          contains(subnet, address.family, address.value)
        );
      });
      if (!inSet) throw contractBroken(`${ip.address} is not in range set ${i}`);
    }
    const gateway = ip.gateway === undefined ? undefined : parseOrNull(parseIp, ip.gateway);
    if (gateway === null) throw contractBroken(`gateway ${JSON.stringify(ip.gateway)} is not an address`);
    return {
      address: formatInterface(address),
      version: ip.version,
      ...(gateway === undefined ? {} : { gateway: formatIp(gateway.family, gateway.value) }),
    };
  });
  for (const wanted of request.requestedIps)
    if (!canonical.some((ip) => ip.address.startsWith(`${wanted}/`)))
      throw contractBroken(`requested IP ${wanted} was not allocated`);
  return canonical;
}

const sameAddress = (a: InterfaceAddress, b: InterfaceAddress) =>
  a.family === b.family && a.value === b.value && a.cidr.prefix === b.cidr.prefix;

function compareWithPrevResult(
  handle: AttachmentHandle,
  expected: readonly InterfaceAddress[],
  held: AllocatedAddress[] | null,
) {
  const who = `container ${handle.containerId} interface ${handle.ifname} in network ${handle.network}`;
  const mismatch = (message: string) => new CniError(CNI_ERROR_CODES.CHECK_MISMATCH, message);
  if (held === null || held.length === 0) throw mismatch(`netcd holds no address for ${who}`);
  const heldAddresses = held.map((ip) => {
    const address = parseOrNull(parseInterface, ip.address);
    if (address === null) throw contractBroken(`check returned ${JSON.stringify(ip.address)}, not a CIDR`);
    return address;
  });
  for (const h of heldAddresses)
    if (!expected.some((e) => sameAddress(e, h)))
      throw mismatch(`netcd holds ${formatInterface(h)} for ${who} but prevResult does not list it`);
  // prevResult may list addresses from other plugins; only those in one of our subnets are ours to judge.
  for (const e of expected) {
    const rival = heldAddresses.find((h) => !sameAddress(h, e) && contains(h.cidr, e.family, e.value));
    if (rival !== undefined && !heldAddresses.some((h) => sameAddress(h, e)))
      throw mismatch(
        `prevResult lists ${formatInterface(e)} but netcd holds ${formatInterface(rival)} in that subnet for ${who}`,
      );
  }
}
