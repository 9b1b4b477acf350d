// The level backend: committed batches survive reopening exactly, with their applied index.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import t from 'tap';
import { LevelBackend, recordKey } from './backend.js';
import { MvccStore } from './mvcc.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

t.test('record keys order like revisions', async (t) => {
  const keys = [recordKey(1, 0), recordKey(1, 1), recordKey(2, 0), recordKey(256, 0), recordKey(2 ** 40, 3)];
  const sorted = [...keys].sort(Buffer.compare);
  t.same(sorted, keys);
});

t.test('commit and reopen restore the same store and applied index', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netcd-backend-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const m = new MvccStore();
  let be = await LevelBackend.open(dir);
  for (let i = 0; i < 30; i++) m.put({ key: b(`k${i % 5}`), value: b(`v${i}`) });
  await be.commit({
    mutations: m.drainMutations(),
    applied: 40,
    currentRevision: m.currentRevision,
    compactRevision: m.compactRevision,
    compaction: m.compaction,
  });
  m.deleteRange({ key: b('k0') });
  m.compact(20);
  await be.commit({
    mutations: m.drainMutations(),
    applied: 42,
    currentRevision: m.currentRevision,
    compactRevision: m.compactRevision,
    compaction: m.compaction,
    leases: b('L'),
  });
  await be.close();

  be = await LevelBackend.open(dir);
  t.teardown(() => be.close());
  const st = await be.load();
  t.equal(st.applied, 42);
  t.equal(st.currentRevision, 32, '30 puts from revision 2 on, then a delete');
  t.equal(st.compactRevision, 20);
  t.same(st.leases, b('L'));
  const copy = new MvccStore();
  copy.restore(st.records, st.currentRevision, st.compactRevision);
  t.same(copy.hashKV(), m.hashKV());
  const all = { key: b('k'), rangeEnd: b('l') };
  t.same(copy.range(all), m.range(all));
  t.ok((await be.sizeBytes()) >= 0);
});

t.test('replace installs a snapshot state wholesale', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netcd-backend-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const be = await LevelBackend.open(dir);
  t.teardown(() => be.close());
  const m = new MvccStore();
  m.put({ key: b('old'), value: b('x') });
  await be.commit({
    mutations: m.drainMutations(),
    applied: 5,
    currentRevision: m.currentRevision,
    compactRevision: m.compactRevision,
    compaction: m.compaction,
  });
  const src = new MvccStore();
  for (let i = 0; i < 3; i++) src.put({ key: b(`n${i}`), value: b('y') });
  await be.replace({
    records: [...src.records()],
    applied: 99,
    currentRevision: src.currentRevision,
    compactRevision: src.compactRevision,
    compaction: src.compaction,
    leases: null,
    alarms: null,
    members: null,
  });
  const st = await be.load();
  t.equal(st.applied, 99);
  t.same([st.currentRevision, st.compactRevision], [4, -1]);
  t.same(
    st.records.map((r) => new TextDecoder().decode(r.key)),
    ['n0', 'n1', 'n2'],
  );
  t.equal(st.leases, null);
});

t.test('a new backend loads as a new store: revision 1, never compacted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netcd-backend-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const be = await LevelBackend.open(dir);
  t.teardown(() => be.close());
  const st = await be.load();
  t.same([st.records, st.applied, st.currentRevision, st.compactRevision], [[], 0, 1, -1]);
  const m = new MvccStore();
  m.restore(st.records, st.currentRevision, st.compactRevision);
  t.same(m.hashKV(), new MvccStore().hashKV());
  // The compact revision of a store never compacted survives a commit and reload as -1.
  m.put({ key: b('a'), value: b('1') });
  await be.commit({
    mutations: m.drainMutations(),
    applied: 1,
    currentRevision: m.currentRevision,
    compactRevision: m.compactRevision,
    compaction: m.compaction,
  });
  const again = await be.load();
  t.same([again.currentRevision, again.compactRevision], [2, -1]);
});

t.test('a data directory of format 1 (revisions from 0) is refused with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netcd-backend-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  const one = Buffer.alloc(8);
  one.writeBigUInt64BE(1n);
  await db.put(Buffer.from('m:format'), one);
  await db.close();
  await t.rejects(LevelBackend.open(dir), {
    code: 'CORRUPT',
    message: `mvcc: corrupt data: unsupported backend format 1 in ${dir} (this version reads format 2 only; format 1 numbered revisions from 0)`,
  });
});
