// A real etcd for differential tests: one member on free loopback ports with a temporary data
// directory. `startEtcd` returns only once /health answers; `stop` kills the process and removes
// the directory, and is safe to call twice. Nothing listens beyond 127.0.0.1.

import { type ChildProcess, spawn } from 'node:child_process';
import { constants, rmSync } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLoopbackPorts } from '../../test/ports.js';

export interface EtcdProcessOptions {
  /** Path to the etcd binary; default: ETCD_BIN, else `etcd` on PATH. */
  readonly binary?: string;
  /** How long /health may take to answer after the start (default 20 s). */
  readonly startTimeoutMs?: number;
  /** How long `stop` waits for the process after SIGTERM before SIGKILL (default 5 s). */
  readonly stopTimeoutMs?: number;
  /** Start attempts with fresh ports, for when a port picked as free was taken meanwhile (default 3). */
  readonly maxStartAttempts?: number;
}

export interface EtcdProcess {
  /** The client URL, e.g. http://127.0.0.1:41234. */
  readonly clientUrl: string;
  readonly version: string;
  /** Why the process is gone ("exited 2", "killed by SIGKILL"), or null while it runs. */
  exitStatus(): string | null;
  /** The end of etcd's log (stderr), for failure messages. */
  logTail(): string;
  stop(): Promise<void>;
}

const HEALTH_POLL_INTERVAL_MS = 50;
const HEALTH_REQUEST_TIMEOUT_MS = 1_000;
/** Bound on the stderr kept for a failure message. */
const MAX_LOG_TAIL_BYTES = 8 * 1024;

const ETCD_MISSING_HINT =
  'etcd not found: the differential tests need a real etcd 3.4 — install the Debian package etcd-server ' +
  '(apt-get install etcd-server etcd-client) or set ETCD_BIN to the binary';

/** The etcd binary to run, or an Error saying how to install it. */
export async function findEtcdBinary(explicit?: string): Promise<string> {
  const named = explicit ?? process.env.ETCD_BIN;
  const candidates =
    named !== undefined && named !== ''
      ? [named]
      : (process.env.PATH ?? '')
          .split(delimiter)
          .filter((dir) => dir !== '')
          .map((dir) => join(dir, 'etcd'));
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // Not here: try the next one.
    }
  }
  throw new Error(`${ETCD_MISSING_HINT} (looked for ${candidates.join(', ') || 'etcd on an empty PATH'})`);
}

/** The environment without ETCD_* variables, which etcd would read as flags. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_')) env[k] = v;
  return env;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function serverVersion(clientUrl: string): Promise<string> {
  const res = await fetch(`${clientUrl}/version`, { signal: AbortSignal.timeout(HEALTH_REQUEST_TIMEOUT_MS) });
  const body = (await res.json()) as { etcdserver?: unknown };
  return typeof body.etcdserver === 'string' ? body.etcdserver : 'unknown';
}

async function startOnce(binary: string, o: EtcdProcessOptions): Promise<EtcdProcess> {
  const [clientPort, peerPort] = await freeLoopbackPorts(2);
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'netcd-etcd-'));
  // No --listen-metrics-urls: metrics then stay on the (loopback) client listener only.
  const child = spawn(
    binary,
    [
      '--name=default',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=netcd-differential',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
    ],
    { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let logTail = '';
  child.stderr?.on('data', (d: Buffer) => {
    logTail = (logTail + d.toString('utf8')).slice(-MAX_LOG_TAIL_BYTES);
  });
  const spawned: { error: Error | null } = { error: null };
  child.once('error', (err) => {
    spawned.error = err;
  });

  // Safety net for a test process that ends without its teardown (an uncaught error, process.exit).
  const onExit = (): void => {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let stopped: Promise<void> | null = null;
  // Idempotent: every caller waits for the same kill and removal.
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.off('exit', onExit);
      // A child that never started (spawn error) has nothing to kill and never emits 'exit'.
      if (spawned.error === null && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const deadline = sleep(o.stopTimeoutMs ?? 5_000).then(() => 'timeout' as const);
        if ((await Promise.race([exited(child).then(() => 'exited' as const), deadline])) === 'timeout') {
          child.kill('SIGKILL');
          await exited(child);
        }
      }
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const deadlineMs = Date.now() + (o.startTimeoutMs ?? 20_000);
  try {
    for (;;) {
      if (spawned.error !== null) throw spawned.error;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `etcd exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${logTail}`,
        );
      }
      try {
        const res = await fetch(`${clientUrl}/health`, {
          signal: AbortSignal.timeout(HEALTH_REQUEST_TIMEOUT_MS),
        });
        const body = (await res.json()) as { health?: unknown };
        if (res.ok && body.health === 'true') break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadlineMs) throw new Error(`etcd not healthy within the start timeout:\n${logTail}`);
      await sleep(HEALTH_POLL_INTERVAL_MS);
    }
    return {
      clientUrl,
      version: await serverVersion(clientUrl),
      exitStatus: () =>
        child.exitCode !== null
          ? `exited ${child.exitCode}`
          : child.signalCode !== null
            ? `killed by ${child.signalCode}`
            : null,
      logTail: () => logTail,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Starts one etcd member on loopback; the caller must `stop` it (t.teardown). */
export async function startEtcd(o: EtcdProcessOptions = {}): Promise<EtcdProcess> {
  const binary = await findEtcdBinary(o.binary);
  const attempts = o.maxStartAttempts ?? 3;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await startOnce(binary, o);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
