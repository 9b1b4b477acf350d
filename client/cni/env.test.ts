// Proves each command requires exactly the CNI_* variables spec 1.1 lists for it, that container ids
// and interface names are checked like libcni checks them, and that CNI_ARGS follows the IgnoreUnknown
// convention. Every refusal is code 4 with a message naming the variable.

import t from 'tap';
import { type EnvSource, parseCniEnv, requestedIpFromCniArgs } from './env.js';
import { CniError } from './errors.js';

function failure(fn: () => unknown): { code: number; msg: string; details: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, msg: err.message, details: err.details };
    throw err;
  }
  throw new Error('expected a CniError');
}

const attachment = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/a', CNI_IFNAME: 'eth0' };

t.test('ADD reads every variable', async (t) => {
  const env: EnvSource = {
    CNI_COMMAND: 'ADD',
    ...attachment,
    CNI_ARGS: 'IP=10.0.0.5',
    CNI_PATH: '/opt/cni/bin',
  };
  t.same(parseCniEnv(env), {
    command: 'ADD',
    containerId: 'c1',
    netns: '/run/netns/a',
    ifname: 'eth0',
    args: 'IP=10.0.0.5',
    path: '/opt/cni/bin',
  });
});

t.test('required variables per command, listed in one message', async (t) => {
  const missing = (env: EnvSource) => failure(() => parseCniEnv(env));
  t.same(missing({}), { code: 4, msg: 'required env variables [CNI_COMMAND] missing', details: '' });
  t.same(missing({ CNI_COMMAND: 'ADD' }), {
    code: 4,
    msg: 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing',
    details: '',
  });
  t.same(
    missing({ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }).msg,
    'required env variables [CNI_NETNS] missing',
  );
  t.same(
    missing({ CNI_COMMAND: 'DEL', CNI_NETNS: '/run/netns/a' }).msg,
    'required env variables [CNI_CONTAINERID,CNI_IFNAME] missing',
  );
  t.same(missing({ CNI_COMMAND: 'GC' }).msg, 'required env variables [CNI_PATH] missing');
  t.same(missing({ CNI_COMMAND: 'REMOVE' }), { code: 4, msg: 'unknown CNI_COMMAND: REMOVE', details: '' });
});

t.test('DEL needs no netns; GC, STATUS and VERSION need no attachment', async (t) => {
  t.equal(parseCniEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }).netns, '');
  t.equal(parseCniEnv({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }).containerId, '');
  t.equal(parseCniEnv({ CNI_COMMAND: 'STATUS' }).command, 'STATUS');
  t.equal(parseCniEnv({ CNI_COMMAND: 'VERSION' }).command, 'VERSION');
});

t.test('container ids: alphanumeric start, then alphanumerics _ . -, bounded length', async (t) => {
  const add = (id: string) => () => parseCniEnv({ CNI_COMMAND: 'ADD', ...attachment, CNI_CONTAINERID: id });
  t.equal(add('a_b.c-9')().containerId, 'a_b.c-9');
  t.same(failure(add('-abc')), { code: 4, msg: 'invalid characters in CNI_CONTAINERID', details: '-abc' });
  t.same(failure(add('a/b')), { code: 4, msg: 'invalid characters in CNI_CONTAINERID', details: 'a/b' });
  t.same(failure(add('a'.repeat(257))), {
    code: 4,
    msg: 'CNI_CONTAINERID is longer than 256 characters',
    details: '',
  });
});

t.test('interface names follow the Linux rules', async (t) => {
  const add = (ifname: string) => () =>
    parseCniEnv({ CNI_COMMAND: 'ADD', ...attachment, CNI_IFNAME: ifname });
  t.equal(add('a'.repeat(15))().ifname, 'a'.repeat(15));
  t.same(failure(add('a'.repeat(16))), {
    code: 4,
    msg: 'CNI_IFNAME is too long',
    details: 'interface names have at most 15 characters',
  });
  t.same(failure(add('..')), { code: 4, msg: 'CNI_IFNAME is . or ..', details: '' });
  t.same(failure(add('eth 0')), {
    code: 4,
    msg: 'CNI_IFNAME contains / or : or whitespace',
    details: 'eth 0',
  });
  t.same(failure(add('eth:0')).msg, 'CNI_IFNAME contains / or : or whitespace');
});

t.test('CNI_ARGS: IP is read; unknown keys need IgnoreUnknown', async (t) => {
  t.equal(requestedIpFromCniArgs(''), null);
  t.equal(requestedIpFromCniArgs('IP=10.0.0.5'), '10.0.0.5');
  t.equal(requestedIpFromCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.0.0.5/24;'), '10.0.0.5/24');
  t.equal(requestedIpFromCniArgs('IgnoreUnknown=true;K8S_POD_NAME=web'), null);
  t.same(
    failure(() => requestedIpFromCniArgs('K8S_POD_NAME=web;FOO=1')),
    {
      code: 4,
      msg: 'CNI_ARGS: unknown keys K8S_POD_NAME,FOO (add IgnoreUnknown=1 to ignore them)',
      details: '',
    },
  );
  t.same(failure(() => requestedIpFromCniArgs('IgnoreUnknown=0;FOO=1')).code, 4);
  t.same(
    failure(() => requestedIpFromCniArgs('IgnoreUnknown=yes')).msg,
    'CNI_ARGS: IgnoreUnknown must be 1, true, 0 or false, not "yes"',
  );
  t.same(failure(() => requestedIpFromCniArgs('IP')).msg, 'CNI_ARGS: invalid pair "IP"');
  t.same(failure(() => requestedIpFromCniArgs('IP=a=b')).msg, 'CNI_ARGS: invalid pair "IP=a=b"');
});
