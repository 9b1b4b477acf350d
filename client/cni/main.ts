// The netcd-ipam process (bin/netcd-ipam execs node on this file). Reads stdin and the environment,
// runs one CNI command, writes the result or the error JSON to stdout and exits with its code. Logs go
// to stderr only (level from NETCD_IPAM_LOG_LEVEL, default warn): stdout belongs to the runtime.

import pino from 'pino';
import { createCniAllocator } from './allocator-factory.js';
import { runPlugin } from './plugin.js';

/** A network config with prevResult and GC's attachment list stays far below this. */
export const MAX_STDIN_BYTES = 8 * 1024 * 1024;

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

async function readStdin(): Promise<string> {
  // A person running the plugin by hand at a terminal must not wait on stdin that never ends.
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_STDIN_BYTES) throw new Error(`stdin is larger than ${MAX_STDIN_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const requested = process.env.NETCD_IPAM_LOG_LEVEL ?? '';
  const log = pino(
    { name: 'netcd-ipam', level: LEVELS.has(requested) ? requested : 'warn' },
    pino.destination({ dest: 2, sync: true }),
  );
  let output = '';
  const code = await runPlugin({
    env: process.env,
    readStdin,
    stdout: { write: (text: string) => (output += text) },
    allocatorFactory: createCniAllocator,
    log,
  });
  // Exit as soon as the answer is out: a connection the allocator left open must not keep the runtime waiting.
  process.stdout.write(output, () => process.exit(code));
}

await main();
