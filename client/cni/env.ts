// The CNI_* environment of one invocation, checked against the spec's per-command rules (which
// variables each command requires, what a container id and an interface name may look like), and the
// CNI_ARGS convention (semicolon-separated KEY=VALUE; unknown keys are an error unless IgnoreUnknown).
// Every failure is CNI code 4 and names the variables at fault.

import { CNI_ERROR_CODES, CniError } from './errors.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type CniCommand = (typeof COMMANDS)[number];

export interface CniEnv {
  readonly command: CniCommand;
  /** Empty for GC, STATUS and VERSION, which are not about one attachment. */
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  /** CNI_ARGS as given ('' when unset). */
  readonly args: string;
  readonly path: string;
}

export type EnvSource = Readonly<Record<string, string | undefined>>;

/** The order variables are listed in messages. */
const VARIABLES = [
  'CNI_COMMAND',
  'CNI_CONTAINERID',
  'CNI_NETNS',
  'CNI_IFNAME',
  'CNI_ARGS',
  'CNI_PATH',
] as const;

/** Spec 1.1 section 2, "Required environment parameters" of each command (CNI_COMMAND always). */
const REQUIRED: Record<CniCommand, ReadonlySet<string>> = {
  ADD: new Set(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME']),
  CHECK: new Set(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME']),
  DEL: new Set(['CNI_CONTAINERID', 'CNI_IFNAME']),
  GC: new Set(['CNI_PATH']),
  STATUS: new Set(),
  VERSION: new Set(),
};

/** Container ids name keys in netcd; runtimes use 64 hex digits, this leaves room for any scheme. */
export const MAX_CONTAINER_ID_LENGTH = 256;
/** Linux IFNAMSIZ is 16 including the terminating NUL. */
const MAX_IFNAME_LENGTH = 15;
/** Network names and container ids: the spec's "alphanumeric, then alphanumerics, _ . -". */
export const CNI_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const invalidEnv = (message: string, details = '') =>
  new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, message, details);

function validateContainerId(id: string): void {
  if (!CNI_NAME.test(id)) throw invalidEnv('invalid characters in CNI_CONTAINERID', id);
  if (id.length > MAX_CONTAINER_ID_LENGTH)
    throw invalidEnv(`CNI_CONTAINERID is longer than ${MAX_CONTAINER_ID_LENGTH} characters`);
}

function validateIfname(name: string): void {
  if (name.length > MAX_IFNAME_LENGTH)
    throw invalidEnv(
      'CNI_IFNAME is too long',
      `interface names have at most ${MAX_IFNAME_LENGTH} characters`,
    );
  if (name === '.' || name === '..') throw invalidEnv('CNI_IFNAME is . or ..');
  if (/[/:\s]/.test(name)) throw invalidEnv('CNI_IFNAME contains / or : or whitespace', name);
}

export function parseCniEnv(env: EnvSource): CniEnv {
  const value = (name: string) => env[name] ?? '';
  const command = value('CNI_COMMAND');
  if (command === '') throw invalidEnv('required env variables [CNI_COMMAND] missing');
  if (!(COMMANDS as readonly string[]).includes(command)) throw invalidEnv(`unknown CNI_COMMAND: ${command}`);
  const cmd = command as CniCommand;
  const required = REQUIRED[cmd];
  const missing = VARIABLES.filter((name) => required.has(name) && value(name) === '');
  if (missing.length > 0) throw invalidEnv(`required env variables [${missing.join(',')}] missing`);
  // Only the attachment commands use the container id and interface name, so only they check them.
  if (required.has('CNI_CONTAINERID')) {
    validateContainerId(value('CNI_CONTAINERID'));
    validateIfname(value('CNI_IFNAME'));
  }
  return {
    command: cmd,
    containerId: value('CNI_CONTAINERID'),
    netns: value('CNI_NETNS'),
    ifname: value('CNI_IFNAME'),
    args: value('CNI_ARGS'),
    path: value('CNI_PATH'),
  };
}

/** The CNI_ARGS keys the plugin understands. Case-sensitive, as in libcni. */
const KNOWN_ARGS = new Set(['IP', 'IgnoreUnknown']);

/**
 * The address requested with CNI_ARGS `IP=<ip>[/<prefix>]`, or null. Throws code 4 for a malformed
 * pair, an IgnoreUnknown that is not a boolean, or unknown keys without IgnoreUnknown=1.
 */
export function requestedIpFromCniArgs(args: string): string | null {
  const pairs = new Map<string, string>();
  for (const pair of args.split(';')) {
    if (pair === '') continue; // a trailing ";" is harmless
    const parts = pair.split('=');
    if (parts.length !== 2) throw invalidEnv(`CNI_ARGS: invalid pair ${JSON.stringify(pair)}`);
    pairs.set(parts[0] ?? '', parts[1] ?? '');
  }
  const ignore = pairs.get('IgnoreUnknown')?.toLowerCase();
  if (ignore !== undefined && !['1', 'true', '0', 'false'].includes(ignore))
    throw invalidEnv(`CNI_ARGS: IgnoreUnknown must be 1, true, 0 or false, not ${JSON.stringify(ignore)}`);
  const unknown = [...pairs.keys()].filter((key) => !KNOWN_ARGS.has(key));
  if (unknown.length > 0 && ignore !== '1' && ignore !== 'true')
    throw invalidEnv(`CNI_ARGS: unknown keys ${unknown.join(',')} (add IgnoreUnknown=1 to ignore them)`);
  return pairs.get('IP') ?? null;
}
