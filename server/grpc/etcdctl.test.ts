// Proves stock etcdctl 3.4 (Debian's etcd-client, required on PATH) works unchanged against
// netcd's gRPC layer: each command's exact output for put/get/del/txn, leases, compaction errors,
// watch, lock, elect, member list and snapshot save, against a fake member on loopback.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FAKE_CLUSTER_ID, FAKE_MEMBER_ID } from './testing/fake-member.js';
import { eventually, type Harness, startHarness } from './testing/harness.js';

const ETCDCTL = process.env.ETCDCTL_BIN ?? 'etcdctl';
const COMMAND_TIMEOUT_MS = 15_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  /** The "Error: ..." line etcdctl prints last; its retry warnings are left out. */
  readonly error: string;
}

function etcdctlFull(h: Harness, args: readonly string[], stdin?: string): Promise<Run & { stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      ETCDCTL,
      [`--endpoints=${h.address}`, '--dial-timeout=5s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: COMMAND_TIMEOUT_MS },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(err);
          return;
        }
        const error = stderr.split('\n').find((line) => line.startsWith('Error:')) ?? '';
        resolve({ code: err === null ? 0 : Number(err.code), stdout, error, stderr });
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

async function etcdctl(h: Harness, args: readonly string[], stdin?: string): Promise<Run> {
  const { code, stdout, error } = await etcdctlFull(h, args, stdin);
  return { code, stdout, error };
}

/** A long-running etcdctl (watch, lock, elect) whose output is read as it comes. */
function background(t: { teardown(fn: () => unknown): void }, h: Harness, args: readonly string[]) {
  const child: ChildProcess = spawn(ETCDCTL, [`--endpoints=${h.address}`, ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => stdout, exited };
}

t.test('etcdctl: put, get (simple and json), prefix get, del', async (t) => {
  const h = await startHarness(t);
  t.strictSame(await etcdctl(h, ['put', 'foo', 'bar']), { code: 0, stdout: 'OK\n', error: '' });
  t.strictSame(await etcdctl(h, ['get', 'foo']), { code: 0, stdout: 'foo\nbar\n', error: '' });
  await etcdctl(h, ['put', 'p/a', '1']);
  await etcdctl(h, ['put', 'p/b', '2']);
  t.equal((await etcdctl(h, ['get', '--prefix', 'p/'])).stdout, 'p/a\n1\np/b\n2\n');
  t.equal((await etcdctl(h, ['get', '--prefix', 'p/', '--keys-only'])).stdout, 'p/a\n\np/b\n\n');
  t.equal((await etcdctl(h, ['get', '--from-key', 'p/b'])).stdout, 'p/b\n2\n');
  t.equal(
    (await etcdctl(h, ['get', 'foo', '-w', 'json'])).stdout,
    `{"header":{"cluster_id":${FAKE_CLUSTER_ID},"member_id":${FAKE_MEMBER_ID},"revision":4,"raft_term":1},` +
      '"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":2,"version":1,"value":"YmFy"}],"count":1}\n',
  );
  t.strictSame(await etcdctl(h, ['del', 'foo']), { code: 0, stdout: '1\n', error: '' });
  t.strictSame(await etcdctl(h, ['del', 'nothing']), { code: 0, stdout: '0\n', error: '' });
  t.strictSame(await etcdctl(h, ['del', '--prefix', 'p/']), { code: 0, stdout: '2\n', error: '' });
  t.equal((await etcdctl(h, ['get', '--prefix', ''])).stdout, '');
});

t.test('etcdctl: txn takes the success or failure branch', async (t) => {
  const h = await startHarness(t);
  await etcdctl(h, ['put', 'k', 'v']);
  t.strictSame(await etcdctl(h, ['txn'], 'value("k") = "v"\n\nput k2 yes\n\nput k2 no\n\n'), {
    code: 0,
    stdout: 'SUCCESS\n\nOK\n',
    error: '',
  });
  t.strictSame(await etcdctl(h, ['txn'], 'mod("k") > "100"\n\nput k3 x\n\nget k2\n\n'), {
    code: 0,
    stdout: 'FAILURE\n\nk2\nyes\n',
    error: '',
  });
});

t.test("etcdctl: errors print etcd's messages and fail", async (t) => {
  const h = await startHarness(t);
  for (let i = 0; i < 3; i++) await etcdctl(h, ['put', 'c', String(i)]);
  t.strictSame(await etcdctl(h, ['compaction', '3']), {
    code: 0,
    stdout: 'compacted revision 3\n',
    error: '',
  });
  t.strictSame(await etcdctl(h, ['get', 'c', '--rev=2']), {
    code: 1,
    stdout: '',
    error: 'Error: etcdserver: mvcc: required revision has been compacted',
  });
  t.strictSame(await etcdctl(h, ['put', '', 'x']), {
    code: 1,
    stdout: '',
    error: 'Error: etcdserver: key is not provided',
  });
});

t.test('etcdctl: lease grant, attach, time-to-live, list, keep-alive, revoke', async (t) => {
  const h = await startHarness(t);
  const granted = await etcdctl(h, ['lease', 'grant', '60']);
  const match = /^lease ([0-9a-f]+) granted with TTL\(60s\)\n$/.exec(granted.stdout);
  t.ok(match, granted.stdout);
  const id = match?.[1] ?? '';
  await etcdctl(h, ['put', `--lease=${id}`, 'lk', 'v']);
  t.match(
    (await etcdctl(h, ['lease', 'timetolive', '--keys', id])).stdout,
    new RegExp(
      `^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[lk\\]\\)\\n$`,
    ),
  );
  t.equal((await etcdctl(h, ['lease', 'list'])).stdout, `found 1 leases\n${id}\n`);
  t.equal(
    (await etcdctl(h, ['lease', 'keep-alive', '--once', id])).stdout,
    `lease ${id} keepalived with TTL(60)\n`,
  );
  t.equal((await etcdctl(h, ['lease', 'revoke', id])).stdout, `lease ${id} revoked\n`);
  t.equal((await etcdctl(h, ['get', 'lk'])).stdout, '');
  t.equal((await etcdctl(h, ['lease', 'timetolive', id])).stdout, `lease ${id} already expired\n`);
  const unknown = await etcdctl(h, ['lease', 'keep-alive', '--once', '1234']);
  t.strictSame([unknown.code, unknown.error], [2, 'Error: etcdserver: requested lease not found']);
  const revoke = await etcdctl(h, ['lease', 'revoke', '1234']);
  t.strictSame(
    [revoke.code, revoke.error],
    [1, 'Error: failed to revoke lease (etcdserver: requested lease not found)'],
  );
});

t.test('etcdctl: watch prints events as they happen, and history with --rev', async (t) => {
  const h = await startHarness(t);
  await etcdctl(h, ['put', 'w/1', 'old']);
  const live = background(t, h, ['watch', '--prefix', 'w/', '--prev-kv']);
  await eventually(() => h.member.watchHub.stats().watchers === 1, 10_000, 'etcdctl watching');
  await etcdctl(h, ['put', 'w/1', 'new']);
  await etcdctl(h, ['del', 'w/1']);
  await eventually(() => live.output().split('\n').length >= 11, 10_000, 'watch output');
  t.equal(live.output(), 'PUT\nw/1\nold\nw/1\nnew\nDELETE\nw/1\nnew\nw/1\n\n');
  live.child.kill('SIGTERM');
  await live.exited;

  const history = background(t, h, ['watch', 'w/1', '--rev=2']);
  await eventually(() => history.output().split('\n').length >= 7, 10_000, 'history output');
  t.equal(history.output(), 'PUT\nw/1\nold\nPUT\nw/1\nnew\nDELETE\nw/1\n\n');
  history.child.kill('SIGTERM');
  await history.exited;
  await eventually(() => h.member.watchHub.stats().watchers === 0, 10_000, 'watchers gone');
});

t.test('etcdctl: lock runs a command while holding the lock; a second waits for it', async (t) => {
  const h = await startHarness(t);
  t.strictSame(await etcdctl(h, ['lock', 'L', 'echo', 'held']), { code: 0, stdout: 'held\n', error: '' });
  const holder = background(t, h, ['lock', 'L']);
  await eventually(() => holder.output().endsWith('\n\n'), 10_000, 'lock acquired');
  t.match(holder.output(), /^L\/[0-9a-f]+\n\n$/);
  const waiter = etcdctl(h, ['lock', 'L', 'echo', 'second']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(h.member.machine.store.range({ key: Buffer.from('L/'), rangeEnd: Buffer.from('L0') }).count, 2);
  holder.child.kill('SIGINT');
  t.strictSame(await waiter, { code: 0, stdout: 'second\n', error: '' });
});

t.test('etcdctl: elect proclaims and observers see the leader', async (t) => {
  const h = await startHarness(t);
  const candidate = background(t, h, ['elect', 'E', 'alpha']);
  await eventually(() => candidate.output().split('\n').length >= 3, 10_000, 'elected');
  t.match(candidate.output(), /^E\/[0-9a-f]+\nalpha\n$/);
  const observer = background(t, h, ['elect', '-l', 'E']);
  // The observer prints the key and the value as two writes: wait for both lines.
  await eventually(() => observer.output().split('\n').length > 2, 10_000, 'observed');
  t.equal(observer.output(), candidate.output());
  candidate.child.kill('SIGINT');
  observer.child.kill('SIGINT');
  await Promise.all([candidate.exited, observer.exited]);
});

t.test('etcdctl: member list, endpoint health, alarm list and snapshot save', async (t) => {
  const h = await startHarness(t);
  t.equal(
    (await etcdctl(h, ['member', 'list'])).stdout,
    `${FAKE_MEMBER_ID.toString(16)}, started, fake, http://127.0.0.1:2380, http://127.0.0.1:2379, false\n`,
  );
  // etcdctl prints the health report on stderr.
  const health = await etcdctlFull(h, ['endpoint', 'health']);
  t.match(
    health.stderr,
    new RegExp(`^${h.address} is healthy: successfully committed proposal: took = .+\\n$`),
  );
  t.equal(
    (await etcdctl(h, ['endpoint', 'status'])).stdout,
    `${h.address}, ${FAKE_MEMBER_ID.toString(16)}, 3.4.0, 0 B, true, false, 1, 0, 0, \n`,
  );
  t.strictSame(await etcdctl(h, ['alarm', 'list']), { code: 0, stdout: '', error: '' });
  await etcdctl(h, ['put', 'snap', 'shot']);
  const dir = await mkdtemp(join(tmpdir(), 'netcd-snapshot-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'snap.db');
  t.strictSame(await etcdctl(h, ['snapshot', 'save', file]), {
    code: 0,
    stdout: `Snapshot saved at ${file}\n`,
    error: '',
  });
  const saved = await readFile(file);
  const body = saved.subarray(0, saved.length - 32);
  const snapshot = Buffer.from(h.member.machine.snapshot());
  t.ok(body.subarray(0, snapshot.length).equals(snapshot), 'the file holds the member snapshot');
  t.ok(
    body.subarray(snapshot.length).every((x) => x === 0),
    'zero-padded to 512-byte blocks',
  );
  t.ok(
    saved.subarray(saved.length - 32).equals(createHash('sha256').update(body).digest()),
    'then its SHA-256',
  );
});
