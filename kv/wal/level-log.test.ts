// Proves LevelLog keeps MemoryStorage's semantics durably (shared conformance suite) and refuses
// a damaged entry key instead of skipping it.

import { ClassicLevel } from 'classic-level';
import t from 'tap';
import { LevelLog } from './level-log.js';
import { codeOf, ent, raftLogConformance, tempDir } from './testing/conformance.js';

raftLogConformance(t, 'LevelLog', (dir) => LevelLog.open(dir), { file: 'kv/wal/level-log.test.ts' });

t.test(
  'LevelLog: a missing entry in the middle is CORRUPT, naming the directory and the index',
  async (t) => {
    const dir = await tempDir(t);
    const log = await LevelLog.open(dir);
    await log.save(null, [ent(1, 1), ent(2, 1), ent(3, 1)], null);
    await log.close();
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    await db.del(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 2));
    await db.close();
    const err = await LevelLog.open(dir).then(
      () => null,
      (e: unknown) => e,
    );
    t.equal(await codeOf(() => Promise.reject(err)), 'CORRUPT');
    t.match(String(err), `${dir}: entry key 3: expected entry 2`);
  },
);
