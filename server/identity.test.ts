// Member identity: founding ids agree across members, ids stay exact numbers, and the identity
// file survives a round trip and is refused when it is not ours.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { clusterIdOf, foundingMemberId, randomMemberId, readIdentity, writeIdentity } from './identity.js';

t.test('founding ids depend on peer URLs and token only, not their order', async (t) => {
  const a = foundingMemberId(['http://127.0.0.1:2380', 'http://10.0.0.1:2380'], 'tok');
  t.equal(a, foundingMemberId(['http://10.0.0.1:2380', 'http://127.0.0.1:2380'], 'tok'));
  t.not(a, foundingMemberId(['http://127.0.0.1:2380', 'http://10.0.0.1:2380'], 'other'));
  t.ok(Number.isSafeInteger(a) && a > 0 && a < 2 ** 52);
  t.equal(clusterIdOf([3, 1, 2], 'tok'), clusterIdOf([1, 2, 3], 'tok'));
  t.not(clusterIdOf([1, 2, 3], 'tok'), clusterIdOf([1, 2, 4], 'tok'));
});

t.test('random ids avoid taken ones and stay exact', async (t) => {
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const id = randomMemberId((x) => seen.has(x));
    t.ok(Number.isSafeInteger(id) && id > 0 && id < 2 ** 52);
    t.notOk(seen.has(id));
    seen.add(id);
  }
});

t.test('identity file round-trips; a missing one is null; a foreign one is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netcd-identity-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal(await readIdentity(join(dir, 'member')), null);
  const id = { memberId: 12, clusterId: 34, name: 'n' };
  await writeIdentity(join(dir, 'member'), id);
  t.same(await readIdentity(join(dir, 'member')), id);
  await writeFile(join(dir, 'member', 'identity.json'), '{"hello":1}');
  await t.rejects(readIdentity(join(dir, 'member')), /not a netcd identity file/);
});
