// Runs every data-driven transcript in raft/testdata: each command's output must match the
// recorded output exactly. NETCD_REWRITE=1 re-records them (review the diff before committing).

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { InteractionEnv, parseTranscript, renderTranscript } from './testing/interaction.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();
const rewrite = process.env.NETCD_REWRITE === '1';

t.test('transcripts exist', async (t) => {
  t.ok(files.length >= 8, `found ${files.length} transcripts`);
});

for (const file of files) {
  t.test(`transcript ${file}`, async (t) => {
    const source = readFileSync(join(dir, file), 'utf8');
    const env = new InteractionEnv();
    const actual: string[] = [];
    for (const c of parseTranscript(source)) {
      const got = env.run(c.command);
      actual.push(got);
      if (!rewrite) t.equal(got, c.expected, `${file}:${c.command.line} ${c.commandText}`);
    }
    if (rewrite) writeFileSync(join(dir, file), renderTranscript(source, actual));
  });
}
