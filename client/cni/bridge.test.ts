// The real thing: Debian's reference `bridge` plugin calls bin/netcd-ipam for two containers in
// two network namespaces; both get distinct addresses from netcd and ping each other over the
// bridge; CHECK passes; DEL releases (twice, idempotently). Everything lives in namespaces this
// test creates — netcd itself runs on the loopback of a "host" namespace, where the bridge is —
// and everything is removed afterwards, also when the test fails. Needs root.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { type Exit, runProcess } from './testing/run-process.js';

const run = promisify(execFile);
const PLUGIN_BIN = fileURLToPath(new URL('../../bin/netcd-ipam', import.meta.url));
const NETCD_BIN = fileURLToPath(new URL('../../bin/netcd', import.meta.url));
const CNI_DIR = '/usr/lib/cni';

function runIn(ns: string, cmd: string[], env: Record<string, string> = {}, stdin = ''): Promise<Exit> {
  return runProcess('ip', ['netns', 'exec', ns, ...cmd], { ...process.env, ...env }, stdin, 60_000);
}

t.test('bridge + netcd-ipam wire two namespaces that ping each other', async (t) => {
  const tag = randomBytes(3).toString('hex');
  const host = `ncd-h-${tag}`;
  const ctrs = [`ncd-a-${tag}`, `ncd-b-${tag}`];
  const bridge = `ncdbr${tag}`;
  const network = `ncdtest-${tag}`;
  const tmp = await mkdtemp(join(tmpdir(), 'netcd-bridge-'));
  let netcd: ChildProcess | undefined;
  t.teardown(async () => {
    if (netcd !== undefined && netcd.exitCode === null) {
      const exited = new Promise((r) => netcd?.once('exit', r));
      netcd.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      netcd.kill('SIGKILL');
    }
    // Deleting the namespaces removes the bridge and every veth the plugin made.
    for (const ns of [...ctrs, host]) await run('ip', ['netns', 'del', ns]).catch(() => {});
    await rm(tmp, { recursive: true, force: true });
  });

  for (const ns of [host, ...ctrs]) await run('ip', ['netns', 'add', ns]);
  await run('ip', ['-n', host, 'link', 'set', 'lo', 'up']);

  // A cni bin dir holding the reference plugins and ours under its configured name.
  const bin = join(tmp, 'bin');
  await run('mkdir', ['-p', bin]);
  await symlink(join(CNI_DIR, 'bridge'), join(bin, 'bridge'));
  await symlink(PLUGIN_BIN, join(bin, 'netcd-ipam'));

  const endpoint = 'http://127.0.0.1:2379';
  netcd = spawn(
    'ip',
    [
      'netns',
      'exec',
      host,
      NETCD_BIN,
      '--name=n1',
      `--data-dir=${join(tmp, 'data')}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=n1=http://127.0.0.1:2380',
      '--log-level=warn',
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const h = await runIn(host, ['etcdctl', `--endpoints=${endpoint}`, 'endpoint', 'health']);
    if (h.code === 0) break;
    if (Date.now() > deadline) throw new Error(`netcd did not become healthy: ${h.stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  const config = {
    cniVersion: '1.0.0',
    name: network,
    type: 'bridge',
    bridge,
    isGateway: true,
    ipam: {
      type: 'netcd-ipam',
      endpoints: [endpoint],
      nodeName: 'node-1',
      ranges: [[{ subnet: '10.222.0.0/24', rangeStart: '10.222.0.10', rangeEnd: '10.222.0.250' }]],
    },
  };
  const cniEnv = (command: string, i: number): Record<string, string> => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: `ctr-${i}-${tag}`,
    CNI_NETNS: `/run/netns/${ctrs[i]}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: bin,
  });
  const plugin = (command: string, i: number, conf: object = config) =>
    runIn(host, [join(bin, 'bridge')], cniEnv(command, i), JSON.stringify(conf));

  const results: { ips: { address: string; gateway: string }[] }[] = [];
  for (const i of [0, 1]) {
    const add = await plugin('ADD', i);
    t.equal(add.code, 0, `ADD ${i}: ${add.stdout}${add.stderr}`);
    results.push(JSON.parse(add.stdout));
  }
  const [a, b] = results.map((r) => r.ips[0]?.address ?? '');
  t.match(a, /^10\.222\.0\.\d+\/24$/);
  t.match(b, /^10\.222\.0\.\d+\/24$/);
  t.not(a, b, 'distinct addresses');
  t.equal(results[0]?.ips[0]?.gateway, '10.222.0.1');
  const ipB = (b ?? '').split('/')[0] as string;
  const ipA = (a ?? '').split('/')[0] as string;
  t.equal(
    (await runIn(ctrs[0] as string, ['ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout.includes(a ?? '-'),
    true,
  );

  const ping = await runIn(ctrs[0] as string, ['ping', '-c', '1', '-W', '2', ipB]);
  t.equal(ping.code, 0, `a pings b: ${ping.stdout}${ping.stderr}`);
  const back = await runIn(ctrs[1] as string, ['ping', '-c', '1', '-W', '2', ipA]);
  t.equal(back.code, 0, 'b pings a');

  // The IPAM plugin on its own (bridge refuses a second ADD: the veth exists): same address again.
  const again = await runIn(host, [join(bin, 'netcd-ipam')], cniEnv('ADD', 0), JSON.stringify(config));
  t.equal(
    JSON.parse(again.stdout).ips?.[0]?.address,
    a,
    `a repeated ADD returns the same address ${again.stdout}`,
  );

  const check = await plugin('CHECK', 0, { ...config, prevResult: results[0] });
  t.equal(check.code, 0, `CHECK: ${check.stdout}${check.stderr}`);

  const handles = async (): Promise<string[]> => {
    const r = await runIn(host, [
      'etcdctl',
      `--endpoints=${endpoint}`,
      'get',
      '--prefix',
      '--keys-only',
      `/netcd/ipam/handles/${network}/`,
    ]);
    return r.stdout.split('\n').filter(Boolean);
  };
  t.equal((await handles()).length, 2, 'netcd holds both attachments');

  for (const i of [0, 1]) {
    const del = await plugin('DEL', i);
    t.equal(del.code, 0, `DEL ${i}: ${del.stdout}${del.stderr}`);
  }
  t.same(await handles(), [], 'DEL released both');
  const delAgain = await plugin('DEL', 0);
  t.equal(delAgain.code, 0, 'a repeated DEL succeeds');
});
