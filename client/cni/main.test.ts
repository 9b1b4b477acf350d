// Runs the real bin/netcd-ipam (after `npm run build`) the way a runtime does: a clean environment,
// the config on stdin, the answer on stdout. Proves VERSION, the error JSON of a bad config, that an
// unreachable netcd is a CNI error and not a crash, and that a symlink under another name works.

import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freeLoopbackPorts } from '../../test/ports.js';
import { type Exit, runProcess } from './testing/run-process.js';

const PLUGIN_BIN = fileURLToPath(new URL('../../bin/netcd-ipam', import.meta.url));

/** Runs the plugin with only PATH and `env` set, as runtimes do (no NODE_OPTIONS from the test runner). */
function runPluginProcess(bin: string, env: Record<string, string>, stdin: string): Promise<Exit> {
  return runProcess(bin, [], { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdin, 30_000);
}

const VERSION_ANSWER =
  '{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n';

t.test('VERSION prints the supported versions and exits 0', async (t) => {
  const run = await runPluginProcess(PLUGIN_BIN, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.1.0"}');
  t.same(run, { code: 0, stdout: VERSION_ANSWER, stderr: '' });
});

t.test('a symlink under another name (as in a CNI bin directory) runs the same plugin', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netcd-ipam-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const link = join(dir, 'cluster-ipam');
  await symlink(PLUGIN_BIN, link);
  const run = await runPluginProcess(link, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.1.0"}');
  t.same(run, { code: 0, stdout: VERSION_ANSWER, stderr: '' });
});

t.test('a bad config is an error JSON on stdout and exit 1; the log line goes to stderr', async (t) => {
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0' };
  const run = await runPluginProcess(
    PLUGIN_BIN,
    env,
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'podnet',
      ipam: { type: 'netcd-ipam', ranges: [[{ subnet: '10.22.0.1/16' }]] },
    }),
  );
  t.equal(run.code, 1);
  t.equal(
    run.stdout,
    '{"cniVersion":"1.0.0","code":7,"msg":"ipam.ranges[0][0].subnet: 10.22.0.1/16 has host bits set (the network is 10.22.0.0/16)"}\n',
  );
  t.match(JSON.parse(run.stderr), { level: 50, name: 'netcd-ipam', command: 'ADD', code: 7 });
  const garbage = await runPluginProcess(PLUGIN_BIN, env, 'not json');
  t.equal(garbage.code, 1);
  t.match(JSON.parse(garbage.stdout), {
    cniVersion: '1.1.0',
    code: 6,
    msg: 'decoding network config from stdin',
  });
});

t.test('ADD with no reachable netcd fails with code 101, not a crash', async (t) => {
  const [port] = await freeLoopbackPorts(1);
  const config = {
    cniVersion: '1.1.0',
    name: 'podnet',
    ipam: {
      type: 'netcd-ipam',
      endpoints: [`http://127.0.0.1:${port}`],
      dialTimeoutMs: 500,
      requestTimeoutMs: 500,
      commandTimeoutMs: 10_000,
      nodeName: 'node-a',
      ranges: [[{ subnet: '10.22.0.0/16' }]],
    },
  };
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0' };
  const run = await runPluginProcess(PLUGIN_BIN, env, JSON.stringify(config));
  t.equal(run.code, 1);
  const answer = JSON.parse(run.stdout) as { cniVersion: string; code: number; msg: string };
  t.same([answer.cniVersion, answer.code], ['1.1.0', 101]);
  t.equal(run.stdout.split('\n').length, 2, 'stdout holds the one JSON line only');
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
});
