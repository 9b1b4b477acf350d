// The `netcd` daemon as a user runs it: started with no flags in a fresh folder, used with stock
// etcdctl, stopped with SIGTERM; startup mistakes end with one clear line and a non-zero exit.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { freeLoopbackPorts } from '../test/ports.js';
import { etcdctl } from './testing/etcdctl.js';
import { NETCD_BIN } from './testing/process-cluster.js';

interface Run {
  code: number | null;
  signal: string | null;
  stderr: string;
  stdout: string;
}

/** Runs bin/netcd to completion (for commands that must exit by themselves). */
function runNetcd(args: readonly string[], cwd: string, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(NETCD_BIN, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout });
    });
  });
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function healthy(clientUrl: string): Promise<boolean> {
  const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
  return res.ok && ((await res.json()) as { health?: string }).health === 'true';
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'netcd-daemon-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test(
  'no flags: one member on 127.0.0.1:2379 with data in ./default.netcd; etcdctl works; SIGTERM stops it',
  async (t) => {
    const dir = await tempDir(t);
    const child = spawn(NETCD_BIN, [], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    t.teardown(() => child.kill('SIGKILL'));
    await until('the default member to be healthy', () => healthy('http://127.0.0.1:2379'));
    const put = await etcdctl('127.0.0.1:2379', { args: ['put', 'a', 'b'] });
    t.equal(put.stdout, 'OK\n');
    const get = await etcdctl('127.0.0.1:2379', { args: ['get', 'a'] });
    t.equal(get.stdout, 'a\nb\n');
    const version = await (await fetch('http://127.0.0.1:2379/version')).json();
    t.match(version, { etcdserver: '3.4.0', etcdcluster: '3.4.0' });
    const metrics = await (await fetch('http://127.0.0.1:2379/metrics')).text();
    t.match(metrics, /etcd_server_has_leader 1/);
    t.match(metrics, /grpc_server_handled_total\{[^}]*grpc_method="Put"[^}]*grpc_code="OK"\} 1/);
    t.ok((await stat(join(dir, 'default.netcd', 'member'))).isDirectory(), 'data lives in ./default.netcd');
    child.kill('SIGTERM');
    const end = await exited;
    t.same(end, { code: 0, signal: null }, `graceful stop (stderr: ${stderr.slice(-500)})`);
  },
);

t.test('--help lists every flag with its default; --version prints the version', async (t) => {
  const dir = await tempDir(t);
  const help = await runNetcd(['--help'], dir);
  t.equal(help.code, 0);
  for (const flag of [
    '--name',
    '--data-dir',
    '--listen-client-urls',
    '--advertise-client-urls',
    '--listen-peer-urls',
    '--initial-advertise-peer-urls',
    '--initial-cluster',
    '--initial-cluster-state',
    '--initial-cluster-token',
    '--heartbeat-interval',
    '--election-timeout',
    '--snapshot-count',
    '--quota-backend-bytes',
    '--auto-compaction-mode',
    '--auto-compaction-retention',
    '--listen-metrics-urls',
    '--log-level',
  ])
    t.match(help.stdout, flag, `--help mentions ${flag}`);
  const version = await runNetcd(['--version'], dir);
  t.equal(version.code, 0);
  t.match(version.stdout, /netcd Version: \d+\.\d+\.\d+/);
});

t.test('startup mistakes: one line on stderr, exit code 1, no stack trace, data untouched', async (t) => {
  const dir = await tempDir(t);
  const [clientPort, peerPort] = await freeLoopbackPorts(2);
  const flags = (name: string) => [
    `--name=${name}`,
    `--data-dir=${join(dir, name)}`,
    `--listen-client-urls=http://127.0.0.1:${clientPort}`,
    `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=${name}=http://127.0.0.1:${peerPort}`,
  ];
  // The error is one plain line (after any JSON log lines written before it), never a stack trace.
  const oneLine = (r: Run, pattern: RegExp, what: string) => {
    t.equal(r.code, 1, `${what}: exit code 1`);
    const plain = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('{'));
    t.equal(plain.length, 1, `${what}: one line (${r.stderr})`);
    t.match(plain[0], /^netcd: /, `${what}: says who`);
    t.match(plain[0], pattern, what);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  };
  oneLine(await runNetcd(['--no-such-flag'], dir), /no-such-flag/, 'unknown flag');
  oneLine(
    await runNetcd([...flags('a'), '--heartbeat-interval=500'], dir),
    /election/i,
    'election timeout too short',
  );

  // A busy client port.
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(clientPort, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  oneLine(await runNetcd(flags('busy'), dir), /address already in use|EADDRINUSE/, 'busy client port');
  await new Promise<void>((resolve) => blocker.close(() => resolve()));

  // A data dir holding something that is not a netcd member.
  await mkdir(join(dir, 'foreign', 'member', 'snap'), { recursive: true });
  await writeFile(join(dir, 'foreign', 'member', 'snap', 'db'), 'bolt');
  oneLine(await runNetcd(flags('foreign'), dir), /not a netcd member/, 'foreign data dir');
  t.same(await readdir(join(dir, 'foreign', 'member')), ['snap'], 'the foreign data dir is left as it was');

  // A corrupt raft log: a member is started and stopped, then a byte in its WAL is flipped.
  const good = spawn(NETCD_BIN, flags('wal'), { cwd: dir, stdio: 'ignore' });
  t.teardown(() => good.kill('SIGKILL'));
  await until('the member to be healthy', () => healthy(`http://127.0.0.1:${clientPort}`));
  for (let i = 0; i < 20; i++)
    t.equal((await etcdctl(`127.0.0.1:${clientPort}`, { args: ['put', `k${i}`, 'v'.repeat(100)] })).code, 0);
  good.kill('SIGTERM');
  await new Promise((resolve) => good.once('exit', resolve));
  const walDir = join(dir, 'wal', 'member', 'wal');
  const segment = (await readdir(walDir)).filter((f) => f.endsWith('.log')).sort()[0]!;
  const fh = await open(join(walDir, segment), 'r+');
  const buf = Buffer.alloc(1);
  await fh.read(buf, 0, 1, 200);
  buf[0] = buf[0]! ^ 0xff;
  await fh.write(buf, 0, 1, 200);
  await fh.close();
  oneLine(await runNetcd(flags('wal'), dir), /raft log|corrupt|checksum/i, 'corrupt WAL');
});
