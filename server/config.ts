// The daemon's configuration: etcd 3.4's flags with etcd's meanings and defaults, each also settable
// through a NETCD_<FLAG> environment variable (a flag wins over its variable). Parsing either yields a
// fully validated, immutable Config or throws a ConfigError whose message is one line naming the flag.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Command, CommanderError, Option } from 'commander';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** A URL reduced to what netcd uses of it; `url` is the canonical `scheme://host:port` form. */
export interface ParsedURL {
  readonly url: string;
  readonly scheme: 'http' | 'https';
  /** Host name or IP address, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
}

export interface InitialMember {
  readonly name: string;
  /** Canonical URLs, in the order given. */
  readonly peerURLs: readonly string[];
}

export type CompactionRetention =
  | { readonly kind: 'off' }
  | { readonly kind: 'periodic'; readonly ms: number }
  | { readonly kind: 'revision'; readonly revisions: number };

export type CompactionMode = 'periodic' | 'revision';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type ClusterState = 'new' | 'existing';

/** TLS files as given; netcd does not serve TLS yet, the daemon decides what to do when they are set. */
export interface TlsFiles {
  readonly certFile: string | null;
  readonly keyFile: string | null;
  readonly trustedCaFile: string | null;
  readonly clientCertAuth: boolean;
}

export interface Config {
  readonly name: string;
  readonly dataDir: string;
  /** null: the raft log lives inside dataDir. */
  readonly walDir: string | null;
  readonly listenClientUrls: readonly ParsedURL[];
  readonly advertiseClientUrls: readonly ParsedURL[];
  readonly listenPeerUrls: readonly ParsedURL[];
  readonly initialAdvertisePeerUrls: readonly ParsedURL[];
  readonly initialCluster: readonly InitialMember[];
  readonly initialClusterState: ClusterState;
  readonly initialClusterToken: string;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly snapshotCount: number;
  /** Raft log entries kept behind each snapshot so a lagging follower can catch up without one. */
  readonly snapshotCatchUpEntries: number;
  /** Always the effective quota: the flag's 0 is resolved to the 2 GiB default. */
  readonly quotaBackendBytes: number;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly autoCompaction: { readonly mode: CompactionMode; readonly retention: CompactionRetention };
  readonly listenMetricsUrls: readonly ParsedURL[];
  readonly logLevel: LogLevel;
  /** 0 = keep all. */
  readonly maxSnapshots: number;
  /** 0 = keep all. */
  readonly maxWals: number;
  readonly strictReconfigCheck: boolean;
  readonly preVote: boolean;
  /** 0 = never compare hashes between members. */
  readonly corruptCheckIntervalMs: number;
  readonly clientTls: TlsFiles;
  readonly peerTls: TlsFiles;
  /** NETCD_* variables in the environment that match no flag (the daemon logs a warning for each). */
  readonly unrecognizedEnv: readonly string[];
}

/** The etcd API version netcd speaks (reported by /version and Maintenance.Status). */
export const ETCD_API_VERSION = '3.4.0';

/** Defaults of the flags, in Config's units. data-dir and initial-cluster derive from --name. */
export const DEFAULTS = Object.freeze({
  name: 'default',
  dataDirSuffix: '.netcd',
  listenClientUrls: 'http://127.0.0.1:2379',
  advertiseClientUrls: 'http://127.0.0.1:2379',
  listenPeerUrls: 'http://127.0.0.1:2380',
  initialAdvertisePeerUrls: 'http://127.0.0.1:2380',
  initialClusterState: 'new' as ClusterState,
  initialClusterToken: 'etcd-cluster',
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
  snapshotCount: 100_000,
  snapshotCatchUpEntries: 5000,
  /** What --quota-backend-bytes=0 means. */
  quotaBackendBytes: 2 * 1024 ** 3,
  maxRequestBytes: 1_572_864,
  maxTxnOps: 128,
  autoCompactionMode: 'periodic' as CompactionMode,
  autoCompactionRetention: '0',
  logLevel: 'info' as LogLevel,
  maxSnapshots: 5,
  maxWals: 5,
  strictReconfigCheck: true,
  preVote: true,
  corruptCheckInterval: '5m',
});

/** etcd's upper bound on --election-timeout. */
export const MAX_ELECTION_TIMEOUT_MS = 50_000;
/** etcd's rule: an election timeout of at least this many heartbeats. */
export const MIN_ELECTION_HEARTBEATS = 5;

export const NETCD_VERSION = readPackageVersion();

export function envVarOf(flag: string): string {
  return 'NETCD_' + flag.toUpperCase().replaceAll('-', '_');
}

/** How --version and --help leave; tests replace both. */
export interface ConfigIO {
  readonly writeOut: (text: string) => void;
  readonly exit: (code: number) => never;
}

const PROCESS_IO: ConfigIO = {
  writeOut: (text) => process.stdout.write(text),
  exit: (code) => process.exit(code),
};

interface FlagSpec {
  readonly long: string;
  /** Commander's argument placeholder: `<x>` required, `[bool]` optional boolean. */
  readonly arg: string;
  readonly help: string;
  /** Shown in --help; flags without one have no default. */
  readonly shown?: string | boolean;
  readonly group: string;
}

const MEMBER = 'Member:';
const CLUSTER = 'Clustering:';
const SECURITY = 'Security (parsed; serving TLS is not implemented yet):';
const LOGGING = 'Logging:';
const UNSUPPORTED = 'Not supported (an error when enabled):';

const FLAGS: readonly FlagSpec[] = [
  {
    long: 'name',
    arg: '<name>',
    help: 'human-readable name of this member',
    shown: DEFAULTS.name,
    group: MEMBER,
  },
  {
    long: 'data-dir',
    arg: '<path>',
    help: 'directory holding the member data',
    shown: '<name>' + DEFAULTS.dataDirSuffix,
    group: MEMBER,
  },
  { long: 'wal-dir', arg: '<path>', help: 'separate directory for the raft log', group: MEMBER },
  {
    long: 'snapshot-count',
    arg: '<n>',
    help: 'committed entries between two snapshots (the raft log is truncated after each)',
    shown: String(DEFAULTS.snapshotCount),
    group: MEMBER,
  },
  {
    long: 'experimental-snapshot-catchup-entries',
    arg: '<n>',
    help: 'raft log entries kept behind a snapshot for slow followers (etcd 3.5 flag)',
    shown: String(DEFAULTS.snapshotCatchUpEntries),
    group: MEMBER,
  },
  {
    long: 'heartbeat-interval',
    arg: '<ms>',
    help: 'time between leader heartbeats, in milliseconds',
    shown: String(DEFAULTS.heartbeatIntervalMs),
    group: MEMBER,
  },
  {
    long: 'election-timeout',
    arg: '<ms>',
    help: `time without a leader before a member campaigns, in milliseconds (>= ${MIN_ELECTION_HEARTBEATS} heartbeats, <= ${MAX_ELECTION_TIMEOUT_MS})`,
    shown: String(DEFAULTS.electionTimeoutMs),
    group: MEMBER,
  },
  {
    long: 'listen-peer-urls',
    arg: '<urls>',
    help: 'comma-separated URLs to listen on for peer traffic (IP addresses or localhost)',
    shown: DEFAULTS.listenPeerUrls,
    group: MEMBER,
  },
  {
    long: 'listen-client-urls',
    arg: '<urls>',
    help: 'comma-separated URLs to listen on for clients: gRPC plus /health, /metrics, /version',
    shown: DEFAULTS.listenClientUrls,
    group: MEMBER,
  },
  {
    long: 'listen-metrics-urls',
    arg: '<urls>',
    help: 'comma-separated URLs serving only /health, /metrics and /version',
    group: MEMBER,
  },
  {
    long: 'max-snapshots',
    arg: '<n>',
    help: 'snapshot files to keep (0 = all)',
    shown: String(DEFAULTS.maxSnapshots),
    group: MEMBER,
  },
  {
    long: 'max-wals',
    arg: '<n>',
    help: 'raft log files to keep (0 = all)',
    shown: String(DEFAULTS.maxWals),
    group: MEMBER,
  },
  {
    long: 'quota-backend-bytes',
    arg: '<bytes>',
    help: 'size at which the store raises the NOSPACE alarm (0 = 2 GiB)',
    shown: '0',
    group: MEMBER,
  },
  {
    long: 'max-request-bytes',
    arg: '<bytes>',
    help: 'largest client request accepted',
    shown: String(DEFAULTS.maxRequestBytes),
    group: MEMBER,
  },
  {
    long: 'max-txn-ops',
    arg: '<n>',
    help: 'most operations in one transaction',
    shown: String(DEFAULTS.maxTxnOps),
    group: MEMBER,
  },
  {
    long: 'corrupt-check-interval',
    arg: '<duration>',
    help: 'how often members compare store hashes, e.g. 5m or 30s (0 = never)',
    shown: DEFAULTS.corruptCheckInterval,
    group: MEMBER,
  },
  {
    long: 'pre-vote',
    arg: '[bool]',
    help: 'run a pre-vote round before an election',
    shown: DEFAULTS.preVote,
    group: MEMBER,
  },
  {
    long: 'initial-advertise-peer-urls',
    arg: '<urls>',
    help: "this member's peer URLs, announced to the rest of the cluster",
    shown: DEFAULTS.initialAdvertisePeerUrls,
    group: CLUSTER,
  },
  {
    long: 'initial-cluster',
    arg: '<name=url,...>',
    help: 'every member of the cluster at bootstrap',
    shown: '<name>=<initial-advertise-peer-urls>',
    group: CLUSTER,
  },
  {
    long: 'initial-cluster-state',
    arg: '<new|existing>',
    help: 'new to bootstrap a cluster, existing to join one',
    shown: DEFAULTS.initialClusterState,
    group: CLUSTER,
  },
  {
    long: 'initial-cluster-token',
    arg: '<token>',
    help: 'cluster token; members of clusters with another token are strangers',
    shown: DEFAULTS.initialClusterToken,
    group: CLUSTER,
  },
  {
    long: 'advertise-client-urls',
    arg: '<urls>',
    help: "this member's client URLs, announced to the rest of the cluster (required with --listen-client-urls)",
    shown: DEFAULTS.advertiseClientUrls,
    group: CLUSTER,
  },
  {
    long: 'strict-reconfig-check',
    arg: '[bool]',
    help: 'refuse membership changes that would leave the cluster without quorum',
    shown: DEFAULTS.strictReconfigCheck,
    group: CLUSTER,
  },
  {
    long: 'auto-compaction-mode',
    arg: '<periodic|revision>',
    help: 'how --auto-compaction-retention is read',
    shown: DEFAULTS.autoCompactionMode,
    group: CLUSTER,
  },
  {
    long: 'auto-compaction-retention',
    arg: '<value>',
    help: 'history to keep: periodic takes a duration (1h, 30m) or hours (2); revision takes revisions (0 = off)',
    shown: DEFAULTS.autoCompactionRetention,
    group: CLUSTER,
  },
  { long: 'cert-file', arg: '<path>', help: 'client server TLS certificate', group: SECURITY },
  { long: 'key-file', arg: '<path>', help: 'client server TLS key', group: SECURITY },
  { long: 'trusted-ca-file', arg: '<path>', help: 'CA for client certificates', group: SECURITY },
  {
    long: 'client-cert-auth',
    arg: '[bool]',
    help: 'require client certificates',
    shown: false,
    group: SECURITY,
  },
  { long: 'peer-cert-file', arg: '<path>', help: 'peer TLS certificate', group: SECURITY },
  { long: 'peer-key-file', arg: '<path>', help: 'peer TLS key', group: SECURITY },
  { long: 'peer-trusted-ca-file', arg: '<path>', help: 'CA for peer certificates', group: SECURITY },
  {
    long: 'peer-client-cert-auth',
    arg: '[bool]',
    help: 'require peer certificates',
    shown: false,
    group: SECURITY,
  },
  {
    long: 'log-level',
    arg: '<debug|info|warn|error>',
    help: 'least severe level logged',
    shown: DEFAULTS.logLevel,
    group: LOGGING,
  },
  {
    long: 'logger',
    arg: '<name>',
    help: 'accepted for etcd compatibility and ignored: netcd always logs JSON lines',
    group: LOGGING,
  },
  {
    long: 'log-outputs',
    arg: '<targets>',
    help: 'accepted for etcd compatibility and ignored: logs go to stderr',
    group: LOGGING,
  },
  { long: 'enable-v2', arg: '[bool]', help: 'the etcd v2 API', shown: false, group: UNSUPPORTED },
  {
    long: 'force-new-cluster',
    arg: '[bool]',
    help: 'restart as a one-member cluster',
    shown: false,
    group: UNSUPPORTED,
  },
];

const FLAG_NAMES = new Set(FLAGS.map((f) => f.long));
const FLAG_ENV_VARS = new Set(FLAGS.map((f) => envVarOf(f.long)));

/**
 * Parses `argv` (the arguments after the executable) and `env` into a validated Config.
 * --help and --version write to `io.writeOut` and call `io.exit(0)`.
 */
export function parseConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: ConfigIO = PROCESS_IO,
): Config {
  const program = buildProgram(io);
  try {
    program.parse(argv.map(normalizeSingleDash), { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return io.exit(0);
      throw new ConfigError(
        e.message
          .replace(/^error: /, '')
          .replaceAll('\n', ' ')
          .trim(),
      );
    }
    throw e;
  }
  const extra = program.args[0];
  if (extra !== undefined) throw new ConfigError(`unexpected argument '${extra}': netcd takes only flags`);
  return resolve(new Values(program, env));
}

/** Go's flag package accepts `-name x` as well as `--name x`; etcd users rely on both. */
function normalizeSingleDash(arg: string): string {
  const m = /^-([a-z][a-z0-9-]+)(=.*)?$/s.exec(arg);
  return m !== null && FLAG_NAMES.has(m[1] ?? '') ? '-' + arg : arg;
}

function buildProgram(io: ConfigIO): Command {
  const program = new Command('netcd')
    .description('A Raft key-value store with the etcd v3 API.')
    .exitOverride()
    .configureOutput({ writeOut: io.writeOut, writeErr: () => {}, outputError: () => {} })
    .configureHelp({ sortOptions: false })
    .allowExcessArguments(true)
    .helpOption('-h, --help', 'print this help and exit')
    .version(versionText(), '--version', 'print the version and exit')
    .addHelpText(
      'after',
      '\nEvery flag can also be set with an environment variable NETCD_<FLAG>, e.g. NETCD_INITIAL_CLUSTER;\n' +
        'a flag wins over its variable.',
    );
  for (const f of FLAGS) {
    const option = new Option(`--${f.long} ${f.arg}`, f.help).helpGroup(f.group);
    if (f.shown !== undefined) option.default(f.shown, String(f.shown));
    program.addOption(option);
  }
  return program;
}

function versionText(): string {
  return [
    `netcd Version: ${NETCD_VERSION}`,
    `etcd API Version: ${ETCD_API_VERSION}`,
    `Node Version: ${process.version}`,
    `OS/Arch: ${process.platform}/${process.arch}`,
  ].join('\n');
}

/** The raw text of each flag: the command line first, then the environment; empty variables count as unset. */
class Values {
  readonly #program: Command;
  readonly #env: NodeJS.ProcessEnv;
  constructor(program: Command, env: NodeJS.ProcessEnv) {
    this.#program = program;
    this.#env = env;
  }

  /** The text given for `flag`, or undefined when neither the command line nor the environment sets it. */
  given(flag: string): string | undefined {
    const key = camelCase(flag);
    if (this.#program.getOptionValueSource(key) === 'cli') {
      const value: unknown = this.#program.getOptionValue(key);
      return String(value);
    }
    const fromEnv = this.#env[envVarOf(flag)];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  }

  unrecognizedEnv(): string[] {
    return Object.keys(this.#env)
      .filter((k) => k.startsWith('NETCD_') && !FLAG_ENV_VARS.has(k))
      .sort();
  }
}

function camelCase(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function resolve(v: Values): Config {
  if (bool(v, 'enable-v2', false)) throw new ConfigError('--enable-v2: v2 API is not supported');
  if (bool(v, 'force-new-cluster', false)) throw new ConfigError('--force-new-cluster: not supported');

  const name = v.given('name') ?? DEFAULTS.name;
  if (name === '') throw new ConfigError('--name: must not be empty');

  const listenClientUrls = urlList(v, 'listen-client-urls', DEFAULTS.listenClientUrls, true);
  if (v.given('listen-client-urls') !== undefined && v.given('advertise-client-urls') === undefined)
    throw new ConfigError('--advertise-client-urls must be set when --listen-client-urls is');
  const advertiseClientUrls = urlList(v, 'advertise-client-urls', DEFAULTS.advertiseClientUrls, false);
  const listenPeerUrls = urlList(v, 'listen-peer-urls', DEFAULTS.listenPeerUrls, true);
  const initialAdvertisePeerUrls = urlList(
    v,
    'initial-advertise-peer-urls',
    DEFAULTS.initialAdvertisePeerUrls,
    false,
  );
  const listenMetricsGiven = v.given('listen-metrics-urls');
  const listenMetricsUrls =
    listenMetricsGiven === undefined ? [] : parseUrlList('--listen-metrics-urls', listenMetricsGiven, true);

  const initialClusterState = choice(
    v,
    'initial-cluster-state',
    ['new', 'existing'],
    DEFAULTS.initialClusterState,
  );
  const initialCluster = resolveInitialCluster(v, name, initialAdvertisePeerUrls, initialClusterState);
  const initialClusterToken = v.given('initial-cluster-token') ?? DEFAULTS.initialClusterToken;
  if (initialClusterToken === '') throw new ConfigError('--initial-cluster-token: must not be empty');

  const heartbeatIntervalMs = int(v, 'heartbeat-interval', DEFAULTS.heartbeatIntervalMs, 1);
  const electionTimeoutMs = int(v, 'election-timeout', DEFAULTS.electionTimeoutMs, 1);
  if (electionTimeoutMs < MIN_ELECTION_HEARTBEATS * heartbeatIntervalMs)
    throw new ConfigError(
      `--election-timeout: ${electionTimeoutMs} ms is less than ${MIN_ELECTION_HEARTBEATS} × --heartbeat-interval (${heartbeatIntervalMs} ms)`,
    );
  if (electionTimeoutMs > MAX_ELECTION_TIMEOUT_MS)
    throw new ConfigError(
      `--election-timeout: ${electionTimeoutMs} ms is more than the maximum of ${MAX_ELECTION_TIMEOUT_MS} ms`,
    );

  const quotaFlag = int(v, 'quota-backend-bytes', 0, 0);
  const mode = choice(v, 'auto-compaction-mode', ['periodic', 'revision'], DEFAULTS.autoCompactionMode);
  const retention = parseRetention(
    mode,
    v.given('auto-compaction-retention') ?? DEFAULTS.autoCompactionRetention,
  );
  const logLevel = choice(v, 'log-level', ['debug', 'info', 'warn', 'error'], DEFAULTS.logLevel);

  return {
    name,
    dataDir: v.given('data-dir') ?? name + DEFAULTS.dataDirSuffix,
    walDir: v.given('wal-dir') ?? null,
    listenClientUrls,
    advertiseClientUrls,
    listenPeerUrls,
    initialAdvertisePeerUrls,
    initialCluster,
    initialClusterState,
    initialClusterToken,
    heartbeatIntervalMs,
    electionTimeoutMs,
    snapshotCount: int(v, 'snapshot-count', DEFAULTS.snapshotCount, 1),
    snapshotCatchUpEntries: int(
      v,
      'experimental-snapshot-catchup-entries',
      DEFAULTS.snapshotCatchUpEntries,
      1,
    ),
    quotaBackendBytes: quotaFlag === 0 ? DEFAULTS.quotaBackendBytes : quotaFlag,
    maxRequestBytes: int(v, 'max-request-bytes', DEFAULTS.maxRequestBytes, 1),
    maxTxnOps: int(v, 'max-txn-ops', DEFAULTS.maxTxnOps, 1),
    autoCompaction: { mode, retention },
    listenMetricsUrls,
    logLevel,
    maxSnapshots: int(v, 'max-snapshots', DEFAULTS.maxSnapshots, 0),
    maxWals: int(v, 'max-wals', DEFAULTS.maxWals, 0),
    strictReconfigCheck: bool(v, 'strict-reconfig-check', DEFAULTS.strictReconfigCheck),
    preVote: bool(v, 'pre-vote', DEFAULTS.preVote),
    corruptCheckIntervalMs: durationMs(
      '--corrupt-check-interval',
      v.given('corrupt-check-interval') ?? DEFAULTS.corruptCheckInterval,
      'like 5m or 30s',
    ),
    clientTls: tlsFiles(v, ''),
    peerTls: tlsFiles(v, 'peer-'),
    unrecognizedEnv: v.unrecognizedEnv(),
  };
}

function resolveInitialCluster(
  v: Values,
  name: string,
  advertised: readonly ParsedURL[],
  state: ClusterState,
): InitialMember[] {
  const given = v.given('initial-cluster');
  const members =
    given === undefined ? [{ name, peerURLs: advertised.map((u) => u.url) }] : parseInitialCluster(given);
  const self = members.find((m) => m.name === name);
  if (self === undefined) throw new ConfigError(`--initial-cluster has no entry for --name=${name}`);
  if (state === 'new') {
    const mine = advertised.map((u) => u.url);
    if (!sameSet(self.peerURLs, mine))
      throw new ConfigError(
        `--initial-cluster has ${self.peerURLs.map((u) => `${name}=${u}`).join(',')} but --initial-advertise-peer-urls is ${mine.join(',')}`,
      );
  }
  return members;
}

/** "a=http://x:1,a=http://y:1,b=http://z:1": a name may repeat to give a member several URLs. */
function parseInitialCluster(text: string): InitialMember[] {
  const flag = '--initial-cluster';
  const byName = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const entry of text.split(',')) {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq).trim();
    if (eq < 0 || name === '') throw new ConfigError(`${flag}: '${entry}' is not name=URL`);
    const url = parseUrl(flag, entry.slice(eq + 1).trim(), false).url;
    if (seen.has(url)) throw new ConfigError(`${flag}: ${url} appears more than once`);
    seen.add(url);
    const urls = byName.get(name);
    if (urls === undefined) byName.set(name, [url]);
    else urls.push(url);
  }
  return [...byName].map(([name, peerURLs]) => ({ name, peerURLs }));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = [...new Set(a)].sort();
  const sb = [...new Set(b)].sort();
  return sa.length === sb.length && sa.every((x, i) => x === sb[i]);
}

function urlList(v: Values, flag: string, fallback: string, listen: boolean): ParsedURL[] {
  return parseUrlList(`--${flag}`, v.given(flag) ?? fallback, listen);
}

function parseUrlList(label: string, text: string, listen: boolean): ParsedURL[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) throw new ConfigError(`${label}: must not be empty`);
  return parts.map((p) => parseUrl(label, p, listen));
}

/**
 * An http(s) URL with an explicit port and nothing after it. Listen URLs must name an IP address or
 * localhost, since a member binds exactly what it is told.
 */
export function parseUrl(label: string, text: string, listen: boolean): ParsedURL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigError(`${label}: '${text}' is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(`${label}: '${text}' must start with http:// or https://`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new ConfigError(`${label}: '${text}' has no host`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '' || u.username !== '')
    throw new ConfigError(`${label}: '${text}' must be just scheme://host:port`);
  // URL drops a port equal to the scheme's default, so look for it in the authority itself.
  const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(text)?.[1] ?? '';
  if (!/:\d+$/.test(authority)) throw new ConfigError(`${label}: '${text}' has no port`);
  const scheme = u.protocol === 'http:' ? 'http' : 'https';
  const port = u.port === '' ? (scheme === 'http' ? 80 : 443) : Number(u.port);
  if (listen && net.isIP(host) === 0 && host !== 'localhost')
    throw new ConfigError(`${label}: '${text}' must have an IP address or localhost as host`);
  return { url: formatUrl(scheme, host, port), scheme, host, port };
}

/** The canonical `scheme://host:port` text of a URL (IPv6 hosts in brackets). */
export function formatUrl(scheme: 'http' | 'https', host: string, port: number): string {
  return `${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

function int(v: Values, flag: string, fallback: number, min: number): number {
  const text = v.given(flag);
  if (text === undefined) return fallback;
  const n = /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new ConfigError(`--${flag}: '${text}' is not an integer >= ${min}`);
  return n;
}

const TRUE_TEXTS = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE_TEXTS = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

/** Go's boolean spellings, since etcd's flags and variables take them. */
function bool(v: Values, flag: string, fallback: boolean): boolean {
  const text = v.given(flag);
  if (text === undefined) return fallback;
  if (TRUE_TEXTS.has(text)) return true;
  if (FALSE_TEXTS.has(text)) return false;
  throw new ConfigError(`--${flag}: '${text}' is not true or false`);
}

function choice<T extends string>(v: Values, flag: string, options: readonly T[], fallback: T): T {
  const text = v.given(flag);
  if (text === undefined) return fallback;
  const found = options.find((o) => o === text);
  if (found === undefined) throw new ConfigError(`--${flag}: '${text}' is not one of ${options.join(', ')}`);
  return found;
}

function tlsFiles(v: Values, prefix: '' | 'peer-'): TlsFiles {
  const certFile = v.given(`${prefix}cert-file`) ?? null;
  const keyFile = v.given(`${prefix}key-file`) ?? null;
  if ((certFile === null) !== (keyFile === null))
    throw new ConfigError(`--${prefix}cert-file and --${prefix}key-file must be given together`);
  return {
    certFile,
    keyFile,
    trustedCaFile: v.given(`${prefix}trusted-ca-file`) ?? null,
    clientCertAuth: bool(v, `${prefix}client-cert-auth`, false),
  };
}

function parseRetention(mode: CompactionMode, text: string): CompactionRetention {
  const flag = '--auto-compaction-retention';
  const trimmed = text.trim();
  if (mode === 'revision') {
    const n = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!Number.isSafeInteger(n))
      throw new ConfigError(
        `${flag}: '${text}' is not a number of revisions (--auto-compaction-mode=revision)`,
      );
    return n === 0 ? { kind: 'off' } : { kind: 'revision', revisions: n };
  }
  // etcd reads a bare integer as hours, anything else as a duration.
  const ms = /^\d+$/.test(trimmed)
    ? Number(trimmed) * HOUR_MS
    : durationMs(flag, text, 'like 1h or 30m, or a number of hours');
  if (!Number.isSafeInteger(ms)) throw new ConfigError(`${flag}: '${text}' is too long`);
  return ms === 0 ? { kind: 'off' } : { kind: 'periodic', ms };
}

const HOUR_MS = 3_600_000;
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: HOUR_MS,
};

/** A Go duration ("1h30m", "2.5s", "0") in whole milliseconds, not negative. */
export function durationMs(label: string, text: string, example: string): number {
  const bad = (): ConfigError => new ConfigError(`${label}: '${text}' is not a duration (${example})`);
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  if (trimmed === '') throw bad();
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = part.exec(trimmed); m !== null; m = part.exec(trimmed)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    end = part.lastIndex;
  }
  if (end !== trimmed.length || !Number.isFinite(total)) throw bad();
  // Floating-point sums such as 0.1h land a hair off whole numbers; round that noise away first.
  const rounded = Math.round(total * 1e6) / 1e6;
  if (!Number.isInteger(rounded))
    throw new ConfigError(`${label}: '${text}' is not a whole number of milliseconds`);
  return rounded;
}

function readPackageVersion(): string {
  // server/config.ts runs from the checkout and from dist/server/, so look a few levels up.
  for (const up of ['../', '../../', '../../../']) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(new URL(up + 'package.json', import.meta.url), 'utf8'));
      if (
        typeof pkg === 'object' &&
        pkg !== null &&
        'name' in pkg &&
        pkg.name === 'netcd' &&
        'version' in pkg
      )
        return String(pkg.version);
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}
