// Runs a process the way the CNI tests need: the given environment, stdin written and closed,
// stdout and stderr collected, killed if it outlives `timeoutMs`.

import { spawn } from 'node:child_process';

export interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runProcess(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  stdin: string,
  timeoutMs: number,
): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env });
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
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that never reads stdin (ping) may exit before the write lands; the EPIPE that follows
    // says nothing about the command, whose exit code is what the tests check.
    child.stdin.once('error', () => {});
    child.stdin.end(stdin);
  });
}
