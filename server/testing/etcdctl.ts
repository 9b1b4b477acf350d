// Runs Debian's etcdctl (API v3) as tests do: one command against given endpoints, with input on
// stdin, optionally killed after a while (watch, elect), returning its exit, output and error line.

import { spawn } from 'node:child_process';

export interface EtcdctlStep {
  readonly args: readonly string[];
  readonly stdin?: string;
  /** Kill the command after this long (watch, elect) and keep what it printed until then. */
  readonly killAfterMs?: number;
}

export interface EtcdctlOutcome {
  /** Exit code, or 'killed' for a step with killAfterMs. */
  readonly code: number | string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The "Error: ..." lines etcdctl prints on failure. */
  readonly error: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function etcdctl(endpoints: string, step: EtcdctlStep): Promise<EtcdctlOutcome> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCDCTL_')) env[k] = v;
    env.ETCDCTL_API = '3';
    const child = spawn('etcdctl', [`--endpoints=${endpoints}`, '--command-timeout=10s', ...step.args], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.once('error', reject);
    const killer = setTimeout(() => child.kill('SIGTERM'), step.killAfterMs ?? DEFAULT_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      const error = stderr
        .split('\n')
        .filter((l) => l.startsWith('Error:'))
        .join('\n');
      resolve({ code: step.killAfterMs === undefined ? (code ?? signal) : 'killed', stdout, stderr, error });
    });
    child.stdin.end(step.stdin ?? '');
  });
}

/** The leader's member id (hex) as `endpoint status` reports it from any endpoint, or '' without one. */
export async function leaderOf(endpoints: string): Promise<string> {
  const r = await etcdctl(endpoints, { args: ['endpoint', 'status', '-w', 'json'] });
  if (r.code !== 0) return '';
  const list = JSON.parse(r.stdout) as { Status: { leader: number | string } }[];
  const leader = BigInt(list[0]?.Status.leader ?? 0);
  return leader === 0n ? '' : leader.toString(16);
}
