// Real clusters of `bin/netcd` (or, with the same flags, Debian's etcd) processes on loopback for
// tests and benchmarks: free ports, one temp data dir per member, start/kill/restart of single
// members, and a stop that leaves no process and no directory behind, also when a test fails.

import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPorts } from '../../test/ports.js';
import { TcpProxy } from './tcp-proxy.js';

export type ServerKind = 'netcd' | 'etcd';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The repository's bin/netcd, whether running from sources or from dist/. */
export const NETCD_BIN = join(ROOT.endsWith('dist') ? join(ROOT, '..') : ROOT, 'bin', 'netcd');

const HEALTH_POLL_MS = 50;
const MAX_LOG_TAIL_BYTES = 256 * 1024;

export interface ClusterOptions {
  readonly kind?: ServerKind;
  readonly size: number;
  /** Extra flags for every member. */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  readonly token?: string;
  /** netcd's --log-level (default warn); its logs are kept in each member's logTail. */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** The executable to start instead of bin/netcd or etcd (a wrapper adding node flags, say). */
  readonly binary?: string;
  /** Put a TcpProxy in front of every member's peer port (advertised instead of the port itself). */
  readonly proxiedPeers?: boolean;
  /**
   * Runs once the members' ports and data dir paths are chosen, before any starts: to prepare
   * their data dirs (a snapshot restore, say).
   */
  readonly beforeStart?: (c: ProcessCluster) => Promise<void>;
}

export interface MemberProcess {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** Where the member listens for peers (differs from peerUrl when a proxy stands in front). */
  readonly listenPeerUrl: string;
  proxy: TcpProxy | null;
  child: ChildProcess | null;
  logTail: string;
  /** Extra flags for this member (for example, --initial-cluster-state existing). */
  extraArgs: string[];
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function cleanEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('ETCD_') && !k.startsWith('NETCD_') && !k.startsWith('ETCDCTL_')) env[k] = v;
  return { ...env, ...extra };
}

export class ProcessCluster {
  readonly kind: ServerKind;
  readonly root: string;
  readonly members: MemberProcess[] = [];
  private readonly o: ClusterOptions;
  private readonly onExit = (): void => {
    for (const m of this.members) m.child?.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  };

  private constructor(root: string, o: ClusterOptions) {
    this.root = root;
    this.o = o;
    this.kind = o.kind ?? 'netcd';
    process.once('exit', this.onExit);
  }

  /** Starts `size` members and waits until each answers /health. */
  static async start(o: ClusterOptions): Promise<ProcessCluster> {
    const root = await mkdtemp(join(tmpdir(), `netcd-${o.kind ?? 'netcd'}-cluster-`));
    const c = new ProcessCluster(root, o);
    try {
      for (let i = 0; i < o.size; i++) c.members.push(await c.newMember(`m${i + 1}`, []));
      await o.beforeStart?.(c);
      for (const m of c.members) c.spawn(m);
      await Promise.all(c.members.map((m) => c.waitHealthy(m)));
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  get endpoints(): string {
    return this.running()
      .map((m) => m.clientUrl)
      .join(',');
  }

  running(): MemberProcess[] {
    return this.members.filter(
      (m) => m.child !== null && m.child.exitCode === null && m.child.signalCode === null,
    );
  }

  member(name: string): MemberProcess {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  }

  initialCluster(): string {
    return this.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  argsOf(m: MemberProcess): string[] {
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.listenPeerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${this.initialCluster()}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${this.o.token ?? 'test-cluster'}`,
      ...(this.o.args ?? []),
      ...m.extraArgs,
    ];
    if (this.kind === 'etcd') args.push('--logger=zap', '--log-outputs=stderr', '--log-level=warn');
    else args.push(`--log-level=${this.o.logLevel ?? 'warn'}`);
    return args;
  }

  private spawn(m: MemberProcess): void {
    const bin = this.o.binary ?? (this.kind === 'etcd' ? (process.env.ETCD_BIN ?? 'etcd') : NETCD_BIN);
    const child = spawn(bin, this.argsOf(m), {
      env: cleanEnv(this.o.env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (d: Buffer) => {
      m.logTail = (m.logTail + d.toString('utf8')).slice(-MAX_LOG_TAIL_BYTES);
    });
    child.once('error', (err) => {
      m.logTail += `\nspawn failed: ${err.message}`;
    });
    m.child = child;
  }

  /** Resolves once the member's /health says true; rejects when it exits or the timeout passes. */
  async waitHealthy(m: MemberProcess, timeoutMs = this.o.startTimeoutMs ?? 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const child = m.child;
      if (child === null || child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `${m.name} exited (${child?.exitCode ?? child?.signalCode}) before it was healthy:\n${m.logTail}`,
        );
      try {
        const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: unknown };
        if (res.ok && body.health === 'true') return;
      } catch {
        // Not listening yet, or no leader yet.
      }
      if (Date.now() > deadline) throw new Error(`${m.name} not healthy in ${timeoutMs} ms:\n${m.logTail}`);
      await sleep(HEALTH_POLL_MS);
    }
  }

  /** Sends a signal to one member (SIGKILL, SIGSTOP, SIGCONT, SIGTERM). */
  signal(name: string, sig: NodeJS.Signals): void {
    this.member(name).child?.kill(sig);
  }

  /** Kills one member with SIGKILL and waits for it to be gone. */
  async kill(name: string): Promise<void> {
    const m = this.member(name);
    if (m.child === null) return;
    m.child.kill('SIGKILL');
    await exited(m.child);
  }

  /** Stops one member gracefully (SIGTERM), falling back to SIGKILL; returns its exit code or signal. */
  async terminate(name: string): Promise<number | string | null> {
    const m = this.member(name);
    const child = m.child;
    if (child === null) return null;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timeout = sleep(this.o.stopTimeoutMs ?? 10_000).then(() => 'timeout' as const);
    if ((await Promise.race([exited(child).then(() => 'exited' as const), timeout])) === 'timeout') {
      child.kill('SIGKILL');
      await exited(child);
    }
    return child.exitCode ?? child.signalCode;
  }

  /** Starts a member again on its data dir (after kill or terminate) and waits for health. */
  async restart(name: string, waitHealthy = true): Promise<void> {
    const m = this.member(name);
    if (m.child !== null && m.child.exitCode === null && m.child.signalCode === null)
      throw new Error(`${m.name} is still running`);
    m.logTail = '';
    this.spawn(m);
    if (waitHealthy) await this.waitHealthy(m);
  }

  private async newMember(name: string, extraArgs: string[]): Promise<MemberProcess> {
    const [client, peer] = await freeLoopbackPorts(2);
    const proxy = this.o.proxiedPeers === true ? await TcpProxy.start(0, peer!) : null;
    return {
      name,
      clientUrl: `http://127.0.0.1:${client}`,
      peerUrl: `http://127.0.0.1:${proxy?.port ?? peer}`,
      listenPeerUrl: `http://127.0.0.1:${peer}`,
      proxy,
      dataDir: join(this.root, name),
      child: null,
      logTail: '',
      extraArgs,
    };
  }

  /** Adds a member record (not started) with fresh ports, for `member add` tests. */
  async addMemberSlot(): Promise<MemberProcess> {
    const m = await this.newMember(`m${this.members.length + 1}`, ['--initial-cluster-state=existing']);
    this.members.push(m);
    return m;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        if (m.child === null) return;
        m.child.kill('SIGCONT');
        m.child.kill('SIGKILL');
        await exited(m.child);
      }),
    );
    await Promise.all(this.members.map((m) => m.proxy?.close()));
    process.off('exit', this.onExit);
    await rm(this.root, { recursive: true, force: true });
  }
}
