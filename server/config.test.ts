// Proves the daemon's flags parse to exact Config values with etcd's defaults and meanings, that
// NETCD_* variables fill in for absent flags, and that each validation rule fails with its exact
// one-line message.

import t from 'tap';
import {
  type Config,
  ConfigError,
  type ConfigIO,
  DEFAULTS,
  durationMs,
  envVarOf,
  NETCD_VERSION,
  parseConfig,
} from './config.js';

class Exit {
  constructor(readonly code: number) {}
}

/** Captures what --help/--version print; exit throws so parsing stops like process.exit would. */
function capture(): { io: ConfigIO; out: () => string } {
  let text = '';
  return {
    io: {
      writeOut: (s) => {
        text += s;
      },
      exit: (code) => {
        throw new Exit(code);
      },
    },
    out: () => text,
  };
}

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): Config => parseConfig(argv, env, capture().io);

function errorOf(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parse(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return 'no error';
}

const url = (scheme: 'http' | 'https', host: string, port: number, text?: string) => ({
  url: text ?? `${scheme}://${host}:${port}`,
  scheme,
  host,
  port,
});

const noTls = { certFile: null, keyFile: null, trustedCaFile: null, clientCertAuth: false };

t.test('no flags: one member named default on 127.0.0.1:2379/2380 with etcd defaults', async (t) => {
  const expected: Config = {
    name: 'default',
    dataDir: 'default.netcd',
    walDir: null,
    listenClientUrls: [url('http', '127.0.0.1', 2379)],
    advertiseClientUrls: [url('http', '127.0.0.1', 2379)],
    listenPeerUrls: [url('http', '127.0.0.1', 2380)],
    initialAdvertisePeerUrls: [url('http', '127.0.0.1', 2380)],
    initialCluster: [{ name: 'default', peerURLs: ['http://127.0.0.1:2380'] }],
    initialClusterState: 'new',
    initialClusterToken: 'etcd-cluster',
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    snapshotCount: 100_000,
    snapshotCatchUpEntries: 5000,
    quotaBackendBytes: 2_147_483_648,
    maxRequestBytes: 1_572_864,
    maxTxnOps: 128,
    autoCompaction: { mode: 'periodic', retention: { kind: 'off' } },
    listenMetricsUrls: [],
    logLevel: 'info',
    maxSnapshots: 5,
    maxWals: 5,
    strictReconfigCheck: true,
    preVote: true,
    corruptCheckIntervalMs: 300_000,
    clientTls: noTls,
    peerTls: noTls,
    unrecognizedEnv: [],
  };
  t.same(parse([]), expected);
  t.equal(DEFAULTS.quotaBackendBytes, 2 * 1024 ** 3);
});

t.test(
  '--name derives the data dir and the one-member initial cluster from the advertised peer URLs',
  async (t) => {
    const c = parse([
      '--name',
      'infra1',
      '--initial-advertise-peer-urls',
      'http://10.0.0.1:2380,http://10.0.0.1:2390',
    ]);
    t.equal(c.dataDir, 'infra1.netcd');
    t.same(c.initialCluster, [
      { name: 'infra1', peerURLs: ['http://10.0.0.1:2380', 'http://10.0.0.1:2390'] },
    ]);
    t.equal(parse(['--name', 'infra1', '--data-dir', '/var/lib/netcd']).dataDir, '/var/lib/netcd');
  },
);

t.test('every flag parses to its exact value', async (t) => {
  const c = parse([
    '--name=infra1',
    '--data-dir',
    '/d',
    '--wal-dir',
    '/w',
    '--listen-client-urls',
    'http://127.0.0.1:12379, http://[::1]:12379',
    '--advertise-client-urls',
    'https://node1.example:12379',
    '--listen-peer-urls',
    'http://localhost:12380',
    '--initial-advertise-peer-urls',
    'http://10.0.0.1:2380',
    '--initial-cluster',
    'infra1=http://10.0.0.1:2380,infra2=http://10.0.0.2:2380,infra2=http://10.0.0.2:2480',
    '--initial-cluster-state',
    'existing',
    '--initial-cluster-token',
    'tok',
    '--heartbeat-interval',
    '50',
    '--election-timeout',
    '250',
    '--snapshot-count',
    '5000',
    '--quota-backend-bytes',
    '8589934592',
    '--max-request-bytes',
    '10485760',
    '--max-txn-ops',
    '1024',
    '--auto-compaction-mode',
    'revision',
    '--auto-compaction-retention',
    '1000',
    '--listen-metrics-urls',
    'http://127.0.0.1:2381',
    '--log-level',
    'debug',
    '--max-snapshots',
    '0',
    '--max-wals',
    '2',
    '--strict-reconfig-check=false',
    '--pre-vote',
    'F',
    '--corrupt-check-interval',
    '90s',
    '--cert-file',
    'c.pem',
    '--key-file',
    'k.pem',
    '--trusted-ca-file',
    'ca.pem',
    '--client-cert-auth',
    '--peer-cert-file',
    'pc.pem',
    '--peer-key-file',
    'pk.pem',
    '--peer-trusted-ca-file',
    'pca.pem',
    '--peer-client-cert-auth=1',
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
    '--enable-v2=false',
    '--force-new-cluster',
    'false',
  ]);
  const expected: Config = {
    name: 'infra1',
    dataDir: '/d',
    walDir: '/w',
    listenClientUrls: [url('http', '127.0.0.1', 12379), url('http', '::1', 12379, 'http://[::1]:12379')],
    advertiseClientUrls: [url('https', 'node1.example', 12379)],
    listenPeerUrls: [url('http', 'localhost', 12380)],
    initialAdvertisePeerUrls: [url('http', '10.0.0.1', 2380)],
    initialCluster: [
      { name: 'infra1', peerURLs: ['http://10.0.0.1:2380'] },
      { name: 'infra2', peerURLs: ['http://10.0.0.2:2380', 'http://10.0.0.2:2480'] },
    ],
    initialClusterState: 'existing',
    initialClusterToken: 'tok',
    heartbeatIntervalMs: 50,
    electionTimeoutMs: 250,
    snapshotCount: 5000,
    snapshotCatchUpEntries: 5000,
    quotaBackendBytes: 8_589_934_592,
    maxRequestBytes: 10_485_760,
    maxTxnOps: 1024,
    autoCompaction: { mode: 'revision', retention: { kind: 'revision', revisions: 1000 } },
    listenMetricsUrls: [url('http', '127.0.0.1', 2381)],
    logLevel: 'debug',
    maxSnapshots: 0,
    maxWals: 2,
    strictReconfigCheck: false,
    preVote: false,
    corruptCheckIntervalMs: 90_000,
    clientTls: { certFile: 'c.pem', keyFile: 'k.pem', trustedCaFile: 'ca.pem', clientCertAuth: true },
    peerTls: { certFile: 'pc.pem', keyFile: 'pk.pem', trustedCaFile: 'pca.pem', clientCertAuth: true },
    unrecognizedEnv: [],
  };
  t.same(c, expected);
});

t.test('single-dash flags work as in Go, and the last of repeated flags wins', async (t) => {
  const c = parse([
    '-name',
    'a',
    '-heartbeat-interval=20',
    '--heartbeat-interval',
    '30',
    '-election-timeout',
    '300',
  ]);
  t.equal(c.name, 'a');
  t.equal(c.heartbeatIntervalMs, 30);
  t.equal(c.electionTimeoutMs, 300);
});

t.test('NETCD_* variables set absent flags; flags win; empty variables are unset', async (t) => {
  t.equal(envVarOf('initial-cluster-token'), 'NETCD_INITIAL_CLUSTER_TOKEN');
  const env = {
    NETCD_NAME: 'from-env',
    NETCD_HEARTBEAT_INTERVAL: '200',
    NETCD_ELECTION_TIMEOUT: '2000',
    NETCD_PRE_VOTE: 'false',
    NETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.1:22379',
    NETCD_ADVERTISE_CLIENT_URLS: 'http://127.0.0.1:22379',
    NETCD_WAL_DIR: '',
    NETCD_AUTO_COMPACTION_RETENTION: '30m',
    NETCD_TYPO_FLAG: 'x',
    NETCD_ANOTHER: 'y',
    ETCD_NAME: 'ignored',
    PATH: '/bin',
  };
  const c = parse(['--heartbeat-interval', '150'], env);
  t.equal(c.name, 'from-env');
  t.equal(c.dataDir, 'from-env.netcd', 'the derived default follows the variable too');
  t.same(c.initialCluster, [{ name: 'from-env', peerURLs: ['http://127.0.0.1:2380'] }]);
  t.equal(c.heartbeatIntervalMs, 150, 'the flag wins over NETCD_HEARTBEAT_INTERVAL');
  t.equal(c.electionTimeoutMs, 2000);
  t.equal(c.preVote, false);
  t.same(c.listenClientUrls, [url('http', '127.0.0.1', 22379)]);
  t.equal(c.walDir, null);
  t.same(c.autoCompaction.retention, { kind: 'periodic', ms: 1_800_000 });
  t.same(c.unrecognizedEnv, ['NETCD_ANOTHER', 'NETCD_TYPO_FLAG']);
  t.equal(
    errorOf([], { NETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.1:22379' }),
    '--advertise-client-urls must be set when --listen-client-urls is',
    'a variable counts as setting its flag',
  );
  t.equal(errorOf([], { NETCD_ENABLE_V2: 'true' }), '--enable-v2: v2 API is not supported');
  t.equal(errorOf([], { NETCD_MAX_TXN_OPS: 'lots' }), "--max-txn-ops: 'lots' is not an integer >= 1");
});

t.test(
  'periodic retention takes Go durations or whole hours; revision retention takes revisions',
  async (t) => {
    const retention = (args: string[]) => parse(args).autoCompaction.retention;
    t.same(retention(['--auto-compaction-retention', '1h']), { kind: 'periodic', ms: 3_600_000 });
    t.same(retention(['--auto-compaction-retention', '2']), { kind: 'periodic', ms: 7_200_000 });
    t.same(retention(['--auto-compaction-retention', '1h30m']), { kind: 'periodic', ms: 5_400_000 });
    t.same(retention(['--auto-compaction-retention', '0.5h']), { kind: 'periodic', ms: 1_800_000 });
    t.same(retention(['--auto-compaction-retention', '0s']), { kind: 'off' });
    t.same(retention(['--auto-compaction-mode', 'revision']), { kind: 'off' });
    t.same(retention(['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '0']), {
      kind: 'off',
    });
    t.equal(parse(['--corrupt-check-interval', '0']).corruptCheckIntervalMs, 0);
  },
);

t.test('durationMs reads Go duration syntax exactly', async (t) => {
  t.equal(durationMs('--d', '300ms', ''), 300);
  t.equal(durationMs('--d', '2h45m10s', ''), 9_910_000);
  t.equal(durationMs('--d', '1000000ns', ''), 1);
  t.equal(durationMs('--d', '.5s', ''), 500);
  t.equal(durationMs('--d', '0.1h', ''), 360_000);
  t.throws(
    () => durationMs('--d', '1500us', 'ex'),
    new ConfigError("--d: '1500us' is not a whole number of milliseconds"),
  );
  t.throws(() => durationMs('--d', '10', 'ex'), new ConfigError("--d: '10' is not a duration (ex)"));
  t.throws(() => durationMs('--d', '-1s', 'ex'), new ConfigError("--d: '-1s' is not a duration (ex)"));
  t.throws(() => durationMs('--d', '1d', 'ex'), new ConfigError("--d: '1d' is not a duration (ex)"));
  t.throws(() => durationMs('--d', '', 'ex'), new ConfigError("--d: '' is not a duration (ex)"));
});

t.test('each validation rule fails with its one-line message', async (t) => {
  const cases: Array<[string[], string]> = [
    [['--nme', 'x'], "unknown option '--nme' (Did you mean --name?)"],
    [['--experimental-initial-corrupt-check'], "unknown option '--experimental-initial-corrupt-check'"],
    [['--name'], "option '--name <name>' argument missing"],
    [['serve'], "unexpected argument 'serve': netcd takes only flags"],
    [['--enable-v2'], '--enable-v2: v2 API is not supported'],
    [['--force-new-cluster'], '--force-new-cluster: not supported'],
    [['--name', ''], '--name: must not be empty'],
    [['--listen-peer-urls', ''], '--listen-peer-urls: must not be empty'],
    [['--listen-peer-urls', 'not a url'], "--listen-peer-urls: 'not a url' is not a URL"],
    [
      ['--listen-peer-urls', 'unix://sock:1'],
      "--listen-peer-urls: 'unix://sock:1' must start with http:// or https://",
    ],
    [['--listen-peer-urls', 'http://127.0.0.1'], "--listen-peer-urls: 'http://127.0.0.1' has no port"],
    [
      ['--listen-peer-urls', 'http://127.0.0.1:2380/x'],
      "--listen-peer-urls: 'http://127.0.0.1:2380/x' must be just scheme://host:port",
    ],
    [
      ['--listen-peer-urls', 'http://127.0.0.1:99999'],
      "--listen-peer-urls: 'http://127.0.0.1:99999' is not a URL",
    ],
    [
      ['--listen-peer-urls', 'http://node1:2380'],
      "--listen-peer-urls: 'http://node1:2380' must have an IP address or localhost as host",
    ],
    [
      ['--listen-metrics-urls', 'http://node1:2381'],
      "--listen-metrics-urls: 'http://node1:2381' must have an IP address or localhost as host",
    ],
    [
      ['--listen-client-urls', 'http://127.0.0.1:2379'],
      '--advertise-client-urls must be set when --listen-client-urls is',
    ],
    [['--advertise-client-urls', ' , '], '--advertise-client-urls: must not be empty'],
    [
      ['--initial-advertise-peer-urls', 'http://:2380'],
      "--initial-advertise-peer-urls: 'http://:2380' is not a URL",
    ],
    [['--initial-cluster', 'default'], "--initial-cluster: 'default' is not name=URL"],
    [
      ['--initial-cluster', '=http://127.0.0.1:2380'],
      "--initial-cluster: '=http://127.0.0.1:2380' is not name=URL",
    ],
    [
      ['--initial-cluster', 'default=node1:2380'],
      "--initial-cluster: 'node1:2380' must start with http:// or https://",
    ],
    [
      ['--initial-cluster', 'default=http://127.0.0.1:2380,b=http://127.0.0.1:2380'],
      '--initial-cluster: http://127.0.0.1:2380 appears more than once',
    ],
    [['--initial-cluster', 'a=http://127.0.0.1:2380'], '--initial-cluster has no entry for --name=default'],
    [
      ['--initial-cluster', 'default=http://127.0.0.1:2390,b=http://127.0.0.2:2380'],
      '--initial-cluster has default=http://127.0.0.1:2390 but --initial-advertise-peer-urls is http://127.0.0.1:2380',
    ],
    [['--initial-cluster-state', 'old'], "--initial-cluster-state: 'old' is not one of new, existing"],
    [['--initial-cluster-token', ''], '--initial-cluster-token: must not be empty'],
    [['--heartbeat-interval', '0'], "--heartbeat-interval: '0' is not an integer >= 1"],
    [['--heartbeat-interval', '1.5'], "--heartbeat-interval: '1.5' is not an integer >= 1"],
    [['--election-timeout', '1e3'], "--election-timeout: '1e3' is not an integer >= 1"],
    [
      ['--election-timeout', '499'],
      '--election-timeout: 499 ms is less than 5 × --heartbeat-interval (100 ms)',
    ],
    [['--election-timeout', '50001'], '--election-timeout: 50001 ms is more than the maximum of 50000 ms'],
    [['--snapshot-count', '0'], "--snapshot-count: '0' is not an integer >= 1"],
    [['--quota-backend-bytes', '-1'], "--quota-backend-bytes: '-1' is not an integer >= 0"],
    [['--max-request-bytes', '0'], "--max-request-bytes: '0' is not an integer >= 1"],
    [
      ['--max-txn-ops', '99999999999999999999'],
      "--max-txn-ops: '99999999999999999999' is not an integer >= 1",
    ],
    [['--max-snapshots', '-1'], "--max-snapshots: '-1' is not an integer >= 0"],
    [['--max-wals', 'x'], "--max-wals: 'x' is not an integer >= 0"],
    [
      ['--auto-compaction-mode', 'hourly'],
      "--auto-compaction-mode: 'hourly' is not one of periodic, revision",
    ],
    [
      ['--auto-compaction-retention', '1 day'],
      "--auto-compaction-retention: '1 day' is not a duration (like 1h or 30m, or a number of hours)",
    ],
    [
      ['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1h'],
      "--auto-compaction-retention: '1h' is not a number of revisions (--auto-compaction-mode=revision)",
    ],
    [['--corrupt-check-interval', '5'], "--corrupt-check-interval: '5' is not a duration (like 5m or 30s)"],
    [['--log-level', 'trace'], "--log-level: 'trace' is not one of debug, info, warn, error"],
    [['--pre-vote', 'yes'], "--pre-vote: 'yes' is not true or false"],
    [['--cert-file', 'c.pem'], '--cert-file and --key-file must be given together'],
    [['--peer-key-file', 'k.pem'], '--peer-cert-file and --peer-key-file must be given together'],
  ];
  for (const [argv, message] of cases) t.equal(errorOf(argv), message, argv.join(' '));
});

t.test('a joining member needs its name in --initial-cluster but not matching URLs', async (t) => {
  const c = parse([
    '--initial-cluster-state',
    'existing',
    '--initial-cluster',
    'a=http://10.0.0.9:2380,default=http://10.0.0.8:2380',
  ]);
  t.same(c.initialCluster, [
    { name: 'a', peerURLs: ['http://10.0.0.9:2380'] },
    { name: 'default', peerURLs: ['http://10.0.0.8:2380'] },
  ]);
  t.equal(
    errorOf(['--initial-cluster-state', 'existing', '--initial-cluster', 'a=http://10.0.0.9:2380']),
    '--initial-cluster has no entry for --name=default',
  );
});

t.test(
  'URLs are canonical: lower-case host, explicit default ports kept, order of sets ignored',
  async (t) => {
    const c = parse([
      '--initial-advertise-peer-urls',
      'http://NODE1:80,https://node1:443',
      '--initial-cluster',
      'default=https://node1:443,default=http://node1:80',
    ]);
    t.same(c.initialAdvertisePeerUrls, [url('http', 'node1', 80), url('https', 'node1', 443)]);
    t.same(c.initialCluster, [{ name: 'default', peerURLs: ['https://node1:443', 'http://node1:80'] }]);
  },
);

t.test('--version prints the versions and exits 0', async (t) => {
  const { io, out } = capture();
  t.throws(() => parseConfig(['--name', 'x', '--version'], {}, io), new Exit(0));
  t.equal(
    out(),
    `netcd Version: ${NETCD_VERSION}\netcd API Version: 3.4.0\nNode Version: ${process.version}\nOS/Arch: ${process.platform}/${process.arch}\n`,
  );
  t.match(NETCD_VERSION, /^\d+\.\d+\.\d+/);
});

t.test('--help lists every flag with its default and exits 0', async (t) => {
  const { io, out } = capture();
  t.throws(() => parseConfig(['--help'], {}, io), new Exit(0));
  const help = out();
  const withDefaults: Array<[string, string]> = [
    ['--name <name>', 'default'],
    ['--data-dir <path>', '<name>.netcd'],
    ['--snapshot-count <n>', '100000'],
    ['--heartbeat-interval <ms>', '100'],
    ['--election-timeout <ms>', '1000'],
    ['--listen-peer-urls <urls>', 'http://127.0.0.1:2380'],
    ['--listen-client-urls <urls>', 'http://127.0.0.1:2379'],
    ['--max-snapshots <n>', '5'],
    ['--max-wals <n>', '5'],
    ['--quota-backend-bytes <bytes>', '0'],
    ['--max-request-bytes <bytes>', '1572864'],
    ['--max-txn-ops <n>', '128'],
    ['--corrupt-check-interval <duration>', '5m'],
    ['--pre-vote [bool]', 'true'],
    ['--initial-advertise-peer-urls <urls>', 'http://127.0.0.1:2380'],
    ['--initial-cluster <name=url,...>', '<name>=<initial-advertise-peer-urls>'],
    ['--initial-cluster-state <new|existing>', 'new'],
    ['--initial-cluster-token <token>', 'etcd-cluster'],
    ['--advertise-client-urls <urls>', 'http://127.0.0.1:2379'],
    ['--strict-reconfig-check [bool]', 'true'],
    ['--auto-compaction-mode <periodic|revision>', 'periodic'],
    ['--auto-compaction-retention <value>', '0'],
    ['--client-cert-auth [bool]', 'false'],
    ['--peer-client-cert-auth [bool]', 'false'],
    ['--log-level <debug|info|warn|error>', 'info'],
    ['--enable-v2 [bool]', 'false'],
    ['--force-new-cluster [bool]', 'false'],
  ];
  const lines = help.split('\n');
  for (const [flag, def] of withDefaults) {
    const line = lines.find((l) => l.trimStart().startsWith(flag + ' '));
    t.ok(line?.endsWith(`(default: ${def})`), `${flag} shows default ${def}`);
  }
  for (const flag of [
    '--wal-dir <path>',
    '--listen-metrics-urls <urls>',
    '--cert-file <path>',
    '--key-file <path>',
    '--trusted-ca-file <path>',
    '--peer-cert-file <path>',
    '--peer-key-file <path>',
    '--peer-trusted-ca-file <path>',
    '--logger <name>',
    '--log-outputs <targets>',
    '--version',
  ])
    t.ok(
      lines.some((l) => l.trimStart().startsWith(flag + ' ')),
      `${flag} is listed`,
    );
  t.match(help, /NETCD_<FLAG>/);
});
